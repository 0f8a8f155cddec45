// Split containers (include/tbbpipe/split.hpp), the inside: a plan's state (the sealed header
// and the keys every part seals with), its bytes, the parts' indexes and the tail made of them.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "format/cipher.hpp"
#include "format/record.hpp"
#include "format/seal.hpp"
#include "format/stage_spec.hpp"
#include "tbbpipe/engine.hpp"
#include "tbbpipe/split.hpp"

namespace tbbpipe {

/// Read-only once made (shared by every copy of a SplitPlan and by the part jobs using it).
/// Holds pointers into itself: never copied or moved.
struct SplitPlan::State {
    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;

    /// Random per plan: tells two plans apart even when their headers are equal (unencrypted).
    std::array<std::uint8_t, 16> plan_id{};
    std::uint64_t input_size = 0;
    format::StagePlan stages;
    format::ContainerRecipe recipe;  ///< stages -> &stages; no KEK (the header is sealed)
    format::FileSeal seal;           ///< recipe -> &recipe; the header, its digest, the keys

    std::uint32_t chunk_size() const { return recipe.header.chunk_size; }
    /// At least 1: an empty input is one empty, last chunk.
    std::uint64_t chunk_count() const {
        return input_size == 0 ? 1 : (input_size + chunk_size() - 1) / chunk_size();
    }
    /// The plaintext bytes of chunk `index` (all full but the last).
    std::uint32_t chunk_bytes(std::uint64_t index) const;
};

/// The library's own access to a plan's state (a friend of SplitPlan).
struct SplitPlanAccess {
    static const SplitPlan::State& state(const SplitPlan& plan) { return *plan.state_; }
    static SplitPlan make(std::shared_ptr<const SplitPlan::State> state) {
        return SplitPlan(std::move(state));
    }
};

}  // namespace tbbpipe

namespace tbbpipe::jobs {

/// SplitPlan::for_pack: stats the input, makes the recipe a pack job would (same header bytes),
/// derives the KEK and seals the header. Throws StatusError (not naming the input).
std::shared_ptr<const SplitPlan::State> plan_split_pack(const std::string& input,
                                                        const PackOptions& options,
                                                        const Secret& secret,
                                                        const StageRegistry& registry,
                                                        format::KekCache* kek_cache = nullptr);
std::vector<std::uint8_t> encode_split_plan(const SplitPlan::State& state);
/// A SHA-256 checksum as stored after the bytes it covers (a plan's, a part index's).
format::Digest stored_checksum(const std::uint8_t* at);
/// Throws StatusError: kCorruptData for damaged bytes, kInvalidArgument for a plan this process
/// cannot use (a stage it lacks).
std::shared_ptr<const SplitPlan::State> decode_split_plan(std::span<const std::uint8_t> bytes,
                                                          const StageRegistry& registry);

/// One record a part wrote, as its index lists it.
struct PartRecord {
    format::RecordHeader record;
    format::Digest digest{};
};
std::vector<std::uint8_t> encode_part_index(const SplitPlan::State& state,
                                            std::uint64_t first_chunk,
                                            const std::vector<PartRecord>& records);
/// SplitPlan::finish. Throws StatusError.
SplitTail finish_split(const SplitPlan::State& state,
                       const std::vector<std::vector<std::uint8_t>>& part_indexes,
                       const Job::File& file);

/// The plan a pack part runs with (null: not a part, or no plan).
const SplitPlan::State* part_plan(const Job::File& file);
/// The recipe a pack job of parts runs with: its plan's (null: the job has no parts).
const format::ContainerRecipe* split_recipe(const Job& job);

}  // namespace tbbpipe::jobs
