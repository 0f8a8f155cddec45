// tbbpipe::Engine (include/tbbpipe/engine.hpp): a job queue in front of one ContainerJobs.
//
// One dispatcher thread takes jobs in order and runs each as one batch (every file of the job
// through the graph at once); the graph, its arena and its buffers are reused from job to job.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include "nodes/api_bridge.hpp"
#include "nodes/cipher.hpp"
#include "nodes/codec.hpp"
#include "nodes/container_jobs.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe {

// ---- Secret ------------------------------------------------------------------------------

struct Secret::Bytes {
    nodes::SecretBytes bytes;
};

Secret::Secret() = default;

Secret Secret::key(const std::vector<std::uint8_t>& bytes32) {
    Secret s;
    auto b = std::make_shared<Bytes>();
    b->bytes.Assign(bytes32.data(), bytes32.size());
    s.bytes_ = std::move(b);
    s.kind_ = static_cast<int>(nodes::KdfId::kKeyFile);
    return s;
}

Result<Secret> Secret::key_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status{StatusCode::kNotFound, path + ": cannot open the key file"};
    std::vector<std::uint8_t> bytes(nodes::kFileKeySize + 1);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (in.gcount() != static_cast<std::streamsize>(nodes::kFileKeySize)) {
        return Status{StatusCode::kInvalidArgument,
                      path + ": a key file holds exactly 32 bytes (tbbpipe keygen)"};
    }
    bytes.resize(nodes::kFileKeySize);
    Secret s = key(bytes);
    std::fill(bytes.begin(), bytes.end(), std::uint8_t{0});
    return s;
}

Secret Secret::passphrase(const std::string& text) {
    Secret s;
    auto b = std::make_shared<Bytes>();
    b->bytes.Assign(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    s.bytes_ = std::move(b);
    s.kind_ = static_cast<int>(nodes::KdfId::kScrypt);
    return s;
}

bool Secret::present() const {
    return kind_ != 0;
}

// The library's own view of a Secret (friend of Secret).
struct SecretAccess {
    static nodes::UserSecret user(const Secret& s) {
        nodes::UserSecret u;
        if (!s.present()) return u;
        u.kind = static_cast<nodes::KdfId>(s.kind_);
        u.bytes = s.bytes_->bytes;
        return u;
    }
};

// ---- conversions (also used by public_memory.cpp) ----------------------------------------

nodes::UserSecret user_secret(const Secret& secret) {
    return SecretAccess::user(secret);
}

nodes::PackSettings pack_settings_for(const PackOptions& o) {
    nodes::PackSettings p;
    p.compression = o.compression == Compression::kLz4     ? nodes::Compression::kLz4
                    : o.compression == Compression::kLz4Hc ? nodes::Compression::kLz4Hc
                                                           : nodes::Compression::kNone;
    p.level = o.level;
    p.cipher = o.cipher == Cipher::kAes256Gcm ? nodes::CipherId::kAes256Gcm
                                              : nodes::CipherId::kChaCha20Poly1305;
    p.adaptive_chunk_size = o.chunk_size == 0;
    p.chunk_size = o.chunk_size ? o.chunk_size : 1024 * 1024;
    p.scrypt.log2_n = o.scrypt_log2_n;
    p.stages = o.stages;
    return p;
}

nodes::EngineSettings engine_settings_for(const EngineConfig& config) {
    nodes::EngineSettings s;
    s.cpu_tokens = config.cpu_tokens;
    s.io_tokens = std::max(1, config.io_tokens);
    s.memory_budget = config.memory_limit ? config.memory_limit : nodes::default_memory_limit();
    s.durable = config.durable;
    s.scheduler = config.scheduler == Scheduler::kFair ? nodes::SchedulerPolicy::kFair
                                                       : nodes::SchedulerPolicy::kFifo;
    s.stages = std::make_shared<const StageRegistry>(config.stages);
    return s;
}

namespace {

nodes::BatchOp batch_op(Operation op) {
    return op == Operation::kPack     ? nodes::BatchOp::kPack
           : op == Operation::kUnpack ? nodes::BatchOp::kUnpack
                                      : nodes::BatchOp::kVerify;
}

}  // namespace

Status validate_secret(const Secret& secret) {
    const nodes::UserSecret user = user_secret(secret);
    if (user.kind == nodes::KdfId::kKeyFile && user.bytes.size() != nodes::kFileKeySize) {
        return {StatusCode::kInvalidArgument,
                "a key holds exactly 32 bytes, not " + std::to_string(user.bytes.size())};
    }
    return Status::ok();
}

Status validate_pack_options(const PackOptions& options, const Secret& secret,
                             const StageRegistry& stages) {
    const auto c = options.chunk_size;
    if (c != 0 && (c < nodes::kMinChunkSize || c > nodes::kMaxChunkSize)) {
        return {StatusCode::kInvalidArgument, "chunk size must be 0 (auto) or 4 KiB .. 64 MiB"};
    }
    if (secret.present() && (options.scrypt_log2_n < nodes::kScryptMinLog2N ||
                             options.scrypt_log2_n > nodes::kScryptMaxLog2N)) {
        return {StatusCode::kInvalidArgument, "scrypt cost (log2 N) must be 14 .. 20"};
    }
    if (Status s = validate_secret(secret); !s.is_ok()) return s;
    nodes::Compression compression = nodes::Compression::kNone;
    try {  // the spec, or the compression and cipher fields, checked as the pack will
        compression =
            nodes::pack_stage_plan(pack_settings_for(options), user_secret(secret), stages)
                .compression;
    } catch (const PipelineError& e) {
        return e.status();
    }
    if (options.level != 0) {
        const auto range = nodes::level_range(compression);
        if (compression == nodes::Compression::kNone || options.level < range.min ||
            options.level > range.max) {
            return {StatusCode::kInvalidArgument, "compression level out of range"};
        }
    }
    return Status::ok();
}

namespace {

// Refuses what can never run, before it takes a place in the queue.
Status validate(const Job& job, const StageRegistry& stages) {
    if (job.files.empty()) return {StatusCode::kInvalidArgument, "a job needs at least one file"};
    if (job.operation == Operation::kPack) {
        if (Status s = validate_pack_options(job.pack, job.secret, stages); !s.is_ok()) return s;
    } else if (Status s = validate_secret(job.secret); !s.is_ok()) {
        return s;
    }
    for (const auto& f : job.files) {
        if (f.input == "-" || f.output == "-") {
            return {StatusCode::kInvalidArgument,
                    "\"-\" would be the process's stdin or stdout: use pack_stream/unpack_stream"};
        }
        if (job.operation != Operation::kVerify && f.output.empty()) {
            return {StatusCode::kInvalidArgument, f.input + ": no output path"};
        }
    }
    return Status::ok();
}

}  // namespace

// ---- Engine ------------------------------------------------------------------------------

struct JobHandle::State {
    explicit State(Job j) : job(std::move(j)) {}
    Job job;
    std::weak_ptr<Engine::Impl> owner;
    std::atomic<bool> cancel{false};
    mutable std::mutex mutex;
    mutable std::condition_variable finished_cv;
    bool finished = false;  // guarded by mutex
    JobResult result;       // written once, before finished is set
};

struct Engine::Impl {
    explicit Impl(const EngineConfig& c) : config(c) {
        config.queue_capacity = std::max<std::size_t>(1, config.queue_capacity);
        nodes::EngineSettings s = engine_settings_for(config);
        s.metrics = &registry;
        s.events = &events;
        jobs = std::make_unique<nodes::ContainerJobs>(s, &run_cancel);
    }

    void dispatch();
    void finish(const std::shared_ptr<JobHandle::State>& state, JobResult result);
    JobResult run(JobHandle::State& state);
    Result<JobHandle> enqueue(Job job, bool wait_for_room, std::weak_ptr<Impl> self);

    EngineConfig config;
    engine::MetricsRegistry registry;
    engine::FileEvents events;
    // The running job's cancel flag, read by its run; reset between jobs under mutex, so a
    // cancel always reaches the job it was meant for.
    std::atomic<bool> run_cancel{false};
    std::unique_ptr<nodes::ContainerJobs> jobs;  // used by the dispatcher thread only

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

JobResult Engine::Impl::run(JobHandle::State& state) {
    const Job& job = state.job;
    std::vector<nodes::BatchFile> files;
    files.reserve(job.files.size());
    for (const auto& f : job.files) {
        files.push_back({f.input, job.operation == Operation::kVerify ? "" : f.output});
    }
    const nodes::BatchResult batch =
        jobs->run_batch(batch_op(job.operation), files, pack_settings_for(job.pack),
                        user_secret(job.secret), job.overwrite);
    JobResult result;
    result.tokens_outstanding = batch.run.tokens_outstanding;
    for (std::size_t i = 0; i < files.size(); ++i) {
        const nodes::FileOutcome& o = batch.files[i];
        FileResult r{files[i].input, files[i].output, o.status, o.bytes_in,
                     o.bytes_out,    o.chunks,        o.seconds};
        if (!o.status.is_ok()) {
            // Messages name the file at the boundary (inside, a file's stages do not know it).
            r.status = {o.status.code(), files[i].input + ": " + o.status.message()};
            if (result.status.is_ok()) result.status = r.status;
        }
        result.files.push_back(std::move(r));
    }
    if (result.status.is_ok() && !batch.run.status.is_ok()) result.status = batch.run.status;
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
        if (state->cancel.load(std::memory_order_acquire)) {
            lock.unlock();
            finish(state, {{StatusCode::kCancelled, "cancelled before it ran"}, {}, 0});
            lock.lock();
            if (queue.empty() && !running) idle.notify_all();
            continue;
        }
        running = state;
        run_cancel.store(state->cancel.load(std::memory_order_acquire), std::memory_order_release);
        lock.unlock();  // no lock held while the job (and its listeners) run
        JobResult result;
        try {
            result = run(*state);
        } catch (...) {
            // Nothing may escape this thread (it would end the process): the job fails instead.
            result = {status_from_current_exception(), {}, 0};
        }
        finish(state, std::move(result));
        lock.lock();
        running.reset();
        run_cancel.store(false, std::memory_order_release);
        if (queue.empty()) idle.notify_all();
    }
}

Result<JobHandle> Engine::Impl::enqueue(Job job, bool wait_for_room, std::weak_ptr<Impl> self) {
    if (Status s = validate(job, config.stages); !s.is_ok())
        return s;  // read-only after construction
    auto state = std::make_shared<JobHandle::State>(std::move(job));
    state->owner = std::move(self);
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
    return impl_->enqueue(std::move(job), true, impl_);
}

Result<JobHandle> Engine::try_submit(Job job) {
    return impl_->enqueue(std::move(job), false, impl_);
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
            state->cancel.store(true, std::memory_order_release);
            dropped.push_back(std::move(state));
        }
        impl.queue.clear();
        if (impl.running) {
            impl.running->cancel.store(true, std::memory_order_release);
            impl.run_cancel.store(true, std::memory_order_release);
        }
    }
    impl.exit = true;
    lock.unlock();
    impl.wake.notify_all();
    // Finished before the join, so a listener waiting on one of them is released.
    for (auto& state : dropped) {
        impl.finish(state, {{StatusCode::kCancelled, "cancelled by shutdown"}, {}, 0});
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

engine::MetricsSnapshot Engine::metrics() const {
    return impl_->registry.snapshot();
}

void Engine::add_listener(engine::FileListener listener) {
    impl_->events.add_listener(std::move(listener));
}

const EngineConfig& Engine::config() const {
    return impl_->config;
}

// ---- JobHandle ---------------------------------------------------------------------------

JobResult JobHandle::wait() const {
    if (!state_) return {{StatusCode::kInvalidArgument, "an empty JobHandle"}, {}, 0};
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
    if (!state_) return;
    state_->cancel.store(true, std::memory_order_release);
    if (auto impl = state_->owner.lock()) {
        std::lock_guard lock(impl->mutex);
        if (impl->running == state_) impl->run_cancel.store(true, std::memory_order_release);
    }
}

}  // namespace tbbpipe
