// JobScheduler: which file the next chunk comes from, when many files share one graph.
//
// fifo: files in the order given, each fully claimed before the next starts.
// fair: small and large files wait in separate queues and are drawn from in a fixed pattern
// (by default 3 small chunks for each large one), so a 10 GB file does not hold hundreds of small
// files hostage behind it, and a stream of small files does not starve the large one either.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include "tbbpipe/options.hpp"

namespace tbbpipe::jobs {

/// Thread-safety: none; claims call it under the engine's claim lock.
/// Files are known by their index in the run's table of files.
class JobScheduler {
public:
    /// Files of large_threshold bytes or more count as large.
    JobScheduler(Scheduler policy, std::uint64_t large_threshold, int small_per_large = 3);

    /// The next file, of `size` bytes (0: unknown, a stream).
    void add(std::uint32_t file, std::uint64_t size);
    /// The file to claim the next chunk from (the same one until it is retired), or nullopt when
    /// every file was retired: peek() then take().
    std::optional<std::uint32_t> next();
    /// The file next() would return, changing nothing (a claim that may have to be retried
    /// elsewhere looks first, and takes only once it claimed).
    std::optional<std::uint32_t> peek() const;
    /// Counts the pick peek() returned (the fair pattern advances).
    void take();
    /// The file returned by the last next() gave its final chunk (or failed): never again.
    void retire(std::uint32_t file);
    bool empty() const { return small_.empty() && large_.empty(); }

private:
    bool small_turn() const;

    Scheduler policy_;
    std::uint64_t large_threshold_;
    int small_per_large_;
    std::deque<std::uint32_t> small_;  // fifo uses this queue only
    std::deque<std::uint32_t> large_;
    int small_streak_ = 0;  // small picks since the last large one
};

}  // namespace tbbpipe::jobs
