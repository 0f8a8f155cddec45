#include "jobs/run_plan.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <set>

#include "core/status_error.hpp"
#include "jobs/container_file.hpp"
#include "jobs/device_speed.hpp"

namespace tbbpipe::jobs {
namespace {

// What planning learns of an input: its size, whether it is a stream (read in order), and
// whether its reads may be tried on an arena thread.
void stat_input(const Job::File& file, FileEntry& entry) {
    struct stat st {};
    const bool known = file.input_fd >= 0 ? ::fstat(file.input_fd, &st) == 0
                                          : ::stat(file.input.c_str(), &st) == 0;
    if (!known) return;  // the first claim reports why, in order
    entry.planned_size = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
    entry.stream = !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
    entry.inline_reads =
        S_ISREG(st.st_mode) && reads_may_run_inline(device_speed(st, file.input_fd, file.input));
}

// A container's header as planning reads it, unauthenticated: it only proposes a size for the
// engine's buffers and says which keys to derive before the run; every real check happens when
// the file is opened. nullopt when unreadable or malformed (the file fails then, in order).
std::optional<format::Header> peek_header(const Job::File& file, const FileEntry& entry) {
    try {
        if (!entry.stream_header.empty()) {
            return format::decode_header(entry.stream_header.data(), entry.stream_header.size());
        }
        FileHandle fd = file.input_fd >= 0
                            ? FileHandle(file.input_fd, false)
                            : FileHandle(::open(file.input.c_str(), O_RDONLY | O_CLOEXEC));
        std::uint8_t raw[format::kHeaderSize];
        if (!fd.valid() ||
            pread_full(fd.fd(), raw, format::kHeaderSize, 0) != format::kHeaderSize) {
            return std::nullopt;
        }
        return format::decode_header(raw, format::kHeaderSize);
    } catch (const StatusError&) {
        return std::nullopt;
    }
}

// The output's root, held open for the run (opened, and created, once per root), its path below
// it, and the folders between, created now: a file whose folders cannot be made fails alone,
// before the run. `made` remembers the folders made, so many files in one folder cost one check.
void place_output(const Job::File& file, FileEntry& entry, RunPlan& plan,
                  std::map<const OutputRoot*, std::set<std::string>>& made) {
    if (file.output_root.empty() || file.output_fd >= 0) return;
    const std::string& root_path = file.output_root;
    auto it = plan.roots.find(root_path);
    if (it == plan.roots.end()) {
        it = plan.roots.emplace(root_path, std::make_unique<OutputRoot>(root_path)).first;
    }
    const OutputRoot* root = it->second.get();
    const std::size_t skip = root_path.size() + (root_path.back() == '/' ? 0 : 1);
    if (file.output.size() <= skip || file.output.compare(0, root_path.size(), root_path) != 0) {
        throw StatusError(StatusCode::kInvalidArgument,
                          file.output + ": not below its output folder " + root_path);
    }
    entry.output_root = root;
    entry.output_relative = file.output.substr(skip);
    const auto slash = entry.output_relative.rfind('/');
    const std::string folder =
        slash == std::string::npos ? "" : entry.output_relative.substr(0, slash);
    if (made[root].insert(folder).second) root->make_folders(folder);
}

// Whether a file's output may be written on an arena thread: verify writes nothing, a
// descriptor is judged by what it is, a path by its folder's device (one probe per folder).
bool writes_cannot_stall(Operation op, const Job::File& file,
                         std::map<std::string, DeviceSpeed>& folders) {
    if (op == Operation::kVerify) return true;
    if (file.output_fd >= 0) return writes_may_run_inline(device_speed_of_fd(file.output_fd));
    // A device or FIFO named as the output is written through: judged by what it is.
    struct stat st {};
    if (file.output_root.empty() && ::stat(file.output.c_str(), &st) == 0 &&
        (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
        return writes_may_run_inline(device_speed(st));
    }
    const std::string folder = folder_of(file.output);
    auto it = folders.find(folder);
    if (it == folders.end()) it = folders.emplace(folder, device_speed_of_path(folder)).first;
    return writes_may_run_inline(it->second);
}

}  // namespace

RunPlan plan_run(const Job& job, std::vector<FileEntry>& files, JobResult& result,
                 const std::stop_token& stop, std::size_t memory_limit) {
    RunPlan plan;
    std::map<std::string, DeviceSpeed> folder_speeds;
    std::map<const OutputRoot*, std::set<std::string>> folders_made;
    for (std::size_t i = 0; i < files.size(); ++i) {
        const Job::File& f = job.files[i];
        FileEntry& entry = files[i];
        entry.file = &f;
        entry.result = &result.files[i];
        entry.result->input = f.input;
        entry.result->output = job.operation == Operation::kVerify ? "" : f.output;
        stat_input(f, entry);
        plan.any_stream = plan.any_stream || entry.stream;
        try {
            if (job.operation != Operation::kVerify) place_output(f, entry, plan, folders_made);
            entry.inline_writes = writes_cannot_stall(job.operation, f, folder_speeds);
            if (job.operation == Operation::kPack) continue;
            if (entry.stream) {
                // A stream cannot be peeked: read its header now and hand it to the file.
                entry.stream_input =
                    f.input_fd >= 0 ? FileHandle(f.input_fd, false) : open_input(f.input);
                entry.stream_header = read_header_bytes(entry.stream_input.fd(), false, stop);
            }
            if (std::optional<format::Header> h = peek_header(f, entry)) {
                // A claim the memory limit cannot afford sizes nothing: that file fails alone,
                // once its header is authenticated (UnpackFile), and the others run.
                if (chunk_buffer_bytes(h->chunk_size) <= memory_limit) {
                    plan.sizing = std::max(plan.sizing, h->chunk_size);
                }
                plan.headers.push_back(*h);
            }
        } catch (const StatusError& e) {
            entry.result->status = e.status();
            entry.done = true;
        }
    }
    if (job.operation != Operation::kPack && plan.sizing < kMinChunkSize) {
        plan.sizing = kDefaultChunkSize;  // nothing readable: any will do
    }
    return plan;
}

}  // namespace tbbpipe::jobs
