#include "jobs/job_steps.hpp"

#include <utility>

#include "core/no_block.hpp"
#include "core/status_error.hpp"
#include "jobs/chunk_tuner.hpp"
#include "jobs/pack_file.hpp"
#include "jobs/unpack_file.hpp"

namespace tbbpipe::jobs {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// The status of the exception being handled, without throwing: out of memory while making the
// message, a message that needs no memory (it fits the string's inline buffer).
// An inline write slower than this stops inline writes for the rest of the run: a page-cache
// write takes well under a millisecond, so this is the device pushing back.
constexpr std::chrono::milliseconds kSlowInlineWrite{20};

Status failure_of_current_exception() noexcept {
    try {
        return status_from_current_exception();
    } catch (...) {
        return {StatusCode::kResourceExhausted, "no memory"};
    }
}

}  // namespace

template <class Work>
JobSteps<Work>::JobSteps(const RunContext& run, std::vector<FileEntry>& files,
                         JobScheduler& scheduler, CommitBatch& commits,
                         const FileObservers& observers, bool any_stream)
    : run_(run),
      files_(files),
      works_(files.size()),
      scheduler_(scheduler),
      commits_(commits),
      observers_(observers),
      any_stream_(any_stream) {}

template <class Work>
void JobSteps<Work>::release(std::uint32_t file) noexcept {
    // acq_rel: whoever drops the last reference must see every other holder's writes to the
    // work before destroying it.
    if (files_[file].refs.fetch_sub(1, std::memory_order_acq_rel) == 1) works_[file].reset();
}

template <class Work>
void JobSteps<Work>::retire(std::uint32_t file) {
    scheduler_.retire(file);
    release(file);  // the scheduler's reference
}

template <class Work>
void JobSteps<Work>::announce_start(const FileEntry& entry) noexcept {
    if (!observers_.events) return;
    try {
        observers_.events->post(
            {FileEvent::Kind::kStarted, entry.file->input, 0, entry.planned_size, {}});
    } catch (...) {
        // Events are best effort (FileEvents drops them when full): out of memory, this one goes.
    }
}

// Inside a NonBlocking scope the work's I/O may throw WouldBlock; it does so before changing
// anything, and so does this: the chunk's reference is given back and the scheduler's pick is
// taken only once the claim went through (or failed for good).
template <class Work>
bool JobSteps<Work>::claim(engine::Chunk& chunk) {
    for (;;) {
        const std::optional<std::uint32_t> next = scheduler_.peek();
        if (!next) return false;
        const std::uint32_t file = *next;
        FileEntry& entry = files_[file];
        // relaxed: `failed` is only a hint to stop claiming early (FileEntry says why).
        if (entry.failed.load(std::memory_order_relaxed)) {
            scheduler_.take();
            retire(file);
            continue;
        }
        // The chunk's reference first, before anything that can throw: a chunk that leaves
        // claim() with a file always holds one. relaxed: the scheduler's reference keeps the file
        // alive until here, and release() (acq_rel) orders the drop.
        chunk.job = file;
        entry.refs.fetch_add(1, std::memory_order_relaxed);
        try {
            if (!works_[file]) {
                entry.started = Clock::now();
                works_[file].emplace(run_, entry);  // WouldBlock: nothing made, nothing told
                announce_start(entry);
            }
            works_[file]->claim(chunk);
        } catch (const WouldBlock&) {
            entry.refs.fetch_sub(1, std::memory_order_relaxed);  // the scheduler's still holds it
            throw;
        } catch (...) {
            if (!works_[file]) announce_start(entry);  // it started, and failed at once
            // The failure travels as this file's chunk, so fail() reports it in order.
            chunk.status = failure_of_current_exception();
            chunk.last = true;
            entry.failed.store(true, std::memory_order_relaxed);
        }
        scheduler_.take();
        if (chunk.last) retire(file);
        return true;
    }
}

template <class Work>
void JobSteps<Work>::fill(engine::Chunk& chunk) {
    try {
        works_[chunk.job]->fill(chunk);
    } catch (const WouldBlock&) {
        throw;  // not a failure: filled again on an I/O thread
    } catch (...) {
        files_[chunk.job].failed.store(true, std::memory_order_relaxed);
        throw;
    }
}

template <class Work>
void JobSteps<Work>::transform(engine::Chunk& chunk) {
    FileEntry& entry = files_[chunk.job];
    if (entry.failed.load(std::memory_order_relaxed)) {  // a hint, as in claim()
        // Its file already failed: no point sealing or opening this chunk.
        chunk.skipped = true;
        return;
    }
    // A last chunk is usually short and says little of the rate: the tuner skips it, and it is
    // not timed (the CPU clock is a system call).
    const bool tune = run_.tuner != nullptr && !chunk.last;
    const double start = tune ? thread_cpu_seconds() : 0;
    try {
        works_[chunk.job]->transform(chunk);
    } catch (...) {
        entry.failed.store(true, std::memory_order_relaxed);
        throw;
    }
    if (tune) run_.tuner->record(chunk.input_size, thread_cpu_seconds() - start);
}

template <class Work>
void JobSteps<Work>::write(const engine::Chunk& chunk) {
    const std::uint32_t file = chunk.job;
    FileEntry& entry = files_[file];
    if (entry.done) {  // a chunk of a file that already failed
        release(file);
        return;
    }
    Work& work = *works_[file];
    if (blocking_allowed()) {
        work.write(chunk);  // throws: the engine calls fail(), which releases
    } else {
        // An inline write that took long met something that waits (dirty-page throttling, a
        // journal commit): the rest of the run's writes go to the writer thread.
        const Clock::time_point start = Clock::now();
        work.write(chunk);
        if (Clock::now() - start > kSlowInlineWrite) inline_writes_stalled_ = true;
    }
    ++entry.chunks;
    entry.bytes_done += chunk.input_size;
    if (observers_.events) {
        observers_.events->post({FileEvent::Kind::kProgress,
                                 entry.file->input,
                                 entry.bytes_done,
                                 entry.planned_size,
                                 {}});
    }
    if (chunk.last) {
        std::unique_ptr<OutputFile> output = work.finish(*entry.result);  // throws: fail()
        entry.result->chunks = entry.chunks;
        if (output) {
            commits_.add(std::move(output), entry.result->bytes_out, file);  // throws: fail()
            entry.done = true;  // the commit batch reports it from here on
        } else {
            entry.done = true;
            complete(file, Status::ok());
        }
    }
    // A batch whose oldest file waited long enough goes now, even mid-way through a large file;
    // unless this is an inline write and the flush would wait for the disk (after_write()).
    if (commits_.due() && (blocking_allowed() || !run_.durable)) flush_commits();
    release(file);
}

template <class Work>
void JobSteps<Work>::fail(const engine::Chunk& chunk) noexcept {
    const std::uint32_t file = chunk.job;
    FileEntry& entry = files_[file];
    // A skipped chunk is not the failure: the chunk that failed travels too, earlier or later in
    // order (a failure is always attached to the chunk that met it), and carries the reason.
    if (!entry.done && !chunk.skipped) {
        entry.failed.store(true, std::memory_order_relaxed);
        entry.done = true;
        if (works_[file]) works_[file]->abandon();
        complete(file, chunk.status);
    }
    release(file);
}

template <class Work>
void JobSteps<Work>::flush_commits() noexcept {
    for (const auto& [file, status] : commits_.flush()) complete(file, status);
}

template <class Work>
void JobSteps<Work>::complete(std::uint32_t file, const Status& status) noexcept {
    const Clock::time_point now = Clock::now();
    FileEntry& entry = files_[file];
    FileResult& result = *entry.result;
    result.status = status;
    result.seconds = seconds_between(entry.started, now);
    result.finished_after = seconds_between(run_.start, now);
    if (!status.is_ok()) result.bytes_out = 0;
    if (observers_.events) {
        using Kind = FileEvent::Kind;
        observers_.events->post({status.is_ok() ? Kind::kFinished : Kind::kFailed,
                                 entry.file->input, result.bytes_in, entry.planned_size, status});
    }
    if (observers_.files_ok) {
        (status.is_ok() ? observers_.files_ok : observers_.files_failed)->add();
    }
}

template <class Work>
void JobSteps<Work>::finish_unfinished(const Status& status) noexcept {
    for (std::uint32_t file = 0; file < files_.size(); ++file) {
        FileEntry& entry = files_[file];
        if (!entry.done) {
            entry.done = true;
            Status why = status;
            if (why.is_ok()) why = {StatusCode::kInternal, "file was not completed"};
            entry.result->status = why;
            entry.result->bytes_out = 0;
            if (observers_.events) {
                observers_.events->post(
                    {FileEvent::Kind::kFailed, entry.file->input, 0, entry.planned_size, why});
            }
            if (observers_.files_failed) observers_.files_failed->add();
        }
        works_[file].reset();
    }
}

template class JobSteps<PackFile>;
template class JobSteps<UnpackFile>;

}  // namespace tbbpipe::jobs
