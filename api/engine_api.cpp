// tbbpipe::Engine (include/tbbpipe/engine.hpp): a job queue in front of one JobRunner.
//
// One dispatcher thread takes jobs in order and runs each (every file of the job through the
// graph at once); the graph, its arena and its buffers are reused from job to job.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stop_token>
#include <thread>

#include "api/engine_access.hpp"
#include "api/job_checks.hpp"
#include "core/status_error.hpp"
#include "engine/metrics.hpp"
#include "jobs/file_events.hpp"
#include "jobs/job_runner.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe {

// ---- Engine ------------------------------------------------------------------------------

struct JobHandle::State {
    explicit State(Job j) : job(std::move(j)) {}
    Job job;
    // cancel() requests a stop; the run watches the token (a stop is never undone).
    std::stop_source cancel;
    mutable std::mutex mutex;
    mutable std::condition_variable finished_cv;
    bool finished = false;  // guarded by mutex
    JobResult result;       // written once, before finished is set
};

struct Engine::Impl {
    explicit Impl(const EngineConfig& c)
        : config(c), config_status(validate(c)), runner(config, &registry, &events) {}

    void dispatch();
    void finish(const std::shared_ptr<JobHandle::State>& state, JobResult result);
    JobResult run(JobHandle::State& state);
    Result<JobHandle> enqueue(Job job, bool wait_for_room);

    const EngineConfig config;
    const Status config_status;  // a bad config refuses every job, naming what is wrong
    engine::MetricsRegistry registry;
    jobs::FileEvents events;
    jobs::JobRunner runner;  // used by the dispatcher thread only

    std::mutex mutex;
    std::condition_variable wake;                         // dispatcher: work arrived or exit
    std::condition_variable room;                         // submitters: the queue has room
    std::condition_variable idle;                         // shutdown: nothing queued or running
    std::deque<std::shared_ptr<JobHandle::State>> queue;  // guarded by mutex; <= capacity
    std::shared_ptr<JobHandle::State> running;            // guarded by mutex
    // Jobs finished while a shutdown was under way, for its report. Guarded by mutex.
    std::vector<std::shared_ptr<JobHandle::State>> finished_in_shutdown;
    std::mutex shutdown_mutex;  // one shutdown at a time; later ones find the dispatcher gone
    bool accepting = true;      // guarded by mutex
    bool exit = false;          // guarded by mutex
    std::thread dispatcher;
};

format::KekCache& EngineAccess::kek_cache(Engine& engine) {
    return engine.impl_->runner.kek_cache();
}

JobResult Engine::Impl::run(JobHandle::State& state) {
    JobResult result = runner.run(state.job, state.cancel.get_token());
    // Messages name the file at the boundary (inside, a file's work does not know its name).
    Status first_failure;
    for (FileResult& file : result.files) {
        if (file.status.is_ok()) continue;
        file.status = {file.status.code(), file.input + ": " + file.status.message()};
        if (first_failure.is_ok()) first_failure = file.status;
    }
    if (!first_failure.is_ok()) result.status = first_failure;
    return result;
}

void Engine::Impl::finish(const std::shared_ptr<JobHandle::State>& state, JobResult result) {
    state->job.secret = Secret{};  // the engine keeps no copy of the user's key past the job
    {
        std::lock_guard lock(state->mutex);
        state->result = std::move(result);
        state->finished = true;
    }
    state->finished_cv.notify_all();
    std::lock_guard lock(mutex);
    if (!accepting) finished_in_shutdown.push_back(state);
}

void Engine::Impl::dispatch() {
    std::unique_lock lock(mutex);
    for (;;) {
        wake.wait(lock, [&] { return exit || !queue.empty(); });
        if (queue.empty()) return;  // exit, nothing left
        std::shared_ptr<JobHandle::State> state = std::move(queue.front());
        queue.pop_front();
        room.notify_one();
        if (state->cancel.stop_requested()) {
            lock.unlock();
            finish(state, {{StatusCode::kCancelled, "cancelled before it ran"}, {}, {}, 0});
            lock.lock();
            if (queue.empty() && !running) idle.notify_all();
            continue;
        }
        running = state;
        lock.unlock();  // no lock held while the job (and its listeners) run
        JobResult result;
        try {
            result = run(*state);
        } catch (...) {
            // Nothing may escape this thread (it would end the process): the job fails instead.
            result = {status_from_current_exception(), {}, {}, 0};
        }
        finish(state, std::move(result));
        lock.lock();
        running.reset();
        if (queue.empty()) idle.notify_all();
    }
}

Result<JobHandle> Engine::Impl::enqueue(Job job, bool wait_for_room) {
    if (!config_status.is_ok()) return config_status;
    if (Status s = validate_job(job, config); !s.is_ok()) return s;
    auto state = std::make_shared<JobHandle::State>(std::move(job));
    std::unique_lock lock(mutex);
    if (wait_for_room) {
        room.wait(lock, [&] { return !accepting || queue.size() < config.queue_capacity; });
    }
    if (!accepting) return Status{StatusCode::kCancelled, "the engine is shutting down"};
    if (queue.size() >= config.queue_capacity) {
        return Status{StatusCode::kResourceExhausted,
                      "queue full (capacity " + std::to_string(config.queue_capacity) +
                          " jobs): try again later or use submit()"};
    }
    queue.push_back(state);
    lock.unlock();
    wake.notify_one();
    JobHandle handle;
    handle.state_ = std::move(state);
    return handle;
}

Engine::Engine(const EngineConfig& config) : impl_(std::make_shared<Impl>(config)) {
    impl_->dispatcher = std::thread([impl = impl_.get()] { impl->dispatch(); });
}

Engine::~Engine() {
    shutdown(std::chrono::milliseconds(0));
}

Result<JobHandle> Engine::submit(Job job) {
    return impl_->enqueue(std::move(job), true);
}

Result<JobHandle> Engine::try_submit(Job job) {
    return impl_->enqueue(std::move(job), false);
}

ShutdownReport Engine::shutdown(std::chrono::milliseconds timeout) {
    ShutdownReport report;
    Impl& impl = *impl_;
    std::lock_guard once(impl.shutdown_mutex);
    if (!impl.dispatcher.joinable()) return report;  // an earlier shutdown did it all
    std::vector<std::shared_ptr<JobHandle::State>> dropped;
    std::unique_lock lock(impl.mutex);
    impl.accepting = false;
    impl.room.notify_all();  // blocked submitters get "shutting down"
    const bool drained =
        impl.idle.wait_for(lock, timeout, [&] { return impl.queue.empty() && !impl.running; });
    if (!drained) {
        report.timed_out = true;
        for (auto& state : impl.queue) {
            state->cancel.request_stop();
            dropped.push_back(std::move(state));
        }
        impl.queue.clear();
        if (impl.running) impl.running->cancel.request_stop();
    }
    impl.exit = true;
    lock.unlock();
    impl.wake.notify_all();
    // Finished before the join, so a listener waiting on one of them is released.
    for (auto& state : dropped) {
        impl.finish(state, {{StatusCode::kCancelled, "cancelled by shutdown"}, {}, {}, 0});
    }
    impl.dispatcher.join();  // a cancelled run stops promptly: it drains in-flight chunks only
    impl.events.flush();     // listeners have heard of every file (unless called from one)
    lock.lock();
    // Counted from how each job ended, not from what shutdown asked for.
    for (const auto& state : impl.finished_in_shutdown) {
        const bool cancelled = state->result.status.code() == StatusCode::kCancelled;
        (cancelled ? report.cancelled : report.completed) += 1;
    }
    impl.finished_in_shutdown.clear();
    return report;
}

MetricsSnapshot Engine::metrics() const {
    return impl_->registry.snapshot();
}

void Engine::add_listener(FileListener listener) {
    impl_->events.add_listener(std::move(listener));
}

const EngineConfig& Engine::config() const {
    return impl_->config;
}

// ---- JobHandle ---------------------------------------------------------------------------

JobResult JobHandle::wait() const {
    if (!state_) return {{StatusCode::kInvalidArgument, "an empty JobHandle"}, {}, {}, 0};
    std::unique_lock lock(state_->mutex);
    state_->finished_cv.wait(lock, [&] { return state_->finished; });
    return state_->result;
}

bool JobHandle::wait_for(std::chrono::milliseconds timeout) const {
    if (!state_) return true;
    std::unique_lock lock(state_->mutex);
    return state_->finished_cv.wait_for(lock, timeout, [&] { return state_->finished; });
}

bool JobHandle::done() const {
    if (!state_) return true;
    std::lock_guard lock(state_->mutex);
    return state_->finished;
}

void JobHandle::cancel() const {
    // The job's own stop source: a queued job never runs, a running one sees it in its run.
    if (state_) state_->cancel.request_stop();
}

}  // namespace tbbpipe
