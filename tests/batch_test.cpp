// Many files through one graph: the job scheduler, the chunk tuner and the commit batch on their
// own, then whole batches through testing::Jobs::run_batch (round trips, per-file isolation,
// fair vs fifo order, adaptive chunks, budgets, passphrases, cancellation, files that change).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "format/header.hpp"
#include "format/record.hpp"
#include "jobs/chunk_tuner.hpp"
#include "jobs/commit_batch.hpp"
#include "jobs/file_events.hpp"
#include "jobs/file_io.hpp"
#include "jobs/job_scheduler.hpp"
#include "tests/job_support.hpp"
#include "tests/secret_support.hpp"
#include "tests/test_support.hpp"

namespace tbbpipe::jobs {
namespace {

using testing::Bytes;
using testing::DataKind;
using testing::ScratchDir;

constexpr std::uint32_t kKiB = 1024;
constexpr std::uint32_t kMiB = 1024 * 1024;

using testing::key_secret;
using testing::passphrase;

EngineConfig engine_settings(Scheduler scheduler = Scheduler::kFair) {
    EngineConfig e;
    e.cpu_tokens = 2;
    e.io_tokens = 2;
    e.commit.durable =
        false;  // the durable path has its own tests; a shared disk makes syncfs slow
    e.scheduler = scheduler;
    return e;
}

// Mixed data that every test slices its files from: generating it per file costs too much in
// Debug. Distinct offsets give distinct contents.
const Bytes& pool() {
    static const Bytes data = testing::make_data(4 * kMiB, DataKind::kMixed, 42);
    return data;
}

Bytes slice(std::size_t size, std::size_t seed) {
    const Bytes& p = pool();
    const std::size_t offset = (seed * 7919 + 131) % (p.size() - size + 1);
    return Bytes(p.begin() + static_cast<std::ptrdiff_t>(offset),
                 p.begin() + static_cast<std::ptrdiff_t>(offset + size));
}

// Highly compressible bytes: one 16 KiB block of text repeated (within lz4's 64 KiB window).
Bytes repeated(std::size_t size, std::uint32_t seed) {
    const Bytes block = testing::make_data(16 * kKiB, DataKind::kCompressible, seed);
    Bytes out(size);
    for (std::size_t i = 0; i < size; i += block.size()) {
        std::copy_n(block.begin(), std::min(block.size(), size - i),
                    out.begin() + static_cast<std::ptrdiff_t>(i));
    }
    return out;
}

std::string make_folder(const ScratchDir& dir, const std::string& name) {
    std::string path = dir / name;
    std::filesystem::create_directories(path);
    return path;
}

// Temporary outputs (".<name>.tbbpipe-XXXXXX") left in a folder.
std::vector<std::string> temp_files(const std::string& folder) {
    std::vector<std::string> found;
    for (const auto& e : std::filesystem::directory_iterator(folder)) {
        const std::string name = e.path().filename().string();
        if (name.front() == '.' && name.find(".tbbpipe-") != std::string::npos) {
            found.push_back(name);
        }
    }
    return found;
}

std::string name_of(std::size_t i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "f%03zu", i);
    return buf;
}

// A set of input files written under one folder, with their contents kept for comparison.
struct Inputs {
    std::vector<std::string> paths;
    std::vector<Bytes> data;

    void add(const std::string& path, Bytes bytes) {
        testing::write_file(path, bytes);
        paths.push_back(path);
        data.push_back(std::move(bytes));
    }
    // Pairs each input with folder/<its name><suffix>.
    std::vector<Job::File> to(const std::string& folder, const std::string& suffix) const {
        std::vector<Job::File> files;
        for (const auto& p : paths) files.push_back({p, folder + "/" + base_name(p) + suffix});
        return files;
    }
};

std::vector<Job::File> reversed(const std::vector<Job::File>& files, const std::string& folder) {
    std::vector<Job::File> back;
    for (const auto& f : files) {
        std::string name = base_name(f.output);
        if (name.size() > 4 && name.ends_with(".tbp")) name.resize(name.size() - 4);
        back.push_back({f.output, folder.empty() ? std::string() : folder + "/" + name});
    }
    return back;
}

std::uint64_t chunks_for(std::uint64_t size, std::uint32_t chunk) {
    return std::max<std::uint64_t>(1, (size + chunk - 1) / chunk);
}

class BatchTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }
    ScratchDir dir_;
};

// --- JobScheduler ------------------------------------------------------------------------------

// Drives a scheduler as the batch source does: each pick claims one chunk of the job; the job is
// retired at its last chunk. Returns the labels in pick order.
std::string drive(JobScheduler& scheduler, std::map<std::uint32_t, std::pair<char, int>> jobs) {
    std::string picks;
    while (const std::optional<std::uint32_t> job = scheduler.next()) {
        auto& [label, chunks_left] = jobs.at(*job);
        picks += label;
        if (--chunks_left == 0) scheduler.retire(*job);
        if (picks.size() > 1000) break;  // a scheduler that never retires must not hang the test
    }
    return picks;
}

TEST(JobSchedulerTest, FifoHandsOutJobsInOrderEachUntilRetired) {
    const std::uint32_t a = 0, b = 1, c = 2;
    JobScheduler fifo(Scheduler::kFifo, 100);
    fifo.add(a, 1000);  // large and small sizes share one queue under fifo
    fifo.add(b, 1);
    fifo.add(c, 100);
    EXPECT_FALSE(fifo.empty());
    EXPECT_EQ(drive(fifo, {{a, {'a', 3}}, {b, {'b', 1}}, {c, {'c', 2}}}), "aaabcc");
    EXPECT_TRUE(fifo.empty());
    EXPECT_EQ(fifo.next(), std::nullopt);
}

TEST(JobSchedulerTest, FairDrawsThreeSmallPerLargeWhileBothHaveWorkThenDrainsTheRest) {
    const std::uint32_t s0 = 0, s1 = 1, s2 = 2, s3 = 3, l0 = 4, l1 = 5;
    JobScheduler fair(Scheduler::kFair, 100);  // small_per_large defaults to 3
    fair.add(l0, 100);                         // the threshold itself counts as large
    fair.add(s0, 99);
    fair.add(s1, 0);
    fair.add(l1, 5000);
    fair.add(s2, 10);
    fair.add(s3, 10);
    // Small chunks: 4 jobs x 2 = 8; large: 4 + 2. S S S L while both queues have work; once the
    // small queue is empty, the large jobs drain in order.
    EXPECT_EQ(drive(fair, {{s0, {'a', 2}},
                           {s1, {'b', 2}},
                           {s2, {'c', 2}},
                           {s3, {'d', 2}},
                           {l0, {'L', 4}},
                           {l1, {'M', 2}}}),
              "aabLbccLddLLMM");
    EXPECT_TRUE(fair.empty());
    EXPECT_EQ(fair.next(), std::nullopt);
}

TEST(JobSchedulerTest, FairDrainsSmallJobsWhenLargeOnesRunOut) {
    const std::uint32_t s0 = 0, s1 = 1, l0 = 2;
    JobScheduler fair(Scheduler::kFair, 100, 2);
    fair.add(s0, 1);
    fair.add(l0, 100);
    fair.add(s1, 1);
    EXPECT_EQ(drive(fair, {{s0, {'a', 4}}, {s1, {'b', 3}}, {l0, {'L', 1}}}), "aaLaabbb");
    EXPECT_TRUE(fair.empty());
}

TEST(JobSchedulerTest, RetiringTheFrontWorksForBothQueues) {
    const std::uint32_t small = 0, large = 1, small2 = 2;
    JobScheduler fair(Scheduler::kFair, 100, 1);
    fair.add(small, 1);
    fair.add(large, 1000);
    fair.add(small2, 1);
    ASSERT_EQ(fair.next(), small);
    ASSERT_EQ(fair.next(), large);  // one small per large
    fair.retire(large);             // the front of the large queue
    EXPECT_EQ(fair.next(), small);  // only small work left
    fair.retire(small);             // the front of the small queue
    EXPECT_EQ(fair.next(), small2);
    fair.retire(small2);
    EXPECT_TRUE(fair.empty());
    EXPECT_EQ(fair.next(), std::nullopt);
}

TEST(JobSchedulerTest, SmallPerLargeBelowOneStillAlternates) {
    const std::uint32_t s = 0, l = 1;
    JobScheduler fair(Scheduler::kFair, 10, 0);
    fair.add(s, 1);
    fair.add(l, 10);
    EXPECT_EQ(drive(fair, {{s, {'s', 3}}, {l, {'L', 3}}}), "sLsLsL");
}

TEST(JobSchedulerTest, ParseSchedulerAcceptsFairAndFifoOnly) {
    EXPECT_EQ(parse_scheduler("fair"), Scheduler::kFair);
    EXPECT_EQ(parse_scheduler("fifo"), Scheduler::kFifo);
    for (const char* bad : {"", "FAIR", "Fifo", "fair ", "lifo", "round-robin", "f"}) {
        EXPECT_FALSE(parse_scheduler(bad).has_value()) << '"' << bad << '"';
    }
    EXPECT_STREQ(scheduler_name(Scheduler::kFair), "fair");
    EXPECT_STREQ(scheduler_name(Scheduler::kFifo), "fifo");
}

// --- ChunkTuner --------------------------------------------------------------------------------

ChunkTunerConfig tuner_config() {
    ChunkTunerConfig c;
    c.initial = kMiB;
    c.min = 128 * kKiB;
    c.max = 4 * kMiB;
    c.band_low_seconds = 1e-3;
    c.band_high_seconds = 10e-3;
    c.window = 4;
    return c;
}

// One window of full-size chunks, each taking cpu seconds.
void feed_window(ChunkTuner& tuner, double cpu, int window = 4) {
    for (int i = 0; i < window; ++i) tuner.record(tuner.current(), cpu);
}

TEST(ChunkTunerTest, GrowsBelowTheBandShrinksAboveItStaysInside) {
    ChunkTuner tuner(tuner_config());
    ASSERT_EQ(tuner.current(), kMiB);
    for (int i = 0; i < 3; ++i) tuner.record(kMiB, 1e-4);
    EXPECT_EQ(tuner.current(), kMiB) << "decided before the window was full";
    tuner.record(kMiB, 1e-4);
    EXPECT_EQ(tuner.current(), 2 * kMiB);
    EXPECT_EQ(tuner.adjustments(), 1);
    feed_window(tuner, 5e-3);  // inside the band
    EXPECT_EQ(tuner.current(), 2 * kMiB);
    EXPECT_EQ(tuner.adjustments(), 1);
    feed_window(tuner, 50e-3);
    EXPECT_EQ(tuner.current(), kMiB);
    EXPECT_EQ(tuner.adjustments(), 2);
    // The decision is on the window's mean: one slow chunk among fast ones still grows.
    tuner.record(kMiB, 3.5e-3);
    for (int i = 0; i < 3; ++i) tuner.record(kMiB, 1e-5);
    EXPECT_EQ(tuner.current(), 2 * kMiB);
}

TEST(ChunkTunerTest, ClampsToMinAndMax) {
    ChunkTuner tuner(tuner_config());
    for (int i = 0; i < 10; ++i) feed_window(tuner, 1e-6);
    EXPECT_EQ(tuner.current(), 4 * kMiB);
    EXPECT_EQ(tuner.adjustments(), 2);  // 1 -> 2 -> 4 MiB, then no change is no adjustment
    for (int i = 0; i < 10; ++i) feed_window(tuner, 1.0);
    EXPECT_EQ(tuner.current(), 128 * kKiB);
    EXPECT_EQ(tuner.adjustments(), 7);  // 4 -> 2 -> 1 MiB -> 512 -> 256 -> 128 KiB
}

TEST(ChunkTunerTest, SizesStayMultiplesOf128KiB) {
    ChunkTunerConfig c = tuner_config();
    c.initial = 384 * kKiB + 1;  // aligned down
    c.min = 100 * kKiB;          // rounded to 128 KiB
    c.max = 1000 * kKiB;         // aligned down: 896 KiB
    ChunkTuner tuner(c);
    EXPECT_EQ(tuner.current(), 384 * kKiB);
    feed_window(tuner, 1e-6);
    EXPECT_EQ(tuner.current(), 768 * kKiB);
    feed_window(tuner, 1e-6);
    EXPECT_EQ(tuner.current(), 896 * kKiB);  // 1536 KiB clamped to the aligned max
    feed_window(tuner, 1.0);
    EXPECT_EQ(tuner.current(), 384 * kKiB);  // 448 KiB aligned down
    for (int i = 0; i < 5; ++i) feed_window(tuner, 1.0);
    EXPECT_EQ(tuner.current(), 128 * kKiB);

    ChunkTunerConfig tiny = tuner_config();
    tiny.initial = 1;
    tiny.min = 1;
    tiny.max = 1;
    EXPECT_EQ(ChunkTuner(tiny).current(), ChunkTuner::kAlign);
}

TEST(ChunkTunerTest, ShortChunksAreScaledToTheCurrentSize) {
    ChunkTuner tuner(tuner_config());
    // 10 KiB in 0.5 ms is fast as measured but 51 ms per 1 MiB chunk: above the band.
    for (int i = 0; i < 4; ++i) tuner.record(10 * kKiB, 0.5e-3);
    EXPECT_EQ(tuner.current(), 512 * kKiB);
    // Empty chunks carry no information and do not count towards the window.
    for (int i = 0; i < 4; ++i) tuner.record(0, 1.0);
    for (int i = 0; i < 3; ++i) tuner.record(512 * kKiB, 1e-6);
    EXPECT_EQ(tuner.current(), 512 * kKiB);
    tuner.record(512 * kKiB, 1e-6);
    EXPECT_EQ(tuner.current(), kMiB);
}

TEST(ChunkTunerTest, RecordFromTwoThreadsKeepsTheSizeValid) {
    ChunkTunerConfig c = tuner_config();
    c.window = 3;
    ChunkTuner tuner(c);
    std::atomic<int> invalid{0};
    auto hammer = [&](double cpu) {
        for (int i = 0; i < 20000; ++i) {
            tuner.record(tuner.current(), cpu);
            const std::uint32_t size = tuner.current();
            if (size % ChunkTuner::kAlign != 0 || size < c.min || size > c.max) ++invalid;
        }
    };
    std::thread fast(hammer, 1e-6), slow(hammer, 1.0);
    fast.join();
    slow.join();
    EXPECT_EQ(invalid.load(), 0);
    const std::uint32_t size = tuner.current();
    EXPECT_EQ(size % ChunkTuner::kAlign, 0u);
    EXPECT_GE(size, c.min);
    EXPECT_LE(size, c.max);
    EXPECT_GT(tuner.adjustments(), 0);
    EXPECT_LE(tuner.adjustments(), 2 * 20000 / 3);  // at most one per window
}

// --- CommitBatch -------------------------------------------------------------------------------

std::unique_ptr<OutputFile> output_with(const std::string& path, const Bytes& data, bool overwrite,
                                        bool durable) {
    auto out = std::make_unique<OutputFile>(path, overwrite, durable);
    write_full(out->fd(), data.data(), data.size(), "test output");
    return out;
}

CommitPolicy commit_policy(bool durable, std::size_t files = 64,
                           std::uint64_t bytes = 256ull * 1024 * 1024) {
    CommitPolicy policy;
    policy.durable = durable;
    policy.batch_files = files;
    policy.batch_bytes = bytes;
    return policy;
}

TEST_F(BatchTest, CommitBatchPublishesEveryFileWithoutFlushesWhenNotDurable) {
    CommitBatch batch(commit_policy(false));
    for (int i = 0; i < 5; ++i) {
        batch.add(output_with(dir_ / name_of(i), slice(100 + i, i), false, false), 100,
                  static_cast<std::uint32_t>(i));
    }
    EXPECT_EQ(dir_.list().size(), 5u);  // five temporary files, no final names yet
    EXPECT_FALSE(testing::exists(dir_ / name_of(0)));
    const auto results = batch.flush();
    ASSERT_EQ(results.size(), 5u);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(results[i].first, static_cast<std::uint32_t>(i));  // in the order added
        EXPECT_TRUE(results[i].second.is_ok()) << results[i].second.message();
        EXPECT_EQ(testing::read_file(dir_ / name_of(i)), slice(100 + i, i));
    }
    EXPECT_EQ(batch.syncs(), 0);
    EXPECT_TRUE(batch.empty());
    EXPECT_TRUE(temp_files(dir_.path()).empty());
    EXPECT_TRUE(batch.flush().empty());
}

TEST_F(BatchTest, CommitBatchDurableCountsOneSyncfsAndOneSyncPerFolder) {
    const std::string a = make_folder(dir_, "a"), b = make_folder(dir_, "b");
    CommitBatch batch(commit_policy(true));
    for (int i = 0; i < 6; ++i) {
        const std::string path = (i % 2 ? a : b) + "/" + name_of(i);
        batch.add(output_with(path, slice(1000, i), false, true), 1000,
                  static_cast<std::uint32_t>(i));
    }
    const auto results = batch.flush();
    ASSERT_EQ(results.size(), 6u);
    for (int i = 0; i < 6; ++i) {
        EXPECT_TRUE(results[i].second.is_ok()) << results[i].second.message();
        EXPECT_EQ(testing::read_file((i % 2 ? a : b) + "/" + name_of(i)), slice(1000, i));
    }
    // One file system: one syncfs; then one fsync per folder (where folders can be fsync'd).
    const auto can_sync = [](const std::string& folder) {
        const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        const bool ok = fd >= 0 && ::fsync(fd) == 0;
        if (fd >= 0) ::close(fd);
        return ok;
    };
    const int folder_syncs = int(can_sync(a)) + int(can_sync(b));
    EXPECT_EQ(batch.syncs(), 1 + folder_syncs);
    EXPECT_TRUE(temp_files(a).empty());
    EXPECT_TRUE(temp_files(b).empty());
}

TEST_F(BatchTest, CommitBatchOfOneFileIsCommittedWithFsync) {
    // What a lone OutputFile::commit() flushes (the file, then its folder).
    auto reference = output_with(dir_ / "reference", {1, 2, 3}, false, true);
    reference->commit();
    ASSERT_GT(reference->syncs(), 0);

    CommitBatch batch(commit_policy(true));
    batch.add(output_with(dir_ / "one", {4, 5, 6}, false, true), 3, 0u);
    const auto results = batch.flush();
    ASSERT_EQ(results.size(), 1u);
    EXPECT_TRUE(results[0].second.is_ok());
    EXPECT_EQ(batch.syncs(), reference->syncs());
    EXPECT_EQ(testing::read_file(dir_ / "one"), (Bytes{4, 5, 6}));

    CommitBatch lazy(commit_policy(false));
    lazy.add(output_with(dir_ / "two", {7}, false, false), 1, 0u);
    EXPECT_TRUE(lazy.flush()[0].second.is_ok());
    EXPECT_EQ(lazy.syncs(), 0);
    EXPECT_TRUE(temp_files(dir_.path()).empty());
}

TEST_F(BatchTest, CommitBatchFailsOnlyTheOutputThatAppearedMeanwhile) {
    for (const bool durable : {false, true}) {
        SCOPED_TRACE(durable ? "durable" : "not durable");
        const std::string folder = make_folder(dir_, durable ? "durable" : "lazy");
        CommitBatch batch(commit_policy(durable));
        for (int i = 0; i < 3; ++i) {
            batch.add(output_with(folder + "/" + name_of(i), slice(500, i), false, durable), 500,
                      static_cast<std::uint32_t>(i));
        }
        testing::write_file(folder + "/" + name_of(1), {'m', 'i', 'n', 'e'});  // someone else's
        const auto results = batch.flush();
        ASSERT_EQ(results.size(), 3u);
        EXPECT_TRUE(results[0].second.is_ok());
        EXPECT_EQ(results[1].first, 1u);
        EXPECT_EQ(results[1].second.code(), StatusCode::kAlreadyExists);
        EXPECT_NE(results[1].second.message().find(name_of(1)), std::string::npos);
        EXPECT_TRUE(results[2].second.is_ok());
        EXPECT_EQ(testing::read_file(folder + "/" + name_of(0)), slice(500, 0));
        EXPECT_EQ(testing::read_file(folder + "/" + name_of(1)), (Bytes{'m', 'i', 'n', 'e'}));
        EXPECT_EQ(testing::read_file(folder + "/" + name_of(2)), slice(500, 2));
        EXPECT_TRUE(temp_files(folder).empty());
    }
}

TEST_F(BatchTest, CommitBatchIsFullAtMaxFilesOrMaxBytes) {
    CommitBatch by_files(commit_policy(false, 3, 1u << 30));
    by_files.add(output_with(dir_ / "a", {1}, false, false), 1, 0u);
    by_files.add(output_with(dir_ / "b", {1}, false, false), 1, 0u);
    EXPECT_FALSE(by_files.full());
    by_files.add(output_with(dir_ / "c", {1}, false, false), 1, 0u);
    EXPECT_TRUE(by_files.full());
    EXPECT_EQ(by_files.flush().size(), 3u);
    EXPECT_FALSE(by_files.full());
    EXPECT_TRUE(by_files.empty());

    CommitBatch by_bytes(commit_policy(false, 64, 1000));
    by_bytes.add(output_with(dir_ / "d", {1}, false, false), 999, 0u);
    EXPECT_FALSE(by_bytes.full());
    by_bytes.add(output_with(dir_ / "e", {1}, false, false), 1, 0u);
    EXPECT_TRUE(by_bytes.full());
    EXPECT_EQ(by_bytes.flush().size(), 2u);
    EXPECT_FALSE(by_bytes.full());

    CommitBatch at_least_one(commit_policy(false, 0));  // max_files 0 means 1
    EXPECT_FALSE(at_least_one.full());
    at_least_one.add(output_with(dir_ / "f", {1}, false, false), 1, 0u);
    EXPECT_TRUE(at_least_one.full());
    EXPECT_EQ(at_least_one.flush().size(), 1u);
}

// --- whole batches -----------------------------------------------------------------------------

// Unpacks every container of `packed` in one batch into folder, and checks each file against its
// original bytes and every token came back.
void expect_restored(testing::Jobs& jobs, const std::vector<Job::File>& packed,
                     const Inputs& inputs, const std::string& folder, const Secret& secret,
                     const std::vector<bool>* only = nullptr) {
    std::vector<Job::File> containers;
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < packed.size(); ++i) {
        if (only && !(*only)[i]) continue;
        containers.push_back(packed[i]);
        which.push_back(i);
    }
    const std::vector<Job::File> back = reversed(containers, folder);
    const testing::BatchRun unpacked = jobs.run_batch(Operation::kUnpack, back, {}, secret, false);
    ASSERT_EQ(unpacked.files.size(), back.size());
    EXPECT_EQ(unpacked.run.tokens_outstanding, 0);
    for (std::size_t k = 0; k < back.size(); ++k) {
        const FileResult& o = unpacked.files[k];
        ASSERT_TRUE(o.status.is_ok()) << back[k].input << ": " << o.status.message();
        EXPECT_EQ(o.bytes_out, inputs.data[which[k]].size()) << back[k].input;
        EXPECT_TRUE(testing::read_file(back[k].output) == inputs.data[which[k]]) << back[k].input;
    }
    EXPECT_TRUE(temp_files(folder).empty());
}

struct BatchCase {
    Scheduler scheduler;
    bool keyed;
    bool durable;
};

class BatchRoundTripTest : public BatchTest, public ::testing::WithParamInterface<BatchCase> {};

// 200 files of 0 bytes to 3 MiB: on both sides of the small-file threshold and of the chunk
// size, a few large enough for the large queue.
TEST_P(BatchRoundTripTest, ManyFilesOfMixedSizesRoundTrip) {
    constexpr std::uint32_t kChunk = 256 * kKiB;
    const std::size_t pattern[] = {
        0,          1,      100,        4096, 65536, kChunk / 2 - 1, kChunk / 2, kChunk / 2 + 1,
        kChunk - 1, kChunk, kChunk + 1, 1000, 20000, 50000,          3000,       7,
        100000,     12345,  777,        64};
    const std::string in = make_folder(dir_, "in"), packed_dir = make_folder(dir_, "packed");
    Inputs inputs;
    for (std::size_t i = 0; i < 200; ++i) {
        const std::size_t size = i % 50 == 49 ? (i / 50 + 1) * 768 * kKiB + 13 : pattern[i % 20];
        inputs.add(in + "/" + name_of(i), slice(size, i));
    }
    EngineConfig e = engine_settings(GetParam().scheduler);
    e.commit.durable = GetParam().durable;
    e.small_file_threshold = kChunk / 2;
    e.large_file_threshold = kMiB;
    testing::Jobs jobs(e);
    testing::TestPack s;
    s.chunk_size = kChunk;
    const Secret secret = GetParam().keyed ? key_secret(7) : Secret();
    const std::vector<Job::File> files = inputs.to(packed_dir, ".tbp");
    const testing::BatchRun packed = jobs.run_batch(Operation::kPack, files, s, secret, false);
    ASSERT_EQ(packed.files.size(), files.size());
    EXPECT_TRUE(packed.run.status.is_ok()) << packed.run.status.message();
    EXPECT_EQ(packed.run.tokens_outstanding, 0);
    EXPECT_EQ(packed.chunk_size, kChunk);
    std::uint64_t total_chunks = 0;
    for (std::size_t i = 0; i < files.size(); ++i) {
        const FileResult& o = packed.files[i];
        const std::uint64_t size = inputs.data[i].size();
        ASSERT_TRUE(o.status.is_ok()) << files[i].input << ": " << o.status.message();
        EXPECT_EQ(o.chunks, chunks_for(size, kChunk)) << files[i].input << " of " << size;
        EXPECT_EQ(o.bytes_in, size) << files[i].input;
        EXPECT_EQ(o.plaintext_bytes, size) << files[i].input;
        EXPECT_GT(o.bytes_out, 0u) << files[i].input;
        total_chunks += o.chunks;
    }
    EXPECT_EQ(packed.run.chunks_written, total_chunks);
    EXPECT_EQ(packed.run.chunks_failed, 0u);
    if (GetParam().durable) {
        EXPECT_GT(packed.syncs, 0);
    } else {
        EXPECT_EQ(packed.syncs, 0);
    }
    EXPECT_TRUE(temp_files(packed_dir).empty());

    const testing::BatchRun verified =
        jobs.run_batch(Operation::kVerify, reversed(files, ""), {}, secret, false);
    for (const FileResult& o : verified.files) EXPECT_TRUE(o.status.is_ok()) << o.status.message();
    expect_restored(jobs, files, inputs, make_folder(dir_, "back"), secret);
}

INSTANTIATE_TEST_SUITE_P(Policies, BatchRoundTripTest,
                         ::testing::Values(BatchCase{Scheduler::kFair, false, false},
                                           BatchCase{Scheduler::kFair, true, true},
                                           BatchCase{Scheduler::kFifo, false, false},
                                           BatchCase{Scheduler::kFifo, true, false}),
                         [](const auto& param_info) {
                             return std::string(scheduler_name(param_info.param.scheduler)) +
                                    (param_info.param.keyed ? "_keyed" : "_plain") +
                                    (param_info.param.durable ? "_durable" : "");
                         });

// Bad inputs among good ones: a missing file, a directory given as a file, and a large file
// whose output folder does not exist (it fails at its first write, with more chunks behind it).
TEST_F(BatchTest, OneBadFileFailsAloneAndLeavesNothingBehind) {
    constexpr std::uint32_t kChunk = 64 * kKiB;
    const std::string in = make_folder(dir_, "in");
    ::mkdir((in + "/adir").c_str(), 0755);
    for (const Scheduler policy : {Scheduler::kFair, Scheduler::kFifo}) {
        SCOPED_TRACE(scheduler_name(policy));
        const std::string out =
            make_folder(dir_, std::string("out-") + std::string(scheduler_name(policy)));
        Inputs inputs;
        for (std::size_t i = 0; i < 50; ++i) {
            inputs.add(in + "/" + name_of(i), slice(i % 7 == 0 ? 3 * kChunk + i : 997 * i, i));
        }
        std::vector<Job::File> files = inputs.to(out, ".tbp");
        const std::map<std::size_t, Job::File> bad = {
            {0, {in + "/missing", out + "/missing.tbp"}},
            {17, {in + "/adir", out + "/adir.tbp"}},
            {33, {in + "/" + name_of(7), out + "/nowhere/big.tbp"}},  // 3 chunks and more
        };
        for (const auto& [at, file] : bad) files.insert(files.begin() + at, file);
        EngineConfig e = engine_settings(policy);
        e.small_file_threshold = 16 * kKiB;
        e.large_file_threshold = 2 * kChunk;
        testing::Jobs jobs(e);
        testing::TestPack s;
        s.chunk_size = kChunk;
        const testing::BatchRun r =
            jobs.run_batch(Operation::kPack, files, s, key_secret(3), false);
        ASSERT_EQ(r.files.size(), 53u);
        EXPECT_EQ(r.run.tokens_outstanding, 0);
        EXPECT_EQ(r.files[0].status.code(), StatusCode::kNotFound) << r.files[0].status.message();
        EXPECT_EQ(r.files[17].status.code(), StatusCode::kInvalidArgument)
            << r.files[17].status.message();
        EXPECT_EQ(r.files[33].status.code(), StatusCode::kNotFound) << r.files[33].status.message();
        std::vector<bool> good(files.size(), true);
        for (const auto& [at, file] : bad) {
            good[at] = false;
            EXPECT_FALSE(r.files[at].status.message().empty()) << file.input;
            EXPECT_EQ(r.files[at].bytes_out, 0u) << file.input;
            EXPECT_FALSE(testing::exists(file.output)) << file.output;
        }
        Inputs good_inputs;
        std::vector<Job::File> good_files;
        for (std::size_t i = 0, k = 0; i < files.size(); ++i) {
            if (!good[i]) continue;
            EXPECT_TRUE(r.files[i].status.is_ok())
                << files[i].input << ": " << r.files[i].status.message();
            good_files.push_back(files[i]);
            good_inputs.paths.push_back(inputs.paths[k]);
            good_inputs.data.push_back(inputs.data[k]);
            ++k;
        }
        ASSERT_EQ(good_files.size(), 50u);
        EXPECT_TRUE(temp_files(out).empty()) << temp_files(out).front();
        std::vector<std::string> listed;
        listed.reserve(good_files.size());
        for (const auto& f : good_files) listed.push_back(base_name(f.output));
        std::sort(listed.begin(), listed.end());
        std::vector<std::string> present;  // only the good outputs, nothing else

        for (const auto& e2 : std::filesystem::directory_iterator(out)) {
            present.push_back(e2.path().filename().string());
        }
        std::sort(present.begin(), present.end());
        EXPECT_EQ(present, listed);
        expect_restored(jobs, good_files, good_inputs,
                        make_folder(dir_, "back-" + std::string(scheduler_name(policy))),
                        key_secret(3));
    }
}

TEST_F(BatchTest, ADirectoryListedAsASmallFileFailsThatFileOnly) {
    const std::string out = make_folder(dir_, "out");
    Inputs inputs;
    inputs.add(dir_ / "a", slice(1000, 1));
    inputs.add(dir_ / "b", slice(0, 2));
    ::mkdir((dir_ / "sub").c_str(), 0755);
    std::vector<Job::File> files = inputs.to(out, ".tbp");
    files.insert(files.begin() + 1, {dir_ / "sub", out + "/sub.tbp"});
    testing::Jobs jobs(engine_settings());
    const testing::BatchRun r = jobs.run_batch(Operation::kPack, files, {}, {}, false);
    ASSERT_EQ(r.files.size(), 3u);
    EXPECT_EQ(r.files[1].status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.files[1].status.message().find("directory"), std::string::npos)
        << r.files[1].status.message();
    EXPECT_TRUE(r.files[0].status.is_ok());
    EXPECT_TRUE(r.files[2].status.is_ok());
    EXPECT_FALSE(testing::exists(out + "/sub.tbp"));
    EXPECT_EQ(r.run.tokens_outstanding, 0);
    files.erase(files.begin() + 1);
    expect_restored(jobs, files, inputs, make_folder(dir_, "back"), {});
}

// A damaged container among good ones, unpacked and verified: only it fails, and its partial
// output (earlier chunks were fine) is gone.
TEST_F(BatchTest, ACorruptContainerFailsAloneOnUnpackAndVerify) {
    constexpr std::uint32_t kChunk = 32 * kKiB;
    constexpr std::size_t kBad = 13;
    const std::string in = make_folder(dir_, "in"), packed = make_folder(dir_, "packed");
    for (const bool keyed : {false, true}) {
        SCOPED_TRACE(keyed ? "keyed, truncated" : "plain, bit flipped");
        Inputs inputs;
        for (std::size_t i = 0; i < 30; ++i) {
            inputs.add(in + "/" + name_of(i), slice(i == kBad ? 6 * kChunk + 5 : 3001 * i, i));
        }
        const Secret secret = keyed ? key_secret(9) : Secret();
        testing::Jobs jobs(engine_settings());
        testing::TestPack s;
        s.chunk_size = kChunk;
        const std::vector<Job::File> files = inputs.to(packed, ".tbp");
        const testing::BatchRun r = jobs.run_batch(Operation::kPack, files, s, secret, true);
        for (const FileResult& o : r.files) ASSERT_TRUE(o.status.is_ok()) << o.status.message();

        Bytes container = testing::read_file(files[kBad].output);
        if (keyed) {
            container.resize(container.size() / 2);
        } else {
            container[container.size() / 2] ^= 0x10;  // inside chunk 2 or 3 of 7
        }
        testing::write_file(files[kBad].output, container);

        const std::string back = make_folder(dir_, keyed ? "back-keyed" : "back-plain");
        const std::vector<Job::File> unpack = reversed(files, back);
        const testing::BatchRun u = jobs.run_batch(Operation::kUnpack, unpack, {}, secret, false);
        ASSERT_EQ(u.files.size(), 30u);
        EXPECT_EQ(u.files[kBad].status.code(), StatusCode::kCorruptData)
            << status_code_name(u.files[kBad].status.code()) << " "
            << u.files[kBad].status.message();
        EXPECT_FALSE(testing::exists(unpack[kBad].output));
        EXPECT_TRUE(temp_files(back).empty());
        EXPECT_EQ(u.run.tokens_outstanding, 0);
        for (std::size_t i = 0; i < 30; ++i) {
            if (i == kBad) continue;
            ASSERT_TRUE(u.files[i].status.is_ok())
                << unpack[i].input << ": " << u.files[i].status.message();
            EXPECT_TRUE(testing::read_file(unpack[i].output) == inputs.data[i]) << i;
        }

        const testing::BatchRun v =
            jobs.run_batch(Operation::kVerify, reversed(files, ""), {}, secret, false);
        for (std::size_t i = 0; i < 30; ++i) {
            if (i == kBad) {
                EXPECT_EQ(v.files[i].status.code(), StatusCode::kCorruptData)
                    << v.files[i].status.message();
            } else {
                EXPECT_TRUE(v.files[i].status.is_ok()) << v.files[i].status.message();
            }
        }
        EXPECT_EQ(v.run.tokens_outstanding, 0);
    }
}

// One large file listed first, then 40 small ones. Which file's chunks are claimed when is
// decided by the scheduler under the claim lock, and the writer completes files in claim order,
// so completion order is deterministic whatever the timing.
TEST_F(BatchTest, FairLetsSmallFilesPassALargeOneFifoDoesNot) {
    constexpr std::uint32_t kChunk = 512 * kKiB;
    const std::string in = make_folder(dir_, "in");
    Inputs inputs;
    inputs.add(in + "/large", repeated(16 * kMiB, 5));  // 32 chunks
    for (std::size_t i = 0; i < 40; ++i) inputs.add(in + "/" + name_of(i), slice(64 * kKiB, i));
    for (const Scheduler policy : {Scheduler::kFifo, Scheduler::kFair}) {
        SCOPED_TRACE(scheduler_name(policy));
        FileEvents events;
        std::mutex mutex;
        std::vector<std::string> finished;  // guarded by mutex
        events.add_listener([&](const FileEvent& ev) {
            if (ev.kind != FileEvent::Kind::kFinished) return;
            std::lock_guard lock(mutex);
            finished.push_back(ev.file);
        });
        EngineConfig e = engine_settings(policy);
        e.large_file_threshold = 8 * kMiB;
        testing::Jobs jobs(e, &events);
        testing::TestPack s;
        s.chunk_size = kChunk;
        const std::string out = make_folder(dir_, std::string(scheduler_name(policy)));
        const testing::BatchRun r =
            jobs.run_batch(Operation::kPack, inputs.to(out, ".tbp"), s, {}, false);
        events.flush();
        ASSERT_EQ(r.files.size(), 41u);
        for (const FileResult& o : r.files) ASSERT_TRUE(o.status.is_ok()) << o.status.message();
        ASSERT_EQ(r.files[0].chunks, 32u);

        std::lock_guard lock(mutex);
        ASSERT_EQ(finished.size(), 41u);
        const auto large_at = std::find(finished.begin(), finished.end(), in + "/large");
        ASSERT_NE(large_at, finished.end());
        const auto small_before = large_at - finished.begin();
        int small_done_first = 0;  // by finished_after: seconds since the run started
        for (std::size_t i = 1; i < r.files.size(); ++i) {
            if (r.files[i].finished_after <= r.files[0].finished_after) ++small_done_first;
        }
        if (policy == Scheduler::kFifo) {
            EXPECT_EQ(small_before, 0);
            for (std::size_t i = 1; i < r.files.size(); ++i) {
                EXPECT_GE(r.files[i].finished_after, r.files[0].finished_after) << i;
            }
        } else {
            EXPECT_GE(small_before, 38);  // 95% of the small files finished before the large one
            EXPECT_GE(small_done_first, 38);
        }
    }
}

TEST_F(BatchTest, AdaptiveChunkSizesStayAlignedAndRoundTrip) {
    const Bytes data = repeated(64 * kMiB, 11);
    testing::write_file(dir_ / "big", data);
    testing::Jobs jobs(engine_settings());
    testing::TestPack s;
    s.chunk_size = 0;  // adaptive
    const testing::BatchRun r =
        jobs.run_batch(Operation::kPack, {{dir_ / "big", dir_ / "big.tbp"}}, s, {}, false);
    ASSERT_TRUE(r.files[0].status.is_ok()) << r.files[0].status.message();
    EXPECT_EQ(r.run.tokens_outstanding, 0);
    EXPECT_EQ(r.chunk_size % ChunkTuner::kAlign, 0u);
    EXPECT_GE(r.chunk_size, 128 * kKiB);
    EXPECT_LE(r.chunk_size, 4 * kMiB);
    EXPECT_EQ(r.final_chunk_size % ChunkTuner::kAlign, 0u);
    EXPECT_GE(r.final_chunk_size, 128 * kKiB);
    EXPECT_LE(r.final_chunk_size, r.chunk_size);
    EXPECT_GE(r.files[0].chunks, (64 * kMiB) / r.chunk_size);
    // The header declares the nominal size; no chunk is larger.
    const ContainerInfo info = testing::Jobs::inspect(dir_ / "big.tbp", {});
    EXPECT_EQ(info.chunk_size, r.chunk_size);
    ASSERT_TRUE(info.authenticated);
    EXPECT_EQ(info.chunks.size(), r.files[0].chunks);
    for (const ChunkInfo& entry : info.chunks) {
        EXPECT_LE(entry.raw_size, r.chunk_size);
    }
    ASSERT_TRUE(jobs.unpack(dir_ / "big.tbp", dir_ / "back", {}, false).status.is_ok());
    EXPECT_TRUE(testing::read_file(dir_ / "back") == data);
}

TEST_F(BatchTest, MemoryBudgetHoldsAcrossManyFiles) {
    const std::string in = make_folder(dir_, "in"), out = make_folder(dir_, "out");
    Inputs inputs;
    for (std::size_t i = 0; i < 30; ++i) {
        inputs.add(in + "/" + name_of(i), slice(i % 3 == 0 ? kMiB + 4099 * i : 10000 + i, i));
    }
    EngineConfig e = engine_settings();
    e.memory_limit = 16 * kMiB;
    testing::Jobs jobs(e);
    testing::TestPack s;
    s.chunk_size = kMiB;
    // What testing::Jobs::pipeline_for charges a chunk: an input and an output buffer, each up to
    // the largest record.
    const std::size_t per_chunk =
        2 * (format::kRecordHeaderSize + format::max_stored_size(kMiB, true));
    const std::vector<Job::File> files = inputs.to(out, ".tbp");
    const testing::BatchRun packed =
        jobs.run_batch(Operation::kPack, files, s, key_secret(4), false);
    for (const FileResult& o : packed.files) ASSERT_TRUE(o.status.is_ok()) << o.status.message();
    const testing::BatchRun unpacked = jobs.run_batch(
        Operation::kUnpack, reversed(files, make_folder(dir_, "back")), {}, key_secret(4), false);
    for (const testing::BatchRun* r : {&packed, &unpacked}) {
        SCOPED_TRACE(r == &packed ? "pack" : "unpack");
        EXPECT_GE(r->run.chunk_tokens, 1u);
        EXPECT_LT(r->run.chunk_tokens, 8u);  // the budget binds, not the 2 x cpu + io + 2 cap
        EXPECT_LE(r->run.chunk_tokens * per_chunk, e.memory_limit);
        EXPECT_GE(r->run.max_chunks_in_flight, 1);
        EXPECT_LE(r->run.max_chunks_in_flight, static_cast<std::int64_t>(r->run.chunk_tokens));
        EXPECT_LE(r->run.max_reads_in_flight, 2);
        EXPECT_LE(r->run.max_transforms_in_flight, 2);
        EXPECT_EQ(r->run.tokens_outstanding, 0);
        EXPECT_LE(jobs.last_pipeline()->reserved_buffer_bytes(), e.memory_limit);
    }
    for (const FileResult& o : unpacked.files) EXPECT_TRUE(o.status.is_ok()) << o.status.message();
}

TEST_F(BatchTest, PassphraseCostsOneDerivationForManyFiles) {
    const std::string in = make_folder(dir_, "in"), out = make_folder(dir_, "out");
    Inputs inputs;
    for (std::size_t i = 0; i < 100; ++i) inputs.add(in + "/" + name_of(i), slice(100 * i + 1, i));
    testing::TestPack s;
    s.scrypt_log2_n = 14;
    const Secret pw = passphrase("correct horse battery staple");
    const std::vector<Job::File> files = inputs.to(out, ".tbp");
    {
        testing::Jobs jobs(engine_settings());
        const testing::BatchRun r = jobs.run_batch(Operation::kPack, files, s, pw, false);
        for (const FileResult& o : r.files) ASSERT_TRUE(o.status.is_ok()) << o.status.message();
    }
    // Header bytes [24,40) are the salt: a derivation per file would draw a salt per file. Each
    // file still has its own wrapped file key, bytes [60,108).
    const Bytes first = testing::read_file(files[0].output);
    ASSERT_GE(first.size(), format::kHeaderSize);
    for (std::size_t i = 1; i < files.size(); ++i) {
        const Bytes c = testing::read_file(files[i].output);
        ASSERT_GE(c.size(), format::kHeaderSize);
        EXPECT_TRUE(std::equal(first.begin() + 24, first.begin() + 40, c.begin() + 24)) << i;
        EXPECT_FALSE(std::equal(first.begin() + 60, first.begin() + 108, c.begin() + 60)) << i;
    }
    testing::Jobs reader(engine_settings());
    expect_restored(reader, files, inputs, make_folder(dir_, "back"), pw);
    const testing::BatchRun wrong =
        reader.run_batch(Operation::kVerify, reversed(files, ""), {}, passphrase("wrong"), false);
    for (const FileResult& o : wrong.files) EXPECT_EQ(o.status.code(), StatusCode::kAuthFailed);
}

// Cancels a batch from another thread at a random moment, many times over one testing::Jobs.
// Whatever the moment: every token back, no temporary file, each output either absent (its file
// reports kCancelled) or complete, the inputs untouched, and the engine usable afterwards.
TEST_F(BatchTest, CancelAtRandomMomentsLeavesOnlyCompleteOutputs) {
    constexpr std::uint32_t kChunk = 32 * kKiB;
    const std::size_t sizes[] = {0,         500,       3000,       10000,      20000,
                                 40 * kKiB, 64 * kKiB, 100 * kKiB, 150 * kKiB, 200 * kKiB};
    const std::string in = make_folder(dir_, "in");
    Inputs inputs;
    for (std::size_t i = 0; i < 100; ++i)
        inputs.add(in + "/" + name_of(i), slice(sizes[i % 10], i));
    EngineConfig e = engine_settings();
    e.small_file_threshold = 16 * kKiB;
    e.large_file_threshold = 128 * kKiB;
    testing::Jobs jobs(e);
    testing::Jobs checker(engine_settings());
    testing::TestPack s;
    s.chunk_size = kChunk;
    const std::string out = dir_ / "out";

    // How long an uncancelled run takes here, only to spread the cancel moments over it.
    std::filesystem::create_directories(out);
    const auto t0 = std::chrono::steady_clock::now();
    const testing::BatchRun full =
        jobs.run_batch(Operation::kPack, inputs.to(out, ".tbp"), s, {}, false);
    const std::int64_t run_us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    for (const FileResult& o : full.files) ASSERT_TRUE(o.status.is_ok()) << o.status.message();

    std::mt19937 rng(20240607);
    int cancelled_files = 0, completed_files = 0;
    for (int round = 0; round < 30; ++round) {
        SCOPED_TRACE(::testing::Message() << "round " << round);
        std::filesystem::remove_all(out);
        std::filesystem::create_directories(out);
        const Secret secret = round % 2 ? key_secret(1) : Secret();
        const std::vector<Job::File> files = inputs.to(out, ".tbp");
        const auto delay = std::chrono::microseconds(
            std::uniform_int_distribution<std::int64_t>(0, std::max<std::int64_t>(1, run_us))(rng));
        jobs.stop = std::stop_source{};
        std::thread canceller([&, stop = jobs.stop] {
            std::this_thread::sleep_for(delay);
            stop.request_stop();
        });
        const testing::BatchRun r = jobs.run_batch(Operation::kPack, files, s, secret, false);
        canceller.join();
        ASSERT_EQ(r.files.size(), files.size());
        EXPECT_EQ(r.run.tokens_outstanding, 0);
        EXPECT_TRUE(temp_files(out).empty()) << temp_files(out).front();
        std::vector<bool> done(files.size(), false);
        for (std::size_t i = 0; i < files.size(); ++i) {
            const FileResult& o = r.files[i];
            done[i] = o.status.is_ok();
            EXPECT_EQ(testing::exists(files[i].output), done[i])
                << files[i].output << ": " << o.status.message();
            if (!done[i]) {
                EXPECT_EQ(o.status.code(), StatusCode::kCancelled)
                    << files[i].input << ": " << status_code_name(o.status.code()) << " "
                    << o.status.message();
            }
            (done[i] ? completed_files : cancelled_files) += 1;
        }
        expect_restored(checker, files, inputs, make_folder(dir_, "back"), secret, &done);
        std::filesystem::remove_all(dir_ / "back");
        if (::testing::Test::HasFailure()) break;
    }
    RecordProperty("files_cancelled", cancelled_files);
    RecordProperty("files_completed", completed_files);
    for (std::size_t i = 0; i < inputs.paths.size(); ++i) {
        EXPECT_TRUE(testing::read_file(inputs.paths[i]) == inputs.data[i]) << inputs.paths[i];
    }
    // The same engine, no cancel: everything completes.
    jobs.stop = std::stop_source{};
    std::filesystem::remove_all(out);
    std::filesystem::create_directories(out);
    const std::vector<Job::File> files = inputs.to(out, ".tbp");
    const testing::BatchRun r = jobs.run_batch(Operation::kPack, files, s, key_secret(1), false);
    EXPECT_TRUE(r.run.status.is_ok()) << r.run.status.message();
    for (const FileResult& o : r.files) ASSERT_TRUE(o.status.is_ok()) << o.status.message();
    expect_restored(jobs, files, inputs, make_folder(dir_, "back"), key_secret(1));
}

// testing::Jobs keeps the salt and KEK of a pack run for the next one (one derivation per run,
// not per file): a later run with another key or passphrase must encrypt under that secret,
// never under the one before.
TEST_F(BatchTest, ALaterPackRunWithAnotherSecretEncryptsUnderThatSecret) {
    const Bytes data = slice(5000, 1);
    testing::write_file(dir_ / "in", data);
    testing::Jobs jobs(engine_settings());
    testing::TestPack s;
    s.scrypt_log2_n = 14;
    const std::vector<std::pair<std::string, Secret>> steps = {{"key1", key_secret(1)},
                                                               {"key2", key_secret(2)},
                                                               {"pw1", passphrase("one")},
                                                               {"pw2", passphrase("two")},
                                                               {"key3", key_secret(3)}};
    for (const auto& [name, secret] : steps) {
        const testing::Outcome packed =
            jobs.pack(dir_ / "in", dir_ / (name + ".tbp"), s, secret, false);
        ASSERT_TRUE(packed.status.is_ok()) << name << ": " << packed.status.message();
    }
    testing::Jobs reader(engine_settings());
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const auto& [name, secret] = steps[i];
        const testing::Outcome own =
            reader.unpack(dir_ / (name + ".tbp"), dir_ / name, secret, false);
        EXPECT_TRUE(own.status.is_ok()) << name << " with its own secret: " << own.status.message();
        if (own.status.is_ok()) {
            EXPECT_EQ(testing::read_file(dir_ / name), data) << name;
        }
        if (i > 0 && steps[i - 1].second.kind() == secret.kind()) {
            const testing::Outcome previous =
                reader.verify(dir_ / (name + ".tbp"), steps[i - 1].second);
            EXPECT_EQ(previous.status.code(), StatusCode::kAuthFailed)
                << name << " opened with the previous run's secret " << steps[i - 1].first;
        }
    }
}

// Points stdout at a pipe this test reads, so a pack to "-" blocks in its writer until the test
// drains it: the one way to act at a known point inside a run, with no timing involved.
class StdoutPipe {
public:
    StdoutPipe() {
        std::fflush(stdout);
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) return;
        ::fcntl(fds[1], F_SETPIPE_SZ, 4096);  // the smallest: the writer blocks early
        saved_ = ::dup(STDOUT_FILENO);
        ::dup2(fds[1], STDOUT_FILENO);
        ::close(fds[1]);
        read_ = fds[0];
    }
    ~StdoutPipe() {
        restore();
        if (drainer_.joinable()) drainer_.join();
        if (read_ >= 0) ::close(read_);
    }
    StdoutPipe(const StdoutPipe&) = delete;
    StdoutPipe& operator=(const StdoutPipe&) = delete;

    bool valid() const { return read_ >= 0; }
    /// Blocks until one byte came through; false at end of file.
    bool read_one() {
        char c;
        return ::read(read_, &c, 1) == 1;
    }
    void drain_in_background() {
        drainer_ = std::thread([this] {
            char buf[65536];
            while (::read(read_, buf, sizeof buf) > 0) {
            }
        });
    }
    /// Puts stdout back; the pipe's reader then sees end of file. Call once the writer is done.
    void restore() {
        std::lock_guard lock(mutex_);
        if (saved_ < 0) return;
        ::dup2(saved_, STDOUT_FILENO);
        ::close(saved_);
        saved_ = -1;
    }

private:
    std::mutex mutex_;
    int saved_ = -1;
    int read_ = -1;
    std::thread drainer_;
};

// Files that change between the listing and the read. fifo with a 2-chunk memory budget: while
// the large file's first chunk waits in the blocked writer, at most its first two chunks were
// claimed, so the large file is open (its size taken) and the small file listed but not read.
TEST_F(BatchTest, FilesThatChangeSizeAfterTheListingFailAlone) {
    const std::string out = make_folder(dir_, "out");
    const Bytes big = testing::make_data(4 * kMiB, DataKind::kIncompressible, 3);
    testing::write_file(dir_ / "big", big);  // to "-": 4 chunks of 1 MiB
    testing::write_file(dir_ / "grows", slice(1000, 1));
    testing::write_file(dir_ / "steady", slice(2000, 2));
    EngineConfig e = engine_settings(Scheduler::kFifo);
    e.memory_limit = 5 * kMiB;  // two 1 MiB chunks in flight
    testing::Jobs jobs(e);
    std::vector<Job::File> files = {{dir_ / "big", "(stdout)"},
                                    {dir_ / "grows", out + "/grows.tbp"},
                                    {dir_ / "steady", out + "/steady.tbp"}};
    files[0].output_fd = STDOUT_FILENO;
    testing::BatchRun r;
    bool header_seen = false;
    {
        StdoutPipe pipe;
        ASSERT_TRUE(pipe.valid());
        std::jthread runner([&] {
            r = jobs.run_batch(Operation::kPack, files, {}, {}, false);
            pipe.restore();
        });
        header_seen = pipe.read_one();
        if (header_seen) {
            std::ofstream(dir_ / "big", std::ios::binary | std::ios::app).write("x", 1);
            testing::write_file(dir_ / "grows", slice(512 * kKiB, 3));  // past the threshold
        }
        pipe.drain_in_background();
    }
    ASSERT_TRUE(header_seen) << r.files[0].status.message();
    ASSERT_EQ(r.files.size(), 3u);
    EXPECT_EQ(r.run.chunk_tokens, 2u);
    EXPECT_EQ(r.files[0].status.code(), StatusCode::kIoError) << r.files[0].status.message();
    EXPECT_NE(r.files[0].status.message().find("changed size"), std::string::npos)
        << r.files[0].status.message();
    EXPECT_EQ(r.files[1].status.code(), StatusCode::kIoError) << r.files[1].status.message();
    EXPECT_NE(r.files[1].status.message().find("changed size"), std::string::npos)
        << r.files[1].status.message();
    EXPECT_FALSE(testing::exists(out + "/grows.tbp"));
    ASSERT_TRUE(r.files[2].status.is_ok()) << r.files[2].status.message();
    EXPECT_EQ(r.run.tokens_outstanding, 0);
    EXPECT_TRUE(temp_files(out).empty());
    ASSERT_TRUE(jobs.unpack(out + "/steady.tbp", dir_ / "steady.back", {}, false).status.is_ok());
    EXPECT_EQ(testing::read_file(dir_ / "steady.back"), slice(2000, 2));
}

}  // namespace
}  // namespace tbbpipe::jobs
