#include "jobs/chunk_tuner.hpp"

#include <time.h>

#include <algorithm>

namespace tbbpipe::jobs {
namespace {

std::uint32_t aligned(std::uint64_t size, const ChunkTunerConfig& c) {
    const std::uint64_t down = size / ChunkTuner::kAlign * ChunkTuner::kAlign;
    return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(down, c.min, c.max));
}

}  // namespace

ChunkTuner::ChunkTuner(const ChunkTunerConfig& config) : config_(config) {
    config_.min = std::max(kAlign, config_.min / kAlign * kAlign);
    config_.max = std::max(config_.min, config_.max / kAlign * kAlign);
    config_.window = std::max(1, config_.window);
    size_.store(aligned(config_.initial, config_), std::memory_order_relaxed);
}

void ChunkTuner::record(std::uint64_t bytes, double cpu_seconds) {
    if (bytes == 0) return;
    std::lock_guard lock(mutex_);
    // Read under the lock: a decision must start from the size the last decision left.
    const std::uint32_t size = current();
    // A short chunk (the tail of a file) says what a full one would cost at the same rate.
    const double scaled = cpu_seconds * static_cast<double>(size) / static_cast<double>(bytes);
    window_seconds_ += scaled;
    if (++window_count_ < config_.window) return;
    const double mean = window_seconds_ / window_count_;
    window_seconds_ = 0;
    window_count_ = 0;
    std::uint64_t next = size;
    if (mean < config_.band_low_seconds) {
        next = std::uint64_t{size} * 2;
    } else if (mean > config_.band_high_seconds) {
        next = size / 2;
    }
    const std::uint32_t step = aligned(next, config_);
    if (step != size) {
        size_.store(step, std::memory_order_relaxed);
        ++adjustments_;
    }
}

int ChunkTuner::adjustments() const {
    std::lock_guard lock(mutex_);
    return adjustments_;
}

double thread_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace tbbpipe::jobs
