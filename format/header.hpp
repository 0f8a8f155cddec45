// The container header and the stage list that may follow it (docs/FORMAT.md "Header").
//
//   header (144 bytes) | stage list? | record* | footer | trailer (32 bytes)
//
// The format/ layer is pure functions over bytes: no files, no threads, no engine. Every decoder
// checks what it reads against caps before it believes a size, so a hostile file cannot make a
// reader allocate or compute more than those caps allow.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "format/digest.hpp"
#include "tbbpipe/options.hpp"

namespace tbbpipe::format {

inline constexpr std::size_t kHeaderSize = 144;
inline constexpr std::size_t kHeaderAuthOffset = 112;  // bytes [0,112) are authenticated
inline constexpr std::size_t kTagSize = 16;
inline constexpr std::size_t kFileKeySize = 32;
inline constexpr std::size_t kWrappedKeySize = kFileKeySize + kTagSize;
/// The version written. Version 1 (SHA-256 only, which version 2 can also say) is still read.
inline constexpr std::uint16_t kFormatVersion = 2;

// Header flag bits.
inline constexpr std::uint32_t kHeaderFlagStageList = 1u << 0;  ///< a stage list follows
inline constexpr std::uint32_t kKnownHeaderFlags = kHeaderFlagStageList;

// The stage list: after the header when a registered stage ran (magic, spec length, reserved).
inline constexpr std::uint32_t kStageListMagic = 0x53504254;  // "TBPS"
inline constexpr std::size_t kStageListPrefixSize = 8;
inline constexpr std::size_t kMaxStageSpecLength = 1024;

/// scrypt cost: memory is 128 * r * 2^log2_n bytes. Capped when read (a hostile header must not
/// cost gigabytes) and floored when written.
struct ScryptParams {
    std::uint8_t log2_n = kDefaultScryptLog2N;
    std::uint8_t r = 8;
    std::uint8_t p = 4;
};
inline constexpr std::uint64_t kScryptMaxMemory = 256ull * 1024 * 1024;  // cap when reading
/// Cap on N * r * p when reading: the writer's costliest setting (log2 N 18, r 8, p 4), about 3 s
/// of one core here. With the memory cap it bounds what one header can cost; every distinct salt
/// costs it again, which a tree of containers from many runs legitimately has.
inline constexpr std::uint64_t kScryptMaxWork = (1ull << kMaxScryptLog2N) * 8 * 4;

struct Header {
    Compression compression = Compression::kLz4;
    int level = 0;  // stored as one signed byte (-128..127); informational only
    Cipher cipher = Cipher::kNone;
    Hash hash = Hash::kXxh3;
    std::uint32_t chunk_size = kDefaultChunkSize;
    KeyDerivation kdf = KeyDerivation::kNone;
    ScryptParams scrypt;
    std::array<std::uint8_t, 16> salt{};
    std::array<std::uint8_t, 8> key_id{};
    std::array<std::uint8_t, 12> wrap_nonce{};
    std::array<std::uint8_t, kWrappedKeySize> wrapped_key{};
    std::uint32_t flags = 0;  ///< kHeaderFlagStageList when a stage list follows
    Digest auth{};  ///< HMAC (encrypted) or SHA-256 (plain) of bytes [0,112) || stage list

    bool encrypted() const { return cipher != Cipher::kNone; }
};

/// Serialises all 144 bytes (auth must already be set, or is patched in later).
std::array<std::uint8_t, kHeaderSize> encode_header(const Header& header);
/// Parses and range-checks every field; throws StatusError(kCorruptData) naming what is wrong.
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

}  // namespace tbbpipe::format
