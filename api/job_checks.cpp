#include "api/job_checks.hpp"

namespace tbbpipe {

Status validate_job(const Job& job, const EngineConfig& config) {
    if (Status s = validate(config); !s.is_ok()) return s;
    if (job.files.empty()) return {StatusCode::kInvalidArgument, "a job needs at least one file"};
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
