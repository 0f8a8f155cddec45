// ChunkSteps: what a run does to each chunk, one virtual call per step.
#pragma once

#include <climits>

#include "engine/chunk.hpp"

namespace tbbpipe::engine {

/// The four steps every chunk goes through, and where each runs:
///
///   claim      under the engine's claim lock, on an I/O thread, after the engine assigned
///              chunk.seq: reserves the next chunk (sets job, index, offset, size, last; a stream
///              reads its bytes here). Must not call back into the Pipeline. A claim that may
///              block (a pipe) needs max_concurrent_reads() == 1, so nobody queues on the lock.
///   fill       on an I/O thread, up to the I/O budget at once: reads the claimed bytes (pread).
///   transform  on an arena thread, up to the CPU budget at once, on distinct chunks.
///   write      on the writer thread, one chunk at a time, strictly in seq order (a write may
///              block without taking a thread from the transforms).
///
/// Inline I/O (opt-in, inline_io()): a hand-off to an I/O thread and back costs two wake-ups,
/// more than a read from the page cache. So the engine first runs claim and fill on the arena
/// thread that would otherwise wait for them, inside a NonBlocking scope (core/no_block.hpp);
/// a step that would block there throws WouldBlock before changing anything, and the engine runs
/// it again on an I/O thread. A write runs on the arena thread when write_inline_ok() says it
/// cannot block and no earlier write is still queued for the writer thread (so order holds and
/// the steps' writer-side state has one user at a time); what it leaves that may block
/// (after_write_pending()) runs next on the writer thread, in after_write().
///
/// A step that throws StatusError fails its chunk; with PipelineConfig::isolate_failures the
/// chunk still travels in order and reaches fail() instead of write(), so only its job fails.
/// A claim that throws still spends its seq (the chunk travels on, marked failed).
class ChunkSteps {
public:
    virtual ~ChunkSteps() = default;
    /// Reserves the next chunk. false: nothing is left to claim.
    virtual bool claim(Chunk& chunk) = 0;
    /// Reads the claimed chunk's bytes when that can happen in parallel.
    virtual void fill(Chunk& chunk) = 0;
    virtual void transform(Chunk& chunk) = 0;
    virtual void write(const Chunk& chunk) = 0;
    /// With isolate_failures: called in seq order, instead of write(), for a chunk that failed or
    /// was skipped (chunk.status / chunk.skipped say which) or whose write() threw.
    virtual void fail(const Chunk& /*chunk*/) noexcept {}
    /// How many reads may run at once (a pipe: 1).
    virtual int max_concurrent_reads() const { return INT_MAX; }

    /// Whether claim() and fill() honour NonBlocking scopes (see above). false: they always run
    /// on I/O threads, and every write on the writer thread.
    virtual bool inline_io() const { return false; }
    /// With inline_io(): whether write(chunk), or fail(chunk), cannot block. Asked in seq order
    /// right before it.
    virtual bool write_inline_ok(const Chunk& /*chunk*/) const { return false; }
    /// After an inline write: whether after_write() has work that may block.
    virtual bool after_write_pending() const { return false; }
    /// On the writer thread, after an inline write that left work (after_write_pending()), before
    /// any later write. Must not throw.
    virtual void after_write() noexcept {}
};

}  // namespace tbbpipe::engine
