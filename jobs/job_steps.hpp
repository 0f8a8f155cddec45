// JobSteps: a job's files through one graph. It implements the engine's ChunkSteps by handing
// each chunk to its file's work (a PackFile, or an UnpackFile for unpack and verify: one type per
// run, so the call is direct), and adds the bookkeeping of files: which one the next chunk comes
// from (JobScheduler), when a file is done or failed, when its work can go, and when finished
// outputs are committed (CommitBatch).
//
// A file's failure stays its own: the engine runs with isolate_failures, a failed chunk reaches
// fail() in order, the file's partial output is dropped and claims stop taking its chunks, while
// every other file goes on.
#pragma once

#include <chrono>
#include <climits>
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/chunk_steps.hpp"
#include "engine/metrics.hpp"
#include "jobs/commit_batch.hpp"
#include "jobs/file_events.hpp"
#include "jobs/job_scheduler.hpp"
#include "jobs/run_context.hpp"

namespace tbbpipe::jobs {

class ChunkTuner;

/// Where a run reports what happens to its files; every pointer may be null.
struct FileObservers {
    FileEvents* events = nullptr;
    engine::Counter* files_ok = nullptr;
    engine::Counter* files_failed = nullptr;
};

/// Work is PackFile or UnpackFile. Thread-safety: as engine::ChunkSteps says for each step;
/// files_ and works_ are sized before the run and never reallocated, each entry touched as
/// FileEntry's comments say.
template <class Work>
class JobSteps final : public engine::ChunkSteps {
public:
    /// Every file the scheduler holds must be in `files`.
    JobSteps(const RunContext& run, std::vector<FileEntry>& files, JobScheduler& scheduler,
             CommitBatch& commits, const FileObservers& observers, bool any_stream);

    bool claim(engine::Chunk& chunk) override;
    void fill(engine::Chunk& chunk) override;
    void transform(engine::Chunk& chunk) override;
    void write(const engine::Chunk& chunk) override;
    void fail(const engine::Chunk& chunk) noexcept override;
    /// A stream among the inputs is read inside claim(): then one read at a time.
    int max_concurrent_reads() const override { return any_stream_ ? 1 : INT_MAX; }
    /// The works' I/O honours NonBlocking scopes (jobs/file_io.hpp), so claims and reads are
    /// tried inline; writes too, for a file whose output cannot stall (FileEntry::inline_writes),
    /// until one inline write turns out slow.
    bool inline_io() const override { return true; }
    bool write_inline_ok(const engine::Chunk& chunk) const override {
        return files_[chunk.job].inline_writes && !inline_writes_stalled_;
    }
    /// A durable commit batch that came due during an inline write: its flush (syncfs, fsync)
    /// waits for the disk, so it goes to the writer thread.
    bool after_write_pending() const override { return commits_.due(); }
    void after_write() noexcept override { flush_commits(); }

    /// Commits what waits in the commit batch (the writer does it when the batch is due; the
    /// runner does it once after the run).
    void flush_commits() noexcept;
    /// After the run: a file it never finished (cancelled, or the run failed) gets `status`;
    /// every work goes (removing partial outputs).
    void finish_unfinished(const Status& status) noexcept;

private:
    void announce_start(const FileEntry& entry) noexcept;
    void release(std::uint32_t file) noexcept;
    void retire(std::uint32_t file);
    void complete(std::uint32_t file, const Status& status) noexcept;

    const RunContext& run_;
    std::vector<FileEntry>& files_;
    std::vector<std::optional<Work>> works_;  // made at a file's first claim, gone at its last ref
    JobScheduler& scheduler_;
    CommitBatch& commits_;
    FileObservers observers_;
    const bool any_stream_;
    bool inline_writes_stalled_ = false;  // the writer's side: an inline write was slow
};

// Instantiated for PackFile and UnpackFile in job_steps.cpp (the member definitions live there).

}  // namespace tbbpipe::jobs
