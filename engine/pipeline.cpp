#include "engine/pipeline.hpp"

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <exception>
#include <mutex>
#include <new>
#include <tuple>

#include "engine/chunk_slots.hpp"
#include "engine/pipeline_metrics.hpp"
#include "engine/token_gauge.hpp"

namespace tbbpipe::engine {
namespace {

namespace flow = tbb::flow;

// A ticket is permission to claim one chunk; it carries no data so that a ticket parked in the
// input_node's one-item buffer costs no memory.
using Ticket = int;
// Integral decrement type: with continue_msg, a limiter only decrements after a message from
// every connected predecessor (oneTBB issue 419); with int, putting k returns k tokens.
using TokenLimiter = flow::limiter_node<Ticket, int>;
using ChunkLimiter = flow::limiter_node<Chunk*, int>;

int resolve_cpu_tokens(int requested) {
    return requested > 0 ? requested : std::max(1, tbb::info::default_concurrency());
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Charges a chunk's buffer growth (first use of a slot) to the memory gauge, so the gauge always
// holds the bytes of the buffers that chunks in flight own.
void recharge(PipelineMetrics& m, Chunk& chunk) {
    const std::size_t now = chunk.buffer_bytes();
    if (now > chunk.charged_bytes) {
        m.memory_bytes.add(static_cast<std::int64_t>(now - chunk.charged_bytes));
        chunk.charged_bytes = now;
    }
}

double seconds_between(std::int64_t from_ns, std::int64_t to_ns) {
    return static_cast<double>(to_ns - from_ns) * 1e-9;
}

Status status_from_current_exception() {
    try {
        throw;
    } catch (const PipelineError& e) {
        return e.status();
    } catch (const std::bad_alloc&) {
        return {StatusCode::kResourceExhausted, "out of memory"};
    } catch (const std::exception& e) {
        return {StatusCode::kInternal, e.what()};
    } catch (...) {
        return {StatusCode::kInternal, "unknown exception in a pipeline stage"};
    }
}

// Shared by all bodies of one run. The first failure wins; later ones are consequences.
class RunState {
public:
    explicit RunState(const std::atomic<bool>* cancel) : cancel_(cancel) {}

    void fail(const Status& status) {
        std::lock_guard lock(mutex_);
        if (first_error_.is_ok()) first_error_ = status;
        // release pairs with the acquire in should_stop(): a body that sees the flag also sees
        // first_error_ through the mutex if it ever reads it.
        failed_.store(true, std::memory_order_release);
    }
    // Latched: once seen, a cancel stays seen even if the caller clears its flag mid-run, so a
    // run whose source stopped early can never report success.
    bool cancelled() const {
        if (cancelled_.load(std::memory_order_acquire)) return true;
        if (cancel_ && cancel_->load(std::memory_order_acquire)) {
            cancelled_.store(true, std::memory_order_release);
            return true;
        }
        return false;
    }
    bool should_stop() const { return failed_.load(std::memory_order_acquire) || cancelled(); }
    Status first_error() const {
        std::lock_guard lock(mutex_);
        return first_error_;
    }

private:
    const std::atomic<bool>* cancel_;
    mutable std::atomic<bool> cancelled_{false};
    std::atomic<bool> failed_{false};
    mutable std::mutex mutex_;
    Status first_error_;  // guarded by mutex_
};

}  // namespace

std::size_t chunk_tokens_for_budget(std::size_t memory_budget, std::size_t bytes_per_chunk,
                                    int cpu_tokens, int io_tokens) {
    const std::size_t useful = 2 * static_cast<std::size_t>(resolve_cpu_tokens(cpu_tokens)) +
                               static_cast<std::size_t>(std::max(1, io_tokens)) + 2;
    const std::size_t affordable = bytes_per_chunk ? memory_budget / bytes_per_chunk : useful;
    // Never more than the budget affords (the caller refuses a budget below one chunk), and no
    // more than the pipeline can keep busy.
    return std::clamp<std::size_t>(std::min(affordable, useful), 1, useful);
}

// Threads for the arena: one per CPU token plus one that can sit in a blocking read or write,
// but never more than the cores (oneTBB will not grant more workers than that anyway, and warns
// if asked). So the spare I/O thread exists only when -T is below the core count: with the
// default, a read or write that blocks (a pipe, a slow disk) takes a thread from the transforms
// for its duration. Moving blocking I/O off the arena (async_node) is the governance issue's
// work. The CPU limiter, not the arena size, is what bounds concurrent transforms.
int arena_threads_for(int cpu_tokens) {
    return std::clamp(cpu_tokens + 1, 1, std::max(1, tbb::info::default_concurrency()));
}

struct Pipeline::Impl {
    Impl(int threads, std::size_t chunk_tokens) : arena(threads), slots(chunk_tokens) {}
    tbb::task_arena arena;
    ChunkSlots slots;
};

Pipeline::Pipeline(const PipelineConfig& config) : config_(config) {
    config_.cpu_tokens = resolve_cpu_tokens(config.cpu_tokens);
    config_.io_tokens = std::max(1, config.io_tokens);
    if (config_.chunk_tokens == 0) {
        config_.chunk_tokens = chunk_tokens_for_budget(0, 0, config_.cpu_tokens, config_.io_tokens);
    }
    config_.chunk_tokens = std::max<std::size_t>(1, config_.chunk_tokens);
    impl_ = std::make_unique<Impl>(arena_threads_for(config_.cpu_tokens), config_.chunk_tokens);
}

Pipeline::~Pipeline() = default;

double Pipeline::buffer_reuse_rate() const {
    const auto n = impl_->slots.acquisitions();
    return n ? static_cast<double>(impl_->slots.reuse_hits()) / static_cast<double>(n) : 0.0;
}

std::size_t Pipeline::reserved_buffer_bytes() const {
    return impl_->slots.reserved_bytes();
}

RunReport Pipeline::run(ChunkSource& source, ChunkTransform& transform, ChunkSink& sink,
                        const std::atomic<bool>* cancel) {
    RunReport report;
    report.chunk_tokens = config_.chunk_tokens;
    report.cpu_tokens = config_.cpu_tokens;
    report.arena_threads = impl_->arena.max_concurrency();
    report.io_tokens = std::min(config_.io_tokens, std::max(1, source.max_concurrent_reads()));

    RunState state(cancel);
    ChunkSlots& slots = impl_->slots;
    PipelineMetrics* const m = config_.metrics;
    if (m) {
        m->cpu_tokens.set(config_.cpu_tokens);
        m->io_tokens.set(report.io_tokens);
        m->chunk_tokens.set(static_cast<std::int64_t>(config_.chunk_tokens));
    }
    TokenGauge chunk_gauge;      // slots in use
    TokenGauge read_gauge;       // claim + fill in progress
    TokenGauge transform_gauge;  // transforms in progress
    std::mutex claim_mutex;
    std::uint64_t next_seq = 0;        // guarded by claim_mutex
    std::uint64_t next_delivered = 0;  // touched only by the serial writer
    std::uint64_t written = 0;         // touched only by the serial writer
    std::atomic<bool> exhausted{false};

    // Nothing a body does escapes it, but try_put and the handlers' own allocations can still
    // throw (bad_alloc); then wait_for_all() rethrows after cancelling the graph. Catch it here and
    // take every slot back once the graph is gone, so this Pipeline stays usable.
    bool escaped = false;
    try {
        impl_->arena.execute([&] {
            flow::graph g;

            flow::input_node<Ticket> tickets(g, [&](tbb::flow_control& fc) -> Ticket {
                if (exhausted.load(std::memory_order_acquire) || state.should_stop()) fc.stop();
                return 0;
            });
            TokenLimiter chunk_limiter(g, config_.chunk_tokens);
            flow::queue_node<Ticket> read_queue(g);  // bounded: at most chunk_tokens tickets
            TokenLimiter io_limiter(g, static_cast<std::size_t>(report.io_tokens));

            using ReaderNode = flow::multifunction_node<Ticket, std::tuple<Chunk*, int, int>>;
            ReaderNode reader(
                g, flow::unlimited, [&](const Ticket&, ReaderNode::output_ports_type& out) {
                    Chunk* chunk = nullptr;
                    bool claimed = false;
                    const std::int64_t read_start = m ? now_ns() : 0;
                    if (m) m->io_tokens_in_use.add(1);
                    {
                        GaugeHold reading(read_gauge);
                        try {
                            bool reused = false;
                            chunk = slots.acquire(&reused);
                            chunk_gauge.take();
                            if (m) {
                                m->chunk_tokens_in_use.add(1);
                                m->buffer_acquisitions.add();
                                if (reused) m->buffer_reuse_hits.add();
                                chunk->charged_bytes = chunk->buffer_bytes();
                                m->memory_bytes.add(
                                    static_cast<std::int64_t>(chunk->charged_bytes));
                            }
                        } catch (...) {
                            state.fail(status_from_current_exception());
                        }
                        if (chunk) {
                            std::unique_lock lock(claim_mutex);
                            // relaxed: the only store to `exhausted` is below, under this same
                            // mutex.
                            if (!exhausted.load(std::memory_order_relaxed) &&
                                !state.should_stop()) {
                                chunk->seq = next_seq;
                                try {
                                    claimed = source.claim(*chunk);
                                } catch (...) {
                                    // The seq is spent: the chunk travels on, marked failed.
                                    claimed = true;
                                    chunk->status = status_from_current_exception();
                                }
                                if (claimed) {
                                    ++next_seq;
                                } else {
                                    exhausted.store(true, std::memory_order_release);
                                }
                            }
                            lock.unlock();
                            if (claimed && chunk->status.is_ok()) {
                                try {
                                    source.fill(*chunk);
                                } catch (...) {
                                    chunk->status = status_from_current_exception();
                                }
                            }
                            if (!chunk->status.is_ok()) state.fail(chunk->status);
                        }
                    }  // the read gauge is released before the I/O token, so observed <= budget
                    if (m) {
                        m->io_tokens_in_use.add(-1);
                        if (chunk) recharge(*m, *chunk);
                        if (claimed) {
                            chunk->read_done_ns = now_ns();
                            m->read_seconds.record(
                                seconds_between(read_start, chunk->read_done_ns));
                            m->cpu_queue_depth.add(1);
                        }
                    }
                    if (claimed) {
                        std::get<0>(out).try_put(chunk);
                    } else {
                        if (chunk) {
                            if (m) {
                                m->chunk_tokens_in_use.add(-1);
                                m->memory_bytes.add(
                                    -static_cast<std::int64_t>(chunk->charged_bytes));
                            }
                            slots.release(chunk);
                            chunk_gauge.give();
                        }
                        std::get<2>(out).try_put(1);  // this ticket's chunk token comes back unused
                    }
                    std::get<1>(out).try_put(1);  // I/O token back
                });

            flow::queue_node<Chunk*> cpu_queue(g);  // bounded: at most chunk_tokens chunks
            ChunkLimiter cpu_limiter(g, static_cast<std::size_t>(config_.cpu_tokens));

            using TransformNode = flow::multifunction_node<Chunk*, std::tuple<Chunk*, int>>;
            TransformNode transformer(
                g, flow::unlimited, [&](Chunk* chunk, TransformNode::output_ports_type& out) {
                    const std::int64_t start = m ? now_ns() : 0;
                    if (m) {
                        m->cpu_queue_depth.add(-1);
                        m->cpu_tokens_in_use.add(1);
                        m->token_wait_seconds.record(seconds_between(chunk->read_done_ns, start));
                    }
                    {
                        GaugeHold working(transform_gauge);
                        // After a failure or cancel, in-flight chunks drain without work so their
                        // tokens come back quickly along the normal path.
                        if (chunk->status.is_ok() && !state.should_stop()) {
                            try {
                                transform.transform(*chunk);
                            } catch (...) {
                                chunk->status = status_from_current_exception();
                                state.fail(chunk->status);
                            }
                        }
                    }
                    if (m) {
                        recharge(*m, *chunk);
                        chunk->transformed_ns = now_ns();
                        m->transform_seconds.record(seconds_between(start, chunk->transformed_ns));
                        m->cpu_tokens_in_use.add(-1);
                        m->reorder_queue_depth.add(1);
                    }
                    std::get<0>(out).try_put(chunk);
                    std::get<1>(out).try_put(1);  // CPU token back
                });

            // Ordering is enforced here: the sequencer releases chunks strictly by seq, contiguous
            // from 0 (the engine assigns seq under claim_mutex, and a failed claim still spends its
            // seq), and its span is bounded by chunk_tokens because only that many seqs exist at
            // once.
            flow::sequencer_node<Chunk*> order(g, [](Chunk* const& chunk) { return chunk->seq; });

            // Serial + rejecting: one write at a time, chunks wait in the sequencer, not in a
            // queue.
            flow::function_node<Chunk*, int, flow::rejecting> writer(
                g, flow::serial, [&](Chunk* chunk) {
                    assert(chunk->seq == next_delivered && "sequencer delivered out of order");
                    ++next_delivered;
                    const std::int64_t start = m ? now_ns() : 0;
                    if (m) {
                        m->reorder_queue_depth.add(-1);
                        m->queue_wait_seconds.record(seconds_between(chunk->transformed_ns, start));
                    }
                    if (chunk->status.is_ok() && !state.should_stop()) {
                        try {
                            sink.write(*chunk);
                            ++written;
                            if (m) {
                                m->write_seconds.record(seconds_between(start, now_ns()));
                                m->chunks.add();
                                m->input_bytes.add(chunk->input_size);
                                m->output_bytes.add(chunk->result_size);
                            }
                        } catch (...) {
                            state.fail(status_from_current_exception());
                        }
                    }
                    if (m) {
                        m->chunk_tokens_in_use.add(-1);
                        m->memory_bytes.add(-static_cast<std::int64_t>(chunk->charged_bytes));
                    }
                    slots.release(chunk);
                    chunk_gauge.give();
                    return 1;  // chunk token back
                });

            flow::make_edge(tickets, chunk_limiter);
            flow::make_edge(chunk_limiter, read_queue);
            flow::make_edge(read_queue, io_limiter);
            flow::make_edge(io_limiter, reader);
            flow::make_edge(flow::output_port<0>(reader), cpu_queue);
            flow::make_edge(flow::output_port<1>(reader), io_limiter.decrementer());
            flow::make_edge(flow::output_port<2>(reader), chunk_limiter.decrementer());
            flow::make_edge(cpu_queue, cpu_limiter);
            flow::make_edge(cpu_limiter, transformer);
            flow::make_edge(flow::output_port<0>(transformer), order);
            flow::make_edge(flow::output_port<1>(transformer), cpu_limiter.decrementer());
            flow::make_edge(order, writer);
            flow::make_edge(writer, chunk_limiter.decrementer());

            tickets.activate();
            g.wait_for_all();
        });
    } catch (...) {
        state.fail(status_from_current_exception());
        escaped = true;
    }

    report.chunks_issued = next_seq;
    report.chunks_delivered = next_delivered;
    report.chunks_written = written;
    report.max_chunks_in_flight = chunk_gauge.max_held();
    report.max_reads_in_flight = read_gauge.max_held();
    report.max_transforms_in_flight = transform_gauge.max_held();
    report.tokens_outstanding = chunk_gauge.held() + read_gauge.held() + transform_gauge.held();
    if (escaped) {
        slots.reclaim_all();  // no message outlives the graph: every slot is ours again
        if (m) {
            // The chunks dropped with the graph never reached the paths that lower these gauges.
            // Back to rest (this assumes one run at a time per metrics registry, as ContainerJobs
            // and the CLI do).
            for (Gauge* g : {&m->cpu_tokens_in_use, &m->io_tokens_in_use, &m->chunk_tokens_in_use,
                             &m->cpu_queue_depth, &m->reorder_queue_depth, &m->memory_bytes}) {
                g->set(0);
            }
        }
    }

    report.status = state.first_error();
    if (report.status.is_ok() && state.cancelled()) {
        report.status = {StatusCode::kCancelled, "interrupted"};
    }
    // wait_for_all() returns normally even when a sequence gap stalled the sequencer: compare.
    if (report.status.is_ok() && report.chunks_delivered != report.chunks_issued) {
        report.status = {StatusCode::kInternal, "sequencer gap: chunks issued and written differ"};
    }
    if (report.status.is_ok() && report.tokens_outstanding != 0) {
        report.status = {StatusCode::kInternal, "tokens not returned after the run"};
    }
    return report;
}

}  // namespace tbbpipe::engine
