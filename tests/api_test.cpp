// The public library API (include/tbbpipe/): Engine jobs, admission, shutdown, cancellation,
// budgets per engine, byte spans and streams, and errors as Status at the boundary.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include "tbbpipe/tbbpipe.hpp"
#include "tests/test_support.hpp"

namespace tbbpipe {
namespace {

using namespace std::chrono_literals;
using testing::DataKind;
using testing::ScratchDir;

// "f<i>", appended rather than "f" + ...: GCC 12 misreports that form (-Wrestrict).
std::string file_name(int i) {
    std::string name = "f";
    name += std::to_string(i);
    return name;
}

Secret test_key() {
    return Secret::key(std::vector<std::uint8_t>(32, 7));
}

// A job that takes seconds on 2 cores (lz4hc at its slowest level on 48 MiB), its input written
// before anything is submitted so the data generation never races the engine.
Job slow_pack(const ScratchDir& dir, const std::string& name) {
    if (!testing::exists(dir / name)) {
        testing::write_file(dir / name, testing::make_data(48 << 20, DataKind::kMixed, 5));
    }
    Job job;
    job.files = {{dir / name, dir / (name + ".tbp")}};
    job.pack.compression = Compression::kLz4Hc;
    job.pack.level = 12;
    job.pack.chunk_size = 64 * 1024;
    return job;
}

bool no_temporaries(const ScratchDir& dir) {
    for (const auto& name : dir.list()) {
        if (name.find(".tbbpipe-") != std::string::npos) return false;
    }
    return true;
}

TEST(EngineApi, JobsOfManyFilesRoundTripAndReportPerFile) {
    ScratchDir dir;
    Job pack;
    pack.secret = test_key();
    for (int i = 0; i < 20; ++i) {
        const std::string name = file_name(i);
        testing::write_file(dir / name, testing::make_data(i * 50000, DataKind::kMixed, i + 1));
        pack.files.push_back({dir / name, dir / (name + ".tbp")});
    }
    Engine engine;
    std::atomic<int> finished{0};
    engine.add_listener([&](const FileEvent& e) {
        if (e.kind == FileEvent::Kind::kFinished) ++finished;
    });
    Result<JobHandle> packed = engine.submit(pack);
    ASSERT_TRUE(packed.ok()) << packed.status().message();
    const JobResult& p = packed.value().wait();
    ASSERT_TRUE(p.status.is_ok()) << p.status.message();
    ASSERT_EQ(p.files.size(), 20u);
    EXPECT_EQ(p.stats.tokens_outstanding, 0);

    Job unpack;
    unpack.operation = Operation::kUnpack;
    unpack.secret = test_key();
    for (int i = 0; i < 20; ++i) {
        const std::string name = file_name(i);
        unpack.files.push_back({dir / (name + ".tbp"), dir / (name + ".out")});
    }
    const JobResult& u = engine.submit(unpack).value().wait();
    ASSERT_TRUE(u.status.is_ok()) << u.status.message();
    for (int i = 0; i < 20; ++i) {
        const std::string name = file_name(i);
        EXPECT_EQ(testing::read_file(dir / name), testing::read_file(dir / (name + ".out"))) << i;
    }
    const auto snapshot = engine.metrics();
    bool counted = false;
    for (const auto& m : snapshot.samples) {
        if (m.name == "tbbpipe_files_total" && m.labels == "status=\"ok\"") {
            counted = m.value == 40;
        }
    }
    EXPECT_TRUE(counted) << "40 files counted ok in the engine's metrics";
    engine.shutdown(5s);
    EXPECT_EQ(finished.load(), 40);  // events are flushed by the time shutdown returns
}

TEST(EngineApi, FailuresComeBackAsStatusNamingTheFile) {
    ScratchDir dir;
    testing::write_file(dir / "bad.tbp", testing::Bytes(500, 1));
    Engine engine;
    Job verify;
    verify.operation = Operation::kVerify;
    verify.files = {{dir / "bad.tbp", ""}, {dir / "missing.tbp", ""}};
    const JobResult& r = engine.submit(verify).value().wait();
    EXPECT_FALSE(r.status.is_ok());
    EXPECT_EQ(r.files[0].status.code(), StatusCode::kCorruptData);
    EXPECT_NE(r.files[0].status.message().find("bad.tbp: "), std::string::npos);
    EXPECT_EQ(r.files[1].status.code(), StatusCode::kNotFound);
    Result<JobHandle> empty = engine.submit(Job{});
    EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
    Job too_small;
    too_small.files = {{"x", "y"}};
    too_small.pack.chunk_size = 100;
    EXPECT_EQ(engine.try_submit(too_small).status().code(), StatusCode::kInvalidArgument);
}

// try_submit never blocks: with the queue full it says so and names the capacity.
TEST(EngineApi, TrySubmitRefusesAFullQueueAndNamesItsCapacity) {
    ScratchDir dir;
    EngineConfig config;
    config.queue_capacity = 1;
    Engine engine(config);
    const Job a = slow_pack(dir, "a");
    const Job b = slow_pack(dir, "b");
    const Job c = slow_pack(dir, "c");
    Result<JobHandle> running = engine.submit(a);
    ASSERT_TRUE(running.ok());
    // Wait until the dispatcher took it, so the queue is empty again.
    for (int i = 0; i < 500 && !engine.metrics().samples.empty(); ++i) {
        bool started = false;
        for (const auto& m : engine.metrics().samples) {
            if (m.name == "tbbpipe_tokens" && m.value > 0) started = true;
        }
        if (started) break;
        std::this_thread::sleep_for(10ms);
    }
    Result<JobHandle> queued = engine.try_submit(b);
    Result<JobHandle> refused = engine.try_submit(c);
    if (queued.ok()) {
        ASSERT_FALSE(refused.ok());
        queued.value().cancel();
    }
    const Status& full = queued.ok() ? refused.status() : queued.status();
    EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
    EXPECT_NE(full.message().find("capacity 1"), std::string::npos) << full.message();
    running.value().cancel();
    EXPECT_EQ(running.value().wait().status.code(), StatusCode::kCancelled);
    EXPECT_TRUE(no_temporaries(dir));
}

TEST(EngineApi, ACancelledQueuedJobNeverRuns) {
    ScratchDir dir;
    Engine engine;
    const Job slow = slow_pack(dir, "a");
    Result<JobHandle> first = engine.submit(slow);
    Job second;
    testing::write_file(dir / "small", testing::Bytes(1000, 3));
    second.files = {{dir / "small", dir / "small.tbp"}};
    Result<JobHandle> queued = engine.submit(second);
    ASSERT_TRUE(first.ok() && queued.ok());
    queued.value().cancel();
    first.value().cancel();
    EXPECT_EQ(queued.value().wait().status.code(), StatusCode::kCancelled);
    EXPECT_FALSE(testing::exists(dir / "small.tbp"));
    first.value().wait();
    EXPECT_TRUE(no_temporaries(dir));
}

// shutdown(timeout): stops admitting, waits up to the timeout, then cancels what is left.
TEST(EngineApi, ShutdownCancelsWhatOutlivesTheTimeout) {
    ScratchDir dir;
    Engine engine;
    const Job job_a = slow_pack(dir, "a");
    const Job job_b = slow_pack(dir, "b");
    Result<JobHandle> a = engine.submit(job_a);
    Result<JobHandle> b = engine.submit(job_b);
    ASSERT_TRUE(a.ok() && b.ok());
    const ShutdownReport report = engine.shutdown(20ms);
    EXPECT_TRUE(report.timed_out);
    EXPECT_EQ(report.cancelled, 2u);
    EXPECT_EQ(report.completed, 0u);
    EXPECT_EQ(a.value().wait().status.code(), StatusCode::kCancelled);
    EXPECT_EQ(b.value().wait().status.code(), StatusCode::kCancelled);
    EXPECT_FALSE(testing::exists(dir / "a.tbp"));
    EXPECT_TRUE(no_temporaries(dir));
    EXPECT_EQ(engine.submit(slow_pack(dir, "c")).status().code(), StatusCode::kCancelled);
    // A generous timeout lets the work finish.
    Engine patient;
    Job quick;
    testing::write_file(dir / "q", testing::Bytes(1000, 4));
    quick.files = {{dir / "q", dir / "q.tbp"}};
    Result<JobHandle> q = patient.submit(quick);
    const ShutdownReport done = patient.shutdown(60s);
    EXPECT_FALSE(done.timed_out);
    EXPECT_EQ(done.cancelled, 0u);
    EXPECT_TRUE(q.value().wait().status.is_ok());
}

// Each engine owns its arena: one with 1 CPU token never runs two transforms, while another
// engine in the same process uses 2.
TEST(EngineApi, TwoEnginesKeepTheirOwnCpuBudgets) {
    ScratchDir dir;
    EngineConfig one;
    one.cpu_tokens = 1;
    EngineConfig two;
    two.cpu_tokens = 2;
    Engine a(one);
    Engine b(two);
    auto job = [&](const std::string& name) {
        testing::write_file(dir / name, testing::make_data(16 << 20, DataKind::kMixed, 9));
        Job j;
        j.files = {{dir / name, dir / (name + ".tbp")}};
        j.pack.chunk_size = 256 * 1024;
        return j;
    };
    Result<JobHandle> ja = a.submit(job("a"));
    Result<JobHandle> jb = b.submit(job("b"));
    ASSERT_TRUE(ja.value().wait().status.is_ok());
    ASSERT_TRUE(jb.value().wait().status.is_ok());
    auto max_cpu_in_use = [](const Engine& e) {
        for (const auto& m : e.metrics().samples) {
            if (m.name == "tbbpipe_tokens_in_use" && m.labels == "kind=\"cpu\"") return m.max;
        }
        return -1.0;
    };
    EXPECT_EQ(max_cpu_in_use(a), 1);
    EXPECT_GE(max_cpu_in_use(b), 1);
    EXPECT_LE(max_cpu_in_use(b), 2);
}

TEST(MemoryApi, BytesRoundTripAndErrorsAreStatuses) {
    const testing::Bytes data = testing::make_data(3 << 20, DataKind::kMixed, 11);
    for (const bool keyed : {false, true}) {
        const Secret secret = keyed ? test_key() : Secret{};
        Result<std::vector<std::uint8_t>> packed = pack_bytes(data, {}, secret);
        ASSERT_TRUE(packed.ok()) << packed.status().message();
        Result<std::vector<std::uint8_t>> back = unpack_bytes(packed.value(), secret);
        ASSERT_TRUE(back.ok()) << back.status().message();
        EXPECT_EQ(back.value(), data);
        std::vector<std::uint8_t> tampered = packed.value();
        tampered[tampered.size() / 2] ^= 1;
        EXPECT_FALSE(unpack_bytes(tampered, secret).ok());
    }
    Result<std::vector<std::uint8_t>> packed = pack_bytes(data, {}, test_key());
    Result<std::vector<std::uint8_t>> wrong =
        unpack_bytes(packed.value(), Secret::key(std::vector<std::uint8_t>(32, 8)));
    EXPECT_EQ(wrong.status().code(), StatusCode::kAuthFailed);
    EXPECT_TRUE(pack_bytes({}).ok());  // empty input, valid container
    EXPECT_EQ(Secret::key_file("/nonexistent/key").status().code(), StatusCode::kNotFound);
}

TEST(MemoryApi, StreamsRoundTripThroughPipes) {
    const testing::Bytes data = testing::make_data(5 << 20, DataKind::kMixed, 12);
    std::istringstream in(std::string(data.begin(), data.end()));
    std::ostringstream container;
    Result<std::uint64_t> packed = pack_stream(in, container, {}, Secret::passphrase("pw"));
    ASSERT_TRUE(packed.ok()) << packed.status().message();
    EXPECT_EQ(packed.value(), container.str().size());
    std::istringstream cin(container.str());
    std::ostringstream plain;
    Result<std::uint64_t> unpacked = unpack_stream(cin, plain, Secret::passphrase("pw"));
    ASSERT_TRUE(unpacked.ok()) << unpacked.status().message();
    EXPECT_EQ(plain.str(), std::string(data.begin(), data.end()));
    // A truncated stream is an error, not a short success.
    std::istringstream cut(container.str().substr(0, container.str().size() - 10));
    std::ostringstream sink;
    EXPECT_EQ(unpack_stream(cut, sink, Secret::passphrase("pw")).status().code(),
              StatusCode::kCorruptData);
}

// What a library user gets wrong must come back as a Status, never a crash or a hang.
TEST(EngineApi, MisuseIsAStatusNeverACrash) {
    ScratchDir dir;
    testing::write_file(dir / "f", testing::Bytes(1000, 1));
    Engine engine;
    Job short_key;
    short_key.files = {{dir / "f", dir / "f.tbp"}};
    short_key.secret = Secret::key(std::vector<std::uint8_t>(16, 1));
    EXPECT_EQ(engine.submit(short_key).status().code(), StatusCode::kInvalidArgument);
    Job dash;
    dash.files = {{"-", dir / "x.tbp"}};
    EXPECT_EQ(engine.submit(dash).status().code(), StatusCode::kInvalidArgument);
    const JobHandle empty;
    EXPECT_TRUE(empty.done());
    EXPECT_EQ(empty.wait().status.code(), StatusCode::kInvalidArgument);
    empty.cancel();
    EXPECT_EQ(pack_bytes(testing::Bytes(10, 1), {}, short_key.secret).status().code(),
              StatusCode::kInvalidArgument);
    PackOptions tiny;
    tiny.chunk_size = 100;
    EXPECT_EQ(pack_bytes(testing::Bytes(10, 1), tiny).status().code(),
              StatusCode::kInvalidArgument);
    EXPECT_FALSE(unpack_bytes(testing::Bytes(300, 9)).ok());
    // Two shutdowns, the second from another thread while the first is under way.
    std::thread other([&] { engine.shutdown(1s); });
    engine.shutdown(1s);
    other.join();
}

// A job cancelled while queued must not keep shutdown waiting for its timeout.
TEST(EngineApi, ShutdownReturnsWhenTheLastJobEndsEvenIfAQueuedOneWasCancelled) {
    ScratchDir dir;
    testing::write_file(dir / "a", testing::make_data(8 << 20, DataKind::kMixed, 3));
    testing::write_file(dir / "b", testing::Bytes(1000, 2));
    Engine engine;
    Job a;
    a.files = {{dir / "a", dir / "a.tbp"}};
    Job b;
    b.files = {{dir / "b", dir / "b.tbp"}};
    Result<JobHandle> ha = engine.submit(a);
    Result<JobHandle> hb = engine.submit(b);
    hb.value().cancel();
    const auto start = std::chrono::steady_clock::now();
    const ShutdownReport report = engine.shutdown(60s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 30s) << "shutdown waited for its timeout";
    EXPECT_FALSE(report.timed_out);
    EXPECT_TRUE(ha.value().wait().status.is_ok());
    EXPECT_EQ(hb.value().wait().status.code(), StatusCode::kCancelled);
}

// Streams that fail, or throw, give an error and never a short container.
TEST(MemoryApi, FailingStreamsAreErrorsNotShortOutputs) {
    std::istringstream bad("some data");
    bad.setstate(std::ios::badbit);
    std::ostringstream out;
    EXPECT_EQ(pack_stream(bad, out).status().code(), StatusCode::kIoError);
    // exceptions(failbit) is common; the final short read must not end the process.
    std::istringstream throwing(std::string(100000, 'z'));
    throwing.exceptions(std::ios::failbit | std::ios::badbit);
    std::ostringstream container;
    Result<std::uint64_t> packed = pack_stream(throwing, container);
    ASSERT_TRUE(packed.ok()) << packed.status().message();
    std::istringstream back(container.str());
    std::ostringstream plain;
    ASSERT_TRUE(unpack_stream(back, plain).ok());
    EXPECT_EQ(plain.str(), std::string(100000, 'z'));
    // A packed memory buffer records no file name or mode of its own.
    Result<std::vector<std::uint8_t>> bytes = pack_bytes(testing::Bytes(5000, 4));
    ASSERT_TRUE(bytes.ok());
    const std::string text(bytes.value().begin(), bytes.value().end());
    EXPECT_EQ(text.find("tbbpipe-in"), std::string::npos);
}

// --- custom stages ---------------------------------------------------------------------------

// Reverses the bytes of each chunk: length-preserving, its own inverse, and counted, so the test
// sees every chunk of every file went through it on the engine's threads.
class Reverse final : public Stage {
public:
    void encode(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) const override {
        calls.fetch_add(1, std::memory_order_relaxed);  // a count read after the job: no ordering
        out.assign(in.rbegin(), in.rend());
    }
    bool decode(std::span<const std::uint8_t> in, std::size_t limit,
                std::vector<std::uint8_t>& out) const override {
        if (in.size() > limit) return false;
        out.assign(in.rbegin(), in.rend());
        return true;
    }
    mutable std::atomic<int> calls{0};
};

TEST(StageApi, ARegisteredStageRunsByNameInJobsAndMemoryCalls) {
    ScratchDir dir;
    auto reverse = std::make_shared<Reverse>();
    EngineConfig config;
    ASSERT_TRUE(config.stages.add("reverse", reverse).is_ok());
    EXPECT_EQ(config.stages.add("reverse", reverse).code(), StatusCode::kInvalidArgument);
    Engine engine(config);

    Job pack;
    pack.secret = test_key();
    pack.pack.stages = "reverse,lz4,aes-256-gcm,sha256";
    pack.pack.chunk_size = 64 * 1024;
    for (int i = 0; i < 4; ++i) {
        const std::string name = file_name(i);
        testing::write_file(dir / name, testing::make_data(100000, DataKind::kMixed, i + 1));
        pack.files.push_back({dir / name, dir / (name + ".tbp")});
    }
    const JobResult packed = engine.submit(pack).value().wait();
    ASSERT_TRUE(packed.status.is_ok()) << packed.status.message();
    EXPECT_EQ(reverse->calls.load(), 8);  // two chunks a file

    Job unpack;
    unpack.operation = Operation::kUnpack;
    unpack.secret = test_key();
    for (int i = 0; i < 4; ++i) {
        const std::string name = file_name(i);
        unpack.files.push_back({dir / (name + ".tbp"), dir / (name + ".out")});
    }
    const JobResult unpacked = engine.submit(unpack).value().wait();
    ASSERT_TRUE(unpacked.status.is_ok()) << unpacked.status.message();
    for (int i = 0; i < 4; ++i) {
        const std::string name = file_name(i);
        EXPECT_EQ(testing::read_file(dir / name), testing::read_file(dir / (name + ".out")));
    }

    // Memory calls take the same registry from their config.
    const testing::Bytes data = testing::make_data(300000, DataKind::kMixed, 9);
    PackOptions options;
    options.stages = "reverse,deflate";
    const auto bytes = pack_bytes(data, options, {}, config);
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    const auto back = unpack_bytes(bytes.value(), {}, config);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back.value(), data);

    // Without the registration: refused up front by name, or named as missing when unpacking.
    Engine plain;
    const Result<JobHandle> refused = plain.try_submit(pack);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("unknown stage 'reverse'; registered: lz4"),
              std::string::npos)
        << refused.status().message();
    const JobResult missing = plain.submit(unpack).value().wait();
    ASSERT_EQ(missing.files.size(), 4u);
    for (const FileResult& f : missing.files) {
        EXPECT_EQ(f.status.code(), StatusCode::kFailedPrecondition);
        EXPECT_NE(f.status.message().find("needs stage 'reverse'"), std::string::npos)
            << f.status.message();
    }
    const auto no_stage = unpack_bytes(bytes.value());
    EXPECT_EQ(no_stage.status().code(), StatusCode::kFailedPrecondition);

    // A spec and the secret must agree, and a level needs a compression in the spec.
    PackOptions cipher_without_key;
    cipher_without_key.stages = "lz4,aes-256-gcm";
    EXPECT_EQ(pack_bytes(data, cipher_without_key).status().code(), StatusCode::kInvalidArgument);
    PackOptions key_without_cipher;
    key_without_cipher.stages = "lz4";
    EXPECT_EQ(pack_bytes(data, key_without_cipher, test_key()).status().code(),
              StatusCode::kInvalidArgument);
    PackOptions level_without_compression;
    level_without_compression.stages = "deflate";
    level_without_compression.level = 3;
    EXPECT_EQ(pack_bytes(data, level_without_compression).status().code(),
              StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tbbpipe
