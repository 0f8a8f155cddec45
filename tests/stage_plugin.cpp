// A CLI stage plugin (tbbpipe --stage-plugin), built the way a user would build one: only the
// public headers, no tbbpipe library linked (StageRegistry::add resolves against the CLI).
// Registers "rot13" (adds 13 to every byte). Built a second time with
// TBBPIPE_TEST_PLUGIN_REFUSES, it returns non-zero, as a plugin built for another ABI would.
#include <tbbpipe/stages.hpp>

namespace {

class Rot13 final : public tbbpipe::Stage {
public:
    void encode(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) const override {
        for (const std::uint8_t b : in) out.push_back(static_cast<std::uint8_t>(b + 13));
    }
    bool decode(std::span<const std::uint8_t> in, std::size_t limit,
                std::vector<std::uint8_t>& out) const override {
        if (in.size() > limit) return false;
        for (const std::uint8_t b : in) out.push_back(static_cast<std::uint8_t>(b - 13));
        return true;
    }
};

}  // namespace

extern "C" int tbbpipe_register_stages(tbbpipe::StageRegistry* registry, int abi) {
#ifdef TBBPIPE_TEST_PLUGIN_REFUSES
    (void)registry;
    (void)abi;
    return 7;
#else
    if (abi != tbbpipe::kStagePluginAbi) return 1;
    return registry->add("rot13", std::make_shared<Rot13>()).is_ok() ? 0 : 2;
#endif
}
