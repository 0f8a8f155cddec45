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

bool JobScheduler::small_turn() const {
    // Both queues have work: small_per_large small chunks, then one large chunk.
    if (!small_.empty() && !large_.empty()) return small_streak_ < small_per_large_;
    return !small_.empty();
}

std::optional<std::uint32_t> JobScheduler::peek() const {
    if (small_turn()) return small_.front();
    if (!large_.empty()) return large_.front();
    return std::nullopt;
}

void JobScheduler::take() {
    if (small_turn()) {
        small_streak_ = std::min(small_streak_ + 1, small_per_large_);
    } else if (!large_.empty()) {
        small_streak_ = 0;
    }
}

std::optional<std::uint32_t> JobScheduler::next() {
    const std::optional<std::uint32_t> file = peek();
    if (file) take();
    return file;
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
