// Opening: how a container's bytes become plaintext again, as pure functions over bytes. The
// header is authenticated first, then the footer and its index (before any record is trusted),
// then each record on its own (concurrently), checked against the index.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/cipher.hpp"
#include "format/footer.hpp"
#include "format/header.hpp"
#include "format/record.hpp"
#include "format/stage_spec.hpp"

namespace tbbpipe::format {

/// A container whose header is parsed and, when encrypted, authenticated with the user's key.
struct OpenedHeader {
    Header header;
    std::array<std::uint8_t, kHeaderSize> bytes{};
    Digest header_digest{};          ///< SHA-256(header bytes [0,112) || stage list)
    std::unique_ptr<FileKeys> keys;  ///< set when the container is encrypted and the key fits
    /// The stages that ran (recorded, or implied by the header's fields). Registered stages stay
    /// unresolved (null) until resolve_recorded_stages.
    StagePlan stages;
    bool stages_recorded = false;             ///< a stage list follows the header
    std::uint64_t data_offset = kHeaderSize;  ///< where record 0 starts
};

/// Parses the header (and the stage list after it, when flagged: `bytes` holds both) and checks
/// it. With a secret: a key of the wrong type, a wrong key (told apart through the key id) and a
/// corrupt header are each a distinct kAuthFailed / kCorruptData message. Without a secret an
/// encrypted header is parsed but keys stay null (enough for `info`), unless require_key
/// (kInvalidArgument). A secret given for an unencrypted container is refused (a downgrade).
OpenedHeader authenticate_header(const std::uint8_t* bytes, std::size_t size, const Secret& secret,
                                 bool require_key, KekCache* cache = nullptr);

/// The checks a footer's position must pass before its bytes are read: the trailer agrees with
/// the container's size, the chunk count is believable and the footer's size is within what the
/// count allows. Throws kCorruptData.
void check_trailer(const OpenedHeader& opened, const Trailer& trailer,
                   std::uint64_t container_size);

/// Opens a footer's stored bytes (after its 8-byte prefix) and checks its index against the
/// header (check_index). Throws kCorruptData / kAuthFailed.
FooterBody open_footer(const OpenedHeader& opened, const std::uint8_t* stored,
                       std::uint32_t stored_size, std::uint64_t footer_offset,
                       std::uint64_t chunk_count);

/// Checks that index entries are contiguous from the data offset to footer_offset, that exactly
/// the final one is flagged last, that sizes fit the chunk size and add up, and that the root
/// digest matches. Throws kCorruptData.
void check_index(const OpenedHeader& opened, const FooterBody& footer, std::uint64_t footer_offset);

/// The buffer a record of these sizes needs: the whole record and, for an encrypted compressed
/// chunk, later its plaintext. Sized to the record, not the nominal chunk size, so a tiny record
/// in a container declaring huge chunks costs a tiny buffer.
std::size_t record_buffer_size(std::uint32_t raw_size, std::uint32_t stored_size);

/// One record opened.
struct OpenedChunk {
    RecordHeader record;
    const std::uint8_t* plain = nullptr;  ///< record.raw_size bytes, in `in` or `out`
    Digest digest{};                      ///< of the plaintext (checked when `expected` was given)
};

/// Opens the record in in[0 .. in_size): checks its header against `index` and the index entry
/// (when known: seekable containers), decrypts, undoes the stages or the compression, and checks
/// the plaintext's digest against the entry. `in` may grow (its record is kept); `out` is the
/// chunk's scratch buffer. `where` names the chunk in messages. Throws kCorruptData /
/// kAuthFailed naming what is wrong.
OpenedChunk open_chunk(const OpenedHeader& opened, std::uint64_t index, const IndexEntry* expected,
                       std::vector<std::uint8_t>& in, std::size_t in_size,
                       std::vector<std::uint8_t>& out, const std::string& where);

}  // namespace tbbpipe::format
