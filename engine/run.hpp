// Run: one Pipeline::run, i.e. the state the graph's bodies share while chunks move, and the
// three things a chunk has done to it (read, transform, write). pipeline.cpp wires them into the
// graph; everything here is plain code that knows nothing of flow-graph nodes.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <stop_token>

#include "engine/chunk_slots.hpp"
#include "engine/chunk_steps.hpp"
#include "engine/pipeline.hpp"
#include "engine/pipeline_metrics.hpp"
#include "engine/token_gauge.hpp"

namespace tbbpipe::engine {

/// What a read hands on to the graph for one ticket, and how far it got when it had to move from
/// an arena thread to an I/O thread.
struct ReadResult {
    Chunk* chunk = nullptr;  ///< null: no slot could be had (the run is failing)
    bool claimed = false;    ///< false: nothing was left to claim, or the run is stopping

    bool started = false;     ///< the slot was taken and the read counted in the gauges
    bool claim_done = false;  ///< the claim happened (claimed says what it found)
    bool filled = false;      ///< the fill happened (or there was nothing to fill)
    std::int64_t start_ns = 0;
};

/// Thread-safety: reads run on arena or I/O threads, transform() on arena threads, writes on
/// the writer's side (see write_inline()), all at once; the members they share are atomics,
/// gauges, or guarded by claim_mutex_ (claims), or belong to the writer's side (delivery
/// counts): one thread at a time, handed over through queued_writes_.
class Run {
public:
    Run(ChunkSteps& steps, std::stop_token stop, const PipelineConfig& config, ChunkSlots& slots);
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    /// Whether the ticket source should stop: nothing left to claim, a failure, or a stop.
    bool done_issuing() const;
    /// On an arena thread: the whole read (take a slot, claim, fill) when none of it would block
    /// (ChunkSteps::inline_io()). false: r holds what got done, and read(r) must finish it on an
    /// I/O thread.
    bool read_inline(ReadResult& r);
    /// On an I/O thread: one read, or the rest of one read_inline() gave up on. Claims are
    /// serialised, fills run in parallel with other reads.
    ReadResult read(ReadResult r = {});
    /// The rest of a read that could not be handed to an I/O thread (out of memory): a claimed
    /// chunk travels on failed, an unclaimed one goes back, and the read's tokens are returned.
    void abandon_read(ReadResult& r, const Status& why);
    /// One transform, or a drain without work after a failure or a stop.
    void transform(Chunk& chunk);
    /// On the writer node's serial body, in seq order: writes the chunk right there when the
    /// steps say it cannot block and nothing is queued for the writer thread. false: queue it
    /// (queue_write(), then write() on the writer thread). *follow_up: after_write() must be
    /// queued for the writer thread now.
    bool write_inline(Chunk* chunk, bool* follow_up);
    /// On the writer thread: one write (or fail()), in seq order, and the slot back.
    void write(Chunk* chunk);
    /// On the writer thread: what an inline write left that may block (ChunkSteps::after_write).
    void after_write() noexcept;
    /// Counts work queued for the writer thread; writer_done() when it finished. While any is
    /// queued, writes are queued too (FIFO keeps their order).
    void queue_write() { queued_writes_.fetch_add(1, std::memory_order_relaxed); }
    void writer_done() { queued_writes_.fetch_sub(1, std::memory_order_release); }

    /// Something escaped the graph (bad_alloc handing a message on): fail the run; its slots
    /// are reclaimed in report().
    void lost(const Status& status);
    /// The run's outcome, once the graph is gone. Checks what wait_for_all() cannot: that every
    /// chunk issued was delivered, every token came back, and the source was exhausted.
    RunReport report(const RunReport& budgets);

private:
    void begin_read(ReadResult& r);
    // false: the claim must be tried again where blocking is allowed (only when !may_block).
    bool claim(ReadResult& r, bool may_block);
    static bool try_claim_lock(std::unique_lock<std::mutex>& lock);
    bool fill(ReadResult& r, bool may_block);
    void end_read(ReadResult& r);
    void unclaimed(Chunk* chunk);
    // The write (or fail()) of one chunk in seq order, and its slot back.
    void deliver(Chunk* chunk);
    // A failure that belongs to one chunk: with isolation only its job fails.
    void chunk_failed(Chunk& chunk, const Status& status);
    void fail(const Status& status);
    bool cancelled() const { return stop_.stop_requested(); }
    bool should_stop() const;

    ChunkSteps& steps_;
    const std::stop_token stop_;
    const bool isolate_;
    ChunkSlots& slots_;
    PipelineMetrics* const m_;

    TokenGauge chunk_gauge_;      // slots in use
    TokenGauge read_gauge_;       // claim + fill in progress
    TokenGauge transform_gauge_;  // transforms in progress

    std::mutex claim_mutex_;
    std::uint64_t next_seq_ = 0;        // guarded by claim_mutex_
    std::uint64_t next_delivered_ = 0;  // the writer's side
    std::uint64_t written_ = 0;         // the writer's side
    std::uint64_t failed_chunks_ = 0;   // the writer's side
    // Work queued for the writer thread and not finished. The writer node's body increments it
    // (relaxed: the post that follows synchronises through the thread's queue) and reads it
    // (acquire, pairing with writer_done()'s release: an inline write sees everything the
    // writer thread did for earlier chunks).
    std::atomic<int> queued_writes_{0};
    // Where reads and writes ran, for the report. relaxed: counts only, read after the run
    // (wait_for_all() and the I/O threads' idle wait order them before report()).
    std::atomic<std::uint64_t> reads_inline_{0};
    std::atomic<std::uint64_t> reads_handed_off_{0};
    std::uint64_t writes_inline_ = 0;      // the writer's side
    std::uint64_t writes_handed_off_ = 0;  // the writer's side
    std::atomic<bool> exhausted_{false};
    // A message lost outside the graph's threads: the graph cannot know, so the run is failed
    // by hand and its slots reclaimed once the graph is gone.
    std::atomic<bool> lost_{false};

    // The first failure wins; later ones are consequences.
    std::atomic<bool> failed_{false};
    mutable std::mutex error_mutex_;
    Status first_error_;  // guarded by error_mutex_
};

}  // namespace tbbpipe::engine
