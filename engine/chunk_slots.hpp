// ChunkSlots: the fixed pool of chunks a pipeline may have in flight.
//
// The pool size is the memory budget expressed in chunks. The chunk limiter never admits more
// tickets than there are slots, so acquire() always finds one; an empty pool is an engine bug.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/chunk.hpp"

namespace tbbpipe::engine {

/// Thread-safety: acquire() and release() may be called from any thread.
class ChunkSlots {
public:
    explicit ChunkSlots(std::size_t count);
    ChunkSlots(const ChunkSlots&) = delete;
    ChunkSlots& operator=(const ChunkSlots&) = delete;

    /// Takes a free slot, recycled and ready. Throws kInternal if none is free.
    /// *reused (optional): whether the slot's buffers were already allocated.
    Chunk* acquire(bool* reused = nullptr);
    /// Returns a slot taken by acquire().
    void release(Chunk* chunk);

    /// After a graph was torn down by an exception: every slot is free again.
    /// Only call when no chunk can be in use (no graph is running).
    void reclaim_all();

    std::size_t capacity() const { return slots_.size(); }
    std::size_t free_count() const;
    /// Acquisitions that found the slot's buffers already allocated vs all acquisitions.
    std::uint64_t reuse_hits() const;
    std::uint64_t acquisitions() const;
    /// Bytes reserved by all slot buffers (what the memory budget pays for).
    /// Not concurrently with a run: stages resize the buffers without this lock.
    std::size_t reserved_bytes() const;

private:
    std::vector<std::unique_ptr<Chunk>> slots_;
    mutable std::mutex mutex_;
    std::vector<Chunk*> free_;        // guarded by mutex_
    std::uint64_t reuse_hits_ = 0;    // guarded by mutex_
    std::uint64_t acquisitions_ = 0;  // guarded by mutex_
};

}  // namespace tbbpipe::engine
