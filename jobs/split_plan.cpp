// A split container's plan: made once (the header sealed with a fresh file key, as a pack job
// would), sent to the other processes as bytes, rebuilt there with every field checked.
#include "jobs/split_plan.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "format/open.hpp"
#include "jobs/file_io.hpp"

namespace tbbpipe {

std::uint32_t SplitPlan::State::chunk_bytes(std::uint64_t index) const {
    if (index + 1 < chunk_count()) return chunk_size();
    return static_cast<std::uint32_t>(input_size - (chunk_count() - 1) * chunk_size());
}

}  // namespace tbbpipe

namespace tbbpipe::jobs {

format::Digest stored_checksum(const std::uint8_t* at) {
    format::Digest d{};
    std::memcpy(d.data(), at, d.size());
    return d;
}

namespace {

constexpr char kPlanMagic[8] = {'T', 'B', 'P', 'S', 'P', 'L', 'N', '1'};
constexpr std::size_t kKeysSize = std::size_t{3} * 32;  // payload, footer and header-MAC keys
// magic, plan id, input size, level, header size, key flag | header, keys | checksum
constexpr std::size_t kPlanFixedSize = 8 + 16 + 8 + 4 + 4 + 1;
// Beyond this an input's chunk count or offsets could overflow; no file is this large.
constexpr std::uint64_t kMaxInputSize = 1ull << 60;

[[noreturn]] void corrupt(const std::string& what) {
    throw StatusError(StatusCode::kCorruptData, "split plan: " + what);
}

}  // namespace

std::shared_ptr<const SplitPlan::State> plan_split_pack(const std::string& input,
                                                        const PackOptions& options,
                                                        const Secret& secret,
                                                        const StageRegistry& registry,
                                                        format::KekCache* kek_cache) {
    struct stat st {};
    if (::stat(input.c_str(), &st) != 0) throw_errno("cannot stat", errno);
    if (!S_ISREG(st.st_mode)) {
        throw StatusError(StatusCode::kInvalidArgument, "not a regular file (a split needs one)");
    }
    auto state = std::make_shared<SplitPlan::State>();
    format::random_bytes(state->plan_id.data(), state->plan_id.size());
    state->input_size = static_cast<std::uint64_t>(st.st_size);
    if (state->input_size > kMaxInputSize) {
        throw StatusError(StatusCode::kInvalidArgument, "too large to split");
    }
    // The same header fields a pack job's recipe has (JobRunner::prepare_pack, pack_kek): the
    // header bytes, and so every record, must be what one process would write.
    state->stages = format::plan_for_pack(options, secret.present(), registry);
    format::ContainerRecipe& recipe = state->recipe;
    format::Header& h = recipe.header;
    h.compression = state->stages.compression;
    h.hash = state->stages.hash;
    h.chunk_size = options.chunk_size ? options.chunk_size : kDefaultChunkSize;
    if (state->stages.recorded()) h.flags |= format::kHeaderFlagStageList;
    recipe.level = options.level ? options.level : level_range(h.compression).fallback;
    h.level = recipe.level;
    h.scrypt = {};
    format::SecretBytes kek;  // wraps the file key in the header; not needed past it
    if (secret.present()) {
        h.kdf = secret.kind();
        if (secret.kind() == KeyDerivation::kScrypt) {
            h.scrypt.log2_n = options.scrypt_log2_n;
            // A run's shared salt (PackOptions::scrypt_salt): its other containers and this one
            // open with one derivation.
            if (options.scrypt_salt) {
                h.salt = *options.scrypt_salt;
            } else {
                format::random_bytes(h.salt.data(), h.salt.size());
            }
        }
        kek = kek_cache ? kek_cache->get(secret, h) : format::derive_kek(secret, h);
        h.key_id = format::key_id_for(kek);
        h.cipher = state->stages.cipher;
        recipe.kek = &kek;
    }
    recipe.stages = &state->stages;
    state->seal = format::seal_header(recipe);
    recipe.kek = nullptr;
    return state;
}

std::vector<std::uint8_t> encode_split_plan(const SplitPlan::State& state) {
    const std::vector<std::uint8_t>& header = state.seal.header_bytes;
    const format::FileKeys* keys = state.seal.keys.get();
    std::vector<std::uint8_t> out(kPlanFixedSize + header.size() + (keys ? kKeysSize : 0) + 32);
    std::uint8_t* p = out.data();
    std::memcpy(p, kPlanMagic, 8);
    std::memcpy(p + 8, state.plan_id.data(), 16);
    format::put_u64(p + 24, state.input_size);
    format::put_u32(p + 32, static_cast<std::uint32_t>(state.recipe.level));
    format::put_u32(p + 36, static_cast<std::uint32_t>(header.size()));
    p[40] = keys ? 1 : 0;
    std::uint8_t* at = p + kPlanFixedSize;
    std::memcpy(at, header.data(), header.size());
    at += header.size();
    if (keys) {
        for (const format::SecretBytes* k : {&keys->payload, &keys->footer, &keys->header_mac}) {
            std::memcpy(at, k->data(), 32);
            at += 32;
        }
    }
    const std::size_t body = out.size() - 32;
    const format::Digest check = format::sha256(out.data(), body);
    std::memcpy(out.data() + body, check.data(), 32);
    return out;
}

std::shared_ptr<const SplitPlan::State> decode_split_plan(std::span<const std::uint8_t> bytes,
                                                          const StageRegistry& registry) {
    if (bytes.size() < kPlanFixedSize + 32 || std::memcmp(bytes.data(), kPlanMagic, 8) != 0) {
        corrupt("not a plan (too short or a wrong magic)");
    }
    // The checksum first: nothing is believed of bytes damaged on the way.
    const std::size_t body = bytes.size() - 32;
    if (!format::digests_equal(format::sha256(bytes.data(), body),
                               stored_checksum(bytes.data() + body))) {
        corrupt("damaged (its checksum does not match)");
    }
    const std::uint8_t* p = bytes.data();
    auto state = std::make_shared<SplitPlan::State>();
    std::memcpy(state->plan_id.data(), p + 8, 16);
    state->input_size = format::get_u64(p + 24);
    const auto level = static_cast<std::int32_t>(format::get_u32(p + 32));
    const std::size_t header_size = format::get_u32(p + 36);
    const bool has_keys = p[40] != 0;
    if (p[40] > 1 || header_size < format::kHeaderSize ||
        header_size >
            format::kHeaderSize + format::kStageListPrefixSize + format::kMaxStageSpecLength ||
        body != kPlanFixedSize + header_size + (has_keys ? kKeysSize : 0)) {
        corrupt("sizes out of range");
    }
    if (state->input_size > kMaxInputSize) corrupt("input size out of range");
    const std::uint8_t* header = p + kPlanFixedSize;
    // Parsed and range-checked as any container's header; unencrypted, its digest checked.
    format::OpenedHeader opened = format::authenticate_header(header, header_size, Secret{}, false);
    if (opened.data_offset != header_size) corrupt("header size disagrees with its stage list");
    if (opened.header.encrypted() != has_keys) corrupt("keys present without a cipher, or missing");
    const format::Header& h = opened.header;
    const LevelRange range = level_range(h.compression);
    if (level < range.min || level > range.max) corrupt("compression level out of range");
    if (has_keys) {
        // The carried keys must be the header's own: its MAC is made with the header-MAC key.
        auto keys = std::make_unique<format::FileKeys>();
        const std::uint8_t* k = header + header_size;
        for (format::SecretBytes* key : {&keys->payload, &keys->footer, &keys->header_mac}) {
            std::memcpy(key->data(), k, 32);
            k += 32;
        }
        const std::vector<std::uint8_t> covered = format::header_auth_input(
            header, header + format::kHeaderSize, header_size - format::kHeaderSize);
        if (!format::digests_equal(
                format::hmac_sha256(keys->header_mac, covered.data(), covered.size()), h.auth)) {
            corrupt("its keys do not authenticate its header");
        }
        state->seal.keys = std::move(keys);
    }
    if (opened.stages_recorded) format::resolve_recorded_stages(opened.stages, registry);
    state->stages = std::move(opened.stages);
    state->recipe.header = h;
    state->recipe.stages = &state->stages;
    state->recipe.level = level;
    state->seal.recipe = &state->recipe;
    state->seal.header_bytes.assign(header, header + header_size);
    state->seal.header_digest = opened.header_digest;
    return state;
}

const SplitPlan::State* part_plan(const Job::File& file) {
    return file.part && file.part->plan ? &SplitPlanAccess::state(*file.part->plan) : nullptr;
}

const format::ContainerRecipe* split_recipe(const Job& job) {
    if (job.operation != Operation::kPack || job.files.empty()) return nullptr;
    const SplitPlan::State* plan = part_plan(job.files.front());
    return plan ? &plan->recipe : nullptr;
}

}  // namespace tbbpipe::jobs
