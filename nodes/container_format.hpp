// Container format v1: the byte layout, written down in docs/FORMAT.md.
//
//   header (144 bytes) | stage list? | record* | footer | trailer (32 bytes)
//
// This file only encodes and decodes and checks structure; cryptography lives in cipher.hpp.
// Every decoder bounds what it reads so a hostile file cannot make us allocate more than the
// sizes it declares, and those sizes are checked against caps first.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tbbpipe::nodes {

using Digest = std::array<std::uint8_t, 32>;

enum class Compression : std::uint8_t { kNone = 0, kLz4 = 1, kLz4Hc = 2 };
enum class CipherId : std::uint8_t { kNone = 0, kAes256Gcm = 1, kChaCha20Poly1305 = 2 };
enum class KdfId : std::uint8_t { kNone = 0, kKeyFile = 1, kScrypt = 2 };
enum class HashId : std::uint8_t { kSha256 = 1 };

const char* compression_name(Compression c);
const char* cipher_name(CipherId c);
const char* kdf_name(KdfId k);

inline constexpr std::size_t kHeaderSize = 144;
inline constexpr std::size_t kHeaderAuthOffset = 112;  // bytes [0,112) are authenticated
inline constexpr std::size_t kRecordHeaderSize = 24;
inline constexpr std::size_t kTrailerSize = 32;
inline constexpr std::size_t kFooterPrefixSize = 8;
inline constexpr std::size_t kFooterFixedSize = 40;  // counts, size, mode, times, name length
inline constexpr std::size_t kIndexEntrySize = 52;
inline constexpr std::size_t kTagSize = 16;
inline constexpr std::size_t kFileKeySize = 32;
inline constexpr std::size_t kWrappedKeySize = kFileKeySize + kTagSize;
inline constexpr std::uint32_t kRecordMagic = 0x43504254;  // "TBPC"
inline constexpr std::uint32_t kFooterMagic = 0x46504254;  // "TBPF"
inline constexpr std::uint16_t kFormatVersion = 1;

inline constexpr std::uint32_t kMinChunkSize = 4 * 1024;
inline constexpr std::uint32_t kMaxChunkSize = 64u * 1024 * 1024;
inline constexpr std::uint32_t kMaxNameLength = 4096;

// Header flag bits.
inline constexpr std::uint32_t kHeaderFlagStageList = 1u << 0;  ///< a stage list follows
inline constexpr std::uint32_t kKnownHeaderFlags = kHeaderFlagStageList;

// The stage list: after the header when a registered stage ran (magic, spec length, reserved).
inline constexpr std::uint32_t kStageListMagic = 0x53504254;  // "TBPS"
inline constexpr std::size_t kStageListPrefixSize = 8;
inline constexpr std::size_t kMaxStageSpecLength = 1024;

// Record flag bits.
inline constexpr std::uint32_t kFlagCompressed = 1u << 0;
inline constexpr std::uint32_t kFlagLast = 1u << 1;
inline constexpr std::uint32_t kKnownRecordFlags = kFlagCompressed | kFlagLast;

/// scrypt cost: memory is 128 * r * 2^log2_n bytes. Capped when read (a hostile header must not
/// cost gigabytes) and floored when written.
struct ScryptParams {
    std::uint8_t log2_n = 15;
    std::uint8_t r = 8;
    std::uint8_t p = 4;
};
inline constexpr std::uint8_t kScryptMinLog2N = 14;                      // floor when writing
inline constexpr std::uint8_t kScryptMaxLog2N = 20;                      // cap when reading
inline constexpr std::uint64_t kScryptMaxMemory = 256ull * 1024 * 1024;  // cap when reading

struct Header {
    Compression compression = Compression::kLz4;
    std::int8_t level = 0;
    CipherId cipher = CipherId::kNone;
    HashId hash = HashId::kSha256;
    std::uint32_t chunk_size = 1024 * 1024;
    KdfId kdf = KdfId::kNone;
    ScryptParams scrypt;
    std::array<std::uint8_t, 16> salt{};
    std::array<std::uint8_t, 8> key_id{};
    std::array<std::uint8_t, 12> wrap_nonce{};
    std::array<std::uint8_t, kWrappedKeySize> wrapped_key{};
    std::uint32_t flags = 0;  ///< kHeaderFlagStageList when a stage list follows
    Digest auth{};  ///< HMAC (encrypted) or SHA-256 (plain) of bytes [0,112) || stage list

    bool encrypted() const { return cipher != CipherId::kNone; }
};

/// Serialises all 144 bytes (auth must already be set, or is patched in later).
std::array<std::uint8_t, kHeaderSize> encode_header(const Header& header);
/// Parses and range-checks every field; throws PipelineError(kCorruptData) naming what is wrong.
/// Does not check `auth` (that needs the key).
Header decode_header(const std::uint8_t* bytes, std::size_t size);

/// What the header digest H and the header's auth cover: header bytes [0,112), then the stage
/// list (list_size 0 when there is none).
std::vector<std::uint8_t> header_auth_input(const std::uint8_t* header, const std::uint8_t* list,
                                            std::size_t list_size);

/// The stage list: prefix then the canonical spec (docs/FORMAT.md "Stage list").
std::vector<std::uint8_t> encode_stage_list(const std::string& spec);
/// The whole list's size from its 8-byte prefix; throws kCorruptData on a bad prefix.
std::size_t stage_list_size(const std::uint8_t* prefix);
/// The spec a list of `size` bytes holds (form checked by parse_stage_spec).
std::string decode_stage_list(const std::uint8_t* list, std::size_t size);

struct RecordHeader {
    std::uint32_t flags = 0;
    std::uint64_t index = 0;
    std::uint32_t raw_size = 0;
    std::uint32_t stored_size = 0;
};
void encode_record_header(const RecordHeader& r, std::uint8_t* out);
/// Throws kCorruptData if the magic or flags are wrong.
RecordHeader decode_record_header(const std::uint8_t* in);

/// Largest payload a record may carry for a given chunk size.
std::size_t max_stored_size(std::uint32_t chunk_size, bool encrypted);

struct IndexEntry {
    std::uint64_t offset = 0;  ///< where the record starts in the container
    std::uint32_t raw_size = 0;
    std::uint32_t stored_size = 0;
    std::uint32_t flags = 0;
    Digest digest{};  ///< SHA-256 of the chunk's plaintext
};

/// The footer body, before encryption (or before its plain checksum).
struct FooterBody {
    std::uint64_t original_size = 0;
    std::uint32_t mode = 0644;
    std::int64_t mtime_sec = 0;
    std::uint32_t mtime_nsec = 0;
    std::string name;
    std::vector<IndexEntry> entries;
    Digest root{};
};
std::vector<std::uint8_t> encode_footer_body(const FooterBody& body);
/// Parses a decrypted/verified body; throws kCorruptData.
FooterBody decode_footer_body(const std::uint8_t* data, std::size_t size);
/// Size of an encoded body for n entries and a name of name_len bytes.
std::size_t footer_body_size(std::uint64_t entries, std::size_t name_len);

struct Trailer {
    std::uint64_t footer_offset = 0;
    std::uint64_t chunk_count = 0;
    std::uint32_t footer_size = 0;  ///< footer prefix + stored body
};
std::array<std::uint8_t, kTrailerSize> encode_trailer(const Trailer& t);
Trailer decode_trailer(const std::uint8_t* in);

/// Root digest over the plaintext: SHA-256(header digest || chunk digests... || original size).
/// Incremental, so the ordered writer can feed it chunk by chunk.
class RootHasher {
public:
    explicit RootHasher(const Digest& header_digest);
    ~RootHasher();
    RootHasher(const RootHasher&) = delete;
    RootHasher& operator=(const RootHasher&) = delete;
    void add(const Digest& chunk_digest);
    Digest finish(std::uint64_t original_size);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// SHA-256 of a byte range.
Digest sha256(const std::uint8_t* data, std::size_t size);

/// Lower-case hex of bytes, for info output.
std::string to_hex(const std::uint8_t* data, std::size_t size);

}  // namespace tbbpipe::nodes
