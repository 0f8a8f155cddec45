// CommitBatch: makes finished outputs durable and visible a batch at a time.
//
// An fsync per file costs small files most of their speed. With durability on, a batch is
// committed as: one syncfs per file system (the data of every temporary file), the renames, then
// one fsync per folder (the new names). A batch of one file is fsync'd instead, since syncfs
// would also flush whatever else is dirty on that file system. A crash at any point leaves each
// output either absent (its temporary file, which nothing reads, at worst) or complete.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "jobs/output_file.hpp"
#include "tbbpipe/options.hpp"
#include "tbbpipe/status.hpp"

namespace tbbpipe::jobs {

/// Thread-safety: one owner thread (the batch's writer, then the caller after the run).
class CommitBatch {
public:
    /// A batch is due when it holds policy.batch_files files or batch_bytes bytes, or when its
    /// oldest file has waited batch_wait (a finished file must not wait for a long run's end to
    /// appear). Without durability there is nothing to share: every file is due at once.
    explicit CommitBatch(const CommitPolicy& policy);

    /// Queues a complete output; `file` (an index in the caller's table) identifies it in
    /// flush()'s results.
    void add(std::unique_ptr<OutputFile> output, std::uint64_t bytes, std::uint32_t file);
    /// Time to flush (see the constructor).
    bool due() const;
    /// The batch holds max_files files or max_bytes bytes.
    bool full() const { return pending_.size() >= max_files_ || bytes_ >= max_bytes_; }
    bool empty() const { return pending_.empty(); }
    /// Commits everything queued; one status per file, in the order added.
    std::vector<std::pair<std::uint32_t, Status>> flush();
    /// Flushes issued so far (syncfs, fsync of files and folders).
    int syncs() const { return syncs_; }

private:
    struct Pending {
        std::unique_ptr<OutputFile> file;
        std::uint32_t tag;
    };
    bool durable_;
    std::size_t max_files_;
    std::uint64_t max_bytes_;
    std::chrono::milliseconds max_wait_;
    std::chrono::steady_clock::time_point oldest_{};  // when the first pending file was added
    std::vector<Pending> pending_;
    std::uint64_t bytes_ = 0;
    int syncs_ = 0;
};

}  // namespace tbbpipe::jobs
