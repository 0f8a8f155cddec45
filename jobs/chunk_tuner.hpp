// ChunkTuner: the adaptive chunk size (--chunk-size auto).
//
// A one-step hill-climb on the measured CPU time per chunk: over each window of chunks, if the
// mean is below the band the chunk size doubles (per-chunk costs — a graph hop, a syscall, a
// record header — are then a visible share), above the band it halves (fewer, longer chunks mean
// a longer wait for the last one and less parallelism on small inputs); inside the band it stays.
// Sizes stay within [min, max] and are multiples of 128 KiB.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "tbbpipe/options.hpp"

namespace tbbpipe::jobs {

struct ChunkTunerConfig {
    std::uint32_t initial = kDefaultChunkSize;
    std::uint32_t min = 128 * 1024;
    std::uint32_t max = 4 * 1024 * 1024;
    double band_low_seconds = 0.5e-3;  ///< grow below this mean per chunk
    double band_high_seconds = 5e-3;   ///< shrink above it
    int window = 8;                    ///< chunks per decision
};

/// Thread-safety: current() and record() may be called from any thread.
class ChunkTuner {
public:
    static constexpr std::uint32_t kAlign = 128 * 1024;
    explicit ChunkTuner(const ChunkTunerConfig& config = {});

    /// The size for the next chunk.
    std::uint32_t current() const {
        // relaxed: a chunk claimed with a slightly stale size is still a valid size; nothing
        // else is published through this value.
        return size_.load(std::memory_order_relaxed);
    }
    /// One transformed chunk: its plaintext bytes and the CPU time it took. Chunks shorter than
    /// the current size (a file's tail) are scaled to it.
    void record(std::uint64_t bytes, double cpu_seconds);
    /// How many times the size changed.
    int adjustments() const;

private:
    ChunkTunerConfig config_;
    std::atomic<std::uint32_t> size_;
    mutable std::mutex mutex_;
    double window_seconds_ = 0;  // guarded by mutex_
    int window_count_ = 0;       // guarded by mutex_
    int adjustments_ = 0;        // guarded by mutex_
};

/// The calling thread's CPU time in seconds (CLOCK_THREAD_CPUTIME_ID).
double thread_cpu_seconds();

}  // namespace tbbpipe::jobs
