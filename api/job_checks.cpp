#include "api/job_checks.hpp"

#include <algorithm>

namespace tbbpipe {

Status validate_job(const Job& job, const EngineConfig& config) {
    if (Status s = validate(config); !s.is_ok()) return s;
    const auto is_part = [](const Job::File& f) { return f.part.has_value(); };
    if (std::any_of(job.files.begin(), job.files.end(), is_part)) return validate_part_job(job);
    // A pack of the run's sets alone lists what other jobs packed: it may have no file.
    const bool only_members = job.operation == Operation::kPack && job.run_part == RunPart::kSets &&
                              !job.set_members.empty();
    if (job.files.empty() && !only_members) {
        return {StatusCode::kInvalidArgument, "a job needs at least one file"};
    }
    if (job.operation == Operation::kPack && job.run_part == RunPart::kSets && !job.files.empty()) {
        return {StatusCode::kInvalidArgument,
                "a pack of the run's sets packs no file: give set_members alone"};
    }
    if (!job.set_members.empty() &&
        (job.operation != Operation::kPack || job.run_part != RunPart::kSets)) {
        return {StatusCode::kInvalidArgument, "set members belong to a pack job of the sets"};
    }
    for (const SetMember& m : job.set_members) {
        if (m.set_root.empty() || !m.container.recorded) {
            return {StatusCode::kInvalidArgument,
                    m.output + ": a set member needs its set and its container's facts"};
        }
    }
    if (job.operation == Operation::kPack) {
        if (Status s = validate(job.pack, job.secret, config.stages); !s.is_ok()) return s;
    } else if (Status s = validate(job.secret); !s.is_ok()) {
        return s;
    }
    for (const Job::File& f : job.files) {
        if (f.input.empty() && f.input_fd < 0) {
            return {StatusCode::kInvalidArgument, "a file without an input path"};
        }
        if ((f.input == "-" && f.input_fd < 0) || (f.output == "-" && f.output_fd < 0)) {
            return {StatusCode::kInvalidArgument,
                    "\"-\" would be the process's standard input or output: give its descriptor "
                    "(input_fd, output_fd) or use pack_stream/unpack_stream"};
        }
        if (job.operation != Operation::kVerify && f.output.empty() && f.output_fd < 0) {
            return {StatusCode::kInvalidArgument, f.input + ": no output path"};
        }
    }
    return Status::ok();
}

}  // namespace tbbpipe
