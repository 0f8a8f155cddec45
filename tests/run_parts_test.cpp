// One run spread over many jobs through the public API alone (include/tbbpipe/engine.hpp,
// RunPart), the way tbbpipe-mpi uses it: kShare jobs pack or check their share of a tree and
// leave the set's manifest alone, one kSets job writes the manifest from what the shares report
// (Job::set_members) or checks the whole run against it; plus the scrypt salt a run shares
// (PackOptions::scrypt_salt) and the derivations an engine counts (RunStats::key_derivations).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "tbbpipe/tbbpipe.hpp"
#include "tests/secret_support.hpp"
#include "tests/test_support.hpp"

namespace tbbpipe {
namespace {

using testing::DataKind;
using testing::ScratchDir;

constexpr const char* kManifest = ".tbbpipe.manifest";  // format/manifest.hpp, a set's manifest

EngineConfig small_config() {
    EngineConfig c;
    c.cpu_tokens = 2;
    c.io_tokens = 2;
    c.commit.durable = false;  // a shared disk makes syncfs slow; durability has its own tests
    return c;
}

PackOptions pack_options() {
    PackOptions options;
    options.chunk_size = 64 * 1024;           // several chunks for the larger files
    options.scrypt_log2_n = kMinScryptLog2N;  // a passphrase test should not take seconds
    return options;
}

JobResult run(Engine& engine, Job job) {
    Result<JobHandle> handle = engine.submit(std::move(job));
    if (!handle.ok()) return {handle.status(), {}, {}, {}, 0};
    return handle.value().wait();
}

Status submit_status(Job job) {
    Engine engine(small_config());
    Result<JobHandle> handle = engine.submit(std::move(job));
    if (!handle.ok()) return handle.status();
    handle.value().cancel();
    return Status::ok();
}

std::uint64_t file_size(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

Job make_job(Operation op, RunPart part, std::vector<Job::File> files, const Secret& secret) {
    Job job;
    job.operation = op;
    job.run_part = part;
    job.files = std::move(files);
    job.secret = secret;
    job.pack = pack_options();
    return job;
}

std::vector<Job::File> slice(const std::vector<Job::File>& files, std::size_t from,
                             std::size_t to) {
    return {files.begin() + static_cast<std::ptrdiff_t>(from),
            files.begin() + static_cast<std::ptrdiff_t>(to)};
}

// Every file but the one whose input ends in `suffix`.
std::vector<Job::File> without(const std::vector<Job::File>& files, const std::string& suffix) {
    std::vector<Job::File> out;
    for (const Job::File& f : files) {
        if (f.input.size() < suffix.size() ||
            f.input.compare(f.input.size() - suffix.size(), suffix.size(), suffix) != 0) {
            out.push_back(f);
        }
    }
    return out;
}

const FileResult* result_for(const JobResult& r, const std::string& suffix) {
    for (const FileResult& f : r.files) {
        if (f.input.size() >= suffix.size() &&
            f.input.compare(f.input.size() - suffix.size(), suffix.size(), suffix) == 0) {
            return &f;
        }
    }
    return nullptr;
}

// src/{a,b,sub/c,sub/d} packed as `tbbpipe pack -r src --output-dir out` plans it, in two kShare
// jobs on two engines (two "ranks"); then one kSets job writes the manifest.
class RunParts : public ::testing::Test {
protected:
    void SetUp() override {
        ::mkdir((dir / "src").c_str(), 0755);
        ::mkdir((dir / "src/sub").c_str(), 0755);
        testing::write_file(dir / "src/a", testing::make_data(200000, DataKind::kCompressible, 1));
        testing::write_file(dir / "src/b", testing::make_data(70000, DataKind::kIncompressible, 2));
        testing::write_file(dir / "src/sub/c", testing::make_data(300000, DataKind::kMixed, 3));
        testing::write_file(dir / "src/sub/d", testing::make_data(1000, DataKind::kMixed, 4));
    }

    std::vector<Job::File> plan(Operation op, const std::string& input,
                                const std::string& output_dir) {
        PlanRequest request;
        request.operation = op;
        request.inputs = {input};
        request.recursive = true;
        request.output_dir = output_dir;
        Result<FilePlan> p = plan_files(request);
        EXPECT_TRUE(p.ok()) << p.status().message();
        return p.ok() ? p.value().files : std::vector<Job::File>{};
    }
    std::vector<Job::File> pack_plan() { return plan(Operation::kPack, dir / "src", out()); }
    std::vector<Job::File> verify_plan() { return plan(Operation::kVerify, out(), ""); }
    std::string out() const { return dir / "out"; }
    std::string manifest() const { return out() + "/" + kManifest; }

    // The two shares, then the sets job. Returns the members the sets job was given.
    std::vector<SetMember> pack_in_shares() {
        const std::vector<Job::File> files = pack_plan();
        EXPECT_EQ(files.size(), 4u);
        std::vector<SetMember> members;
        const std::vector<Job::File> shares[] = {slice(files, 0, 2), slice(files, 2, 4)};
        Engine* engines[] = {&rank0, &rank1};
        for (int s = 0; s < 2; ++s) {
            const JobResult r =
                run(*engines[s], make_job(Operation::kPack, RunPart::kShare, shares[s], secret));
            EXPECT_TRUE(r.status.is_ok()) << r.status.message();
            EXPECT_TRUE(r.sets.empty()) << "a share writes no manifest, so reports no set";
            EXPECT_FALSE(testing::exists(manifest())) << "share " << s << " wrote the manifest";
            EXPECT_EQ(r.files.size(), shares[s].size());
            for (std::size_t i = 0; i < r.files.size(); ++i) {
                const FileResult& f = r.files[i];
                EXPECT_TRUE(f.status.is_ok()) << f.status.message();
                members.push_back({shares[s][i].set_root, f.output, f.container});
            }
        }
        Job sets = make_job(Operation::kPack, RunPart::kSets, {}, secret);
        sets.set_members = members;
        const JobResult r = run(rank0, sets);
        EXPECT_TRUE(r.status.is_ok()) << r.status.message();
        EXPECT_TRUE(r.files.empty());
        EXPECT_EQ(r.sets.size(), 1u);
        if (!r.sets.empty()) {
            EXPECT_EQ(r.sets[0].root, out());
            EXPECT_TRUE(r.sets[0].manifest);
            EXPECT_TRUE(r.sets[0].status.is_ok()) << r.sets[0].status.message();
        }
        EXPECT_TRUE(testing::exists(manifest()));
        return members;
    }

    ScratchDir dir;
    Secret secret = testing::key_secret(7);
    Engine rank0{small_config()};
    Engine rank1{small_config()};
};

TEST_F(RunParts, SharesRecordTheirContainersAndTheSetsJobWritesTheManifest) {
    const std::vector<SetMember> members = pack_in_shares();
    ASSERT_EQ(members.size(), 4u);
    const std::vector<Job::File> inputs = pack_plan();
    for (std::size_t i = 0; i < members.size(); ++i) {
        const SetMember& m = members[i];
        SCOPED_TRACE(m.output);
        EXPECT_EQ(m.set_root, out());
        ASSERT_TRUE(m.container.recorded);
        EXPECT_EQ(m.container.container_size, file_size(m.output));
        EXPECT_EQ(m.container.plaintext_size, file_size(inputs[i].input));
        // The facts are the container's own: what inspect reads from its header and index.
        const Result<ContainerInfo> info = inspect_container(m.output, secret);
        ASSERT_TRUE(info.ok()) << info.status().message();
        ASSERT_TRUE(info.value().authenticated);
        EXPECT_EQ(m.container.hash, info.value().hash);
        EXPECT_EQ(m.container.header_digest, info.value().header_digest);
        EXPECT_EQ(digest_hex(m.container.hash, m.container.root_digest),
                  digest_hex(info.value().hash, info.value().root_digest));
        EXPECT_NE(digest_hex(m.container.hash, m.container.root_digest), "");
    }

    // A whole-run verify of the tree: the manifest is found and lists every container; a
    // container it did not list would fail ("not in the set's manifest").
    const std::vector<Job::File> tree = verify_plan();
    ASSERT_EQ(tree.size(), 4u);
    for (const Job::File& f : tree) EXPECT_EQ(f.set_root, out());
    const JobResult whole = run(rank1, make_job(Operation::kVerify, RunPart::kWhole, tree, secret));
    EXPECT_TRUE(whole.status.is_ok()) << whole.status.message();
    ASSERT_EQ(whole.sets.size(), 1u);
    EXPECT_TRUE(whole.sets[0].manifest);
    EXPECT_TRUE(whole.sets[0].status.is_ok()) << whole.sets[0].status.message();
    EXPECT_TRUE(whole.sets[0].missing.empty());
    for (const FileResult& f : whole.files) EXPECT_TRUE(f.status.is_ok()) << f.status.message();

    // ... and nothing more: the one container left out of a whole-run verify is missing.
    const JobResult lacking = run(
        rank1, make_job(Operation::kVerify, RunPart::kWhole, without(tree, "sub/c.tbp"), secret));
    EXPECT_EQ(lacking.status.code(), StatusCode::kAuthFailed) << lacking.status.message();
    ASSERT_EQ(lacking.sets.size(), 1u);
    EXPECT_EQ(lacking.sets[0].missing, std::vector<std::string>{"sub/c.tbp"});

    // The manifest restores too: a whole-run unpack of the tree gives back every input.
    const std::vector<Job::File> back = plan(Operation::kUnpack, out(), dir / "back");
    const JobResult unpacked =
        run(rank0, make_job(Operation::kUnpack, RunPart::kWhole, back, secret));
    ASSERT_TRUE(unpacked.status.is_ok()) << unpacked.status.message();
    EXPECT_EQ(testing::read_file(dir / "back/sub/c"), testing::read_file(dir / "src/sub/c"));
    EXPECT_EQ(testing::read_file(dir / "back/a"), testing::read_file(dir / "src/a"));
}

TEST_F(RunParts, ShareAndSetsVerifiesCheckTheirPartOfTheRun) {
    pack_in_shares();
    const std::vector<Job::File> tree = verify_plan();
    ASSERT_EQ(tree.size(), 4u);

    // A share: every file checked against the manifest, nothing reported missing (the rest of
    // the tree is other jobs' share).
    const JobResult share =
        run(rank0, make_job(Operation::kVerify, RunPart::kShare, slice(tree, 0, 2), secret));
    EXPECT_TRUE(share.status.is_ok()) << share.status.message();
    ASSERT_EQ(share.sets.size(), 1u);
    EXPECT_TRUE(share.sets[0].manifest);
    EXPECT_TRUE(share.sets[0].missing.empty());
    ASSERT_EQ(share.files.size(), 2u);
    for (const FileResult& f : share.files) {
        EXPECT_TRUE(f.status.is_ok()) << f.status.message();
        EXPECT_GT(f.bytes_in, 0u) << "a share verify reads its containers";
    }

    // The sets job of the whole run: all listed, none missing.
    const JobResult sets = run(rank1, make_job(Operation::kVerify, RunPart::kSets, tree, secret));
    EXPECT_TRUE(sets.status.is_ok()) << sets.status.message();
    ASSERT_EQ(sets.sets.size(), 1u);
    EXPECT_TRUE(sets.sets[0].manifest);
    EXPECT_TRUE(sets.sets[0].missing.empty());
    ASSERT_EQ(sets.files.size(), 4u);
    for (const FileResult& f : sets.files) {
        EXPECT_TRUE(f.status.is_ok()) << f.status.message();
        EXPECT_EQ(f.bytes_in, 0u) << "a sets job opens no container: its shares check them";
    }

    // A container of the manifest that the run does not have is missing: an integrity failure.
    const JobResult lacking = run(
        rank1, make_job(Operation::kVerify, RunPart::kSets, without(tree, "out/b.tbp"), secret));
    EXPECT_EQ(lacking.status.code(), StatusCode::kAuthFailed) << lacking.status.message();
    ASSERT_EQ(lacking.sets.size(), 1u);
    EXPECT_EQ(lacking.sets[0].missing, std::vector<std::string>{"b.tbp"});

    // A container added to the tree after the run (a share's pack lists nothing in the
    // manifest) fails in both kinds of check; the manifest itself is untouched.
    testing::write_file(dir / "src/extra", testing::make_data(5000, DataKind::kMixed, 5));
    std::vector<Job::File> extra;
    for (const Job::File& f : pack_plan()) {
        if (f.input == dir / "src/extra") extra.push_back(f);
    }
    ASSERT_EQ(extra.size(), 1u);
    const testing::Bytes manifest_before = testing::read_file(manifest());
    const JobResult added = run(rank0, make_job(Operation::kPack, RunPart::kShare, extra, secret));
    ASSERT_TRUE(added.status.is_ok()) << added.status.message();
    EXPECT_EQ(testing::read_file(manifest()), manifest_before);

    const std::vector<Job::File> grown = verify_plan();
    ASSERT_EQ(grown.size(), 5u);
    const JobResult checked =
        run(rank1, make_job(Operation::kVerify, RunPart::kSets, grown, secret));
    EXPECT_EQ(checked.status.code(), StatusCode::kAuthFailed);
    const FileResult* intruder = result_for(checked, "out/extra.tbp");
    ASSERT_NE(intruder, nullptr);
    EXPECT_EQ(intruder->status.code(), StatusCode::kAuthFailed) << intruder->status.message();
    EXPECT_NE(intruder->status.message().find("not in the set's manifest"), std::string::npos)
        << intruder->status.message();
    for (const FileResult& f : checked.files) {
        if (&f != intruder) {
            EXPECT_TRUE(f.status.is_ok()) << f.status.message();
        }
    }
    ASSERT_EQ(checked.sets.size(), 1u);
    EXPECT_TRUE(checked.sets[0].missing.empty());

    std::vector<Job::File> only;
    for (const Job::File& f : grown) {
        if (f.input == dir / "out/extra.tbp") only.push_back(f);
    }
    ASSERT_EQ(only.size(), 1u);
    const JobResult share_extra =
        run(rank0, make_job(Operation::kVerify, RunPart::kShare, only, secret));
    EXPECT_EQ(share_extra.status.code(), StatusCode::kAuthFailed);
    ASSERT_EQ(share_extra.files.size(), 1u);
    EXPECT_EQ(share_extra.files[0].status.code(), StatusCode::kAuthFailed);
    ASSERT_EQ(share_extra.sets.size(), 1u);
    EXPECT_TRUE(share_extra.sets[0].missing.empty());
}

TEST(RunPartsChecks, SetMembersBelongToAPackOfTheSetsAlone) {
    ScratchDir dir;
    testing::write_file(dir / "a", {1, 2, 3});
    SetMember member;
    member.set_root = dir / "out";
    member.output = dir / "out/a.tbp";
    member.container.recorded = true;
    member.container.container_size = 100;
    member.container.plaintext_size = 3;
    const Job::File file(dir / "a", dir / "a.tbp");

    for (const Operation op : {Operation::kUnpack, Operation::kVerify}) {
        Job job = make_job(
            op, RunPart::kSets,
            {{dir / "a.tbp", op == Operation::kVerify ? std::string() : dir / "back"}}, {});
        job.set_members = {member};
        const Status s = submit_status(job);
        EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << operation_name(op);
        EXPECT_NE(s.message().find("set members"), std::string::npos) << s.message();
    }
    for (const RunPart part : {RunPart::kShare, RunPart::kWhole}) {
        Job job = make_job(Operation::kPack, part, {file}, {});
        job.set_members = {member};
        EXPECT_EQ(submit_status(job).code(), StatusCode::kInvalidArgument);
    }

    // A member must say what the manifest is to record, and of which set.
    Job unrecorded = make_job(Operation::kPack, RunPart::kSets, {}, {});
    unrecorded.set_members = {member};
    unrecorded.set_members[0].container.recorded = false;
    const Status s = submit_status(unrecorded);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(member.output), std::string::npos) << s.message();
    Job rootless = make_job(Operation::kPack, RunPart::kSets, {}, {});
    rootless.set_members = {member};
    rootless.set_members[0].set_root.clear();
    EXPECT_EQ(submit_status(rootless).code(), StatusCode::kInvalidArgument);

    // A sets pack with nothing to list has nothing to do; any other job needs files.
    EXPECT_EQ(submit_status(make_job(Operation::kPack, RunPart::kSets, {}, {})).code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(submit_status(make_job(Operation::kVerify, RunPart::kSets, {}, {})).code(),
              StatusCode::kInvalidArgument);
    EXPECT_EQ(submit_status(make_job(Operation::kPack, RunPart::kShare, {}, {})).code(),
              StatusCode::kInvalidArgument);

    // The controls: the same members on a sets pack, files or none, are accepted.
    Job accepted = make_job(Operation::kPack, RunPart::kSets, {}, {});
    accepted.set_members = {member};
    EXPECT_TRUE(submit_status(accepted).is_ok()) << submit_status(accepted).message();
    EXPECT_TRUE(submit_status(make_job(Operation::kPack, RunPart::kShare, {file}, {})).is_ok());
}

// Each of `engines` packs its own file with `pack`; returns the containers.
std::vector<std::string> pack_on_engines(const ScratchDir& dir, const std::string& tag, int engines,
                                         const PackOptions& pack, const Secret& secret) {
    std::vector<std::string> outputs;
    for (int e = 0; e < engines; ++e) {
        const std::string in = dir / (tag + std::to_string(e));
        testing::write_file(in, testing::make_data(50000, DataKind::kMixed, 10 + e));
        Engine engine(small_config());
        Job job = make_job(Operation::kPack, RunPart::kWhole, {{in, in + ".tbp"}}, secret);
        job.pack = pack;
        const JobResult r = run(engine, job);
        EXPECT_TRUE(r.status.is_ok()) << r.status.message();
        EXPECT_EQ(r.stats.key_derivations, 1u);
        outputs.push_back(in + ".tbp");
    }
    return outputs;
}

std::vector<Job::File> to_restore(const std::vector<std::string>& containers) {
    std::vector<Job::File> files;
    files.reserve(containers.size());
    for (const std::string& c : containers) files.emplace_back(c, c + ".back");
    return files;
}

TEST(RunPartsSalt, AnExplicitSaltMakesEveryEnginesContainersOpenWithOneDerivation) {
    ScratchDir dir;
    const Secret pass = testing::passphrase("correct horse battery staple");
    PackOptions salted = pack_options();
    salted.scrypt_salt =
        std::array<std::uint8_t, 16>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    const std::vector<std::string> shared = pack_on_engines(dir, "s", 2, salted, pass);
    for (const std::string& c : shared) {
        const Result<ContainerInfo> info = inspect_container(c, pass);
        ASSERT_TRUE(info.ok()) << info.status().message();
        EXPECT_EQ(info.value().key_derivation, KeyDerivation::kScrypt);
        EXPECT_EQ(info.value().scrypt.log2_n, kMinScryptLog2N);
    }
    Engine reader(small_config());
    const JobResult one =
        run(reader, make_job(Operation::kUnpack, RunPart::kWhole, to_restore(shared), pass));
    ASSERT_TRUE(one.status.is_ok()) << one.status.message();
    EXPECT_EQ(one.stats.key_derivations, 1u) << "one salt, one derivation";
    EXPECT_EQ(testing::read_file(shared[1] + ".back"), testing::read_file(dir / "s1"));

    // Without it, each engine picks its own salt: the reader derives once per engine.
    const std::vector<std::string> apart = pack_on_engines(dir, "r", 2, pack_options(), pass);
    Engine other(small_config());
    const JobResult two =
        run(other, make_job(Operation::kUnpack, RunPart::kWhole, to_restore(apart), pass));
    ASSERT_TRUE(two.status.is_ok()) << two.status.message();
    EXPECT_EQ(two.stats.key_derivations, 2u) << "two salts, two derivations";
}

TEST(RunPartsSalt, AnEngineCountsOneDerivationPerPassphraseAndSaltAndNoneForKeyFiles) {
    ScratchDir dir;
    const Secret pass = testing::passphrase("pw");
    Engine packer(small_config());
    for (int j = 0; j < 3; ++j) {
        const std::string in = dir / ("f" + std::to_string(j));
        testing::write_file(in, testing::make_data(20000, DataKind::kCompressible, 20 + j));
        const JobResult r =
            run(packer, make_job(Operation::kPack, RunPart::kWhole, {{in, in + ".tbp"}}, pass));
        ASSERT_TRUE(r.status.is_ok()) << r.status.message();
        EXPECT_EQ(r.stats.key_derivations, 1u) << "job " << j << ": the engine keeps its salt";
    }
    // Another passphrase is another derivation; the count is the engine's, over all its jobs.
    testing::write_file(dir / "g", {1, 2, 3});
    const JobResult other =
        run(packer, make_job(Operation::kPack, RunPart::kWhole, {{dir / "g", dir / "g.tbp"}},
                             testing::passphrase("another")));
    ASSERT_TRUE(other.status.is_ok()) << other.status.message();
    EXPECT_EQ(other.stats.key_derivations, 2u);

    // Containers of two salts (one per passphrase engine), unpacked by a third: two.
    const std::vector<std::string> a = pack_on_engines(dir, "x", 2, pack_options(), pass);
    Engine reader(small_config());
    const JobResult r =
        run(reader, make_job(Operation::kVerify, RunPart::kWhole, to_restore(a), pass));
    ASSERT_TRUE(r.status.is_ok()) << r.status.message();
    EXPECT_EQ(r.stats.key_derivations, 2u);

    // Key files derive nothing, packing or unpacking.
    const Secret key = testing::key_secret(3);
    Engine keyed(small_config());
    const JobResult packed = run(keyed, make_job(Operation::kPack, RunPart::kWhole,
                                                 {{dir / "f0", dir / "f0.key.tbp"}}, key));
    ASSERT_TRUE(packed.status.is_ok()) << packed.status.message();
    EXPECT_EQ(packed.stats.key_derivations, 0u);
    const JobResult opened = run(keyed, make_job(Operation::kUnpack, RunPart::kWhole,
                                                 {{dir / "f0.key.tbp", dir / "f0.key"}}, key));
    ASSERT_TRUE(opened.status.is_ok()) << opened.status.message();
    EXPECT_EQ(opened.stats.key_derivations, 0u);
    EXPECT_EQ(testing::read_file(dir / "f0.key"), testing::read_file(dir / "f0"));
}

// The engine keeps derived keys for its lifetime (engine.hpp): a passphrase and salt it packed
// with open its own containers, and its sets' manifests, without another derivation.
// DISABLED, a known bug: JobRunner::pack_kek (jobs/job_runner.cpp) derives the pack's KEK with
// format::derive_kek and keeps it in pack_kek_ alone, never in kek_cache_, so the engine's own
// unpack/verify (and write_sets' read_manifest) derive the same salt again: 2, not 1.
TEST(RunPartsSalt, AnEngineOpensWhatItPackedWithoutDerivingAgain) {
    ScratchDir dir;
    const Secret pass = testing::passphrase("pw");
    Engine engine(small_config());
    testing::write_file(dir / "f", testing::make_data(20000, DataKind::kMixed, 30));
    const JobResult packed = run(
        engine, make_job(Operation::kPack, RunPart::kWhole, {{dir / "f", dir / "f.tbp"}}, pass));
    ASSERT_TRUE(packed.status.is_ok()) << packed.status.message();
    EXPECT_EQ(packed.stats.key_derivations, 1u);
    const JobResult verified =
        run(engine, make_job(Operation::kVerify, RunPart::kWhole, {{dir / "f.tbp", ""}}, pass));
    ASSERT_TRUE(verified.status.is_ok()) << verified.status.message();
    EXPECT_EQ(verified.stats.key_derivations, 1u) << "the pack's own salt, derived again";
}

// DISABLED, the same bug: the second pack's write_sets reads the set's old manifest through
// kek_cache_ (read_manifest in jobs/set_manifest.cpp), which lacks the pack's KEK: 2, not 1.
TEST(RunPartsSalt, PackingIntoASetTwiceDerivesOnce) {
    ScratchDir dir;
    const Secret pass = testing::passphrase("pw");
    Engine engine(small_config());
    ::mkdir((dir / "src").c_str(), 0755);
    for (int round = 0; round < 2; ++round) {
        testing::write_file(dir / ("src/f" + std::to_string(round)), {1, 2, 3});
        PlanRequest request;
        request.inputs = {dir / "src"};
        request.recursive = true;
        request.output_dir = dir / "out";
        const Result<FilePlan> plan = plan_files(request);
        ASSERT_TRUE(plan.ok());
        Job job = make_job(Operation::kPack, RunPart::kWhole, plan.value().files, pass);
        job.overwrite = true;
        const JobResult r = run(engine, job);
        ASSERT_TRUE(r.status.is_ok()) << r.status.message();
        ASSERT_EQ(r.sets.size(), 1u);
        EXPECT_TRUE(r.sets[0].manifest);
        EXPECT_EQ(r.stats.key_derivations, 1u)
            << "round " << round << ": reading back its own manifest derived the key again";
    }
}

// A kSets check opens the set's manifest (a derivation with a passphrase); its RunStats say so.
// DISABLED, a known bug: JobRunner::run_files returns check_run_sets' result without stats()
// (jobs/job_runner.cpp), so a kSets unpack/verify reports RunStats all zero: 0, not 1.
TEST(RunPartsSalt, ASetsCheckReportsTheEnginesDerivations) {
    ScratchDir dir;
    const Secret pass = testing::passphrase("pw");
    ::mkdir((dir / "src").c_str(), 0755);
    testing::write_file(dir / "src/a", {1, 2, 3});
    testing::write_file(dir / "src/b", {4, 5, 6});
    PlanRequest request;
    request.inputs = {dir / "src"};
    request.recursive = true;
    request.output_dir = dir / "out";
    const Result<FilePlan> plan = plan_files(request);
    ASSERT_TRUE(plan.ok());
    {
        Engine packer(small_config());
        ASSERT_TRUE(
            run(packer, make_job(Operation::kPack, RunPart::kWhole, plan.value().files, pass))
                .status.is_ok());
    }
    request.operation = Operation::kVerify;
    request.inputs = {dir / "out"};
    request.output_dir.clear();
    const Result<FilePlan> tree = plan_files(request);
    ASSERT_TRUE(tree.ok());
    Engine checker(small_config());
    const JobResult sets =
        run(checker, make_job(Operation::kVerify, RunPart::kSets, tree.value().files, pass));
    ASSERT_TRUE(sets.status.is_ok()) << sets.status.message();
    ASSERT_EQ(sets.sets.size(), 1u);
    EXPECT_TRUE(sets.sets[0].manifest);
    EXPECT_EQ(sets.stats.key_derivations, 1u);
}

}  // namespace
}  // namespace tbbpipe
