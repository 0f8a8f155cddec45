// --stage-plugin: shared libraries that register stages the CLI can then run and reverse.
#pragma once

#include <string>
#include <vector>

#include "tbbpipe/stages.hpp"

namespace tbbpipe::cli {

/// A registry with the default stages and those of every plugin, loaded in order. Throws
/// UsageError naming the file when one cannot be loaded, is not a plugin, or refuses.
StageRegistry load_stage_registry(const std::vector<std::string>& plugins);

}  // namespace tbbpipe::cli
