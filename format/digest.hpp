// Digests: SHA-256 of byte ranges, constant-time comparison, and hex for display.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace tbbpipe::format {

using Digest = std::array<std::uint8_t, 32>;

/// SHA-256 of a byte range.
Digest sha256(const std::uint8_t* data, std::size_t size);

/// Constant-time equality for digests and tags.
bool digests_equal(const Digest& a, const Digest& b);

}  // namespace tbbpipe::format
