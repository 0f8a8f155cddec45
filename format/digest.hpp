// Digests: SHA-256 of byte ranges, constant-time comparison, and hex for display.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "tbbpipe/options.hpp"

namespace tbbpipe::format {

/// Room for any digest; shorter ones (XXH3-128) fill the first bytes, the rest stays zero.
using Digest = std::array<std::uint8_t, 32>;

/// Bytes a chunk digest takes in the index: 32 (SHA-256), 16 (XXH3-128), 0 (none).
std::size_t digest_size(Hash hash);

/// The digest of a chunk's plaintext under `hash` (XXH3-128 in its canonical big-endian form;
/// none: all zero).
Digest chunk_digest(Hash hash, const std::uint8_t* data, std::size_t size);

/// SHA-256 of a byte range.
Digest sha256(const std::uint8_t* data, std::size_t size);

/// Constant-time equality for digests and tags.
bool digests_equal(const Digest& a, const Digest& b);

}  // namespace tbbpipe::format
