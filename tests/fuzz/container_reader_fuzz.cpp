// libFuzzer target: the container decoders on arbitrary bytes, read as one whole container.
//
// Covers decode_header and the stage list after it (stage_list_size, decode_stage_list,
// parse_stage_spec), authenticate_header (the fixed key file, no secret, no secret but a key
// required), decode_record_header along the record chain, decode_trailer, read_footer (from a
// memfd), open_footer, decode_footer_body and check_index, the last two also on footer bodies
// that no checksum protects (the plain layout read straight from the input), so mutations reach
// the index checks instead of stopping at a SHA-256 mismatch.
// The answer to bad bytes is a StatusError. Anything else is a bug: a crash, a sanitizer
// report, another exception escaping (std::terminate), or an allocation larger than the input
// can justify (every size the decoders believe is checked against the bytes there are).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "format/footer.hpp"
#include "format/header.hpp"
#include "format/open.hpp"
#include "format/record.hpp"
#include "jobs/container_file.hpp"
#include "jobs/file_io.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace tbbpipe;
using namespace tbbpipe::format;
using jobs::FileHandle;
using jobs::read_footer;
using jobs::write_full;

// Runs one decoder; bad data must come back as a StatusError and nothing else.
template <typename Decode>
bool decodes(Decode&& decode) {
    try {
        decode();
        return true;
    } catch (const StatusError&) {
        return false;
    }
}

// The input as a seekable file for read_footer (which preads through an fd).
FileHandle memfd_holding(const std::uint8_t* data, std::size_t size) {
    FileHandle fd(::memfd_create("tbbpipe-reader-fuzz", MFD_CLOEXEC));
    if (!fd.valid()) fuzz::fuzz_fail("memfd_create failed");
    write_full(fd.fd(), data, size, "memfd");
    return fd;
}

// An OpenedHeader straight from the decoded fields, unauthenticated and without keys: enough for
// check_index, which looks only at the chunk size, the cipher and the header digest.
std::optional<OpenedHeader> structural_header(const std::uint8_t* data, std::size_t size) {
    std::optional<OpenedHeader> opened;
    decodes([&] {
        OpenedHeader o;
        o.header = decode_header(data, size);
        std::memcpy(o.bytes.data(), data, kHeaderSize);
        std::size_t list = 0;
        if ((o.header.flags & kHeaderFlagStageList) && size >= kHeaderSize + kStageListPrefixSize) {
            list = stage_list_size(data + kHeaderSize);
            if (size < kHeaderSize + list) return;
            o.stages = parse_stage_spec(decode_stage_list(data + kHeaderSize, list), nullptr,
                                        SpecSource::kContainer, Hash::kNone);
            o.stages_recorded = true;
            o.data_offset = kHeaderSize + list;
        }
        const std::vector<std::uint8_t> covered = header_auth_input(data, data + kHeaderSize, list);
        o.header_digest = sha256(covered.data(), covered.size());
        opened = std::move(o);
    });
    return opened;
}

// Walks records from the header on, as a stream reader would, until the footer or bad data.
void walk_records(const std::uint8_t* data, std::size_t size, const OpenedHeader* opened) {
    std::size_t offset = opened ? opened->data_offset : kHeaderSize;
    while (offset + kRecordHeaderSize <= size && get_u32(data + offset) != kFooterMagic) {
        RecordHeader record;
        if (!decodes([&] { record = decode_record_header(data + offset); })) return;
        if (opened && (record.raw_size > opened->header.chunk_size ||
                       record.stored_size > max_stored_size(opened->header.chunk_size,
                                                            opened->header.encrypted()))) {
            return;
        }
        offset += kRecordHeaderSize + record.stored_size;
    }
}

// Footer bodies: through read_footer with each authenticated header that can open one, and, for
// the plain layout (body || SHA-256), the body parsed and index-checked without its checksum.
void fuzz_footer(const std::uint8_t* data, std::size_t size,
                 const std::optional<OpenedHeader>& structural,
                 const std::optional<OpenedHeader>& with_key,
                 const std::optional<OpenedHeader>& without_key) {
    if (size < kHeaderSize + kTrailerSize) return;
    Trailer trailer;
    if (!decodes([&] { trailer = decode_trailer(data + size - kTrailerSize); })) return;

    // read_footer needs the footer key of an encrypted container: only a keyed header may go in.
    const FileHandle fd = memfd_holding(data, size);
    for (const auto* opened : {&with_key, &without_key}) {
        if (*opened && (!(*opened)->header.encrypted() || (*opened)->keys)) {
            decodes([&] { read_footer(fd.fd(), size, **opened); });
        }
    }

    const std::uint64_t footer_end = size - kTrailerSize;
    if (trailer.footer_offset < kHeaderSize || trailer.footer_offset > footer_end ||
        footer_end - trailer.footer_offset < kFooterPrefixSize + 32) {
        return;
    }
    const std::uint8_t* stored = data + trailer.footer_offset + kFooterPrefixSize;
    const auto stored_size =
        static_cast<std::size_t>(footer_end - trailer.footer_offset - kFooterPrefixSize);
    if (with_key && with_key->keys && stored_size <= UINT32_MAX) {
        decodes([&] {
            // open_footer checks the index too.
            (void)open_footer(*with_key, stored, static_cast<std::uint32_t>(stored_size),
                              trailer.footer_offset, trailer.chunk_count);
        });
    }
    FooterBody body;
    if (structural && decodes([&] {
            body = decode_footer_body(stored, stored_size - 32, structural->header.hash);
        })) {
        decodes([&] { check_index(*structural, body, trailer.footer_offset); });
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    fuzz::AllocationWatch::install();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::AllocationWatch::reset();
    const Secret& key = fuzz::fuzz_key();

    const std::optional<OpenedHeader> structural = structural_header(data, size);
    std::optional<OpenedHeader> with_key;
    std::optional<OpenedHeader> without_key;
    decodes([&] { with_key = authenticate_header(data, size, key, true); });
    decodes([&] { without_key = authenticate_header(data, size, Secret(), false); });
    decodes([&] { (void)authenticate_header(data, size, Secret(), true); });

    walk_records(data, size, structural ? &*structural : nullptr);
    fuzz_footer(data, size, structural, with_key, without_key);
    // The body parser on raw bytes, where its own length checks are all that stands.
    for (const Hash hash : {Hash::kSha256, Hash::kXxh3, Hash::kNone}) {
        decodes([&] { (void)decode_footer_body(data, size, hash); });
    }

    // Every buffer a decoder sizes from a field is checked against the bytes there are first, so
    // nothing may be much larger than the input (the footer entries are 56 bytes per 52 read).
    const std::size_t cap = 3 * size + 64 * 1024;
    if (fuzz::AllocationWatch::largest() > cap) {
        const std::string detail = std::to_string(fuzz::AllocationWatch::largest()) +
                                   " bytes in one allocation for a " + std::to_string(size) +
                                   "-byte input";
        fuzz::fuzz_fail("allocation larger than the input justifies:", detail.c_str());
    }
    return 0;
}
