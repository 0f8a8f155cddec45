// SplitPlan (include/tbbpipe/split.hpp): the public face of jobs/split_plan.hpp, and the checks a
// job of parts must pass before it is queued.
#include <algorithm>

#include "api/engine_access.hpp"
#include "api/job_checks.hpp"
#include "core/status_error.hpp"
#include "jobs/split_plan.hpp"
#include "tbbpipe/split.hpp"

namespace tbbpipe {
namespace {

// The status of the exception being handled, its message prefixed by `name`.
Status named_failure(const std::string& name) {
    const Status s = status_from_current_exception();
    return {s.code(), name + ": " + s.message()};
}

}  // namespace

Result<SplitPlan> SplitPlan::for_pack(const std::string& input, const PackOptions& options,
                                      const Secret& secret, const StageRegistry& registry) {
    if (Status s = validate(options, secret, registry); !s.is_ok()) {
        return Status{s.code(), input + ": " + s.message()};
    }
    try {
        return SplitPlanAccess::make(jobs::plan_split_pack(input, options, secret, registry));
    } catch (...) {
        return named_failure(input);
    }
}

Result<SplitPlan> SplitPlan::for_pack(Engine& engine, const std::string& input,
                                      const PackOptions& options, const Secret& secret) {
    const StageRegistry& registry = engine.config().stages;
    if (Status s = validate(options, secret, registry); !s.is_ok()) {
        return Status{s.code(), input + ": " + s.message()};
    }
    try {
        return SplitPlanAccess::make(jobs::plan_split_pack(input, options, secret, registry,
                                                           &EngineAccess::kek_cache(engine)));
    } catch (...) {
        return named_failure(input);
    }
}

std::vector<std::uint8_t> SplitPlan::to_bytes() const {
    return jobs::encode_split_plan(*state_);
}

Result<SplitPlan> SplitPlan::from_bytes(std::span<const std::uint8_t> bytes,
                                        const StageRegistry& registry) {
    try {
        return SplitPlanAccess::make(jobs::decode_split_plan(bytes, registry));
    } catch (...) {
        return status_from_current_exception();
    }
}

std::uint64_t SplitPlan::input_size() const {
    return state_->input_size;
}
std::uint32_t SplitPlan::chunk_size() const {
    return state_->chunk_size();
}
std::uint64_t SplitPlan::chunk_count() const {
    return state_->chunk_count();
}
std::uint64_t SplitPlan::header_size() const {
    return state_->seal.header_bytes.size();
}

Result<SplitTail> SplitPlan::finish(const std::vector<std::vector<std::uint8_t>>& part_indexes,
                                    const Job::File& file) const {
    try {
        return jobs::finish_split(*state_, part_indexes, file);
    } catch (...) {
        return named_failure(file.input);
    }
}

// A job of parts: every file a part, nothing a part cannot be (a descriptor, a set, a share of a
// run); a pack's parts all of one plan, since the run seals with that plan's recipe.
Status validate_part_job(const Job& job) {
    const auto refuse = [](const std::string& name, const std::string& why) {
        return Status{StatusCode::kInvalidArgument, name + ": " + why};
    };
    // Unpack and verify parts may be a share of a run, so each is checked against its set's
    // manifest (the container the manifest lists, not another of the same name).
    const bool share = job.run_part == RunPart::kShare && job.operation != Operation::kPack;
    if ((job.run_part != RunPart::kWhole && !share) || !job.set_members.empty()) {
        return {StatusCode::kInvalidArgument, "parts of a split container make a job of their own"};
    }
    const SplitPlan::State* plan = nullptr;
    for (const Job::File& f : job.files) {
        if (!f.part) return refuse(f.input, "a job with parts may hold nothing else");
        if (f.input.empty() || f.input == "-") return refuse(f.input, "a part needs an input path");
        // A pack part may write through a descriptor: the container's own, positioned where its
        // records go (the first part's offset is known before anything is packed).
        if (f.input_fd >= 0 || (f.output_fd >= 0 && job.operation != Operation::kPack)) {
            return refuse(f.input, "a part cannot be read or written through a descriptor");
        }
        if (!f.set_root.empty() && !share) {
            return refuse(f.input,
                          "a part belongs to a set only in a share of a run that unpacks or "
                          "verifies (RunPart::kShare)");
        }
        if (job.operation != Operation::kVerify && (f.output.empty() || f.output == "-")) {
            return refuse(f.input, "a part needs an output path");
        }
        const Job::File::Part& part = *f.part;
        if (part.chunk_count == 0 || part.first_chunk > UINT64_MAX - part.chunk_count) {
            return refuse(f.input, "a part needs a range of chunks");
        }
        if (job.operation == Operation::kUnpack && !f.output_root.empty()) {
            return refuse(f.input, "a part is written into an existing output (no output root)");
        }
        if (job.operation != Operation::kPack) continue;
        if (!part.plan) return refuse(f.input, "a part to pack needs its plan");
        const SplitPlan::State& state = SplitPlanAccess::state(*part.plan);
        if (plan && plan != &state) return refuse(f.input, "the job's parts come from two plans");
        plan = &state;
        if (part.first_chunk + part.chunk_count > state.chunk_count()) {
            return refuse(f.input, "chunks " + std::to_string(part.first_chunk) + ".." +
                                       std::to_string(part.first_chunk + part.chunk_count) +
                                       " are not all among the plan's " +
                                       std::to_string(state.chunk_count()));
        }
    }
    // Unpack and verify open the container with the job's secret; a pack's is in its plan.
    return job.operation == Operation::kPack ? Status::ok() : validate(job.secret);
}

}  // namespace tbbpipe
