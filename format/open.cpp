#include "format/open.hpp"

#include <algorithm>
#include <cstring>
#include <span>
#include <vector>

#include "core/buffer.hpp"
#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "format/codec.hpp"

namespace tbbpipe::format {
namespace {

[[noreturn]] void corrupt(const std::string& what) {
    throw StatusError(StatusCode::kCorruptData, what);
}

[[noreturn]] void bad_chunk(const std::string& where, StatusCode code, const std::string& what) {
    throw StatusError(code, where + ": " + what);
}

// The stages that ran: the recorded list (in canonical form, and agreeing with the header's
// compression, cipher and hash fields), or what those fields imply.
void check_stages(OpenedHeader& opened, const std::uint8_t* bytes) {
    const Header& h = opened.header;
    if (!opened.stages_recorded) {
        opened.stages = parse_stage_spec(implied_stage_spec(h.compression, h.cipher, h.hash),
                                         nullptr, SpecSource::kContainer, h.hash);
        return;
    }
    const std::string spec =
        decode_stage_list(bytes + kHeaderSize, opened.data_offset - kHeaderSize);
    // A recorded spec names its digest, unless there is none.
    opened.stages = parse_stage_spec(spec, nullptr, SpecSource::kContainer, Hash::kNone);
    if (opened.stages.spec != spec) corrupt("stage list: not in canonical form");
    // Writers record a list only when a registered stage ran: one container, one encoding.
    if (!opened.stages.recorded()) corrupt("stage list names only built-in stages");
    if (opened.stages.compression != h.compression || opened.stages.cipher != h.cipher ||
        opened.stages.hash != h.hash) {
        corrupt("stage list '" + spec +
                "' disagrees with the header's compression, cipher or hash");
    }
}

// Reverses the recorded stages, last first; returns the plaintext, held by `staged` (or the
// payload itself when no step changed it).
std::span<const std::uint8_t> undo_stages(const OpenedHeader& opened,
                                          std::span<const std::uint8_t> payload, bool compressed,
                                          std::uint32_t raw_size, std::vector<std::uint8_t>& staged,
                                          const std::string& where) {
    // No form of a chunk may exceed what a record can hold, and the last step undone must give
    // the raw size: those are the limits. Buffers grow with what a step gives, so a tiny record
    // in a container declaring huge chunks costs tiny buffers.
    const std::size_t bound = max_stored_size(opened.header.chunk_size, false);
    const auto& steps = opened.stages.steps;
    const bool has_compression =
        std::any_of(steps.begin(), steps.end(), [](const StagePlan::Step& s) { return !s.stage; });
    if (compressed && !has_compression) {
        bad_chunk(where, StatusCode::kCorruptData, "flagged compressed, but no compression ran");
    }
    std::span<const std::uint8_t> current = payload;
    std::vector<std::uint8_t> next;
    for (std::size_t i = steps.size(); i-- > 0;) {
        const StagePlan::Step& step = steps[i];
        const std::size_t limit = i == 0 ? raw_size : bound;
        next.clear();
        if (!step.stage) {
            if (!compressed) continue;
            // lz4 expands at most 255:1 (plus a few bytes): no more room than that is needed.
            const std::size_t room = std::min(limit, 255 * current.size() + 16);
            next.resize(room);
            try {
                next.resize(decompress_bounded(current.data(), current.size(), next.data(), room));
            } catch (const StatusError& e) {
                bad_chunk(where, StatusCode::kCorruptData, e.what());
            }
        } else {
            bool ok = false;
            std::string why;
            try {
                ok = step.stage->decode(current, limit, next);
            } catch (const std::exception& e) {
                why = std::string(": ") + e.what();
            } catch (...) {
            }
            if (!ok || next.size() > limit) {
                bad_chunk(where, StatusCode::kCorruptData,
                          "stage '" + step.name + "' cannot decode it" + why);
            }
        }
        staged.swap(next);
        current = staged;
    }
    return current;
}

}  // namespace

OpenedHeader authenticate_header(const std::uint8_t* bytes, std::size_t size, const Secret& secret,
                                 bool require_key, KekCache* cache) {
    OpenedHeader opened;
    opened.header = decode_header(bytes, size);
    std::memcpy(opened.bytes.data(), bytes, kHeaderSize);
    std::size_t list_size = 0;
    if (opened.header.flags & kHeaderFlagStageList) {
        if (size < kHeaderSize + kStageListPrefixSize) corrupt("truncated: no stage list");
        list_size = stage_list_size(bytes + kHeaderSize);
        if (size < kHeaderSize + list_size) corrupt("truncated: the stage list is cut short");
        opened.stages_recorded = true;
        opened.data_offset = kHeaderSize + list_size;
    }
    const std::vector<std::uint8_t> covered =
        header_auth_input(bytes, bytes + kHeaderSize, list_size);
    opened.header_digest = sha256(covered.data(), covered.size());
    const Header& h = opened.header;
    const bool have_secret = secret.present();

    if (!h.encrypted()) {
        if (have_secret) {
            // Accepting plaintext when the user expects authenticity would be a silent downgrade.
            throw StatusError(StatusCode::kAuthFailed,
                              "container is not encrypted, but a key was given "
                              "(refusing: it cannot be authenticated)");
        }
        if (!digests_equal(opened.header_digest, h.auth)) corrupt("header checksum mismatch");
        check_stages(opened, bytes);
        return opened;
    }
    if (!have_secret) {
        if (require_key) {
            throw StatusError(StatusCode::kInvalidArgument,
                              h.kdf == KeyDerivation::kScrypt
                                  ? "the container is encrypted with a passphrase: give it"
                                  : "the container is encrypted with a key file: give the key");
        }
        check_stages(opened, bytes);  // not authenticated yet: info shows what it says
        return opened;
    }
    if (secret.kind() != h.kdf) {
        // A usage mistake, like giving no key: the header names the kind it needs. The field is
        // not authenticated yet, so damage to it also lands here; the message says what it read.
        throw StatusError(
            StatusCode::kInvalidArgument,
            std::string("wrong key type: container was encrypted with a ") +
                (h.kdf == KeyDerivation::kScrypt ? "passphrase" : "key file") + ", not a " +
                (secret.kind() == KeyDerivation::kScrypt ? "passphrase" : "key file"));
    }
    const SecretBytes kek = cache ? cache->get(secret, h) : derive_kek(secret, h);
    if (key_id_for(kek) != h.key_id) {
        // The key id is derived from the KEK, and the KEK from the secret and the header's
        // salt and cost: damage to any of those looks exactly like a wrong secret.
        throw StatusError(StatusCode::kAuthFailed, "wrong key or passphrase, or a damaged header");
    }
    // The key id matched, so from here on a failure means the header was damaged.
    SecretBytes file_key(kFileKeySize);
    if (!aead_open(h.cipher, kek, h.wrap_nonce.data(), bytes, 48, h.wrapped_key.data(),
                   kWrappedKeySize, file_key.data())) {
        corrupt("header corrupt: the wrapped file key does not authenticate");
    }
    opened.keys = std::make_unique<FileKeys>(derive_file_keys(file_key, opened.header_digest));
    const Digest mac = hmac_sha256(opened.keys->header_mac, covered.data(), covered.size());
    if (!digests_equal(mac, h.auth)) corrupt("header corrupt: authentication tag mismatch");
    check_stages(opened, bytes);
    return opened;
}

void check_trailer(const OpenedHeader& opened, const Trailer& trailer,
                   std::uint64_t container_size) {
    if (container_size < opened.data_offset + kTrailerSize + kFooterPrefixSize) {
        corrupt("container truncated (" + std::to_string(container_size) + " bytes)");
    }
    const std::uint64_t footer_end = container_size - kTrailerSize;
    if (trailer.footer_offset < opened.data_offset || trailer.footer_offset >= footer_end ||
        footer_end - trailer.footer_offset != trailer.footer_size) {
        corrupt("trailer: footer position does not match the file size (truncated or appended)");
    }
    // Each chunk costs at least a record header, which bounds a believable count.
    if (trailer.chunk_count == 0 ||
        trailer.chunk_count > (trailer.footer_offset - opened.data_offset) / kRecordHeaderSize) {
        corrupt("trailer: impossible chunk count " + std::to_string(trailer.chunk_count));
    }
    const std::size_t tag = opened.header.encrypted() ? kTagSize : 32;
    const std::uint64_t longest =
        kFooterPrefixSize + tag +
        footer_body_size(trailer.chunk_count, kMaxNameLength, opened.header.hash);
    if (trailer.footer_size > longest) corrupt("trailer: footer size too large");
    // The prefix is read before the tag is checked, so a shorter footer must stop here.
    if (trailer.footer_size < kFooterPrefixSize + tag) corrupt("trailer: footer size too small");
}

FooterBody open_footer(const OpenedHeader& opened, const std::uint8_t* stored,
                       std::uint32_t stored_size, std::uint64_t footer_offset,
                       std::uint64_t chunk_count) {
    const auto aad = footer_aad(opened.header_digest, stored_size, footer_offset, chunk_count);
    std::vector<std::uint8_t> body;
    if (opened.header.encrypted()) {
        if (!opened.keys) {
            throw StatusError(StatusCode::kInvalidArgument,
                              "the footer is encrypted: a key is needed");
        }
        if (stored_size < kTagSize) corrupt("footer too short");
        body.resize(stored_size - kTagSize);
        const std::array<std::uint8_t, 12> nonce{};
        if (!aead_open(opened.header.cipher, opened.keys->footer, nonce.data(), aad.data(),
                       aad.size(), stored, stored_size, body.data())) {
            throw StatusError(StatusCode::kAuthFailed,
                              "footer at offset " + std::to_string(footer_offset) +
                                  " does not authenticate (corrupt, truncated or reordered)");
        }
    } else {
        if (stored_size < 32) corrupt("footer too short");
        body.assign(stored, stored + stored_size - 32);
        std::vector<std::uint8_t> covered(aad.begin(), aad.end());
        covered.insert(covered.end(), body.begin(), body.end());
        Digest expected;
        std::memcpy(expected.data(), stored + stored_size - 32, 32);
        if (!digests_equal(sha256(covered.data(), covered.size()), expected)) {
            corrupt("footer at offset " + std::to_string(footer_offset) + ": checksum mismatch");
        }
    }
    FooterBody footer = decode_footer_body(body.data(), body.size(), opened.header.hash);
    if (footer.entries.size() != chunk_count) corrupt("footer and trailer disagree on chunk count");
    check_index(opened, footer, footer_offset);
    return footer;
}

void check_index(const OpenedHeader& opened, const FooterBody& footer,
                 std::uint64_t footer_offset) {
    const bool encrypted = opened.header.encrypted();
    const std::uint32_t chunk_size = opened.header.chunk_size;
    const std::size_t max_stored = max_stored_size(chunk_size, encrypted);
    std::uint64_t expect_offset = opened.data_offset;
    std::uint64_t total = 0;
    RootHasher root(opened.header.hash, opened.header_digest);
    const std::size_t n = footer.entries.size();
    if (n == 0) corrupt("footer: no chunks");
    for (std::size_t i = 0; i < n; ++i) {
        const IndexEntry& e = footer.entries[i];
        const std::string where = "index entry " + std::to_string(i);
        if (e.offset != expect_offset) corrupt(where + ": offset out of sequence");
        if (e.raw_size > chunk_size || e.stored_size > max_stored) corrupt(where + ": bad sizes");
        if (e.flags & ~kKnownRecordFlags) corrupt(where + ": unknown flags");
        if (((e.flags & kFlagLast) != 0) != (i + 1 == n)) corrupt(where + ": misplaced last flag");
        // Writers never make one (only an empty file has an empty chunk, its last); allowed,
        // they would cost a reader per-chunk state for no bytes at all.
        if (e.raw_size == 0 && i + 1 != n) corrupt(where + ": an empty chunk before the last");
        expect_offset += kRecordHeaderSize + e.stored_size;
        total += e.raw_size;
        root.add(e.digest);
    }
    if (expect_offset != footer_offset) corrupt("footer: index does not end at the footer");
    if (total != footer.original_size) corrupt("footer: sizes do not add up");
    if (!digests_equal(root.finish(total), footer.root)) corrupt("footer: root digest mismatch");
}

std::size_t record_buffer_size(std::uint32_t raw_size, std::uint32_t stored_size) {
    return std::max<std::size_t>(kRecordHeaderSize + std::size_t{stored_size}, raw_size);
}

OpenedChunk open_chunk(const OpenedHeader& opened, std::uint64_t index, const IndexEntry* expected,
                       std::vector<std::uint8_t>& in, std::size_t in_size,
                       std::vector<std::uint8_t>& out, const std::string& where) {
    const Header& h = opened.header;
    OpenedChunk result;
    RecordHeader& record = result.record;
    try {
        record = decode_record_header(in.data());
    } catch (const StatusError& e) {
        bad_chunk(where, StatusCode::kCorruptData, e.what());
    }
    if (record.index != index || (expected && (record.raw_size != expected->raw_size ||
                                               record.stored_size != expected->stored_size ||
                                               record.flags != expected->flags))) {
        bad_chunk(where, StatusCode::kCorruptData,
                  "record header does not match the index (reordered, duplicated or altered)");
    }
    if (record.raw_size > h.chunk_size)
        bad_chunk(where, StatusCode::kCorruptData, "raw size too large");

    const bool compressed = (record.flags & kFlagCompressed) != 0;
    const bool last = (record.flags & kFlagLast) != 0;
    if (kRecordHeaderSize + std::size_t{record.stored_size} > in_size) {
        bad_chunk(where, StatusCode::kCorruptData, "record longer than what was read");
    }
    // The input buffer may receive the plaintext below: make room (keeps the record).
    std::uint8_t* const in_data =
        ensure_size(in, record_buffer_size(record.raw_size, record.stored_size));
    const std::uint8_t* payload = in_data + kRecordHeaderSize;
    std::size_t payload_size = record.stored_size;
    std::uint8_t* out_data =
        ensure_size(out, std::max<std::size_t>(record.raw_size, record.stored_size));
    if (h.encrypted()) {
        if (payload_size < kTagSize) bad_chunk(where, StatusCode::kCorruptData, "record too short");
        const auto nonce = chunk_nonce(index, last);
        const auto aad = record_aad(opened.header_digest, record);
        if (!aead_open(h.cipher, opened.keys->payload, nonce.data(), aad.data(), aad.size(),
                       payload, payload_size, out_data)) {
            bad_chunk(where, StatusCode::kAuthFailed,
                      "authentication failed (corrupt, tampered, reordered or truncated)");
        }
        payload_size -= kTagSize;
        payload = out_data;
    }
    if (opened.stages_recorded) {
        // Registered stages ran: undo every step, last first, then hand on the plaintext.
        std::vector<std::uint8_t> staged;
        const std::span<const std::uint8_t> plain = undo_stages(
            opened, {payload, payload_size}, compressed, record.raw_size, staged, where);
        if (plain.size() != record.raw_size) {
            bad_chunk(where, StatusCode::kCorruptData,
                      "the stages give " + std::to_string(plain.size()) +
                          " bytes, the record says " + std::to_string(record.raw_size));
        }
        if (plain.data() != payload) {  // the chunk must own what it hands on
            out_data = ensure_size(out, record.raw_size);
            if (!staged.empty()) std::memcpy(out_data, staged.data(), staged.size());
            result.plain = out_data;
        } else {
            result.plain = payload;
        }
    } else if (compressed) {
        // Decompress into whichever buffer does not hold the payload.
        std::uint8_t* target = payload == out_data ? in_data : out_data;
        try {
            decompress_chunk(payload, payload_size, target, record.raw_size);
        } catch (const StatusError& e) {
            bad_chunk(where, StatusCode::kCorruptData, e.what());
        }
        result.plain = target;
    } else {
        if (payload_size != record.raw_size) {
            bad_chunk(where, StatusCode::kCorruptData, "stored size differs from raw size");
        }
        result.plain = payload;
    }
    // Without a digest (hash none) the AEAD tag checked above is the only check.
    if (h.hash != Hash::kNone) {
        result.digest = chunk_digest(h.hash, result.plain, record.raw_size);
        if (expected && !digests_equal(result.digest, expected->digest)) {
            bad_chunk(
                where, StatusCode::kCorruptData,
                std::string(hash_name(h.hash)) + " of the plaintext does not match the index");
        }
    }
    return result;
}

}  // namespace tbbpipe::format
