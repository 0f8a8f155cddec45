// Shared by the libFuzzer targets: the fixed key the seed corpus was packed with, a watch on the
// largest single heap allocation (so a harness can check that hostile bytes never make us
// allocate more than the caps allow), and the one way a harness reports a broken invariant.
#pragma once

#include <sanitizer/allocator_interface.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <vector>

#include "tbbpipe/secret.hpp"

namespace tbbpipe::fuzz {

/// The key-file secret of every encrypted seed in tests/fuzz/corpus: bytes 0x01..0x20
/// (tests/fuzz/make_corpus.sh writes the same 32 bytes). Fuzzing with the right key is what lets
/// mutations get past the header into records and footers.
inline const Secret& fuzz_key() {
    static const Secret key = [] {
        std::vector<std::uint8_t> bytes(32);
        for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i + 1);
        return Secret::key(bytes);
    }();
    return key;
}

/// A broken invariant: print it and abort, which libFuzzer records as a crash with this input.
[[noreturn]] inline void fuzz_fail(const char* what, const char* detail = "") {
    std::fprintf(stderr, "==tbbpipe fuzz== invariant broken: %s %s\n", what, detail);
    std::abort();
}

/// Largest single heap allocation since reset(), from any thread (oneTBB workers included).
/// Uses the sanitizer allocator hooks, so it sees malloc and operator new in every instrumented or
/// uninstrumented library that allocates through them.
/// Thread-safety: the hook may run on any thread; reset() and largest() from the fuzz thread.
class AllocationWatch {
public:
    /// Call once (LLVMFuzzerInitialize). The sanitizer runtime allows a handful of hooks;
    /// libFuzzer takes one.
    static void install() {
        if (!__sanitizer_install_malloc_and_free_hooks(&on_malloc, &on_free)) {
            fuzz_fail("could not install the allocation hooks");
        }
    }
    static void reset() { largest_.store(0, std::memory_order_relaxed); }
    static std::size_t largest() { return largest_.load(std::memory_order_relaxed); }

private:
    static void on_malloc(const volatile void* /*ptr*/, std::size_t size) {
        std::size_t seen = largest_.load(std::memory_order_relaxed);
        while (size > seen &&
               !largest_.compare_exchange_weak(seen, size, std::memory_order_relaxed)) {
        }
    }
    static void on_free(const volatile void* /*ptr*/) {}

    static inline std::atomic<std::size_t> largest_{0};
};

}  // namespace tbbpipe::fuzz
