// The footer (index of every record, file metadata, root digest) and the trailer that locates
// it (docs/FORMAT.md "Footer", "Trailer").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/digest.hpp"
#include "tbbpipe/options.hpp"

namespace tbbpipe::format {

inline constexpr std::size_t kTrailerSize = 32;
inline constexpr std::size_t kFooterPrefixSize = 8;
inline constexpr std::size_t kFooterFixedSize = 40;        // counts, size, mode, times, name length
inline constexpr std::size_t kIndexEntryFixedSize = 20;    // offset, sizes, flags; then the digest
inline constexpr std::uint32_t kFooterMagic = 0x46504254;  // "TBPF"
inline constexpr std::uint32_t kMaxNameLength = 4096;      // of the stored name

struct IndexEntry {
    std::uint64_t offset = 0;  ///< where the record starts in the container
    std::uint32_t raw_size = 0;
    std::uint32_t stored_size = 0;
    std::uint32_t flags = 0;
    Digest digest{};  ///< of the chunk's plaintext, under the container's hash
};

/// The footer body, before encryption (or before its plain checksum).
struct FooterBody {
    Hash hash = Hash::kSha256;  ///< the container's (from its header): sizes the index entries
    std::uint64_t original_size = 0;
    std::uint32_t mode = 0644;
    std::int64_t mtime_sec = 0;
    std::uint32_t mtime_nsec = 0;
    std::string name;
    std::vector<IndexEntry> entries;
    Digest root{};
};
std::vector<std::uint8_t> encode_footer_body(const FooterBody& body);
/// Parses a decrypted/verified body of a container whose hash is `hash`; throws kCorruptData.
FooterBody decode_footer_body(const std::uint8_t* data, std::size_t size, Hash hash);
/// Bytes of one index entry: 20 and the digest (52 with SHA-256, 36 with XXH3-128, 20 with none).
std::size_t index_entry_size(Hash hash);
/// Size of an encoded body for n entries and a name of name_len bytes.
std::size_t footer_body_size(std::uint64_t entries, std::size_t name_len, Hash hash);

/// Footer AAD: header digest || footer prefix || footer offset || chunk count.
std::array<std::uint8_t, 32 + kFooterPrefixSize + 16> footer_aad(const Digest& header_digest,
                                                                 std::uint32_t stored_size,
                                                                 std::uint64_t footer_offset,
                                                                 std::uint64_t chunk_count);

struct Trailer {
    std::uint64_t footer_offset = 0;
    std::uint64_t chunk_count = 0;
    std::uint32_t footer_size = 0;  ///< footer prefix + stored body
};
std::array<std::uint8_t, kTrailerSize> encode_trailer(const Trailer& t);
Trailer decode_trailer(const std::uint8_t* in);

/// Root digest over the plaintext: hash(header digest || chunk digests... || original size) under
/// the container's hash (SHA-256, or XXH3-128 in the first 16 bytes); all zero with none.
/// Incremental, so the ordered writer can feed it chunk by chunk.
class RootHasher {
public:
    RootHasher(Hash hash, const Digest& header_digest);
    ~RootHasher();
    RootHasher(const RootHasher&) = delete;
    RootHasher& operator=(const RootHasher&) = delete;
    void add(const Digest& chunk_digest);
    Digest finish(std::uint64_t original_size);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// SHA-256 over the position, sizes and flags of index entries, fed one at a time: a streamed
/// unpack compares the records it saw with the footer's index in constant memory, whatever the
/// number of records.
class IndexFingerprint {
public:
    IndexFingerprint();
    ~IndexFingerprint();
    IndexFingerprint(const IndexFingerprint&) = delete;
    IndexFingerprint& operator=(const IndexFingerprint&) = delete;
    void add(const IndexEntry& entry);
    Digest finish();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tbbpipe::format
