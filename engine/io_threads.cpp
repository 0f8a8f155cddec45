#include "engine/io_threads.hpp"

#include <algorithm>

namespace tbbpipe::engine {

IoThreads::IoThreads(int threads) {
    const int n = std::max(1, threads);
    threads_.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
}

IoThreads::~IoThreads() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
}

void IoThreads::post(std::function<void()> work) {
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(work));
    }
    wake_.notify_one();
}

void IoThreads::wait_idle() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
}

void IoThreads::loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything queued has run
        std::function<void()> work = std::move(queue_.front());
        queue_.pop_front();
        ++running_;
        lock.unlock();
        work();  // no lock held across the call: work may post more work
        lock.lock();
        --running_;
        if (queue_.empty() && running_ == 0) idle_.notify_all();
    }
}

}  // namespace tbbpipe::engine
