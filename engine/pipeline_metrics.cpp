#include "engine/pipeline_metrics.hpp"

namespace tbbpipe::engine {

PipelineMetrics::PipelineMetrics(MetricsRegistry& r)
    : chunks(r.counter("tbbpipe_chunks_total", "Chunks written by the ordered writer")),
      input_bytes(r.counter("tbbpipe_input_bytes_total", "Source bytes of the chunks written")),
      output_bytes(r.counter("tbbpipe_output_bytes_total", "Bytes handed to the ordered writer")),
      transform_seconds(r.histogram("tbbpipe_chunk_transform_seconds",
                                    "Time one chunk spent in its transform (CPU work)")),
      token_wait_seconds(r.histogram("tbbpipe_cpu_token_wait_seconds",
                                     "Time a read chunk waited for a CPU token")),
      queue_wait_seconds(r.histogram("tbbpipe_reorder_wait_seconds",
                                     "Time a transformed chunk waited for its turn to be written")),
      read_seconds(
          r.histogram("tbbpipe_io_seconds", "Time of one chunk read or write", "op=\"read\"")),
      write_seconds(
          r.histogram("tbbpipe_io_seconds", "Time of one chunk read or write", "op=\"write\"")),
      cpu_tokens_in_use(r.gauge("tbbpipe_tokens_in_use", "Tokens held right now", "kind=\"cpu\"")),
      io_tokens_in_use(r.gauge("tbbpipe_tokens_in_use", "Tokens held right now", "kind=\"io\"")),
      chunk_tokens_in_use(
          r.gauge("tbbpipe_tokens_in_use", "Tokens held right now", "kind=\"chunk\"")),
      cpu_tokens(r.gauge("tbbpipe_tokens", "Token budget", "kind=\"cpu\"")),
      io_tokens(r.gauge("tbbpipe_tokens", "Token budget", "kind=\"io\"")),
      chunk_tokens(r.gauge("tbbpipe_tokens", "Token budget", "kind=\"chunk\"")),
      cpu_queue_depth(r.gauge("tbbpipe_queue_depth", "Chunks waiting in a queue", "queue=\"cpu\"")),
      reorder_queue_depth(
          r.gauge("tbbpipe_queue_depth", "Chunks waiting in a queue", "queue=\"reorder\"")),
      memory_bytes(r.gauge("tbbpipe_memory_bytes", "Chunk buffer bytes held by chunks in flight")),
      memory_limit_bytes(r.gauge("tbbpipe_memory_limit_bytes", "Budget for chunk buffer bytes")),
      buffer_acquisitions(
          r.counter("tbbpipe_buffer_acquisitions_total", "Chunk slots taken from the pool")),
      buffer_reuse_hits(r.counter("tbbpipe_buffer_reuse_total",
                                  "Slot acquisitions whose buffers were already allocated")) {}

}  // namespace tbbpipe::engine
