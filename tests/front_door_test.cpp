// What the CLI does, done by a program through the public API alone (include/tbbpipe/): file
// plans and output names, option checks with the CLI's own words, key files and passphrase
// files, new keys, container inspection, descriptors as inputs and outputs, commit batching and
// the small-file threshold, signal-safe cleanup, the version.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tbbpipe/tbbpipe.hpp"
#include "tests/cli_support.hpp"
#include "tests/test_support.hpp"

namespace tbbpipe {
namespace {

using testing::DataKind;
using testing::ScratchDir;

JobResult run(Engine& engine, Job job) {
    Result<JobHandle> handle = engine.submit(std::move(job));
    if (!handle.ok()) return {handle.status(), {}, {}, 0};
    return handle.value().wait();
}

std::vector<std::string> outputs_of(const FilePlan& plan) {
    std::vector<std::string> out;
    for (const Job::File& f : plan.files) out.push_back(f.output);
    return out;
}

TEST(FrontDoorApi, PlansMirrorTreesNameOutputsAndSayWhatTheyLeftOut) {
    ScratchDir dir;
    ::mkdir((dir / "src").c_str(), 0755);
    ::mkdir((dir / "src/sub").c_str(), 0755);
    testing::write_file(dir / "src/a", {1});
    testing::write_file(dir / "src/sub/b", {2});
    ASSERT_EQ(::symlink("a", (dir / "src/link").c_str()), 0);
    ASSERT_EQ(::mkfifo((dir / "src/fifo").c_str(), 0600), 0);
    testing::write_file(dir / "src/.a.tbbpipe-XXXX12", {3});  // an interrupted run's temporary

    PlanRequest request;
    request.inputs = {dir / "src"};
    request.recursive = true;
    request.output_dir = dir / "out";
    const Result<FilePlan> plan = plan_files(request);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    EXPECT_EQ(outputs_of(plan.value()),
              (std::vector<std::string>{dir / "out/a.tbp", dir / "out/sub/b.tbp"}));
    for (const Job::File& f : plan.value().files) EXPECT_EQ(f.output_root, dir / "out");
    ASSERT_EQ(plan.value().warnings.size(), 2u);
    EXPECT_EQ(plan.value().warnings[0].reason, PlanWarning::Reason::kSpecialFile);
    EXPECT_EQ(plan.value().warnings[1].reason, PlanWarning::Reason::kSymbolicLink);
    EXPECT_EQ(plan.value().warnings[1].message, dir / "src/link" + ": symbolic link skipped");

    // The job made from the plan creates the mirrored folders and writes every output.
    Job job;
    job.files = plan.value().files;
    Engine engine;
    const JobResult packed = run(engine, job);
    ASSERT_TRUE(packed.status.is_ok()) << packed.status.message();
    EXPECT_TRUE(testing::exists(dir / "out/sub/b.tbp"));

    // Unpack names: the suffix comes off; a name without it cannot be named.
    PlanRequest back;
    back.operation = Operation::kUnpack;
    back.inputs = {dir / "out/a.tbp", dir / "src/a"};
    const Result<FilePlan> unpack = plan_files(back);
    ASSERT_TRUE(unpack.ok());
    EXPECT_EQ(outputs_of(unpack.value()), (std::vector<std::string>{dir / "out/a"}));
    ASSERT_EQ(unpack.value().errors.size(), 1u);
    EXPECT_EQ(unpack.value().errors[0].reason, PlanError::Reason::kNoOutputName);
    EXPECT_EQ(unpack.value().errors[0].status.code(), StatusCode::kInvalidArgument);

    // A folder without recursion is an error of its own; two inputs onto one output fail the plan.
    PlanRequest flat;
    flat.inputs = {dir / "src"};
    ASSERT_TRUE(plan_files(flat).ok());
    EXPECT_EQ(plan_files(flat).value().errors.at(0).reason, PlanError::Reason::kFolder);
    PlanRequest clash;
    clash.inputs = {dir / "src/a", dir / "src/sub/../a"};
    EXPECT_EQ(plan_files(clash).status().code(), StatusCode::kOk);
    clash.output = dir / "x.tbp";
    clash.inputs = {dir / "src/a", dir / "src/sub/b"};
    EXPECT_EQ(plan_files(clash).status().code(), StatusCode::kInvalidArgument);
}

class FrontDoorCli : public testing::CliTest {};

// The same mistake, the same words: what the library's check says is what the CLI prints.
TEST_F(FrontDoorCli, OptionChecksSayWhatTheCliSays) {
    make("f", 3);
    struct Case {
        const char* flags;
        Status library;
    };
    PackOptions small_chunk;
    small_chunk.chunk_size = 3 * 1024;
    PackOptions bad_level;
    bad_level.compression = Compression::kLz4Hc;
    bad_level.level = 2;
    PackOptions cheap_scrypt;
    cheap_scrypt.scrypt_log2_n = 10;
    EngineConfig many_cpus;
    many_cpus.cpu_tokens = 2000;
    EngineConfig tiny_memory;
    tiny_memory.memory_limit = 512 * 1024;
    EngineConfig many_reads;
    many_reads.io_tokens = 300;
    const Case cases[] = {
        {"--chunk-size 3K", validate(small_chunk, {}, {})},
        {"--compress lz4hc --level 2", validate(bad_level, {}, {})},
        {"--scrypt-log2n 10", validate(cheap_scrypt, {}, {})},
        {"-T 2000", validate(many_cpus)},
        {"--memory-limit 512K", validate(tiny_memory)},
        {"--io-tokens 300", validate(many_reads)},
    };
    for (const Case& c : cases) {
        ASSERT_FALSE(c.library.is_ok()) << c.flags;
        EXPECT_EQ(c.library.code(), StatusCode::kInvalidArgument);
        const testing::Result r = sh(std::string("tbbpipe pack ") + c.flags + " f");
        EXPECT_EQ(r.code, 2) << c.flags;
        EXPECT_NE(r.err.find("tbbpipe: " + c.library.message() + "\n"), std::string::npos)
            << c.flags << ": the CLI said\n"
            << r.err << "the library says\n"
            << c.library.message();
    }
    // A config the checks refuse makes every job fail with the same message.
    Engine bad(many_cpus);
    Job job;
    job.files = {{dir_ / "f", dir_ / "f.tbp"}};
    const Result<JobHandle> refused = bad.submit(job);
    EXPECT_EQ(refused.status().message(), validate(many_cpus).message());
}

TEST(FrontDoorApi, KeyFilesPassphraseFilesAndNewKeys) {
    ScratchDir dir;
    ASSERT_TRUE(write_new_key(dir / "k", false).is_ok());
    struct stat st {};
    ASSERT_EQ(::stat((dir / "k").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(st.st_size, 32);
    const Status again = write_new_key(dir / "k", false);
    EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
    EXPECT_EQ(again.message(), dir / "k" + " already exists");  // the file named once
    ASSERT_TRUE(write_new_key(dir / "k", true).is_ok());

    const Result<Secret> key = Secret::key_file(dir / "k");
    ASSERT_TRUE(key.ok()) << key.status().message();
    EXPECT_EQ(key.value().kind(), KeyDerivation::kKeyFile);
    EXPECT_EQ(Secret::key_file(dir / "missing").status().code(), StatusCode::kNotFound);
    testing::write_file(dir / "short", {1, 2, 3});
    const Result<Secret> short_key = Secret::key_file(dir / "short");
    EXPECT_EQ(short_key.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(short_key.status().message().find(dir / "short"), std::string::npos);

    testing::write_file(dir / "pw", {'p', 'w', '\r', '\n'});
    const Result<Secret> pw = Secret::passphrase_file(dir / "pw");
    ASSERT_TRUE(pw.ok());
    testing::write_file(dir / "pw2", {'p', 'w'});
    // The trailing CRLF belongs to the file: both files give the same passphrase.
    const std::vector<std::uint8_t> data(1000, 9);
    const auto sealed = pack_bytes(data, {}, pw.value());
    ASSERT_TRUE(sealed.ok());
    EXPECT_TRUE(unpack_bytes(sealed.value(), Secret::passphrase_file(dir / "pw2").value()).ok());
    testing::write_file(dir / "empty", {'\n'});
    EXPECT_EQ(Secret::passphrase_file(dir / "empty").status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(validate(Secret::key(std::vector<std::uint8_t>(16))).code(),
              StatusCode::kInvalidArgument);
}

TEST(FrontDoorApi, InspectionShowsWhatInfoShows) {
    ScratchDir dir;
    testing::write_file(dir / "f", testing::make_data(300000, DataKind::kMixed, 3));
    ::chmod((dir / "f").c_str(), 0640);
    Engine engine;
    Job job;
    job.files = {{dir / "f", dir / "f.tbp"}};
    job.pack.chunk_size = 64 * 1024;
    job.secret = Secret::key(std::vector<std::uint8_t>(32, 4));
    ASSERT_TRUE(run(engine, job).status.is_ok());

    const Result<ContainerInfo> closed = inspect_container(dir / "f.tbp");
    ASSERT_TRUE(closed.ok()) << closed.status().message();
    EXPECT_EQ(closed.value().cipher, Cipher::kAes256Gcm);
    EXPECT_EQ(closed.value().key_derivation, KeyDerivation::kKeyFile);
    EXPECT_EQ(closed.value().chunk_count, 5u);
    EXPECT_FALSE(closed.value().authenticated);
    EXPECT_TRUE(closed.value().chunks.empty());

    const Result<ContainerInfo> open = inspect_container(dir / "f.tbp", job.secret);
    ASSERT_TRUE(open.ok()) << open.status().message();
    const ContainerInfo& info = open.value();
    EXPECT_TRUE(info.authenticated);
    EXPECT_EQ(info.format_version, format_version());
    EXPECT_EQ(info.original_bytes, 300000u);
    EXPECT_EQ(info.name, "f");
    EXPECT_EQ(info.mode, 0640u);
    EXPECT_EQ(info.stages, "lz4,aes-256-gcm,xxh3");
    EXPECT_EQ(info.hash, Hash::kXxh3);
    ASSERT_EQ(info.chunks.size(), 5u);
    EXPECT_EQ(info.chunks[0].offset, 144u);
    EXPECT_EQ(info.chunk_size, 64u * 1024);

    const Result<ContainerInfo> wrong =
        inspect_container(dir / "f.tbp", Secret::key(std::vector<std::uint8_t>(32, 5)));
    EXPECT_EQ(wrong.status().code(), StatusCode::kAuthFailed);
    EXPECT_EQ(inspect_container(dir / "f").status().code(), StatusCode::kCorruptData);
}

// What the CLI's "-" and "-c" are: descriptors given in the job.
TEST(FrontDoorApi, DescriptorsAsInputAndOutput) {
    ScratchDir dir;
    const auto data = testing::make_data(200000, DataKind::kMixed, 8);
    testing::write_file(dir / "in", data);
    const int in = ::open((dir / "in").c_str(), O_RDONLY | O_CLOEXEC);
    const int out = ::open((dir / "c.tbp").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(in, 0);
    ASSERT_GE(out, 0);
    Job job;
    Job::File file("(in)", "(out)");
    file.input_fd = in;
    file.output_fd = out;
    file.store_metadata = false;
    job.files = {file};
    Engine engine;
    const JobResult packed = run(engine, job);
    ::close(in);
    ::close(out);
    ASSERT_TRUE(packed.status.is_ok()) << packed.status.message();
    const Result<ContainerInfo> info = inspect_container(dir / "c.tbp");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info.value().name, "");  // nothing recorded about a descriptor
    EXPECT_EQ(info.value().mode, 0u);

    // "-" as a path is the process's own standard input: refused unless its descriptor is given.
    Job dash;
    dash.files = {{"-", dir / "x.tbp"}};
    EXPECT_EQ(engine.submit(dash).status().code(), StatusCode::kInvalidArgument);
}

TEST(FrontDoorApi, CommitBatchingAndTheSmallFileThresholdAreTheCallersToSet) {
    ScratchDir dir;
    Job job;
    for (int i = 0; i < 20; ++i) {
        std::string name = "f";  // appended: GCC 12 misreports "f" + ... (-Wrestrict)
        name += std::to_string(i);
        testing::write_file(dir / name, testing::make_data(1000 + i, DataKind::kMixed, i + 1));
        job.files.push_back({dir / name, dir / (name + ".tbp")});
    }
    EngineConfig batched;
    batched.commit.batch_files = 10;
    batched.commit.batch_wait = std::chrono::seconds(30);
    EngineConfig lazy;
    lazy.commit.durable = false;
    for (const EngineConfig* config : {&batched, &lazy}) {
        Engine engine(*config);
        job.overwrite = true;
        const JobResult r = run(engine, job);
        ASSERT_TRUE(r.status.is_ok()) << r.status.message();
        if (config == &lazy) {
            EXPECT_EQ(r.stats.syncs, 0);
        } else {
            // Two batches of ten: a syncfs each and a folder flush each, never one per file.
            EXPECT_GE(r.stats.syncs, 2);
            EXPECT_LE(r.stats.syncs, 4);
        }
    }
    EngineConfig threshold;
    threshold.small_file_threshold = 64 * 1024 * 1024 + 1;
    EXPECT_EQ(validate(threshold).code(), StatusCode::kInvalidArgument);
}

TEST(FrontDoorApi, VersionAndCleanup) {
    EXPECT_STREQ(version(), "0.1.0");
    EXPECT_NE(version_details().find("container format v2"), std::string::npos);
    // With nothing being written there is nothing to remove; it must simply return.
    remove_temporary_outputs();
}

}  // namespace
}  // namespace tbbpipe
