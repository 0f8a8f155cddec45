// Test secrets for the nodes-level suites: a key file's 32 bytes or a passphrase.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "nodes/cipher.hpp"

namespace tbbpipe::testing {

/// A key-file secret whose bytes are fill, fill+1, ... (distinct fills, distinct keys).
inline nodes::UserSecret key_secret(std::uint8_t fill) {
    nodes::UserSecret s;
    s.kind = nodes::KdfId::kKeyFile;
    s.bytes = nodes::SecretBytes(32);
    for (std::size_t i = 0; i < 32; ++i) s.bytes[i] = static_cast<std::uint8_t>(fill + i);
    return s;
}

inline nodes::UserSecret passphrase(const char* text) {
    nodes::UserSecret s;
    s.kind = nodes::KdfId::kScrypt;
    s.bytes.Assign(reinterpret_cast<const std::uint8_t*>(text), std::strlen(text));
    return s;
}

}  // namespace tbbpipe::testing
