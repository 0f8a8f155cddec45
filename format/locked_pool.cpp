#include "format/locked_pool.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <mutex>
#include <vector>

namespace tbbpipe::format {
namespace {

// 512 blocks; one mlock, counted once against RLIMIT_MEMLOCK however many keys come and go.
constexpr std::size_t kSlabSize = std::size_t{64} * 1024;

struct FreeBlock {
    FreeBlock* next;
};

class LockedPool {
public:
    void* allocate() {
        std::lock_guard lock(mutex_);
        if (!free_ && !add_slab()) return nullptr;
        FreeBlock* b = free_;
        free_ = b->next;
        b->next = nullptr;  // no pointer left in a block that is about to hold a key
        return b;
    }

    bool release(void* p) {
        std::lock_guard lock(mutex_);
        if (!owns_locked(p)) return false;
        auto* b = static_cast<FreeBlock*>(p);
        b->next = free_;
        free_ = b;
        return true;
    }

    bool owns(const void* p) {
        std::lock_guard lock(mutex_);
        return owns_locked(p);
    }

private:
    bool owns_locked(const void* p) const {
        const auto a = reinterpret_cast<std::uintptr_t>(p);
        for (const std::uintptr_t s : slabs_) {
            if (a >= s && a < s + kSlabSize) return true;
        }
        return false;
    }

    bool add_slab() {
        void* m =
            ::mmap(nullptr, kSlabSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return false;
        // Best effort, as for every key (docs/SECURITY.md): past RLIMIT_MEMLOCK it stays unlocked.
        (void)::mlock(m, kSlabSize);
        (void)::madvise(m, kSlabSize, MADV_DONTDUMP);  // and never in a core dump
        auto* base = static_cast<unsigned char*>(m);
        for (std::size_t off = kSlabSize; off >= kLockedBlockSize; off -= kLockedBlockSize) {
            auto* b = reinterpret_cast<FreeBlock*>(base + off - kLockedBlockSize);
            b->next = free_;
            free_ = b;
        }
        slabs_.push_back(reinterpret_cast<std::uintptr_t>(m));
        return true;
    }

    std::mutex mutex_;
    FreeBlock* free_ = nullptr;          // guarded by mutex_
    std::vector<std::uintptr_t> slabs_;  // guarded by mutex_; a handful, never unmapped
};

// Never destroyed: keys held by static objects are freed after every destructor has run.
LockedPool& pool() {
    static auto* p = new LockedPool;
    return *p;
}

}  // namespace

void* locked_pool_allocate(std::size_t n) noexcept {
    if (n == 0 || n > kLockedBlockSize) return nullptr;
    try {
        return pool().allocate();
    } catch (...) {
        return nullptr;  // the slab list could not grow: the caller takes the heap
    }
}

bool locked_pool_free(void* p) noexcept {
    return p && pool().release(p);
}

bool locked_pool_owns(const void* p) noexcept {
    return p && pool().owns(p);
}

}  // namespace tbbpipe::format
