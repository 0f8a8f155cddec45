#include "nodes/container_reader.hpp"

#include <cstring>
#include <vector>

#include "engine/status.hpp"
#include "nodes/byte_order.hpp"
#include "nodes/file_io.hpp"
#include "nodes/pack_stages.hpp"

namespace tbbpipe::nodes {
namespace {

[[noreturn]] void corrupt(const std::string& what) {
    throw PipelineError(StatusCode::kCorruptData, what);
}

// The stages that ran: the recorded list (in canonical form, and agreeing with the header's
// compression and cipher fields), or what those fields imply.
void check_stages(OpenedHeader& opened, const std::uint8_t* bytes) {
    const Header& h = opened.header;
    if (!opened.stages_recorded) {
        opened.stages = parse_stage_spec(implied_stage_spec(h.compression, h.cipher), nullptr,
                                         SpecSource::kContainer);
        return;
    }
    const std::string spec =
        decode_stage_list(bytes + kHeaderSize, opened.data_offset - kHeaderSize);
    opened.stages = parse_stage_spec(spec, nullptr, SpecSource::kContainer);
    if (opened.stages.spec != spec) corrupt("stage list: not in canonical form");
    // Writers record a list only when a registered stage ran: one container, one encoding.
    if (!opened.stages.recorded()) corrupt("stage list names only built-in stages");
    if (opened.stages.compression != h.compression || opened.stages.cipher != h.cipher) {
        corrupt("stage list '" + spec + "' disagrees with the header's compression or cipher");
    }
}

}  // namespace

std::vector<std::uint8_t> read_header_bytes(int fd, bool seekable,
                                            const std::atomic<bool>* cancel) {
    std::vector<std::uint8_t> bytes(kHeaderSize + kStageListPrefixSize);
    const auto read_at = [&](std::size_t offset, std::size_t n) {
        return seekable ? pread_full(fd, bytes.data() + offset, n, offset)
                        : read_full(fd, bytes.data() + offset, n, cancel);
    };
    const std::size_t got = read_at(0, kHeaderSize);
    if (got != kHeaderSize) {
        corrupt(got == 0 ? "empty input (not a tbbpipe container)"
                         : "truncated: too short for a tbbpipe header");
    }
    const Header header = decode_header(bytes.data(), kHeaderSize);
    if ((header.flags & kHeaderFlagStageList) == 0) {
        bytes.resize(kHeaderSize);
        return bytes;
    }
    if (read_at(kHeaderSize, kStageListPrefixSize) != kStageListPrefixSize) {
        corrupt("truncated: the stage list is cut short");
    }
    const std::size_t list_size = stage_list_size(bytes.data() + kHeaderSize);
    bytes.resize(kHeaderSize + list_size);
    const std::size_t rest = list_size - kStageListPrefixSize;
    if (read_at(kHeaderSize + kStageListPrefixSize, rest) != rest) {
        corrupt("truncated: the stage list is cut short");
    }
    return bytes;
}

OpenedHeader authenticate_header(const std::uint8_t* bytes, std::size_t size,
                                 const UserSecret* secret, bool require_key, KekCache* cache) {
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
    const bool have_secret = secret && secret->present();

    if (!h.encrypted()) {
        if (have_secret) {
            // Accepting plaintext when the user expects authenticity would be a silent downgrade.
            throw PipelineError(StatusCode::kAuthFailed,
                                "container is not encrypted, but a key was given "
                                "(refusing: it cannot be authenticated)");
        }
        if (!digests_equal(opened.header_digest, h.auth)) corrupt("header checksum mismatch");
        check_stages(opened, bytes);
        return opened;
    }
    if (!have_secret) {
        if (require_key) {
            throw PipelineError(StatusCode::kInvalidArgument,
                                std::string("container is encrypted (") + kdf_name(h.kdf) +
                                    "): give --key-file, --passphrase-file, -p or "
                                    "TBBPIPE_PASSPHRASE");
        }
        check_stages(opened, bytes);  // not authenticated yet: info shows what it says
        return opened;
    }
    if (secret->kind != h.kdf) {
        throw PipelineError(StatusCode::kAuthFailed,
                            std::string("wrong key type: container was encrypted with a ") +
                                (h.kdf == KdfId::kScrypt ? "passphrase" : "key file") + ", not a " +
                                (secret->kind == KdfId::kScrypt ? "passphrase" : "key file"));
    }
    const SecretBytes kek = cache ? cache->get(*secret, h) : derive_kek(*secret, h);
    if (key_id_for(kek) != h.key_id) {
        throw PipelineError(StatusCode::kAuthFailed, "wrong key or passphrase");
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

FooterBody open_footer(const OpenedHeader& opened, const std::uint8_t* stored,
                       std::uint32_t stored_size, std::uint64_t footer_offset,
                       std::uint64_t chunk_count) {
    const auto aad = footer_aad(opened.header_digest, stored_size, footer_offset, chunk_count);
    std::vector<std::uint8_t> body;
    if (opened.header.encrypted()) {
        if (!opened.keys) {
            throw PipelineError(StatusCode::kInvalidArgument,
                                "the footer is encrypted: a key is needed");
        }
        if (stored_size < kTagSize) corrupt("footer too short");
        body.resize(stored_size - kTagSize);
        const std::array<std::uint8_t, 12> nonce{};
        if (!aead_open(opened.header.cipher, opened.keys->footer, nonce.data(), aad.data(),
                       aad.size(), stored, stored_size, body.data())) {
            throw PipelineError(StatusCode::kAuthFailed,
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
    FooterBody footer = decode_footer_body(body.data(), body.size());
    if (footer.entries.size() != chunk_count) corrupt("footer and trailer disagree on chunk count");
    return footer;
}

FooterBody read_footer(int fd, std::uint64_t container_size, const OpenedHeader& opened) {
    if (container_size < opened.data_offset + kTrailerSize + kFooterPrefixSize) {
        corrupt("container truncated (" + std::to_string(container_size) + " bytes)");
    }
    std::uint8_t raw_trailer[kTrailerSize];
    if (pread_full(fd, raw_trailer, kTrailerSize, container_size - kTrailerSize) != kTrailerSize) {
        throw PipelineError(StatusCode::kIoError, "file shrank while being read");
    }
    const Trailer trailer = decode_trailer(raw_trailer);
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
        kFooterPrefixSize + tag + footer_body_size(trailer.chunk_count, kMaxNameLength);
    if (trailer.footer_size > longest) corrupt("trailer: footer size too large");
    // The prefix is read before the tag is checked, so a shorter footer must stop here.
    if (trailer.footer_size < kFooterPrefixSize + tag) corrupt("trailer: footer size too small");

    std::vector<std::uint8_t> footer(trailer.footer_size);
    if (pread_full(fd, footer.data(), footer.size(), trailer.footer_offset) != footer.size()) {
        throw PipelineError(StatusCode::kIoError, "file shrank while being read");
    }
    if (get_u32(footer.data()) != kFooterMagic ||
        get_u32(footer.data() + 4) != trailer.footer_size - kFooterPrefixSize) {
        corrupt("footer at offset " + std::to_string(trailer.footer_offset) + ": bad prefix");
    }
    FooterBody body =
        open_footer(opened, footer.data() + kFooterPrefixSize,
                    trailer.footer_size - static_cast<std::uint32_t>(kFooterPrefixSize),
                    trailer.footer_offset, trailer.chunk_count);
    check_index(opened, body, trailer.footer_offset);
    return body;
}

void check_index(const OpenedHeader& opened, const FooterBody& footer,
                 std::uint64_t footer_offset) {
    const bool encrypted = opened.header.encrypted();
    const std::uint32_t chunk_size = opened.header.chunk_size;
    const std::size_t max_stored = max_stored_size(chunk_size, encrypted);
    std::uint64_t expect_offset = opened.data_offset;
    std::uint64_t total = 0;
    RootHasher root(opened.header_digest);
    const std::size_t n = footer.entries.size();
    if (n == 0) corrupt("footer: no chunks");
    for (std::size_t i = 0; i < n; ++i) {
        const IndexEntry& e = footer.entries[i];
        const std::string where = "index entry " + std::to_string(i);
        if (e.offset != expect_offset) corrupt(where + ": offset out of sequence");
        if (e.raw_size > chunk_size || e.stored_size > max_stored) corrupt(where + ": bad sizes");
        if (e.flags & ~kKnownRecordFlags) corrupt(where + ": unknown flags");
        if (((e.flags & kFlagLast) != 0) != (i + 1 == n)) corrupt(where + ": misplaced last flag");
        expect_offset += kRecordHeaderSize + e.stored_size;
        total += e.raw_size;
        root.add(e.digest);
    }
    if (expect_offset != footer_offset) corrupt("footer: index does not end at the footer");
    if (total != footer.original_size) corrupt("footer: sizes do not add up");
    if (!digests_equal(root.finish(total), footer.root)) corrupt("footer: root digest mismatch");
}

}  // namespace tbbpipe::nodes
