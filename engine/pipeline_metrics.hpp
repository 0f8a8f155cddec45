// PipelineMetrics: the engine's named metrics, registered once in a MetricsRegistry and recorded
// by Pipeline::run without locks. Names follow Prometheus conventions (docs/METRICS.md).
#pragma once

#include "engine/metrics.hpp"

namespace tbbpipe::engine {

/// Thread-safety: the references are recorded into concurrently; the struct itself is immutable.
struct PipelineMetrics {
    explicit PipelineMetrics(MetricsRegistry& registry);

    Counter& chunks;                ///< chunks written, all runs
    Counter& input_bytes;           ///< source bytes of chunks written (progress numerator)
    Counter& output_bytes;          ///< bytes handed to the sink
    Histogram& transform_seconds;   ///< CPU work per chunk (the transform body)
    Histogram& token_wait_seconds;  ///< read done -> transform start (waiting for a CPU token)
    Histogram& queue_wait_seconds;  ///< transform done -> written (waiting for its turn in order)
    Histogram& read_seconds;        ///< claim + fill of one chunk
    Histogram& write_seconds;       ///< sink write of one chunk
    Gauge& cpu_tokens_in_use;
    Gauge& io_tokens_in_use;
    Gauge& chunk_tokens_in_use;
    Gauge& cpu_tokens;  ///< budgets, set at the start of a run
    Gauge& io_tokens;
    Gauge& chunk_tokens;
    Gauge& cpu_queue_depth;      ///< read, waiting for a CPU token
    Gauge& reorder_queue_depth;  ///< transformed, waiting in the sequencer
    Gauge& memory_bytes;         ///< chunk buffer bytes held by chunks in flight
    Gauge& memory_limit_bytes;   ///< set by whoever owns the budget
    Counter& buffer_acquisitions;
    Counter& buffer_reuse_hits;  ///< acquisitions whose buffers were already allocated
};

}  // namespace tbbpipe::engine
