// StageRegistry (include/tbbpipe/stages.hpp): built-in names plus what a program registers.
#include <algorithm>

#include "format/deflate_stage.hpp"
#include "format/stage_spec.hpp"
#include "tbbpipe/stages.hpp"

namespace tbbpipe {

StageRegistry::StageRegistry() {
    stages_.emplace("deflate", format::make_deflate_stage());
}

Status StageRegistry::add(const std::string& name, std::shared_ptr<const Stage> stage) {
    if (!format::valid_stage_name(name)) {
        return {
            StatusCode::kInvalidArgument,
            "stage name '" + name +
                "' must be 1 to 32 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"};
    }
    if (!stage) return {StatusCode::kInvalidArgument, "stage '" + name + "' is null"};
    if (contains(name)) {
        return {StatusCode::kInvalidArgument, "stage '" + name + "' is already registered"};
    }
    stages_.emplace(name, std::move(stage));
    return {};
}

std::shared_ptr<const Stage> StageRegistry::find(std::string_view name) const {
    const auto it = stages_.find(name);
    return it == stages_.end() ? nullptr : it->second;
}

bool StageRegistry::contains(std::string_view name) const {
    const auto& builtin = format::builtin_stage_names();
    return stages_.count(name) != 0 ||
           std::find(builtin.begin(), builtin.end(), name) != builtin.end();
}

std::vector<std::string> StageRegistry::names() const {
    std::vector<std::string> out = format::builtin_stage_names();
    for (const auto& entry : stages_) out.push_back(entry.first);  // a std::map: sorted
    return out;
}

}  // namespace tbbpipe
