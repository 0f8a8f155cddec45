// Stage specs ("xor-mask,lz4,aes-256-gcm,sha256"): the rules a pipeline must follow, and how a
// spec maps onto the container: the compression and cipher go in the header's fields, and a spec
// that runs a registered stage is also recorded whole, after the header (docs/FORMAT.md).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "format/header.hpp"
#include "tbbpipe/options.hpp"
#include "tbbpipe/stages.hpp"

namespace tbbpipe::format {

inline constexpr std::size_t kMaxStages = 16;
inline constexpr std::size_t kMaxStageNameLength = 32;

/// The built-in stage names, in the order help and errors list them.
const std::vector<std::string>& builtin_stage_names();
/// 1..32 of [a-z0-9._-], starting with a letter or digit.
bool valid_stage_name(std::string_view name);

struct StagePlan {
    std::string spec;  ///< canonical: names joined by ',', the digest (if any) last
    Compression compression = Compression::kNone;
    Cipher cipher = Cipher::kNone;
    Hash hash = Hash::kXxh3;     ///< the per-chunk digest
    bool digest_listed = false;  ///< the spec named it (else it came from the options)
    struct Step {
        std::string name;
        std::shared_ptr<const Stage> stage;  ///< null: the compression step (or unresolved)
    };
    /// What runs before the cipher, in pack order: registered stages and the compression.
    std::vector<Step> steps;

    /// Whether a registered stage runs: the container must then record the spec.
    bool recorded() const;
};

/// Where a spec comes from decides what a broken one is: a user's mistake (kInvalidArgument) or
/// a damaged container (kCorruptData).
enum class SpecSource { kUser, kContainer };

/// Parses and checks a spec. With a registry every name must be known to it (an unknown one is
/// kInvalidArgument listing what is registered) and registered stages are resolved; without one
/// (a container's recorded spec, before resolution) names are checked for form only. A spec
/// that names no digest stage gets `unlisted` (a recorded spec names its digest unless none).
StagePlan parse_stage_spec(std::string_view spec, const StageRegistry* registry, SpecSource source,
                           Hash unlisted);

/// Resolves a container's recorded stages against `registry`: a stage it lacks is
/// kFailedPrecondition naming the stage, its place in the spec, and what is registered.
void resolve_recorded_stages(StagePlan& plan, const StageRegistry& registry);

/// What a pack with these options runs: `options.stages` when set (a cipher in it needs a secret
/// and a secret needs one: a key with no cipher would silently store plaintext), else the
/// compression and, with a secret, the cipher. Throws kInvalidArgument saying which rule broke.
StagePlan plan_for_pack(const PackOptions& options, bool has_secret, const StageRegistry& registry);

/// "lz4, lz4hc, ...": every name the registry knows, for messages and help.
std::string list_stage_names(const StageRegistry& registry);

/// The spec a container without a recorded one ran: its header's compression, cipher and hash.
std::string implied_stage_spec(Compression compression, Cipher cipher, Hash hash);

}  // namespace tbbpipe::format
