// What sweep and compare both do before measuring: find the tbbpipe binary, put the dataset in
// place, make the work folder, and record the facts every report repeats.
#pragma once

#include <string>

#include "lab/dataset_spec.hpp"
#include "lab/lab_options.hpp"
#include "lab/lab_results.hpp"

namespace tbbpipe::lab {

/// --tbbpipe, or the tbbpipe next to this executable. Throws LabUsageError naming the path
/// when it is not an executable file.
std::string resolve_tbbpipe(const LabOptions& o);

/// Where the dataset and scratch outputs live: --workdir, else --out.
std::string base_dir(const LabOptions& o);

/// The files to measure: --input DIR as it is, or --data SPEC generated into BASE/data by a
/// child `tbbpipe-lab generate` (so this process never holds the generator's buffers, which
/// would raise the RSS floor of every measured child). Throws std::runtime_error.
DatasetFolder prepare_dataset(const LabOptions& o);

/// The tbbpipe flag for a parameter name: "--NAME", or "-N" for a one-letter name.
std::string flag_for(const std::string& name);

/// A new folder (PARENT/.tbbpipe-lab-work-XXXXXX) for keys, prepared containers and scratch
/// outputs, removed with its contents when the run ends (normally or by an exception).
class WorkFolder {
public:
    explicit WorkFolder(const std::string& parent);
    ~WorkFolder();
    WorkFolder(const WorkFolder&) = delete;
    WorkFolder& operator=(const WorkFolder&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

/// Context without the load at the end (set by the caller after measuring).
RunContext make_context(const LabOptions& o, const std::string& tbbpipe, const DatasetFolder& data,
                        const std::string& work_dir);

/// This machine's host name (gethostname), or "unknown".
std::string host_name();

/// The 1-minute load average, or -1 when unknown.
double load_average_now();

/// Creates dir (and parents); throws std::runtime_error naming it.
void make_folder(const std::string& dir);

/// Writes text to dir/name atomically (temporary file, then rename); throws std::runtime_error.
void write_text_file(const std::string& dir, const std::string& name, const std::string& text);

}  // namespace tbbpipe::lab
