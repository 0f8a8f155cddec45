#include "jobs/commit_batch.hpp"

#include <sys/types.h>

#include <algorithm>
#include <string>

#include "core/status_error.hpp"

namespace tbbpipe::jobs {

CommitBatch::CommitBatch(const CommitPolicy& policy)
    : durable_(policy.durable),
      max_files_(std::max<std::size_t>(1, policy.batch_files)),
      max_bytes_(policy.batch_bytes),
      max_wait_(policy.batch_wait) {}

void CommitBatch::add(std::unique_ptr<OutputFile> output, std::uint64_t bytes, std::uint32_t file) {
    if (pending_.empty()) oldest_ = std::chrono::steady_clock::now();
    pending_.push_back({std::move(output), file});
    bytes_ += bytes;
}

bool CommitBatch::due() const {
    if (pending_.empty()) return false;
    return !durable_ || full() || std::chrono::steady_clock::now() - oldest_ >= max_wait_;
}

std::vector<std::pair<std::uint32_t, Status>> CommitBatch::flush() {
    std::vector<std::pair<std::uint32_t, Status>> results;
    results.reserve(pending_.size());
    std::vector<Pending> batch;
    batch.swap(pending_);
    bytes_ = 0;
    if (batch.empty()) return results;

    // A failed flush fails every file that relied on it: none of them is renamed into place.
    Status flushed;
    if (durable_) {
        if (batch.size() == 1) {
            try {
                batch.front().file->commit();  // fsync, rename, folder fsync
                syncs_ += batch.front().file->syncs();
                results.push_back({batch.front().tag, Status::ok()});
            } catch (const StatusError& e) {
                results.push_back({batch.front().tag, e.status()});
            }
            return results;
        }
        std::vector<dev_t> devices;
        for (const auto& p : batch) {
            const dev_t dev = p.file->device();
            if (std::find(devices.begin(), devices.end(), dev) != devices.end()) continue;
            devices.push_back(dev);
            try {
                sync_file_system(p.file->fd(), p.file->path());
                ++syncs_;
            } catch (const StatusError& e) {
                flushed = e.status();
            }
        }
    }
    // One folder flush per distinct folder, through one of the outputs renamed into it.
    std::vector<std::pair<dev_t, ino_t>> folders;
    std::vector<const OutputFile*> flushers;
    for (auto& p : batch) {
        if (!flushed.is_ok()) {
            p.file->discard();
            results.push_back({p.tag, flushed});
            continue;
        }
        try {
            p.file->publish();
            results.push_back({p.tag, Status::ok()});
            const auto folder = p.file->folder_id();
            if (std::find(folders.begin(), folders.end(), folder) == folders.end()) {
                folders.push_back(folder);
                flushers.push_back(p.file.get());
            }
        } catch (const StatusError& e) {
            results.push_back({p.tag, e.status()});
        }
    }
    if (durable_) {
        for (const OutputFile* file : flushers) {
            if (file->sync_folder()) ++syncs_;
        }
    }
    return results;
}

}  // namespace tbbpipe::jobs
