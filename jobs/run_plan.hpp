// RunPlan: what a run learns of its files before the graph starts. Each file's size and kind,
// where its reads and writes may run, its output root (held open) and folders; for unpack, each
// container's header as peeked (unauthenticated), which sizes the engine's buffers and names the
// passphrase keys to derive. A file that fails here is done before the run.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "format/header.hpp"
#include "jobs/output_file.hpp"
#include "jobs/run_context.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe::jobs {

struct RunPlan {
    /// Unpack and verify: the largest chunk size the buffers must hold (of the headers whose
    /// chunks the memory limit affords; a larger one fails its file alone, once authenticated).
    std::uint32_t sizing = 0;
    bool any_stream = false;
    std::vector<format::Header> headers;  ///< unpack and verify: as peeked, unauthenticated
    std::map<std::string, std::unique_ptr<OutputRoot>> roots;  ///< by Job::File::output_root
};

/// Fills files[i] for job.files[i] (and result.files[i], which it points to). Never throws: a
/// file that cannot be planned gets its status and is marked done.
RunPlan plan_run(const Job& job, std::vector<FileEntry>& files, JobResult& result,
                 const std::stop_token& stop, std::size_t memory_limit);

}  // namespace tbbpipe::jobs
