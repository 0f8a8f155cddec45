#include "engine/chunk_slots.hpp"

#include <cassert>

#include "core/status_error.hpp"

namespace tbbpipe::engine {

ChunkSlots::ChunkSlots(std::size_t count) {
    slots_.reserve(count);
    free_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        slots_.push_back(std::make_unique<Chunk>());
        free_.push_back(slots_.back().get());
    }
}

Chunk* ChunkSlots::acquire(bool* reused) {
    std::lock_guard lock(mutex_);
    if (free_.empty()) {
        throw StatusError(StatusCode::kInternal, "chunk slot pool exhausted (limiter bypassed)");
    }
    Chunk* chunk = free_.back();
    free_.pop_back();
    ++acquisitions_;
    const bool hit = !chunk->input.empty();
    if (hit) ++reuse_hits_;
    if (reused) *reused = hit;
    chunk->recycle();
    return chunk;
}

void ChunkSlots::release(Chunk* chunk) {
    std::lock_guard lock(mutex_);
    assert(free_.size() < slots_.size() && "slot released twice");
    free_.push_back(chunk);
}

void ChunkSlots::reclaim_all() {
    std::lock_guard lock(mutex_);
    free_.clear();
    for (const auto& slot : slots_) free_.push_back(slot.get());
}

std::uint64_t ChunkSlots::reuse_hits() const {
    std::lock_guard lock(mutex_);
    return reuse_hits_;
}

std::uint64_t ChunkSlots::acquisitions() const {
    std::lock_guard lock(mutex_);
    return acquisitions_;
}

std::size_t ChunkSlots::free_count() const {
    std::lock_guard lock(mutex_);
    return free_.size();
}

std::size_t ChunkSlots::reserved_bytes() const {
    std::lock_guard lock(mutex_);
    std::size_t total = 0;
    for (const auto& slot : slots_) total += slot->input.capacity() + slot->output.capacity();
    return total;
}

}  // namespace tbbpipe::engine
