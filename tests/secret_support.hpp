// Test secrets: a key file's 32 bytes or a passphrase.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tbbpipe/secret.hpp"

namespace tbbpipe::testing {

/// A key-file secret whose bytes are fill, fill+1, ... (distinct fills, distinct keys).
inline Secret key_secret(std::uint8_t fill) {
    std::vector<std::uint8_t> bytes(32);
    for (std::size_t i = 0; i < 32; ++i) bytes[i] = static_cast<std::uint8_t>(fill + i);
    return Secret::key(bytes);
}

inline Secret passphrase(const char* text) {
    return Secret::passphrase(text);
}

}  // namespace tbbpipe::testing
