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
#include "engine/io_threads.hpp"
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

// Threads for the arena: one per CPU token, never more than the cores (oneTBB will not grant
// more workers than that anyway, and warns if asked). Blocking reads and writes run on the
// Pipeline's own I/O threads, so the arena's threads are all for transforms. The CPU limiter, not
// the arena size, is what bounds concurrent transforms.
int arena_threads_for(int cpu_tokens) {
    return std::clamp(cpu_tokens, 1, std::max(1, tbb::info::default_concurrency()));
}

struct Pipeline::Impl {
    Impl(int threads, int io_threads, std::size_t chunk_tokens)
        : arena(threads), readers(io_threads), writer(1), slots(chunk_tokens) {}
    tbb::task_arena arena;
    IoThreads readers;  // claim + fill, up to io_tokens at once
    IoThreads writer;   // one thread: FIFO, so writes keep the sequencer's order
    ChunkSlots slots;
};

Pipeline::Pipeline(const PipelineConfig& config) : config_(config) {
    config_.cpu_tokens = resolve_cpu_tokens(config.cpu_tokens);
    config_.io_tokens = std::max(1, config.io_tokens);
    if (config_.chunk_tokens == 0) {
        config_.chunk_tokens = chunk_tokens_for_budget(0, 0, config_.cpu_tokens, config_.io_tokens);
    }
    config_.chunk_tokens = std::max<std::size_t>(1, config_.chunk_tokens);
    impl_ = std::make_unique<Impl>(arena_threads_for(config_.cpu_tokens), config_.io_tokens,
                                   config_.chunk_tokens);
}

Pipeline::~Pipeline() = default;

double Pipeline::buffer_reuse_rate() const {
    const auto n = impl_->slots.acquisitions();
    return n ? static_cast<double>(impl_->slots.reuse_hits()) / static_cast<double>(n) : 0.0;
}

std::size_t Pipeline::reserved_buffer_bytes() const {
    return impl_->slots.reserved_bytes();
}

namespace {

// What an I/O thread hands back to the graph for one ticket.
struct ReadResult {
    Chunk* chunk = nullptr;  // null: no slot could be had (the run is failing)
    bool claimed = false;    // false: the source was exhausted or the run is stopping
};

// Waits, on scope exit, until the I/O threads ran everything posted: their work touches the
// graph's gateways, so it must finish before the graph is destroyed, even when wait_for_all()
// threw.
class IdleOnExit {
public:
    IdleOnExit(IoThreads& a, IoThreads& b) : a_(a), b_(b) {}
    ~IdleOnExit() {
        a_.wait_idle();
        b_.wait_idle();
    }
    IdleOnExit(const IdleOnExit&) = delete;
    IdleOnExit& operator=(const IdleOnExit&) = delete;

private:
    IoThreads& a_;
    IoThreads& b_;
};

}  // namespace

RunReport Pipeline::run(ChunkSource& source, ChunkTransform& transform, ChunkSink& sink,
                        const std::atomic<bool>* cancel) {
    RunReport report;
    report.chunk_tokens = config_.chunk_tokens;
    report.cpu_tokens = config_.cpu_tokens;
    report.arena_threads = impl_->arena.max_concurrency();
    report.io_tokens = std::min(config_.io_tokens, std::max(1, source.max_concurrent_reads()));
    report.io_threads = impl_->readers.size();

    RunState state(cancel);
    ChunkSlots& slots = impl_->slots;
    PipelineMetrics* const m = config_.metrics;
    const bool isolate = config_.isolate_failures;
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
    std::uint64_t next_delivered = 0;  // touched only by the writer thread
    std::uint64_t written = 0;         // touched only by the writer thread
    std::uint64_t failed_chunks = 0;   // touched only by the writer thread
    std::atomic<bool> exhausted{false};
    // A message lost on an I/O thread (bad_alloc there): the graph cannot know, so the run is
    // failed by hand and its slots reclaimed once the graph is gone.
    std::atomic<bool> lost{false};

    // A failure that belongs to one chunk: with isolation only its job fails.
    auto chunk_failed = [&](Chunk& chunk, const Status& status) {
        chunk.status = status;
        if (!isolate) state.fail(status);
    };

    // One read, on an I/O thread: take a slot, claim (serialised), fill (parallel).
    auto read_one = [&]() -> ReadResult {
        ReadResult r;
        const std::int64_t read_start = m ? now_ns() : 0;
        if (m) m->io_tokens_in_use.add(1);
        {
            GaugeHold reading(read_gauge);
            try {
                bool reused = false;
                r.chunk = slots.acquire(&reused);
                chunk_gauge.take();
                if (m) {
                    m->chunk_tokens_in_use.add(1);
                    m->buffer_acquisitions.add();
                    if (reused) m->buffer_reuse_hits.add();
                    r.chunk->charged_bytes = r.chunk->buffer_bytes();
                    m->memory_bytes.add(static_cast<std::int64_t>(r.chunk->charged_bytes));
                }
            } catch (...) {
                state.fail(status_from_current_exception());
            }
            if (Chunk* chunk = r.chunk) {
                std::unique_lock lock(claim_mutex);
                // relaxed: the only store to `exhausted` is below, under this same mutex.
                if (!exhausted.load(std::memory_order_relaxed) && !state.should_stop()) {
                    chunk->seq = next_seq;
                    chunk->index = next_seq;
                    try {
                        r.claimed = source.claim(*chunk);
                    } catch (...) {
                        // The seq is spent: the chunk travels on, marked failed.
                        r.claimed = true;
                        chunk_failed(*chunk, status_from_current_exception());
                    }
                    if (r.claimed) {
                        ++next_seq;
                    } else {
                        exhausted.store(true, std::memory_order_release);
                    }
                }
                lock.unlock();
                if (r.claimed && chunk->status.is_ok()) {
                    try {
                        source.fill(*chunk);
                    } catch (...) {
                        chunk_failed(*chunk, status_from_current_exception());
                    }
                }
            }
        }  // the read gauge is released before the I/O token, so observed <= budget
        if (m) {
            m->io_tokens_in_use.add(-1);
            if (r.chunk) recharge(*m, *r.chunk);
            if (r.claimed) {
                r.chunk->read_done_ns = now_ns();
                m->read_seconds.record(seconds_between(read_start, r.chunk->read_done_ns));
                m->cpu_queue_depth.add(1);
            }
        }
        if (!r.claimed && r.chunk) {
            if (m) {
                m->chunk_tokens_in_use.add(-1);
                m->memory_bytes.add(-static_cast<std::int64_t>(r.chunk->charged_bytes));
            }
            slots.release(r.chunk);
            chunk_gauge.give();
            r.chunk = nullptr;
        }
        return r;
    };

    // One write, on the writer thread, in seq order.
    auto write_one = [&](Chunk* chunk) {
        assert(chunk->seq == next_delivered && "sequencer delivered out of order");
        ++next_delivered;
        const std::int64_t start = m ? now_ns() : 0;
        if (m) {
            m->reorder_queue_depth.add(-1);
            m->queue_wait_seconds.record(seconds_between(chunk->transformed_ns, start));
        }
        if (!state.should_stop()) {
            if (chunk->status.is_ok()) {
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
                    chunk_failed(*chunk, status_from_current_exception());
                }
            }
            if (!chunk->status.is_ok() && isolate) {
                sink.fail(*chunk);
                ++failed_chunks;
            }
        }
        if (m) {
            m->chunk_tokens_in_use.add(-1);
            m->memory_bytes.add(-static_cast<std::int64_t>(chunk->charged_bytes));
        }
        slots.release(chunk);
        chunk_gauge.give();
    };

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

            using ReaderNode = flow::async_node<Ticket, ReadResult>;
            ReaderNode reader(
                g, flow::unlimited, [&](const Ticket&, ReaderNode::gateway_type& gateway) {
                    // Paired with release_wait() on the I/O thread: wait_for_all() waits for the
                    // read. A post() that throws releases here and fails the body (the graph is
                    // cancelled and the run reports it).
                    gateway.reserve_wait();
                    try {
                        impl_->readers.post([&read_one, &gateway, &lost, &state] {
                            try {
                                gateway.try_put(read_one());
                            } catch (...) {
                                // Off the graph's threads nothing cancels the graph: record the
                                // loss so the run fails and the slots are reclaimed after it.
                                lost.store(true, std::memory_order_release);
                                state.fail({StatusCode::kResourceExhausted,
                                            "out of memory handing a read to the graph"});
                            }
                            gateway.release_wait();
                        });
                    } catch (...) {
                        gateway.release_wait();
                        throw;
                    }
                });

            // Routes a finished read: the chunk onwards, the I/O token back, and the chunk token
            // back when nothing was claimed.
            using SplitNode = flow::multifunction_node<ReadResult, std::tuple<Chunk*, int, int>>;
            SplitNode split(g, flow::unlimited,
                            [](const ReadResult& r, SplitNode::output_ports_type& out) {
                                if (r.claimed) {
                                    std::get<0>(out).try_put(r.chunk);
                                } else {
                                    std::get<2>(out).try_put(1);
                                }
                                std::get<1>(out).try_put(1);
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
                                chunk_failed(*chunk, status_from_current_exception());
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

            // Serial: the body only hands the chunk to the single writer thread, whose FIFO keeps
            // the sequencer's order; the chunk token comes back through the gateway once written.
            using WriterNode = flow::async_node<Chunk*, int, flow::rejecting>;
            WriterNode writer(
                g, flow::serial, [&](Chunk* chunk, WriterNode::gateway_type& gateway) {
                    gateway.reserve_wait();
                    try {
                        impl_->writer.post([&write_one, &gateway, &lost, &state, chunk] {
                            try {
                                write_one(chunk);
                                gateway.try_put(1);  // chunk token back
                            } catch (...) {
                                lost.store(true, std::memory_order_release);
                                state.fail({StatusCode::kResourceExhausted,
                                            "out of memory in the ordered writer"});
                            }
                            gateway.release_wait();
                        });
                    } catch (...) {
                        gateway.release_wait();
                        throw;
                    }
                });

            flow::make_edge(tickets, chunk_limiter);
            flow::make_edge(chunk_limiter, read_queue);
            flow::make_edge(read_queue, io_limiter);
            flow::make_edge(io_limiter, reader);
            flow::make_edge(reader, split);
            flow::make_edge(flow::output_port<0>(split), cpu_queue);
            flow::make_edge(flow::output_port<1>(split), io_limiter.decrementer());
            flow::make_edge(flow::output_port<2>(split), chunk_limiter.decrementer());
            flow::make_edge(cpu_queue, cpu_limiter);
            flow::make_edge(cpu_limiter, transformer);
            flow::make_edge(flow::output_port<0>(transformer), order);
            flow::make_edge(flow::output_port<1>(transformer), cpu_limiter.decrementer());
            flow::make_edge(order, writer);
            flow::make_edge(writer, chunk_limiter.decrementer());

            IdleOnExit idle(impl_->readers, impl_->writer);  // destroyed before g
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
    report.chunks_failed = failed_chunks;
    report.max_chunks_in_flight = chunk_gauge.max_held();
    report.max_reads_in_flight = read_gauge.max_held();
    report.max_transforms_in_flight = transform_gauge.max_held();
    report.tokens_outstanding = chunk_gauge.held() + read_gauge.held() + transform_gauge.held();
    if (escaped || lost.load(std::memory_order_acquire)) {
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
    // The graph went idle with work left: a token was lost somewhere. Never report that as done.
    if (report.status.is_ok() && !exhausted.load(std::memory_order_acquire)) {
        report.status = {StatusCode::kInternal, "the graph stopped before the source was done"};
    }
    return report;
}

}  // namespace tbbpipe::engine
