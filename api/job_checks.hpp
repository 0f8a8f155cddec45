// What a job must be to be run at all, checked before it takes a place in a queue (the Engine)
// or runs (the memory and stream calls).
#pragma once

#include "tbbpipe/engine.hpp"

namespace tbbpipe {

/// The job's files, options and secret, as the engine with `config` would run them:
/// kInvalidArgument saying what is wrong.
Status validate_job(const Job& job, const EngineConfig& config);
/// A job whose files carry Job::File::Part (tbbpipe/split.hpp): what validate_job checks of it
/// instead (api/split_api.cpp).
Status validate_part_job(const Job& job);

}  // namespace tbbpipe
