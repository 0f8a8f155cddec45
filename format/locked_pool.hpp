// A pool of small blocks in memory that is locked once, for key material (SecretBytes).
//
// Every file gets its own keys, made and dropped with it. Locking each key with mlock and
// unlocking it with munlock splits and merges the heap's mappings twice per key under the
// process's memory-map lock: packing 20,000 small files spent a third of its time there
// (docs/PERFORMANCE.md). The pool's slabs are mapped and locked once and never returned, and a
// block is wiped by its owner before it comes back.
#pragma once

#include <cstddef>

namespace tbbpipe::format {

/// The largest allocation the pool serves (keys, nonces, KEKs); larger ones (a long passphrase)
/// take the heap with a lock of their own.
inline constexpr std::size_t kLockedBlockSize = 128;

/// A block of at least n (1..kLockedBlockSize) bytes, 16-aligned, from a locked slab; null when
/// no slab can be mapped. Thread-safe.
void* locked_pool_allocate(std::size_t n) noexcept;
/// Gives a block back (already wiped by the caller); false when p is not the pool's.
bool locked_pool_free(void* p) noexcept;
/// Whether p lies in one of the pool's slabs.
bool locked_pool_owns(const void* p) noexcept;

}  // namespace tbbpipe::format
