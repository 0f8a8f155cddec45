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

/// What an I/O thread hands back to the graph for one ticket.
struct ReadResult {
    Chunk* chunk = nullptr;  ///< null: no slot could be had (the run is failing)
    bool claimed = false;    ///< false: nothing was left to claim, or the run is stopping
};

/// Thread-safety: read() runs on I/O threads, transform() on arena threads, write() on the
/// writer thread, all at once; the members they share are atomics, gauges, or guarded by
/// claim_mutex_ (claims) or touched by the writer thread only (delivery counts).
class Run {
public:
    Run(ChunkSteps& steps, std::stop_token stop, const PipelineConfig& config, ChunkSlots& slots);
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    /// Whether the ticket source should stop: nothing left to claim, a failure, or a stop.
    bool done_issuing() const;
    /// One read: take a slot, claim (serialised), fill (in parallel with other reads).
    ReadResult read();
    /// Hands back the slot of a read that claimed nothing.
    void unclaimed(Chunk* chunk);
    /// One transform, or a drain without work after a failure or a stop.
    void transform(Chunk& chunk);
    /// One write (or fail()), in seq order, and the slot back.
    void write(Chunk* chunk);

    /// Something escaped the graph (bad_alloc handing a message on): fail the run; its slots
    /// are reclaimed in report().
    void lost(const Status& status);
    /// The run's outcome, once the graph is gone. Checks what wait_for_all() cannot: that every
    /// chunk issued was delivered, every token came back, and the source was exhausted.
    RunReport report(const RunReport& budgets);

private:
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
    std::uint64_t next_delivered_ = 0;  // touched only by the writer thread
    std::uint64_t written_ = 0;         // touched only by the writer thread
    std::uint64_t failed_chunks_ = 0;   // touched only by the writer thread
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
