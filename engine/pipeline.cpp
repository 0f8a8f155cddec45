#include "engine/pipeline.hpp"

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <tuple>

#include "core/status_error.hpp"
#include "engine/chunk_slots.hpp"
#include "engine/io_threads.hpp"
#include "engine/run.hpp"

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
using ReaderNode = flow::async_node<Ticket, ReadResult>;
using SplitNode = flow::multifunction_node<ReadResult, std::tuple<Chunk*, int, int>>;
using TransformNode = flow::multifunction_node<Chunk*, std::tuple<Chunk*, int>>;
using WriterNode = flow::async_node<Chunk*, int, flow::rejecting>;

// Threads for the arena: one per CPU token, never more than the cores (oneTBB will not grant
// more workers than that anyway, and warns if asked). Reads and writes that may block run on the
// Pipeline's own I/O threads, so the arena's threads go to transforms and to I/O that cannot
// block. The CPU limiter, not the arena size, is what bounds concurrent transforms.
int arena_threads_for(int cpu_tokens) {
    return std::clamp(cpu_tokens, 1, std::max(1, tbb::info::default_concurrency()));
}

// Hands work to a dedicated thread and back into the graph through an async_node's gateway.
// reserve_wait() and release_wait() pair on every path, so wait_for_all() waits for the work; a
// post() that throws releases here and fails the body (the graph is cancelled and the run
// reports it). Work that cannot hand its result back (bad_alloc in try_put) fails the run.
template <class Gateway, class Work>
void hand_off(IoThreads& threads, Gateway& gateway, Run& run, Work work) {
    gateway.reserve_wait();
    try {
        threads.post([&gateway, &run, work = std::move(work)] {
            try {
                work(gateway);
            } catch (...) {
                run.lost({StatusCode::kResourceExhausted, "out of memory handing on a chunk"});
            }
            gateway.release_wait();
        });
    } catch (...) {
        gateway.release_wait();
        throw;
    }
}

// hand_off() to the writer thread, counted in Run::queued_writes_ until the work is done (on
// every path), so no write runs inline while one is still queued.
template <class Gateway, class Work>
void to_writer_thread(IoThreads& writer_thread, Gateway& gateway, Run& run, Work work) {
    run.queue_write();
    try {
        hand_off(writer_thread, gateway, run, [&run, work = std::move(work)](auto& gw) {
            struct Done {
                Run& run;
                ~Done() { run.writer_done(); }
            } done{run};
            work(gw);
        });
    } catch (...) {
        run.writer_done();  // never posted
        throw;
    }
}

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

std::size_t chunk_tokens_for_budget(std::size_t memory_budget, std::size_t bytes_per_chunk,
                                    int cpu_tokens, int io_tokens) {
    const std::size_t useful =
        2 * static_cast<std::size_t>(
                std::max(1, cpu_tokens > 0 ? cpu_tokens : tbb::info::default_concurrency())) +
        static_cast<std::size_t>(std::max(1, io_tokens)) + 2;
    const std::size_t affordable = bytes_per_chunk ? memory_budget / bytes_per_chunk : useful;
    // Never more than the budget affords (the caller refuses a budget below one chunk), and no
    // more than the pipeline can keep busy.
    return std::clamp<std::size_t>(std::min(affordable, useful), 1, useful);
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
    config_.cpu_tokens =
        config.cpu_tokens > 0 ? config.cpu_tokens : std::max(1, tbb::info::default_concurrency());
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

void Pipeline::execute(const std::function<void()>& f) {
    impl_->arena.execute(f);
}

std::size_t Pipeline::reserved_buffer_bytes() const {
    return impl_->slots.reserved_bytes();
}

namespace {

// The graph of one run: the nodes, then connect() draws the edges, which are its picture:
//
//   tickets -> chunk_limiter -> read_queue -> io_limiter -> reader (here, or I/O threads) -> split
//   split.0 -> cpu_queue -> cpu_limiter -> transformer -> order -> writer (here, or writer thread)
//   split.1 -> io_limiter.decrement         (the read is done)
//   split.2 -> chunk_limiter.decrement      (the ticket claimed nothing)
//   transformer.1 -> cpu_limiter.decrement  (the transform is done)
//   writer -> chunk_limiter.decrement       (the chunk is written: its slot is free)
//
// The bodies only hand a chunk to Run, which does the work (engine/run.hpp).
struct Graph {
    Graph(Run& run, IoThreads& readers, IoThreads& writer_thread, std::size_t chunk_tokens,
          int io_tokens, int cpu_tokens)
        : tickets(g,
                  [&run](tbb::flow_control& fc) -> Ticket {
                      if (run.done_issuing()) fc.stop();
                      return 0;
                  }),
          chunk_limiter(g, chunk_tokens),
          read_queue(g),  // bounded: at most chunk_tokens tickets
          io_limiter(g, static_cast<std::size_t>(io_tokens)),
          // A read runs right here when nothing in it would block (data in the page cache);
          // otherwise what is left of it moves to an I/O thread.
          reader(g, flow::unlimited,
                 [&run, &readers](const Ticket&, ReaderNode::gateway_type& gateway) {
                     ReadResult r;
                     if (run.read_inline(r)) {
                         gateway.try_put(r);
                         return;
                     }
                     try {
                         hand_off(readers, gateway, run,
                                  [&run, r](auto& gw) { gw.try_put(run.read(r)); });
                     } catch (...) {
                         // The inline part holds tokens (and maybe a seq): give them back here.
                         run.abandon_read(r, status_from_current_exception());
                         gateway.try_put(r);
                     }
                 }),
          // Routes a finished read: the chunk onwards, the I/O token back, and the chunk token
          // back when nothing was claimed.
          split(g, flow::unlimited,
                [](const ReadResult& r, SplitNode::output_ports_type& out) {
                    if (r.claimed) {
                        std::get<0>(out).try_put(r.chunk);
                    } else {
                        std::get<2>(out).try_put(1);
                    }
                    std::get<1>(out).try_put(1);
                }),
          cpu_queue(g),  // bounded: at most chunk_tokens chunks
          cpu_limiter(g, static_cast<std::size_t>(cpu_tokens)),
          transformer(g, flow::unlimited,
                      [&run](Chunk* chunk, TransformNode::output_ports_type& out) {
                          run.transform(*chunk);
                          std::get<0>(out).try_put(chunk);
                          std::get<1>(out).try_put(1);  // CPU token back
                      }),
          // Ordering is enforced here: the sequencer releases chunks strictly by seq, contiguous
          // from 0 (seqs are assigned under the claim lock, and a failed claim still spends its
          // seq), and its span is bounded by chunk_tokens because only that many seqs exist at
          // once.
          order(g, [](Chunk* const& chunk) { return chunk->seq; }),
          // Serial: chunks arrive in seq order. One that cannot block is written right here when
          // nothing waits for the writer thread; any other goes to that one thread, whose FIFO
          // keeps the order. The chunk token comes back through the gateway once written.
          writer(g, flow::serial,
                 [&run, &writer_thread](Chunk* chunk, WriterNode::gateway_type& gateway) {
                     bool follow_up = false;
                     if (run.write_inline(chunk, &follow_up)) {
                         gateway.try_put(1);
                         if (follow_up) {
                             to_writer_thread(writer_thread, gateway, run,
                                              [&run](auto&) { run.after_write(); });
                         }
                         return;
                     }
                     to_writer_thread(writer_thread, gateway, run, [&run, chunk](auto& gw) {
                         run.write(chunk);
                         gw.try_put(1);
                     });
                 }) {}

    void connect() {
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
    }

    flow::graph g;  // first: every node below is built in it
    flow::input_node<Ticket> tickets;
    TokenLimiter chunk_limiter;
    flow::queue_node<Ticket> read_queue;
    TokenLimiter io_limiter;
    ReaderNode reader;
    SplitNode split;
    flow::queue_node<Chunk*> cpu_queue;
    ChunkLimiter cpu_limiter;
    TransformNode transformer;
    flow::sequencer_node<Chunk*> order;
    WriterNode writer;
};

}  // namespace

RunReport Pipeline::run(ChunkSteps& steps, std::stop_token stop) {
    RunReport budgets;
    budgets.chunk_tokens = config_.chunk_tokens;
    budgets.cpu_tokens = config_.cpu_tokens;
    budgets.arena_threads = impl_->arena.max_concurrency();
    budgets.io_tokens = std::min(config_.io_tokens, std::max(1, steps.max_concurrent_reads()));
    budgets.io_threads = impl_->readers.size();
    if (PipelineMetrics* m = config_.metrics) {
        m->cpu_tokens.set(config_.cpu_tokens);
        m->io_tokens.set(budgets.io_tokens);
        m->chunk_tokens.set(static_cast<std::int64_t>(config_.chunk_tokens));
    }
    Run run(steps, std::move(stop), config_, impl_->slots);
    // Nothing a body does escapes it, but try_put and the handlers' own allocations can still
    // throw (bad_alloc); then wait_for_all() rethrows after cancelling the graph. Catch it here and
    // take every slot back once the graph is gone, so this Pipeline stays usable.
    try {
        impl_->arena.execute([&] {
            Graph graph(run, impl_->readers, impl_->writer, config_.chunk_tokens, budgets.io_tokens,
                        config_.cpu_tokens);
            graph.connect();
            IdleOnExit idle(impl_->readers, impl_->writer);  // destroyed before the graph
            graph.tickets.activate();
            graph.g.wait_for_all();
        });
    } catch (...) {
        run.lost(status_from_current_exception());
    }
    return run.report(budgets);
}

}  // namespace tbbpipe::engine
