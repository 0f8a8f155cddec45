// IoThreads: a few dedicated threads for blocking reads and writes, outside the TBB arena.
//
// The flow graph hands them work through an async_node, so a read stalled on a slow disk or a
// pipe sits on one of these threads, never on a TBB worker that a transform could use. Reads and
// writes that cannot block do not come here (engine/chunk_steps.hpp, "Inline I/O").
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tbbpipe::engine {

/// Thread-safety: post() and wait_idle() may be called from any thread. Work runs in FIFO order;
/// with one thread it also finishes in that order (the ordered writer relies on it).
class IoThreads {
public:
    explicit IoThreads(int threads);
    /// Finishes the queued work, then joins.
    ~IoThreads();
    IoThreads(const IoThreads&) = delete;
    IoThreads& operator=(const IoThreads&) = delete;

    /// Queues work; never blocks. The queue is unbounded here because every caller posts only
    /// while holding a token (an I/O or chunk token), which bounds what can be outstanding.
    /// Work must not throw (it runs where nobody could catch it).
    void post(std::function<void()> work);
    /// Returns when nothing is queued or running.
    void wait_idle();
    int size() const { return static_cast<int>(threads_.size()); }

private:
    void loop();

    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable idle_;
    std::deque<std::function<void()>> queue_;  // guarded by mutex_
    int running_ = 0;                          // guarded by mutex_
    bool stopping_ = false;                    // guarded by mutex_
    std::vector<std::thread> threads_;
};

}  // namespace tbbpipe::engine
