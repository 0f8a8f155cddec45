// Pipeline: the flow graph that moves chunks from claim and read, through a parallel transform,
// to an ordered writer, with every resource behind a token budget. docs/ARCHITECTURE.md has the
// picture; engine/pipeline.cpp builds it.
//
// * chunk limiter: chunks in flight, i.e. the memory budget (each holds one ChunkSlots slot);
//   returned by the writer, or by the split when a ticket found the source exhausted.
// * I/O limiter: concurrent reads; returned by the split once the read is done.
// * CPU limiter: concurrent transforms; returned by the transform when its work is done.
// A read or write that cannot block (data in the page cache, an output in memory or on an SSD)
// runs on the arena thread that gets to it; one that might (a pipe, a cold disk, a network file
// system) runs on dedicated threads (IoThreads) that feed the graph through async_node gateways,
// so it never holds a TBB worker and the transforms keep every CPU token busy however slow the
// storage (chunk_steps.hpp, "Inline I/O"). The queues in front of the limiters are required (a
// limiter drops what a non-buffering predecessor offers) and are bounded by the chunk limiter,
// as are the sequencer's span and the writer thread's queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>

#include "engine/chunk_steps.hpp"
#include "tbbpipe/status.hpp"

namespace tbbpipe::engine {

struct PipelineMetrics;

struct PipelineConfig {
    int cpu_tokens = 0;            ///< concurrent transforms and arena threads; 0 = all cores
    int io_tokens = 4;             ///< concurrent reads
    std::size_t chunk_tokens = 0;  ///< chunks in flight (slots); 0 = derived from the tokens above
    /// false: the first failed chunk fails the run. true: a failed chunk fails only its job (the
    /// steps' fail() hears of it, in order) and the run goes on; a stop still stops everything.
    bool isolate_failures = false;
    /// Where to record latencies, queue depths and tokens in use; null records nothing. Not owned;
    /// must outlive the Pipeline.
    PipelineMetrics* metrics = nullptr;
};

/// Slots that fit in a memory budget when each chunk needs bytes_per_chunk of buffers, at least 1
/// (a budget below one chunk must be refused by the caller) and no more than the pipeline can
/// keep busy (2 x cpu + io + 2).
std::size_t chunk_tokens_for_budget(std::size_t memory_budget, std::size_t bytes_per_chunk,
                                    int cpu_tokens, int io_tokens);

/// What a run did, including what the gauges observed; tests assert on it.
struct RunReport {
    Status status;
    std::uint64_t chunks_issued = 0;     ///< seq numbers handed out
    std::uint64_t chunks_delivered = 0;  ///< reached the ordered writer
    std::uint64_t chunks_written = 0;    ///< accepted by write()
    std::uint64_t chunks_failed = 0;     ///< handed to fail() (isolated failures)
    std::int64_t max_chunks_in_flight = 0;
    std::int64_t max_reads_in_flight = 0;
    std::int64_t max_transforms_in_flight = 0;
    std::int64_t tokens_outstanding = 0;  ///< chunk+read+transform tokens not back after the run
    std::size_t chunk_tokens = 0;
    int io_tokens = 0;
    int cpu_tokens = 0;
    int arena_threads = 0;  ///< threads the engine's task_arena may use
    int io_threads = 0;     ///< dedicated threads for reads (the writer has one more of its own)
    std::uint64_t reads_inline = 0;       ///< reads done whole on an arena thread
    std::uint64_t reads_handed_off = 0;   ///< reads (or their rest) done on an I/O thread
    std::uint64_t writes_inline = 0;      ///< writes (or fail()s) done on an arena thread
    std::uint64_t writes_handed_off = 0;  ///< writes done on the writer thread
};

/// Owns a task_arena (so the CPU budget holds even inside a host program: at most cpu_tokens
/// transforms on at most min(cores, cpu_tokens) threads), the I/O threads that do every read and
/// write that may block (io_tokens readers, one writer), and the chunk slots (so buffers are
/// reused across runs).
/// Thread-safety: run() may be called from one thread at a time.
class Pipeline {
public:
    explicit Pipeline(const PipelineConfig& config);
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    /// Runs the graph until nothing is left to claim, a chunk fails (without isolation), or a
    /// stop is requested on `stop` (the run then drains what is in flight and reports
    /// kCancelled). Never throws: failures come back in RunReport::status (the first wins).
    RunReport run(ChunkSteps& steps, std::stop_token stop = {});

    const PipelineConfig& config() const { return config_; }
    /// Runs f inside the engine's arena, on its threads and within its CPU budget (parallel work
    /// the layer above does between runs: deriving keys). Not during run().
    void execute(const std::function<void()>& f);
    /// Buffer reuse since construction: hits / acquisitions.
    double buffer_reuse_rate() const;
    std::size_t reserved_buffer_bytes() const;

private:
    struct Impl;
    PipelineConfig config_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tbbpipe::engine
