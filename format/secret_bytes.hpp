// Inside a Secret (tbbpipe/secret.hpp): the key material, in memory that wipes itself.
#pragma once

#include <cryptopp/secblock.h>

#include <memory>
#include <utility>

#include "tbbpipe/secret.hpp"

namespace tbbpipe {

namespace format {
using SecretBytes = CryptoPP::SecByteBlock;
}  // namespace format

struct Secret::Bytes {
    format::SecretBytes bytes;
};

/// The library's own access to a Secret's bytes (a friend of Secret).
struct SecretAccess {
    /// The key or passphrase bytes; empty for an absent secret.
    static const format::SecretBytes& bytes(const Secret& secret) {
        static const format::SecretBytes kNone;
        return secret.bytes_ ? secret.bytes_->bytes : kNone;
    }
    /// Takes `bytes` by swapping (a SecByteBlock cannot move): no second copy of the key is
    /// left in memory; `bytes` is empty afterwards.
    static Secret make(KeyDerivation kind, format::SecretBytes& bytes) {
        Secret s;
        auto b = std::make_shared<Secret::Bytes>();
        b->bytes.swap(bytes);
        s.bytes_ = std::move(b);
        s.kind_ = kind;
        return s;
    }
};

}  // namespace tbbpipe
