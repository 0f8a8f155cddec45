// Per-file events and the pipeline metrics, seen from a library user: listeners get started,
// progress and finished/failed in order; slow or throwing listeners never stall or break a run;
// after a run every gauge is back to rest and the counters agree with what was written.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/metrics.hpp"
#include "format/footer.hpp"
#include "format/header.hpp"
#include "jobs/file_events.hpp"
#include "tests/job_support.hpp"
#include "tests/test_support.hpp"

namespace tbbpipe::jobs {
namespace {

using namespace std::chrono_literals;
using Kind = FileEvent::Kind;

struct Recorded {
    std::mutex mutex;
    std::vector<FileEvent> events;
    void add(const FileEvent& e) {
        std::lock_guard lock(mutex);
        events.push_back(e);
    }
};

testing::TestPack small_chunks() {
    testing::TestPack s;
    s.chunk_size = 64 * 1024;
    return s;
}

TEST(FileEventsTest, ListenersSeeStartedProgressAndFinishedInOrder) {
    testing::ScratchDir dir;
    testing::write_file(dir / "a", testing::make_data(10 * 64 * 1024, testing::DataKind::kMixed));
    FileEvents events;
    Recorded seen;
    events.add_listener([&](const FileEvent& e) { seen.add(e); });
    EngineConfig settings;
    testing::Jobs jobs(settings, &events);
    ASSERT_TRUE(jobs.pack(dir / "a", dir / "a.tbp", small_chunks(), {}, false).status.is_ok());
    EXPECT_FALSE(jobs.verify(dir / "missing.tbp", {}).status.is_ok());
    events.flush();

    std::lock_guard lock(seen.mutex);
    ASSERT_GE(seen.events.size(), 4u);
    EXPECT_EQ(seen.events.front().kind, Kind::kStarted);
    EXPECT_EQ(seen.events.front().file, dir / "a");
    EXPECT_EQ(seen.events.front().bytes_total, 10u * 64 * 1024);
    std::uint64_t last = 0;
    std::size_t i = 1;
    for (; i < seen.events.size() && seen.events[i].kind == Kind::kProgress; ++i) {
        EXPECT_GT(seen.events[i].bytes_done, last);  // progress only grows
        last = seen.events[i].bytes_done;
    }
    EXPECT_EQ(last, 10u * 64 * 1024);
    ASSERT_LT(i + 2, seen.events.size() + 1);
    EXPECT_EQ(seen.events[i].kind, Kind::kFinished);
    EXPECT_EQ(seen.events[i + 1].kind, Kind::kStarted);
    EXPECT_EQ(seen.events.back().kind, Kind::kFailed);
    EXPECT_EQ(seen.events.back().status.code(), StatusCode::kNotFound);
}

// A listener that blocks until the run is over: the run must finish anyway (progress events are
// dropped once half the queue is full; terminal events still fit).
TEST(FileEventsTest, ASlowListenerNeverStallsTheRun) {
    testing::ScratchDir dir;
    testing::write_file(dir / "a", testing::make_data(4 * 1024 * 1024, testing::DataKind::kMixed));
    FileEvents events(/*capacity=*/8);
    std::atomic<bool> run_done{false};
    Recorded seen;
    events.add_listener([&](const FileEvent& e) {
        while (!run_done) std::this_thread::sleep_for(1ms);
        seen.add(e);
    });
    EngineConfig settings;
    testing::Jobs jobs(settings, &events);
    testing::TestPack s =
        small_chunks();  // 64 chunks: far more progress events than the queue holds
    const auto start = std::chrono::steady_clock::now();
    const testing::Outcome out = jobs.pack(dir / "a", dir / "a.tbp", s, {}, false);
    const auto took = std::chrono::steady_clock::now() - start;
    run_done = true;
    ASSERT_TRUE(out.status.is_ok());
    EXPECT_LT(took, 10s);
    events.flush();
    EXPECT_GT(events.dropped(), 0u);
    std::lock_guard lock(seen.mutex);
    ASSERT_FALSE(seen.events.empty());
    EXPECT_EQ(seen.events.back().kind, Kind::kFinished) << "the terminal event must not be dropped";
}

TEST(FileEventsTest, AThrowingListenerNeitherBreaksTheRunNorOtherListeners) {
    testing::ScratchDir dir;
    testing::write_file(dir / "a", testing::make_data(300000, testing::DataKind::kMixed));
    FileEvents events;
    Recorded seen;
    events.add_listener([](const FileEvent&) { throw std::runtime_error("listener bug"); });
    events.add_listener([&](const FileEvent& e) { seen.add(e); });
    EngineConfig settings;
    testing::Jobs jobs(settings, &events);
    ASSERT_TRUE(jobs.pack(dir / "a", dir / "a.tbp", small_chunks(), {}, false).status.is_ok());
    ASSERT_TRUE(jobs.unpack(dir / "a.tbp", dir / "b", {}, false).status.is_ok());
    events.flush();
    EXPECT_GT(events.listener_errors(), 0u);
    std::lock_guard lock(seen.mutex);
    EXPECT_EQ(seen.events.back().kind, Kind::kFinished);
    EXPECT_EQ(testing::read_file(dir / "b"), testing::read_file(dir / "a"));
}

TEST(PipelineMetricsTest, CountersAgreeAndGaugesComeBackToRest) {
    testing::ScratchDir dir;
    const std::size_t size = 3 * 1024 * 1024 + 100;
    testing::write_file(dir / "a", testing::make_data(size, testing::DataKind::kMixed));
    engine::MetricsRegistry registry;
    EngineConfig settings;
    settings.cpu_tokens = 2;
    settings.io_tokens = 2;
    testing::Jobs jobs(settings, nullptr, &registry);
    const testing::Outcome packed = jobs.pack(dir / "a", dir / "a.tbp", {}, {}, false);
    ASSERT_TRUE(packed.status.is_ok());
    const testing::Outcome unpacked = jobs.unpack(dir / "a.tbp", dir / "b", {}, false);
    ASSERT_TRUE(unpacked.status.is_ok());
    const MetricsSnapshot snap = registry.snapshot();
    const auto value = [&](const char* name, const char* labels = "") {
        const auto* m = snap.find(name, labels);
        EXPECT_NE(m, nullptr) << name << "{" << labels << "}";
        return m ? m->value : -1;
    };
    const auto max = [&](const char* name, const char* labels) {
        const auto* m = snap.find(name, labels);
        return m ? m->max : -1;
    };
    EXPECT_EQ(value("tbbpipe_chunks_total"), 8);  // 4 chunks packed + 4 unpacked
    // Pack reads the source; unpack reads the records, which end where the footer starts.
    const testing::Bytes container = testing::read_file(dir / "a.tbp");
    const format::Trailer trailer =
        format::decode_trailer(container.data() + container.size() - format::kTrailerSize);
    EXPECT_EQ(value("tbbpipe_input_bytes_total"),
              static_cast<double>(size + trailer.footer_offset - format::kHeaderSize));
    EXPECT_EQ(value("tbbpipe_files_total", "status=\"ok\""), 2);
    for (const char* kind : {"kind=\"cpu\"", "kind=\"io\"", "kind=\"chunk\""}) {
        EXPECT_EQ(value("tbbpipe_tokens_in_use", kind), 0) << kind;
        EXPECT_GE(max("tbbpipe_tokens_in_use", kind), 1) << kind;
        EXPECT_LE(max("tbbpipe_tokens_in_use", kind), value("tbbpipe_tokens", kind)) << kind;
    }
    EXPECT_EQ(value("tbbpipe_queue_depth", "queue=\"cpu\""), 0);
    EXPECT_EQ(value("tbbpipe_queue_depth", "queue=\"reorder\""), 0);
    EXPECT_EQ(value("tbbpipe_memory_bytes"), 0);
    EXPECT_GT(max("tbbpipe_memory_bytes", ""), 0);
    EXPECT_LE(max("tbbpipe_memory_bytes", ""), value("tbbpipe_memory_limit_bytes"));
    const auto* transform = snap.find("tbbpipe_chunk_transform_seconds");
    ASSERT_NE(transform, nullptr);
    EXPECT_EQ(transform->histogram.count, 8u);
    EXPECT_GT(transform->histogram.percentile(0.5), 0);
    EXPECT_EQ(snap.find("tbbpipe_io_seconds", "op=\"write\"")->histogram.count, 8u);
    // Tickets that found the source exhausted took a slot too.
    EXPECT_GE(value("tbbpipe_buffer_acquisitions_total"), 8);
    EXPECT_LE(value("tbbpipe_buffer_reuse_total"), value("tbbpipe_buffer_acquisitions_total"));
}

}  // namespace
}  // namespace tbbpipe::jobs
