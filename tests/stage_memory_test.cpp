// Buffers on the registered-stage path grow with the record, not with the chunk size a
// container declares: a 1,000-byte file in a container of 8 MiB chunks must not cost an 8 MiB
// buffer when unpacked (a hostile container of many tiny records would multiply that).
// Its own binary: it replaces the global operator new to see the largest allocation.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "tests/job_support.hpp"
#include "tests/test_support.hpp"

namespace {

std::atomic<std::size_t> largest{0};
std::atomic<bool> tracking{false};

}  // namespace

void* operator new(std::size_t n) {
    // Relaxed: the test reads these after the run joined its threads.
    if (tracking.load(std::memory_order_relaxed)) {
        std::size_t seen = largest.load(std::memory_order_relaxed);
        while (n > seen && !largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
        }
    }
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace tbbpipe::jobs {
namespace {

class Negate final : public Stage {
public:
    void encode(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) const override {
        for (const std::uint8_t b : in) out.push_back(static_cast<std::uint8_t>(~b));
    }
    bool decode(std::span<const std::uint8_t> in, std::size_t limit,
                std::vector<std::uint8_t>& out) const override {
        if (in.size() > limit) return false;
        for (const std::uint8_t b : in) out.push_back(static_cast<std::uint8_t>(~b));
        return true;
    }
};

TEST(StageMemory, BuffersFollowTheRecordNotTheDeclaredChunkSize) {
    testing::ScratchDir dir;
    EngineConfig settings;
    settings.cpu_tokens = 1;
    settings.io_tokens = 1;
    ASSERT_TRUE(settings.stages.add("negate", std::make_shared<Negate>()).is_ok());
    testing::Jobs jobs(settings);
    testing::write_file(dir / "in", testing::make_data(1000, testing::DataKind::kCompressible, 1));
    for (const char* spec : {"lz4", "lz4,negate", "negate,lz4", "negate,deflate"}) {
        testing::TestPack pack;
        pack.chunk_size = 8u << 20;
        pack.stages = spec;
        ASSERT_TRUE(jobs.pack(dir / "in", dir / "c.tbp", pack, {}, true).status.is_ok()) << spec;
        largest = 0;
        tracking = true;
        const testing::Outcome out = jobs.unpack(dir / "c.tbp", dir / "out", {}, true);
        tracking = false;
        ASSERT_TRUE(out.status.is_ok()) << spec << ": " << out.status.message();
        EXPECT_LT(largest.load(), 256u * 1024) << spec;
    }
}

}  // namespace
}  // namespace tbbpipe::jobs
