#include "jobs/job_scheduler.hpp"

#include <algorithm>

namespace tbbpipe::jobs {

JobScheduler::JobScheduler(Scheduler policy, std::uint64_t large_threshold, int small_per_large)
    : policy_(policy),
      large_threshold_(large_threshold),
      small_per_large_(std::max(1, small_per_large)) {}

void JobScheduler::add(std::uint32_t file, std::uint64_t size) {
    if (policy_ == Scheduler::kFair && size >= large_threshold_) {
        large_.push_back(file);
    } else {
        small_.push_back(file);
    }
}

std::optional<std::uint32_t> JobScheduler::next() {
    bool take_small = !small_.empty();
    if (!small_.empty() && !large_.empty()) {
        // Both queues have work: small_per_large small chunks, then one large chunk.
        take_small = small_streak_ < small_per_large_;
    }
    if (take_small) {
        small_streak_ = std::min(small_streak_ + 1, small_per_large_);
        return small_.front();
    }
    if (!large_.empty()) {
        small_streak_ = 0;
        return large_.front();
    }
    return std::nullopt;
}

void JobScheduler::retire(std::uint32_t file) {
    // Only the front of a queue is ever handed out, so the retired file is at one of the fronts.
    if (!small_.empty() && small_.front() == file) {
        small_.pop_front();
    } else if (!large_.empty() && large_.front() == file) {
        large_.pop_front();
    }
}

}  // namespace tbbpipe::jobs
