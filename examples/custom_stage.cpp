// A custom stage: register a named transform and run it by name in a stage spec. "delta" stores
// each byte as its difference from the one before, which turns slowly changing samples (sensor
// readings, audio, image rows) into small repeated values that lz4 then compresses far better.
// The container records "delta,lz4,sha256", so unpacking reverses it, and an engine without
// "delta" registered refuses the container by naming the stage it lacks.
#include <tbbpipe/tbbpipe.hpp>

#include <cstdio>
#include <iostream>

namespace {

class Delta final : public tbbpipe::Stage {
public:
    // Called from several worker threads at once: no state outside the call.
    void encode(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) const override {
        std::uint8_t previous = 0;
        for (const std::uint8_t b : in) {
            out.push_back(static_cast<std::uint8_t>(b - previous));
            previous = b;
        }
    }
    bool decode(std::span<const std::uint8_t> in, std::size_t limit,
                std::vector<std::uint8_t>& out) const override {
        if (in.size() > limit) return false;
        std::uint8_t previous = 0;
        for (const std::uint8_t d : in) {
            previous = static_cast<std::uint8_t>(previous + d);
            out.push_back(previous);
        }
        return true;
    }
};

}  // namespace

int main() {
    // Expected output: delta then lz4 is about a third of lz4 alone, and the engine without
    // "delta" names it.
    // A ramp that keeps getting steeper, one byte per sample: its values rarely repeat byte for
    // byte, but its steps change slowly, so after delta lz4 finds long repeats.
    std::vector<std::uint8_t> samples(1 << 20);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        samples[i] = static_cast<std::uint8_t>((i * i) >> 14);
    }

    tbbpipe::EngineConfig config;
    if (tbbpipe::Status s = config.stages.add("delta", std::make_shared<Delta>()); !s.is_ok()) {
        std::cerr << s.message() << '\n';
        return 1;
    }
    tbbpipe::PackOptions plain_lz4;
    tbbpipe::PackOptions with_delta;
    with_delta.stages = "delta,lz4,sha256";

    const auto lz4_only = tbbpipe::pack_bytes(samples, plain_lz4, {}, config);
    const auto delta_lz4 = tbbpipe::pack_bytes(samples, with_delta, {}, config);
    if (!lz4_only.ok() || !delta_lz4.ok()) {
        std::cerr << (lz4_only.ok() ? delta_lz4 : lz4_only).status().message() << '\n';
        return 1;
    }
    const auto back = tbbpipe::unpack_bytes(delta_lz4.value(), {}, config);
    if (!back.ok() || back.value() != samples) {
        std::cerr << "round trip failed: " << back.status().message() << '\n';
        return 1;
    }
    std::cout << samples.size() << " samples: lz4 alone " << lz4_only.value().size()
              << " bytes, delta then lz4 " << delta_lz4.value().size() << " bytes\n";

    // Without the stage registered, unpack says which stage is missing.
    const auto refused = tbbpipe::unpack_bytes(delta_lz4.value());
    std::cout << "without \"delta\": " << refused.status().message() << '\n';
    return refused.status().code() == tbbpipe::StatusCode::kFailedPrecondition ? 0 : 1;
}
