#include "stage_plugins.hpp"

#include <dlfcn.h>

#include <exception>

#include "cli_options.hpp"

namespace tbbpipe::cli {
namespace {

using RegisterStages = int (*)(StageRegistry*, int);

std::string last_dl_error() {
    const char* error = ::dlerror();
    return error ? error : "unknown error";
}

}  // namespace

StageRegistry load_stage_registry(const std::vector<std::string>& plugins) {
    StageRegistry registry;
    for (const std::string& path : plugins) {
        // RTLD_LOCAL: two plugins never see each other's symbols. Never closed: the registry's
        // stage objects and their code live in the library until the process ends.
        void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) throw UsageError(path + ": cannot load the stage plugin: " + last_dl_error());
        auto* register_stages =
            reinterpret_cast<RegisterStages>(::dlsym(handle, "tbbpipe_register_stages"));
        if (!register_stages) {
            throw UsageError(path + ": not a tbbpipe stage plugin (no tbbpipe_register_stages)");
        }
        int result = 0;
        try {
            result = register_stages(&registry, kStagePluginAbi);
        } catch (const std::exception& e) {
            throw UsageError(path + ": the stage plugin failed: " + e.what());
        }
        if (result != 0) {
            throw UsageError(path + ": the stage plugin refused to register (returned " +
                             std::to_string(result) + "; built for another tbbpipe?)");
        }
    }
    return registry;
}

}  // namespace tbbpipe::cli
