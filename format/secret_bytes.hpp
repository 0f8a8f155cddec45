// Inside a Secret (tbbpipe/secret.hpp): the key material, in memory that wipes itself when freed
// and, where the process's RLIMIT_MEMLOCK allows, is locked so it never goes to swap.
#pragma once

#include <cryptopp/secblock.h>

#include <memory>
#include <utility>

#include "format/locked_pool.hpp"
#include "tbbpipe/secret.hpp"

namespace tbbpipe {

namespace format {

/// mlock / munlock that never fail loudly: past the limit (or without the right) key material is
/// simply not locked.
void lock_memory(const void* p, std::size_t n) noexcept;
void unlock_memory(const void* p, std::size_t n) noexcept;

/// Crypto++'s wiping allocator, with what it hands out locked in memory. Keys and other small
/// blocks come from a pool of slabs locked once (format/locked_pool.hpp); a larger block (a long
/// passphrase) is locked on its own. Those locks are per page: such a block that shares a page
/// with another freed earlier may lose its lock with it (best effort, said so in
/// docs/SECURITY.md).
class LockedAllocator : public CryptoPP::AllocatorWithCleanup<CryptoPP::byte> {
public:
    using Base = CryptoPP::AllocatorWithCleanup<CryptoPP::byte>;
    pointer allocate(size_type n, const void* hint = nullptr) {
        if (void* block = locked_pool_allocate(n)) return static_cast<pointer>(block);
        pointer p = Base::allocate(n, hint);
        if (p) lock_memory(p, n);
        return p;
    }
    void deallocate(void* p, size_type n) {
        if (!p) return Base::deallocate(p, n);
        CryptoPP::SecureWipeArray(static_cast<pointer>(p), n);  // wiped while still locked
        if (locked_pool_free(p)) return;
        unlock_memory(p, n);
        Base::deallocate(p, n);
    }
    pointer reallocate(pointer old, size_type old_size, size_type new_size, bool preserve) {
        return CryptoPP::StandardReallocate(*this, old, old_size, new_size, preserve);
    }
    template <class U>
    struct rebind {
        using other = LockedAllocator;
    };
};

using SecretBytes = CryptoPP::SecBlock<CryptoPP::byte, LockedAllocator>;

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
