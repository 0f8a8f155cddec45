// FileEvents: delivers per-file notifications (tbbpipe/events.hpp) to a program's listeners.
//
// Listeners run on the dispatcher's own thread, never on a pipeline thread and never under a lock,
// so a slow or throwing listener cannot stall or break a run: post() only appends to a bounded
// queue (dropping, and counting, when it is full) and returns at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tbbpipe/events.hpp"

namespace tbbpipe::jobs {

/// Thread-safety: every member may be called from any thread, except flush() and the destructor
/// from inside a listener.
class FileEvents {
public:
    explicit FileEvents(std::size_t capacity = 4096);
    /// Delivers what is still queued, then stops the thread: a slow listener delays this (never
    /// the pipeline), and a listener must not keep posting forever.
    ~FileEvents();
    FileEvents(const FileEvents&) = delete;
    FileEvents& operator=(const FileEvents&) = delete;

    void add_listener(FileListener listener);
    /// Never blocks on a listener. false: the queue was full and the event was dropped (progress
    /// events are dropped first: they may use only half the queue). Before the first listener
    /// is added, events go nowhere.
    bool post(FileEvent event);
    /// Waits until everything posted so far was delivered. Called from a listener (the delivery
    /// thread itself) it returns at once: waiting there would wait for itself.
    void flush();
    /// Whether the caller is the thread that runs the listeners.
    bool on_delivery_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
    std::uint64_t listener_errors() const { return errors_.load(std::memory_order_relaxed); }

private:
    void deliver_loop();

    const std::size_t capacity_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable drained_;
    std::deque<FileEvent> queue_;  // guarded by mutex_
    std::shared_ptr<const std::vector<FileListener>>
        listeners_;                // guarded by mutex_ (copy on write)
    std::uint64_t posted_ = 0;     // guarded by mutex_
    std::uint64_t delivered_ = 0;  // guarded by mutex_
    bool stopping_ = false;        // guarded by mutex_
    // Whether any listener was added (it never goes back): post() skips everything until then.
    std::atomic<bool> listening_{false};
    // relaxed: statistics only, read after flush() or for display.
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::uint64_t> errors_{0};
    std::thread thread_;
};

}  // namespace tbbpipe::jobs
