#include "format/seal.hpp"

#include <cstring>
#include <exception>

#include "core/buffer.hpp"
#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "format/codec.hpp"

namespace tbbpipe::format {
namespace {

// The registered-stage path: every step in spec order, each into a fresh buffer (a stage's
// encode() appends to an empty vector). Returns the payload to seal, held by `staged`.
std::span<const std::uint8_t> run_stages(const FileSeal& seal, std::span<const std::uint8_t> plain,
                                         std::vector<std::uint8_t>& staged, bool& compressed,
                                         const std::string& where) {
    const ContainerRecipe& recipe = *seal.recipe;
    // Every form a chunk takes must fit a record, whatever the stages do to it.
    const std::size_t bound = max_stored_size(recipe.header.chunk_size, false);
    std::span<const std::uint8_t> current = plain;
    std::vector<std::uint8_t> next;
    for (const StagePlan::Step& step : recipe.stages->steps) {
        next.clear();
        if (!step.stage) {  // the compression; kept only if it shrinks the chunk
            next.resize(max_stored_size(static_cast<std::uint32_t>(current.size()), false));
            const std::size_t packed =
                compress_chunk(recipe.header.compression, recipe.level, current.data(),
                               current.size(), next.data(), next.size());
            if (packed == 0) continue;
            next.resize(packed);
            compressed = true;
        } else {
            try {
                step.stage->encode(current, next);
            } catch (const std::exception& e) {
                throw StatusError(StatusCode::kInternal,
                                  where + ": stage '" + step.name + "' failed: " + e.what());
            } catch (...) {
                throw StatusError(StatusCode::kInternal,
                                  where + ": stage '" + step.name + "' failed");
            }
            if (next.size() > bound) {
                throw StatusError(
                    StatusCode::kResourceExhausted,
                    where + ": stage '" + step.name + "' made " + std::to_string(next.size()) +
                        " bytes of it; a record holds at most " + std::to_string(bound));
            }
        }
        staged.swap(next);
        current = staged;
    }
    return current;
}

}  // namespace

FileSeal seal_header(const ContainerRecipe& recipe) {
    FileSeal seal;
    seal.recipe = &recipe;
    Header header = recipe.header;
    SecretBytes file_key(kFileKeySize);
    if (recipe.kek) {
        // One draw for the key and the nonce: a system call per file, not two.
        SecretBytes fresh(kFileKeySize + header.wrap_nonce.size());
        random_bytes(fresh.data(), fresh.size());
        std::memcpy(file_key.data(), fresh.data(), kFileKeySize);
        std::memcpy(header.wrap_nonce.data(), fresh.data() + kFileKeySize,
                    header.wrap_nonce.size());
        const auto fixed = encode_header(header);  // the wrap binds bytes [0,48)
        aead_seal(header.cipher, *recipe.kek, header.wrap_nonce.data(), fixed.data(), 48,
                  file_key.data(), kFileKeySize, header.wrapped_key.data());
    }
    // The header digest and its authentication cover bytes [0,112) and the stage list.
    const std::vector<std::uint8_t> stage_list = (header.flags & kHeaderFlagStageList)
                                                     ? encode_stage_list(recipe.stages->spec)
                                                     : std::vector<std::uint8_t>{};
    const std::vector<std::uint8_t> covered =
        header_auth_input(encode_header(header).data(), stage_list.data(), stage_list.size());
    seal.header_digest = sha256(covered.data(), covered.size());
    if (recipe.kek) {
        seal.keys = std::make_unique<FileKeys>(derive_file_keys(file_key, seal.header_digest));
        header.auth = hmac_sha256(seal.keys->header_mac, covered.data(), covered.size());
    } else {
        header.auth = seal.header_digest;
    }
    const auto fixed = encode_header(header);
    seal.header_bytes.assign(fixed.begin(), fixed.end());
    seal.header_bytes.insert(seal.header_bytes.end(), stage_list.begin(), stage_list.end());
    return seal;
}

SealedChunk seal_chunk(const FileSeal& seal, std::uint64_t index, bool last,
                       std::span<const std::uint8_t> plain, std::vector<std::uint8_t>& out,
                       const std::string& where) {
    const ContainerRecipe& recipe = *seal.recipe;
    const Header& header = recipe.header;
    SealedChunk sealed;
    sealed.digest = chunk_digest(header.hash, plain.data(), plain.size());

    const bool encrypt = header.encrypted();
    const std::size_t tag = encrypt ? kTagSize : 0;
    const std::uint8_t* payload = plain.data();
    std::size_t payload_size = plain.size();
    bool compressed = false;
    std::uint8_t* sealed_at = nullptr;
    std::vector<std::uint8_t> staged;  // the registered-stage path's output
    if (recipe.stages && recipe.stages->recorded()) {
        const std::span<const std::uint8_t> staged_payload =
            run_stages(seal, plain, staged, compressed, where);
        payload_size = staged_payload.size();
        sealed_at = ensure_size(out, payload_size + tag);
        if (payload_size == 0) {
            payload = sealed_at;  // an empty staged buffer may have no storage at all
        } else if (!encrypt && staged_payload.data() != plain.data()) {
            // The chunk must own what it hands on: `staged` dies with this call.
            std::memcpy(sealed_at, staged_payload.data(), payload_size);
            payload = sealed_at;
        } else {
            payload = staged_payload.data();
        }
    } else {
        const std::size_t capacity =
            max_stored_size(static_cast<std::uint32_t>(plain.size()), encrypt);
        sealed_at = ensure_size(out, capacity);
        const std::size_t packed = compress_chunk(header.compression, recipe.level, plain.data(),
                                                  plain.size(), sealed_at, capacity - tag);
        compressed = packed != 0;
        payload = compressed ? sealed_at : plain.data();
        payload_size = compressed ? packed : plain.size();
    }

    RecordHeader& record = sealed.record;
    record.index = index;
    record.raw_size = static_cast<std::uint32_t>(plain.size());
    record.flags = (compressed ? kFlagCompressed : 0) | (last ? kFlagLast : 0);
    record.stored_size = static_cast<std::uint32_t>(payload_size + tag);
    if (encrypt) {
        const auto nonce = chunk_nonce(index, last);
        const auto aad = record_aad(seal.header_digest, record);
        // In place when the payload is already in `out` (CTR-style ciphers allow it).
        aead_seal(header.cipher, seal.keys->payload, nonce.data(), aad.data(), aad.size(), payload,
                  payload_size, sealed_at);
        sealed.payload = sealed_at;
    } else {
        sealed.payload = payload;
    }
    return sealed;
}

IndexBuilder::IndexBuilder(const FileSeal& seal)
    : seal_(seal),
      offset_(seal.data_offset()),
      root_(seal.recipe->header.hash, seal.header_digest) {}

void IndexBuilder::add(const RecordHeader& record, const Digest& digest) {
    entries_.push_back({offset_, record.raw_size, record.stored_size, record.flags, digest});
    root_.add(digest);
    offset_ += kRecordHeaderSize + record.stored_size;
    plaintext_bytes_ += record.raw_size;
}

std::vector<std::uint8_t> IndexBuilder::finish(FileMetadata metadata) {
    FooterBody body;
    body.hash = seal_.recipe->header.hash;
    body.name = std::move(metadata.name);
    if (body.name.size() > kMaxNameLength) body.name.resize(kMaxNameLength);
    body.mode = metadata.mode;
    body.mtime_sec = metadata.mtime_sec;
    body.mtime_nsec = metadata.mtime_nsec;
    body.original_size = plaintext_bytes_;
    body.entries = std::move(entries_);
    body.root = root_.finish(plaintext_bytes_);
    root_digest_ = body.root;
    const std::vector<std::uint8_t> plain = encode_footer_body(body);
    const std::uint64_t count = body.entries.size();

    const Header& header = seal_.recipe->header;
    const auto stored_size =
        static_cast<std::uint32_t>(plain.size() + (seal_.keys ? kTagSize : 32));
    std::vector<std::uint8_t> out(kFooterPrefixSize + stored_size + kTrailerSize);
    put_u32(out.data(), kFooterMagic);
    put_u32(out.data() + 4, stored_size);
    const auto aad = footer_aad(seal_.header_digest, stored_size, offset_, count);
    std::uint8_t* stored = out.data() + kFooterPrefixSize;
    if (seal_.keys) {
        const std::array<std::uint8_t, 12> nonce{};  // the footer key seals exactly one message
        aead_seal(header.cipher, seal_.keys->footer, nonce.data(), aad.data(), aad.size(),
                  plain.data(), plain.size(), stored);
    } else {
        // No key: a SHA-256 over the same bytes the AEAD would bind detects accidents.
        std::memcpy(stored, plain.data(), plain.size());
        std::vector<std::uint8_t> covered(aad.begin(), aad.end());
        covered.insert(covered.end(), plain.begin(), plain.end());
        const Digest check = sha256(covered.data(), covered.size());
        std::memcpy(stored + plain.size(), check.data(), 32);
    }
    const std::uint32_t footer_size = static_cast<std::uint32_t>(kFooterPrefixSize + stored_size);
    const auto trailer = encode_trailer({offset_, count, footer_size});
    std::memcpy(out.data() + footer_size, trailer.data(), trailer.size());
    container_size_ = offset_ + out.size();
    return out;
}

}  // namespace tbbpipe::format
