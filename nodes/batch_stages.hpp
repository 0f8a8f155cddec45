// The stages of a batch: many files through one graph. Each dispatches a chunk to its file's
// JobWork (Chunk::job); what they add is the bookkeeping of files: which one a chunk comes from
// (JobScheduler), when a file is done or failed, and when its work can be freed.
//
// A file's failure stays its own: the engine runs with isolate_failures, a failed chunk reaches
// BatchSink::fail() in order, the file's partial output is dropped and the source stops claiming
// its chunks, while every other file goes on.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/file_events.hpp"
#include "engine/metrics.hpp"
#include "engine/pipeline.hpp"
#include "nodes/commit_batch.hpp"
#include "nodes/file_job.hpp"
#include "nodes/job_scheduler.hpp"

namespace tbbpipe::nodes {

class ChunkTuner;

/// Drops one reference of a job; the last one destroys its work (closing its files and removing
/// an uncommitted output). Thread-safe.
void release_job(FileJob& job) noexcept;

/// Draws chunks from the scheduler's current job, opening each file at its first claim.
class BatchSource final : public engine::ChunkSource {
public:
    using Opener = std::function<std::unique_ptr<JobWork>(FileJob&)>;
    /// jobs must all have been added to scheduler. on_start is called (under the claim lock)
    /// when a file is opened.
    BatchSource(JobScheduler& scheduler, Opener opener, bool any_stream,
                std::function<void(FileJob&)> on_start);
    bool claim(engine::Chunk& chunk) override;
    void fill(engine::Chunk& chunk) override;
    /// A stream among the inputs is read inside claim(): then one read at a time.
    int max_concurrent_reads() const override { return any_stream_ ? 1 : INT_MAX; }

private:
    void retire(FileJob& job);

    JobScheduler& scheduler_;
    Opener opener_;
    bool any_stream_;
    std::function<void(FileJob&)> on_start_;
};

/// Runs the file's transform; skips chunks of a file that already failed. With a tuner, feeds it
/// each chunk's CPU time (pack).
class BatchTransform final : public engine::ChunkTransform {
public:
    explicit BatchTransform(ChunkTuner* tuner) : tuner_(tuner) {}
    void transform(engine::Chunk& chunk) override;

private:
    ChunkTuner* tuner_;
};

/// Writes each chunk to its file's output; on a file's last chunk completes it and queues it for
/// commit; records every file's outcome, events and counters.
class BatchSink final : public engine::ChunkSink {
public:
    struct Observers {
        engine::FileEvents* events = nullptr;
        engine::Counter* files_ok = nullptr;
        engine::Counter* files_failed = nullptr;
    };
    BatchSink(CommitBatch& commits, const Observers& observers,
              std::chrono::steady_clock::time_point run_start);
    void write(const engine::Chunk& chunk) override;
    void fail(const engine::Chunk& chunk) noexcept override;
    /// Commits what waits in the commit batch (the writer does it when the batch is full; the
    /// caller does it once after the run).
    void flush_commits() noexcept;

private:
    void complete(FileJob& job, const Status& status) noexcept;

    CommitBatch& commits_;
    Observers observers_;
    std::chrono::steady_clock::time_point run_start_;
};

}  // namespace tbbpipe::nodes
