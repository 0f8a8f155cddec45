// Split containers through the public API alone (include/tbbpipe/split.hpp), the way a
// distributed front end uses them: one process plans, the plan travels as bytes, each "process"
// (here a job, on one of two engines) packs, unpacks or verifies a range of chunks, the parts are
// placed at their offsets and one process writes the header and tail.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "tbbpipe/tbbpipe.hpp"
#include "tests/test_support.hpp"

namespace tbbpipe {
namespace {

using testing::DataKind;
using testing::ScratchDir;

constexpr std::uint32_t kChunk = 64 * 1024;

JobResult run(Engine& engine, Job job) {
    Result<JobHandle> handle = engine.submit(std::move(job));
    if (!handle.ok()) return {handle.status(), {}, {}, 0};
    return handle.value().wait();
}

PackOptions fixed_chunks() {
    PackOptions options;
    options.chunk_size = kChunk;
    options.scrypt_log2_n = kMinScryptLog2N;  // a passphrase test should not take seconds
    return options;
}

std::uint64_t file_size(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// Part p of n over `count` chunks: as even as integer division makes it.
Job::File::Part part_of(std::shared_ptr<const SplitPlan> plan, std::uint64_t count, int p, int n) {
    const std::uint64_t first = count * p / n;
    return {std::move(plan), first, count * (p + 1) / n - first};
}

Job one_file(Operation op, const std::string& input, const std::string& output,
             const Secret& secret = {}) {
    Job job;
    job.operation = op;
    job.files = {{input, output}};
    job.secret = secret;
    job.pack = fixed_chunks();
    return job;
}

// The whole split pack: plan here, parts on alternating engines from the plan's bytes (the
// "other processes"), placed at Exscan offsets, header and tail written, committed.
void split_pack(Engine* engines[2], const std::string& input, const std::string& output,
                const Secret& secret, int parts) {
    const SplitPlan plan = SplitPlan::for_pack(input, fixed_chunks(), secret).value();
    const std::vector<std::uint8_t> wire = plan.to_bytes();
    auto remote = std::make_shared<const SplitPlan>(SplitPlan::from_bytes(wire).value());
    const std::uint64_t count = remote->chunk_count();
    ASSERT_LE(static_cast<std::uint64_t>(parts), count);
    std::vector<std::vector<std::uint8_t>> indexes;
    std::vector<std::string> part_paths;
    for (int p = 0; p < parts; ++p) {
        Job job = one_file(Operation::kPack, input, output + ".part" + std::to_string(p));
        job.secret = Secret{};  // the plan carries the keys
        job.files[0].part = part_of(remote, count, p, parts);
        const JobResult r = run(*engines[p % 2], std::move(job));
        ASSERT_TRUE(r.status.is_ok()) << r.status.message();
        indexes.push_back(r.files[0].part_index);
        part_paths.push_back(r.files[0].output);
    }
    const SplitTail tail = plan.finish(indexes, Job::File{input, output}).value();
    SharedOutput shared = SharedOutput::create(output, false).value();
    ASSERT_TRUE(shared.write_at(0, tail.header).is_ok());
    std::uint64_t offset = plan.header_size();  // what MPI_Exscan of the part sizes gives
    for (const std::string& part : part_paths) {
        const std::uint64_t size = file_size(part);
        ASSERT_TRUE(place_part(part, shared.temp_path(), offset).is_ok());
        EXPECT_FALSE(testing::exists(part));
        offset += size;
    }
    ASSERT_EQ(offset, tail.tail_offset);
    ASSERT_TRUE(shared.write_at(tail.tail_offset, tail.tail).is_ok());
    ASSERT_TRUE(shared.commit(0644).is_ok());
    EXPECT_EQ(file_size(output), tail.container_size);
    EXPECT_TRUE(tail.container.recorded);
}

struct Engines {
    Engine a, b;
    Engine* both[2] = {&a, &b};
};

TEST(Split, UnencryptedPartsAreByteIdenticalToOneProcess) {
    ScratchDir dir;
    Engines engines;
    struct Case {
        std::size_t size;
        std::vector<int> parts;
    };
    const std::vector<Case> cases = {
        {5 * 1024 * 1024 + 12345, {1, 2, 3, 4}}, {0, {1}}, {1000, {1}}, {4 * kChunk, {1, 3, 4}}};
    for (const Case& c : cases) {
        const std::string input = dir / ("in" + std::to_string(c.size));
        testing::write_file(input, testing::make_data(c.size, DataKind::kMixed, 7));
        const std::string whole = input + ".tbp";
        ASSERT_TRUE(run(engines.a, one_file(Operation::kPack, input, whole)).status.is_ok());
        const auto expected = testing::read_file(whole);
        for (const int parts : c.parts) {
            const std::string out = input + "." + std::to_string(parts) + ".tbp";
            split_pack(engines.both, input, out, {}, parts);
            EXPECT_EQ(testing::read_file(out), expected) << c.size << " bytes, " << parts;
        }
    }
    for (const std::string& name : dir.list()) EXPECT_EQ(name.find(".tbbpipe-"), std::string::npos);
}

TEST(Split, EncryptedPartsRoundTripAndVerify) {
    ScratchDir dir;
    Engines engines;
    const auto data = testing::make_data(3 * 1024 * 1024 + 77, DataKind::kMixed, 3);
    const std::string input = dir / "in";
    testing::write_file(input, data);
    const std::vector<std::uint8_t> key(32, 0x5a);
    for (const Secret& secret : {Secret::key(key), Secret::passphrase("correct horse")}) {
        const std::string out = dir / "c.tbp";
        split_pack(engines.both, input, out, secret, 3);
        EXPECT_TRUE(run(engines.a, one_file(Operation::kVerify, out, "", secret)).status.is_ok());
        const std::string back = dir / "back";
        const JobResult r = run(engines.b, one_file(Operation::kUnpack, out, back, secret));
        ASSERT_TRUE(r.status.is_ok()) << r.status.message();
        EXPECT_EQ(testing::read_file(back), data);
        EXPECT_TRUE(r.files[0].metadata_recorded);
        ::unlink(out.c_str());
        ::unlink(back.c_str());
    }
}

TEST(Split, UnpackAndVerifyInPartsAndACorruptPartFailsAlone) {
    ScratchDir dir;
    Engine engine;
    const auto data = testing::make_data(5 * 1024 * 1024, DataKind::kIncompressible, 9);
    const std::string input = dir / "in";
    testing::write_file(input, data);
    const std::string container = dir / "in.tbp";
    ASSERT_TRUE(run(engine, one_file(Operation::kPack, input, container)).status.is_ok());
    const ContainerInfo info = inspect_container(container).value();
    const std::uint64_t count = info.chunk_count;

    SharedOutput shared = SharedOutput::create(dir / "restored", false).value();
    FileResult last;
    for (int p = 0; p < 3; ++p) {
        Job job = one_file(Operation::kUnpack, container, shared.temp_path());
        job.files[0].part = part_of(nullptr, count, p, 3);
        job.files[0].name = "in";
        job.files[0].name_must_match = true;
        const JobResult r = run(engine, std::move(job));
        ASSERT_TRUE(r.status.is_ok()) << r.status.message();
        last = r.files[0];
    }
    ASSERT_TRUE(last.metadata_recorded);
    ASSERT_TRUE(shared.commit(last.mode, last.mtime_sec, last.mtime_nsec).is_ok());
    EXPECT_EQ(testing::read_file(dir / "restored"), data);

    // A corrupt record in the middle part: that part fails, naming the chunk; the others pass.
    const std::uint64_t bad = count / 2;
    ASSERT_EQ(part_of(nullptr, count, 1, 3).first_chunk <= bad, true);
    {
        auto bytes = testing::read_file(container);
        bytes[info.chunks[bad].offset + 24 + 100] ^= 0x40;
        testing::write_file(container, bytes);
    }
    for (int p = 0; p < 3; ++p) {
        Job job = one_file(Operation::kVerify, container, "");
        job.files[0].part = part_of(nullptr, count, p, 3);
        const JobResult r = run(engine, std::move(job));
        if (p != 1) {
            EXPECT_TRUE(r.status.is_ok()) << p << ": " << r.status.message();
            continue;
        }
        const StatusCode code = r.files.at(0).status.code();
        EXPECT_TRUE(code == StatusCode::kCorruptData || code == StatusCode::kAuthFailed);
        EXPECT_NE(r.files[0].status.message().find("chunk " + std::to_string(bad)),
                  std::string::npos)
            << r.files[0].status.message();
    }
}

TEST(Split, FinishAndFromBytesRefuseWhatDoesNotFit) {
    ScratchDir dir;
    Engine engine;
    const std::string input = dir / "in";
    testing::write_file(input, testing::make_data(10 * kChunk + 5, DataKind::kMixed));
    auto plan =
        std::make_shared<const SplitPlan>(SplitPlan::for_pack(input, fixed_chunks(), {}).value());
    auto other =
        std::make_shared<const SplitPlan>(SplitPlan::for_pack(input, fixed_chunks(), {}).value());
    ASSERT_EQ(plan->chunk_count(), 11u);
    const auto index_of = [&](std::shared_ptr<const SplitPlan> p, std::uint64_t first,
                              std::uint64_t n, const std::string& out) {
        Job job = one_file(Operation::kPack, input, dir / out);
        job.files[0].part = Job::File::Part{std::move(p), first, n};
        const JobResult r = run(engine, std::move(job));
        EXPECT_TRUE(r.status.is_ok()) << r.status.message();
        return r.files.at(0).part_index;
    };
    const auto a = index_of(plan, 0, 6, "a");
    const auto b = index_of(plan, 6, 5, "b");
    const auto overlap = index_of(plan, 5, 6, "c");
    const auto foreign = index_of(other, 6, 5, "d");
    const Job::File file{input, dir / "out"};
    EXPECT_TRUE(plan->finish({a, b}, file).ok());
    EXPECT_EQ(plan->finish({a}, file).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(plan->finish({b, a}, file).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(plan->finish({a, overlap}, file).status().code(), StatusCode::kInvalidArgument);
    const Status from_other = plan->finish({a, foreign}, file).status();
    EXPECT_NE(from_other.message().find("another plan"), std::string::npos);
    EXPECT_NE(from_other.message().find(input), std::string::npos);

    const std::vector<std::uint8_t> wire = plan->to_bytes();
    for (std::size_t cut : {std::size_t{0}, std::size_t{10}, wire.size() - 1}) {
        const Result<SplitPlan> r = SplitPlan::from_bytes({wire.data(), cut});
        EXPECT_EQ(r.status().code(), StatusCode::kCorruptData) << cut;
    }
    for (std::size_t at = 0; at < wire.size(); at += 7) {
        auto garbled = wire;
        garbled[at] ^= 0x01;
        EXPECT_FALSE(SplitPlan::from_bytes(garbled).ok()) << at;
    }
    // A part outside the plan, or mixed with a whole file, is refused before it runs.
    Job past = one_file(Operation::kPack, input, dir / "e");
    past.files[0].part = Job::File::Part{plan, 10, 2};
    EXPECT_EQ(run(engine, past).status.code(), StatusCode::kInvalidArgument);
    past.files[0].part = Job::File::Part{plan, 0, 1};
    past.files.push_back({input, dir / "f"});
    EXPECT_EQ(run(engine, past).status.code(), StatusCode::kInvalidArgument);
}

TEST(Split, FailuresLeaveNothingBehind) {
    ScratchDir dir;
    Engine engine;
    const std::string input = dir / "in";
    testing::write_file(input, testing::make_data(8 * kChunk, DataKind::kMixed));
    auto plan =
        std::make_shared<const SplitPlan>(SplitPlan::for_pack(input, fixed_chunks(), {}).value());
    EXPECT_EQ(SplitPlan::for_pack(dir / "missing", fixed_chunks(), {}).status().code(),
              StatusCode::kNotFound);

    ASSERT_EQ(::truncate(input.c_str(), 3 * kChunk), 0);  // the input shrank since the plan
    Job job = one_file(Operation::kPack, input, dir / "part");
    job.files[0].part = Job::File::Part{plan, 4, 4};
    const JobResult r = run(engine, std::move(job));
    EXPECT_FALSE(r.status.is_ok());
    EXPECT_NE(r.files.at(0).status.message().find(input), std::string::npos);
    EXPECT_EQ(dir.list(), std::vector<std::string>{"in"});

    {
        SharedOutput out = SharedOutput::create(dir / "shared", false).value();
        EXPECT_TRUE(testing::exists(out.temp_path()));
        const std::vector<std::uint8_t> some(100, 1);
        ASSERT_TRUE(out.write_at(50, some).is_ok());
        out.discard();
        EXPECT_EQ(dir.list(), std::vector<std::string>{"in"});
        SharedOutput dropped = SharedOutput::create(dir / "shared", false).value();
        EXPECT_EQ(dir.list().size(), 2u);
    }  // the destructor discards
    EXPECT_EQ(dir.list(), std::vector<std::string>{"in"});
    EXPECT_EQ(SharedOutput::create(input, false).status().code(), StatusCode::kAlreadyExists);

    // Below an output root: the folders are made, the result lands there.
    SharedOutput rooted = SharedOutput::create(dir / "tree/a/b", false, true, dir / "tree").value();
    const std::vector<std::uint8_t> one(1, 7);
    ASSERT_TRUE(rooted.write_at(0, one).is_ok());
    ASSERT_TRUE(rooted.commit().is_ok());
    EXPECT_EQ(testing::read_file(dir / "tree/a/b"), one);
}

}  // namespace
}  // namespace tbbpipe
