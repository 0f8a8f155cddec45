#include "nodes/batch_stages.hpp"

#include <utility>

#include "engine/status.hpp"
#include "nodes/chunk_tuner.hpp"
#include "nodes/container_jobs.hpp"

namespace tbbpipe::nodes {
namespace {

using Clock = std::chrono::steady_clock;

FileJob& job_of(const engine::Chunk& chunk) {
    return *static_cast<FileJob*>(chunk.job);
}

constexpr const char* kSkipped = "skipped: the file already failed";

bool is_skip(const Status& status) {
    return status.code() == StatusCode::kCancelled && status.message() == kSkipped;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

}  // namespace

void release_job(FileJob& job) noexcept {
    // acq_rel: whoever drops the last reference must see every other holder's writes to the
    // work before destroying it.
    if (job.refs.fetch_sub(1, std::memory_order_acq_rel) == 1) job.work.reset();
}

BatchSource::BatchSource(JobScheduler& scheduler, Opener opener, bool any_stream,
                         std::function<void(FileJob&)> on_start)
    : scheduler_(scheduler),
      opener_(std::move(opener)),
      any_stream_(any_stream),
      on_start_(std::move(on_start)) {}

void BatchSource::retire(FileJob& job) {
    scheduler_.retire(&job);
    release_job(job);  // the scheduler's reference
}

bool BatchSource::claim(engine::Chunk& chunk) {
    for (;;) {
        auto* job = static_cast<FileJob*>(scheduler_.next());
        if (!job) return false;
        // relaxed: `failed` is only a hint to stop claiming early. What keeps the work alive is
        // the reference count; abandon() touches only writer-side state (JobWork says so).
        if (job->failed.load(std::memory_order_relaxed)) {
            retire(*job);
            continue;
        }
        // The chunk's reference first, before anything that can throw: a chunk that leaves
        // claim() with a job always holds one (the scheduler's keeps the job alive until then).
        chunk.job = job;
        job->refs.fetch_add(1, std::memory_order_relaxed);
        try {
            if (!job->work) {
                job->started = Clock::now();
                if (on_start_) on_start_(*job);
                job->work = opener_(*job);
            }
            job->work->claim(chunk);
        } catch (...) {
            // The failure travels as this file's chunk, so the sink reports it in order.
            chunk.status = status_from_current_exception();
            chunk.last = true;
            job->failed.store(true, std::memory_order_relaxed);
        }
        if (chunk.last) retire(*job);
        return true;
    }
}

void BatchSource::fill(engine::Chunk& chunk) {
    FileJob& job = job_of(chunk);
    try {
        job.work->fill(chunk);
    } catch (...) {
        job.failed.store(true, std::memory_order_relaxed);
        throw;
    }
}

void BatchTransform::transform(engine::Chunk& chunk) {
    FileJob& job = job_of(chunk);
    if (job.failed.load(std::memory_order_relaxed)) {  // a hint, as in claim()
        // Its file already failed: no point sealing or opening this chunk.
        chunk.status = {StatusCode::kCancelled, kSkipped};
        return;
    }
    const double start = tuner_ ? thread_cpu_seconds() : 0;
    try {
        job.work->transform(chunk);
    } catch (...) {
        job.failed.store(true, std::memory_order_relaxed);
        throw;
    }
    if (tuner_ && !chunk.last) tuner_->record(chunk.input_size, thread_cpu_seconds() - start);
}

BatchSink::BatchSink(CommitBatch& commits, const Observers& observers, Clock::time_point run_start)
    : commits_(commits), observers_(observers), run_start_(run_start) {}

void BatchSink::write(const engine::Chunk& chunk) {
    FileJob& job = job_of(chunk);
    if (job.done) {  // a chunk of a file that already failed
        release_job(job);
        return;
    }
    job.work->write(chunk);  // throws: the engine calls fail(), which releases
    ++job.chunks;
    job.bytes_done += chunk.input_size;
    if (observers_.events) {
        observers_.events->post({engine::FileEvent::Kind::kProgress,
                                 job.file->input,
                                 job.bytes_done,
                                 job.planned_size,
                                 {}});
    }
    if (chunk.last) {
        std::unique_ptr<OutputFile> output = job.work->finish(*job.outcome);  // may throw: fail()
        job.outcome->chunks = job.chunks;
        if (output) {
            commits_.add(std::move(output), job.outcome->bytes_out, &job);  // may throw: fail()
            job.done = true;  // the commit batch reports it from here on
        } else {
            job.done = true;
            complete(job, Status::ok());
        }
    }
    // A batch whose oldest file waited long enough goes now, even mid-way through a large file.
    if (commits_.due()) flush_commits();
    release_job(job);
}

void BatchSink::fail(const engine::Chunk& chunk) noexcept {
    if (!chunk.job) return;  // cannot happen with BatchSource, which sets it before anything
    FileJob& job = job_of(chunk);
    // A skipped chunk is not the failure: the chunk that failed travels too, later in order (a
    // failure is always attached to the chunk that met it), and carries the real reason.
    if (!job.done && !is_skip(chunk.status)) {
        job.failed.store(true, std::memory_order_relaxed);
        job.done = true;
        if (job.work) job.work->abandon();
        complete(job, chunk.status);
    }
    release_job(job);
}

void BatchSink::flush_commits() noexcept {
    for (const auto& [tag, status] : commits_.flush()) {
        complete(*static_cast<FileJob*>(tag), status);
    }
}

void BatchSink::complete(FileJob& job, const Status& status) noexcept {
    const Clock::time_point now = Clock::now();
    FileOutcome& outcome = *job.outcome;
    outcome.status = status;
    outcome.seconds = seconds_between(job.started, now);
    outcome.finished_after = seconds_between(run_start_, now);
    if (!status.is_ok()) outcome.bytes_out = 0;
    if (observers_.events) {
        using Kind = engine::FileEvent::Kind;
        observers_.events->post({status.is_ok() ? Kind::kFinished : Kind::kFailed, job.file->input,
                                 outcome.bytes_in, job.planned_size, status});
    }
    if (observers_.files_ok) {
        (status.is_ok() ? observers_.files_ok : observers_.files_failed)->add();
    }
}

}  // namespace tbbpipe::nodes
