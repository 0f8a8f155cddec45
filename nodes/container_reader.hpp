// ContainerReader: opens a container, authenticates its header, and (for seekable inputs) reads
// and authenticates the footer index before any chunk is touched.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "nodes/cipher.hpp"
#include "nodes/container_format.hpp"
#include "nodes/stage_spec.hpp"

namespace tbbpipe::nodes {

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

/// Reads the header and, when its flag says one follows, the stage list: the bytes
/// authenticate_header takes. Throws kCorruptData for a short or malformed input.
std::vector<std::uint8_t> read_header_bytes(int fd, bool seekable, const std::atomic<bool>* cancel);

/// Parses the header (and the stage list after it, when flagged: `bytes` holds both) and checks
/// it. With a secret: a key of the wrong type, a wrong key
/// (told apart through the key id) and a corrupt header are each a distinct kAuthFailed /
/// kCorruptData message. Without a secret an encrypted header is parsed but keys stay null
/// (enough for `info`). A secret given for an unencrypted container is refused (downgrade).
OpenedHeader authenticate_header(const std::uint8_t* bytes, std::size_t size,
                                 const UserSecret* secret, bool require_key,
                                 KekCache* cache = nullptr);

/// Reads and authenticates the footer of a seekable container of container_size bytes and checks
/// that its index tiles the file exactly. Throws kCorruptData / kAuthFailed.
FooterBody read_footer(int fd, std::uint64_t container_size, const OpenedHeader& opened);

/// Opens a footer whose stored bytes are in memory (streaming readers). Same checks.
FooterBody open_footer(const OpenedHeader& opened, const std::uint8_t* stored,
                       std::uint32_t stored_size, std::uint64_t footer_offset,
                       std::uint64_t chunk_count);

/// Checks that index entries are contiguous from the header to footer_offset, that exactly the
/// final one is flagged last, that sizes fit the chunk size and add up, and that the root
/// digest matches. Throws kCorruptData.
void check_index(const OpenedHeader& opened, const FooterBody& footer, std::uint64_t footer_offset);

}  // namespace tbbpipe::nodes
