// Container inspection: what a .tbp file says about itself (what `tbbpipe info` shows).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tbbpipe/options.hpp"
#include "tbbpipe/result.hpp"
#include "tbbpipe/secret.hpp"

namespace tbbpipe {

/// One chunk of a container, from its authenticated index. Value type.
struct ChunkInfo {
    std::uint64_t offset = 0;  ///< where its record starts in the container
    std::uint32_t raw_size = 0;
    std::uint32_t stored_size = 0;
    bool compressed = false;
    /// The digest of the chunk's plaintext under the container's hash: 32 bytes (SHA-256), the
    /// first 16 (XXH3-128, big-endian), or none.
    std::array<std::uint8_t, 32> digest{};
};

/// A container's header, trailer and (when it could be authenticated) its index. Value type.
struct ContainerInfo {
    int format_version = 0;
    std::uint64_t container_bytes = 0;
    Compression compression = Compression::kNone;
    int level = 0;  ///< as recorded (informational)
    Cipher cipher = Cipher::kNone;
    KeyDerivation key_derivation = KeyDerivation::kNone;
    struct {
        int log2_n = 0, r = 0, p = 0;
    } scrypt;                      ///< with KeyDerivation::kScrypt
    std::string stages;            ///< the stage spec that ran
    bool stages_recorded = false;  ///< the spec is recorded (a registered stage ran)
    Hash hash = Hash::kSha256;     ///< the per-chunk digest
    std::uint32_t chunk_size = 0;  ///< the largest chunk
    std::uint64_t chunk_count = 0;
    std::array<std::uint8_t, 32> header_digest{};
    /// The index was read and authenticated (always for an unencrypted container; with the key
    /// for an encrypted one). The fields below are set only then.
    bool authenticated = false;
    std::uint64_t original_bytes = 0;
    std::string name;  ///< the stored name (never used as an output path)
    std::uint32_t mode = 0;
    std::int64_t mtime_sec = 0;
    std::uint32_t mtime_nsec = 0;
    std::array<std::uint8_t, 32> root_digest{};  ///< as the chunk digests: 32, 16 or no bytes
    std::vector<ChunkInfo> chunks;
};

/// Reads a container's header and trailer, and its index when it can be authenticated: always
/// when unencrypted, with `secret` when encrypted (without it the index stays closed and
/// `authenticated` is false; a wrong secret is kAuthFailed). Records are not read: verify does
/// that. Errors name what is wrong (kCorruptData, kAuthFailed, kNotFound, ...), not the path.
/// Thread-safety: may be called from any thread.
Result<ContainerInfo> inspect_container(const std::string& path, const Secret& secret = {});

/// Lower-case hex of bytes ("00ff..."), as info shows digests.
std::string to_hex(const std::uint8_t* data, std::size_t size);

/// The bytes of a digest under `hash` that mean something (32, 16 or 0), as hex.
std::string digest_hex(Hash hash, const std::array<std::uint8_t, 32>& digest);

}  // namespace tbbpipe
