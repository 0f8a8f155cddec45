#include "nodes/job_scheduler.hpp"

#include <algorithm>

namespace tbbpipe::nodes {

std::optional<SchedulerPolicy> parse_scheduler(std::string_view text) {
    if (text == "fair") return SchedulerPolicy::kFair;
    if (text == "fifo") return SchedulerPolicy::kFifo;
    return std::nullopt;
}

std::string_view scheduler_name(SchedulerPolicy policy) {
    return policy == SchedulerPolicy::kFair ? "fair" : "fifo";
}

JobScheduler::JobScheduler(SchedulerPolicy policy, std::uint64_t large_threshold,
                           int small_per_large)
    : policy_(policy),
      large_threshold_(large_threshold),
      small_per_large_(std::max(1, small_per_large)) {}

void JobScheduler::add(void* job, std::uint64_t size) {
    if (policy_ == SchedulerPolicy::kFair && size >= large_threshold_) {
        large_.push_back(job);
    } else {
        small_.push_back(job);
    }
}

void* JobScheduler::next() {
    bool take_small = !small_.empty();
    if (!small_.empty() && !large_.empty()) {
        // Both queues have work: small_per_large small chunks, then one large chunk.
        take_small = small_streak_ < small_per_large_;
    }
    if (take_small) {
        small_streak_ = std::min(small_streak_ + 1, small_per_large_);
        last_ = small_.front();
        last_small_ = true;
    } else if (!large_.empty()) {
        small_streak_ = 0;
        last_ = large_.front();
        last_small_ = false;
    } else {
        last_ = nullptr;
    }
    return last_;
}

void JobScheduler::retire(void* job) {
    // Only the front of a queue is ever handed out, so the retired job is at one of the fronts.
    if (!small_.empty() && small_.front() == job) {
        small_.pop_front();
    } else if (!large_.empty() && large_.front() == job) {
        large_.pop_front();
    }
}

}  // namespace tbbpipe::nodes
