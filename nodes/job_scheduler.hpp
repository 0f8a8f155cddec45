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
#include <string_view>

namespace tbbpipe::nodes {

enum class SchedulerPolicy { kFair, kFifo };

std::optional<SchedulerPolicy> parse_scheduler(std::string_view text);  ///< "fair" | "fifo"
std::string_view scheduler_name(SchedulerPolicy policy);

/// Thread-safety: none; the batch source calls it under the engine's claim mutex.
/// Jobs are opaque handles owned by the caller.
class JobScheduler {
public:
    /// Files of large_threshold bytes or more count as large.
    JobScheduler(SchedulerPolicy policy, std::uint64_t large_threshold, int small_per_large = 3);

    void add(void* job, std::uint64_t size);
    /// The job to claim the next chunk from (the same one until it is retired), or nullptr when
    /// every job was retired.
    void* next();
    /// The job returned by the last next() gave its final chunk (or failed): never again.
    void retire(void* job);
    bool empty() const { return small_.empty() && large_.empty(); }

private:
    SchedulerPolicy policy_;
    std::uint64_t large_threshold_;
    int small_per_large_;
    std::deque<void*> small_;  // fifo uses this queue only
    std::deque<void*> large_;
    int small_streak_ = 0;  // small picks since the last large one
    void* last_ = nullptr;  // what next() returned
    bool last_small_ = false;
};

}  // namespace tbbpipe::nodes
