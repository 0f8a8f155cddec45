#include "jobs/file_events.hpp"

namespace tbbpipe::jobs {

FileEvents::FileEvents(std::size_t capacity)
    : capacity_(capacity),
      listeners_(std::make_shared<const std::vector<FileListener>>()),
      thread_([this] { deliver_loop(); }) {}

FileEvents::~FileEvents() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void FileEvents::add_listener(FileListener listener) {
    std::lock_guard lock(mutex_);
    auto next = std::make_shared<std::vector<FileListener>>(*listeners_);
    next->push_back(std::move(listener));
    listeners_ = std::move(next);
    listening_.store(true, std::memory_order_relaxed);
}

bool FileEvents::post(FileEvent event) {
    // Nobody to tell: no lock, no wake-up (three per file otherwise, which small files feel).
    // relaxed: a listener added while a run goes may miss the events posted just before.
    if (!listening_.load(std::memory_order_relaxed)) return true;
    {
        std::lock_guard lock(mutex_);
        // Progress may fill only half the queue, so a backlog of progress behind a slow listener
        // can never crowd out a started, finished or failed event.
        const std::size_t limit =
            event.kind == FileEvent::Kind::kProgress ? capacity_ / 2 : capacity_;
        if (queue_.size() >= limit) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        queue_.push_back(std::move(event));
        ++posted_;
    }
    wake_.notify_one();
    return true;
}

void FileEvents::flush() {
    if (on_delivery_thread()) return;
    std::unique_lock lock(mutex_);
    const std::uint64_t target = posted_;
    drained_.wait(lock, [&] { return delivered_ >= target; });
}

void FileEvents::deliver_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty() && stopping_) return;
        std::deque<FileEvent> batch;
        batch.swap(queue_);
        const auto listeners = listeners_;
        lock.unlock();
        // Outside the lock: a listener may take as long as it likes or post more events.
        for (const FileEvent& event : batch) {
            for (const FileListener& listener : *listeners) {
                try {
                    listener(event);
                } catch (...) {
                    errors_.fetch_add(1, std::memory_order_relaxed);
                }
            }
        }
        const std::size_t count = batch.size();
        batch.clear();  // free the events before taking the lock post() needs
        lock.lock();
        delivered_ += count;
        drained_.notify_all();
    }
}

}  // namespace tbbpipe::jobs
