#include "format/stage_spec.hpp"

#include <algorithm>
#include <optional>

#include "core/status_error.hpp"
#include "tbbpipe/container.hpp"

namespace tbbpipe::format {
namespace {

// The compression and cipher stages are named as the options name them ("none" is no stage).
std::optional<Compression> compression_named(std::string_view name) {
    const auto c = parse_compression(name);
    return c && *c != Compression::kNone ? c : std::nullopt;
}

std::optional<Cipher> cipher_named(std::string_view name) {
    const auto c = parse_cipher(name);
    return c && *c != Cipher::kNone ? c : std::nullopt;
}

// The digest stages: "sha256" and "xxh3" ("none" is no stage: the absence of one).
std::optional<Hash> digest_named(std::string_view name) {
    const auto h = parse_hash(name);
    return h && *h != Hash::kNone ? h : std::nullopt;
}

// A spec may come from a hostile container: messages show its bytes, never control characters.
std::string printable(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c >= 0x20 && c < 0x7f) {
            out += c;
        } else {
            const auto b = static_cast<std::uint8_t>(c);
            out += "\\x";
            out += tbbpipe::to_hex(&b, 1);
        }
    }
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
}

}  // namespace

const std::vector<std::string>& builtin_stage_names() {
    static const std::vector<std::string> names = {
        "lz4", "lz4hc", "aes-256-gcm", "chacha20-poly1305", "sha256", "xxh3"};
    return names;
}

bool valid_stage_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxStageNameLength) return false;
    const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(name.front())) return false;
    return std::all_of(name.begin(), name.end(),
                       [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

bool StagePlan::recorded() const {
    return std::any_of(steps.begin(), steps.end(),
                       [](const Step& s) { return !compression_named(s.name).has_value(); });
}

StagePlan parse_stage_spec(std::string_view spec, const StageRegistry* registry, SpecSource source,
                           Hash unlisted) {
    const StatusCode code =
        source == SpecSource::kUser ? StatusCode::kInvalidArgument : StatusCode::kCorruptData;
    std::string quoted(1, '\'');  // built by appends: GCC 12 misreports '"x" + s' (-Wrestrict)
    quoted += printable(spec);
    quoted += '\'';
    const auto fail = [&](const std::string& what) {
        throw StatusError(code, (source == SpecSource::kUser ? "stage spec " : "recorded stages ") +
                                    quoted + ": " + what);
    };
    std::vector<std::string_view> names;
    for (std::size_t start = 0;;) {
        const std::size_t comma = spec.find(',', start);
        names.push_back(trim(spec.substr(start, comma - start)));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    if (names.size() > kMaxStages) fail("more than " + std::to_string(kMaxStages) + " stages");

    StagePlan plan;
    plan.hash = unlisted;
    for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string_view name = names[i];
        const std::string at = "stage " + std::to_string(i + 1) + " '" + printable(name) + "'";
        if (name.empty()) fail("stage " + std::to_string(i + 1) + " is empty");
        if (!valid_stage_name(name)) fail(at + " is not a valid stage name");
        if (std::count(names.begin(), names.end(), name) > 1) fail(at + " is listed twice");
        if (plan.digest_listed) {
            fail(std::string(hash_name(plan.hash)) + " (the digest) must be the last stage");
        }
        if (registry && !registry->contains(name)) {
            fail("unknown stage '" + std::string(name) +
                 "'; registered: " + list_stage_names(*registry));
        }
        if (const auto digest = digest_named(name)) {
            plan.digest_listed = true;
            plan.hash = *digest;
        } else if (const auto cipher = cipher_named(name)) {
            if (plan.cipher != Cipher::kNone) fail("at most one cipher (" + at + ")");
            plan.cipher = *cipher;
        } else {
            if (plan.cipher != Cipher::kNone) {
                fail(at +
                     " comes after the cipher: encrypt last (ciphertext does not compress "
                     "or transform usefully)");
            }
            if (const auto compression = compression_named(name)) {
                if (plan.compression != Compression::kNone) fail("at most one of lz4, lz4hc");
                plan.compression = *compression;
            }
            plan.steps.push_back({std::string(name), registry ? registry->find(name) : nullptr});
        }
    }
    for (const StagePlan::Step& step : plan.steps) plan.spec += step.name + ",";
    if (plan.cipher != Cipher::kNone) plan.spec += std::string(cipher_name(plan.cipher)) + ",";
    // Canonical: the digest last, unless there is none (no stage then stands for it).
    if (plan.hash != Hash::kNone) {
        plan.spec += hash_name(plan.hash);
    } else if (!plan.spec.empty()) {
        plan.spec.pop_back();
    }
    return plan;
}

void resolve_recorded_stages(StagePlan& plan, const StageRegistry& registry) {
    for (std::size_t i = 0; i < plan.steps.size(); ++i) {
        StagePlan::Step& step = plan.steps[i];
        if (compression_named(step.name)) continue;
        step.stage = registry.find(step.name);
        if (!step.stage) {
            throw StatusError(
                StatusCode::kFailedPrecondition,
                "the container needs stage '" + step.name + "' (stage " + std::to_string(i + 1) +
                    " of '" + plan.spec +
                    "'), which is not registered here; registered: " + list_stage_names(registry));
        }
    }
}

StagePlan plan_for_pack(const PackOptions& options, bool has_secret,
                        const StageRegistry& registry) {
    const Hash hash = options.hash.value_or(Hash::kXxh3);
    StagePlan plan;
    if (options.stages.empty()) {
        if (has_secret && options.cipher == Cipher::kNone) {
            throw StatusError(StatusCode::kInvalidArgument,
                              "a key or passphrase was given but the cipher is none");
        }
        plan =
            parse_stage_spec(implied_stage_spec(options.compression,
                                                has_secret ? options.cipher : Cipher::kNone, hash),
                             &registry, SpecSource::kUser, hash);
    } else {
        plan = parse_stage_spec(options.stages, &registry, SpecSource::kUser, hash);
        if (plan.digest_listed && options.hash && plan.hash != *options.hash) {
            throw StatusError(StatusCode::kInvalidArgument,
                              "stage spec '" + plan.spec + "' names the digest " +
                                  hash_name(plan.hash) + ", the hash option says " +
                                  hash_name(*options.hash));
        }
    }
    if (plan.hash == Hash::kNone && !has_secret) {
        throw StatusError(StatusCode::kInvalidArgument,
                          "hash none needs a key or passphrase: without a cipher nothing would "
                          "check the data");
    }
    if (options.stages.empty()) return plan;
    if (plan.cipher != Cipher::kNone && !has_secret) {
        throw StatusError(StatusCode::kInvalidArgument, "stage spec '" + plan.spec +
                                                            "': " + cipher_name(plan.cipher) +
                                                            " needs a key or a passphrase");
    }
    if (plan.cipher == Cipher::kNone && has_secret) {
        throw StatusError(StatusCode::kInvalidArgument,
                          "a key or passphrase was given but the stages '" + plan.spec +
                              "' encrypt nothing: add aes-256-gcm or chacha20-poly1305");
    }
    return plan;
}

std::string list_stage_names(const StageRegistry& registry) {
    std::string out;
    for (const std::string& name : registry.names()) out += (out.empty() ? "" : ", ") + name;
    return out;
}

std::string implied_stage_spec(Compression compression, Cipher cipher, Hash hash) {
    std::vector<std::string> names;
    if (compression != Compression::kNone) names.emplace_back(compression_name(compression));
    if (cipher != Cipher::kNone) names.emplace_back(cipher_name(cipher));
    if (hash != Hash::kNone) names.emplace_back(hash_name(hash));
    std::string spec;
    for (const std::string& name : names) spec += (spec.empty() ? "" : ",") + name;
    return spec;
}

}  // namespace tbbpipe::format
