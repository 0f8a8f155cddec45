// Governance (issue 3) and fault (issue 6) tests through the real CLI: many files, folders,
// devices, schedulers, presets, memory, signals, and an I/O layer that fails or shortens calls.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tests/cli_support.hpp"

namespace tbbpipe {
namespace {
using testing::CliTest;
using testing::Result;
using testing::slurp;
}  // namespace
}  // namespace tbbpipe

// --- governance (issue 3): many files, folders, devices, schedulers, presets, memory -----------

namespace tbbpipe {
namespace {

class CliBatchTest : public CliTest {
protected:
    // src/ with nested folders, an empty file, a multi-chunk file, a symlink and a FIFO.
    void make_tree() {
        ASSERT_EQ(sh("mkdir -p src/a/b src/c src/d").code, 0);
        make("src/a/one", 100 * 1000, 1);
        make("src/a/b/two", 3 * 1024 * 1024 + 17, 2);
        make("src/c/three", 300 * 1000, 3);
        make("src/top", 5000, 4);
        ASSERT_EQ(sh(": > src/d/empty && ln -s ../top src/c/link && mkfifo src/c/fifo").code, 0);
    }
};

TEST_F(CliBatchTest, RecursivePackMirrorsTheTreeAndUnpackRestoresIt) {
    make_tree();
    Result r = sh("tbbpipe pack -r src --output-dir 'out dir' --no-progress");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("src/c/link: symbolic link skipped"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("src/c/fifo: special file skipped"), std::string::npos) << r.err;
    r = sh("cd 'out dir' && find . -type f | sort");
    // The containers, and the set's manifest at the root of the tree.
    EXPECT_EQ(r.out,
              "./.tbbpipe.manifest\n./a/b/two.tbp\n./a/one.tbp\n./c/three.tbp\n"
              "./d/empty.tbp\n./top.tbp\n");
    r = sh("tbbpipe unpack -r 'out dir' --output-dir back && tbbpipe verify -r 'out dir' -q");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(sh("diff -r --no-dereference src back").out,
              "Only in src/c: fifo\nOnly in src/c: link\n");
    // -r is needed for a folder, and a folder without it fails alone (exit 1).
    r = sh("tbbpipe pack src/top src --output-dir x");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("src: is a folder (use -r"), std::string::npos) << r.err;
    EXPECT_TRUE(testing::exists(dir_ / "x/top.tbp"));
}

TEST_F(CliBatchTest, FollowSymlinksTakesLinkedFilesAndCutsLoops) {
    make_tree();
    ASSERT_EQ(sh("ln -s .. src/a/loop").code, 0);
    Result r = sh("tbbpipe pack -r --follow-symlinks src --output-dir out");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(testing::exists(dir_ / "out/c/link.tbp"));
    EXPECT_NE(r.err.find("already walked"), std::string::npos) << r.err;
    EXPECT_EQ(sh("tbbpipe pack --follow-symlinks src/top").code, 2);  // needs -r
}

// One unreadable, one corrupt, one missing among many: each fails alone, named, exit 1; the
// others complete and nothing partial is left.
TEST_F(CliBatchTest, BadFilesAmongManyFailAloneAndNamed) {
    ASSERT_EQ(sh("mkdir in").code, 0);
    for (int i = 0; i < 30; ++i) make("in/f" + std::to_string(i), 20000 + i * 7919, i + 1);
    ASSERT_EQ(sh("tbbpipe pack -r in --output-dir packed -q").code, 0);
    // Flip a byte in the middle of one container's record.
    ASSERT_EQ(sh("printf 'X' | dd of=packed/f7.tbp bs=1 seek=400 conv=notrunc status=none").code,
              0);
    Result r = sh("tbbpipe unpack -r packed --output-dir out --json");
    EXPECT_EQ(r.code, 3) << r.err;  // integrity failures outrank the rest
    EXPECT_NE(r.err.find("packed/f7.tbp: "), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("\"failed\":1"), std::string::npos) << r.out;
    EXPECT_FALSE(testing::exists(dir_ / "out/f7"));
    for (int i = 0; i < 30; ++i) {
        if (i == 7) continue;
        EXPECT_EQ(sh("cmp in/f" + std::to_string(i) + " out/f" + std::to_string(i)).code, 0) << i;
    }
    EXPECT_EQ(sh("find out packed -name '.*tbbpipe-*' | wc -l").out, "0\n");
    r = sh("tbbpipe pack in/f1 in/missing in/f2 --output-dir again");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("in/missing: "), std::string::npos) << r.err;
    EXPECT_TRUE(testing::exists(dir_ / "again/f1.tbp"));
    EXPECT_TRUE(testing::exists(dir_ / "again/f2.tbp"));
}

TEST_F(CliBatchTest, OutputFoldersAreNeverSymlinksPlantedInTheTree) {
    make_tree();
    ASSERT_EQ(sh("mkdir -p out elsewhere && ln -s ../elsewhere out/a").code, 0);
    const Result r = sh("tbbpipe pack -r src --output-dir out");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("refusing to write through a symbolic link"), std::string::npos) << r.err;
    EXPECT_EQ(sh("ls elsewhere | wc -l").out, "0\n");
    EXPECT_TRUE(testing::exists(dir_ / "out/top.tbp"));
}

TEST_F(CliBatchTest, SchedulerPresetsAndChunkPolicyShowInJson) {
    make("f", 2 * 1024 * 1024);
    Result r = sh("tbbpipe pack --json --scheduler fifo f");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("\"scheduler\":\"fifo\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"chunk_size_mode\":\"auto\""), std::string::npos) << r.out;
    r = sh("tbbpipe pack -f --json --optimize resources f");
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* text :
         {"\"io_tokens\":2", "\"io_tokens_from\":\"preset\"", "\"memory_limit_bytes\":33554432",
          "\"scheduler\":\"fair\"", "\"chunk_size_mode\":\"fixed\"", "\"chunk_size\":524288",
          "\"optimize\":\"resources\""}) {
        EXPECT_NE(r.out.find(text), std::string::npos) << text << " in " << r.out;
    }
    // An explicit flag beats the preset.
    r = sh("tbbpipe pack -f --json --optimize latency --chunk-size 64K --scheduler fifo f");
    EXPECT_NE(r.out.find("\"chunk_size\":65536"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"scheduler\":\"fifo\""), std::string::npos) << r.out;
    EXPECT_EQ(sh("tbbpipe pack -f --optimize fastest f").code, 2);
    EXPECT_EQ(sh("tbbpipe pack -f --scheduler random f").code, 2);
    EXPECT_EQ(sh("tbbpipe unpack --chunk-size auto f.tbp").code, 2);  // pack only
}

// The I/O default follows the device under the paths: a fake /sys says NVMe, then HDD.
TEST_F(CliBatchTest, IoTokensDefaultFollowsTheDevice) {
    make("f", 100000);
    struct stat st {};
    ASSERT_EQ(::stat(dir_.path().c_str(), &st), 0);
    const std::string id =
        std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
    auto fake = [&](const char* name, int rotational) {
        return "rm -rf sys && mkdir -p sys/dev/block sys/devices/x/block/" + std::string(name) +
               "/queue && echo " + std::to_string(rotational) + " > sys/devices/x/block/" + name +
               "/queue/rotational && echo 64 > sys/devices/x/block/" + name +
               "/queue/nr_requests && ln -s ../../devices/x/block/" + name + " sys/dev/block/" + id;
    };
    ASSERT_EQ(sh(fake("nvme0n1", 0)).code, 0);
    Result r = sh("TBBPIPE_SYSFS_ROOT=$PWD/sys tbbpipe pack --json f");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("\"io_tokens\":32"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"io_tokens_from\":\"device\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"type\":\"nvme\""), std::string::npos) << r.out;
    ASSERT_EQ(sh(fake("sda", 1)).code, 0);
    r = sh("TBBPIPE_SYSFS_ROOT=$PWD/sys tbbpipe pack -f --json f");
    EXPECT_NE(r.out.find("\"io_tokens\":2"), std::string::npos) << r.out;
    r = sh("TBBPIPE_SYSFS_ROOT=$PWD/sys tbbpipe pack -f --json --storage-type ssd f");
    EXPECT_NE(r.out.find("\"io_tokens\":8"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"io_tokens_from\":\"flag\""), std::string::npos) << r.out;
}

// Durability for many small files is batched: one syncfs and one folder flush, not two fsyncs
// per file.
TEST_F(CliBatchTest, DurabilityIsBatchedForManyFiles) {
    ASSERT_EQ(sh("mkdir in").code, 0);
    for (int i = 0; i < 40; ++i) make("in/f" + std::to_string(i), 1000 + i, i + 1);
    Result r = sh("tbbpipe pack -r in --output-dir out --json");
    ASSERT_EQ(r.code, 0) << r.err;
    // One syncfs and one folder flush per batch; a batch also closes after 200 ms, so a slow
    // machine may make a few more batches, never the 80 flushes of one fsync pair per file.
    const auto at = r.out.find("\"durability_syncs\":");
    ASSERT_NE(at, std::string::npos) << r.out;
    const int syncs = std::stoi(r.out.substr(at + 19));
    EXPECT_GE(syncs, 2);
    EXPECT_LE(syncs, 12);
    r = sh("tbbpipe pack -r in --output-dir out2 --json --no-fsync");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("\"durability_syncs\":0,"), std::string::npos) << r.err;
}

// SIGINT in the middle of a many-file run: exit 130, no temporary file anywhere, inputs intact,
// and every output that exists is complete.
TEST_F(CliBatchTest, InterruptedBatchLeavesOnlyCompleteOutputs) {
    ASSERT_EQ(sh("mkdir in").code, 0);
    for (int i = 0; i < 12; ++i) make("in/f" + std::to_string(i), 8 * 1024 * 1024, i + 1);
    ASSERT_EQ(sh("sha256sum in/* > sums").code, 0);
    // lz4hc on one token: seconds of work, so the signal lands mid-run.
    const Result r =
        sh("'" TBBPIPE_CLI
           "' pack -r in --output-dir out -T 1 --compress lz4hc "
           "--level 12 --chunk-size 64K & pid=$!; sleep 0.5; kill -INT $pid; wait $pid");
    EXPECT_EQ(r.code, 130) << r.err;
    EXPECT_EQ(sh("find in out -name '.*tbbpipe-*' | wc -l").out, "0\n");
    EXPECT_EQ(sh("sha256sum -c --quiet sums").code, 0);
    EXPECT_EQ(sh("[ ! -d out ] || [ -z \"$(ls out)\" ] || tbbpipe verify -r out -q").code, 0);
}

// ASan's shadow memory and quarantine multiply resident memory; the RSS bounds are for real
// builds, so a sanitized build gets room for that overhead.
#if defined(__SANITIZE_ADDRESS__)
constexpr long long kRssSlack = 4;
#else
constexpr long long kRssSlack = 1;
#endif

// 4 GiB of generated data through a 64 MiB memory limit: the process's peak RSS (VmHWM) stays
// under 100 MiB.
TEST_F(CliBatchTest, FourGibUnderA64MibLimitStaysUnder100MibRss) {
#ifndef TBBPIPE_DATAGEN
    GTEST_SKIP() << "needs tbbpipe-datagen (TBBPIPE_BUILD_PERF)";
#else
    const Result r = sh("'" TBBPIPE_DATAGEN
                        "' --size 4G -o - | tbbpipe pack --memory-limit 64M "
                        "--metrics-file m.prom -c - | wc -c");
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string metrics = slurp(dir_ / "m.prom");
    const auto at = metrics.find("\ntbbpipe_peak_rss_bytes ");
    ASSERT_NE(at, std::string::npos) << metrics;
    const long long rss = std::stoll(metrics.substr(at + 24));
    EXPECT_LT(rss, (100ll << 20) * kRssSlack) << "peak RSS " << rss;
    EXPECT_GT(rss, 1ll << 20);
    EXPECT_GT(std::stoll(r.out), 1ll << 30);  // the container really was written
#endif
}

}  // namespace
}  // namespace tbbpipe

// --- faults (issue 6): an I/O layer that fails or shortens reads and writes -------------------

namespace tbbpipe {
namespace {

class CliFaultTest : public CliTest {
protected:
    // Runs tbbpipe with the fault layer preloaded; ASan must not insist on coming first.
    static std::string faulty(const std::string& path, const std::string& op,
                              const std::string& mode, long long after = 0) {
        return "ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 LD_PRELOAD='" TBBPIPE_FAULT_LIB
               "' TBBPIPE_FAULT_PATH='" +
               path + "' TBBPIPE_FAULT_OP=" + op + " TBBPIPE_FAULT_MODE=" + mode +
               " TBBPIPE_FAULT_AFTER=" + std::to_string(after) + " tbbpipe ";
    }
    void make_inputs() {
        ASSERT_EQ(sh("mkdir in").code, 0);
        for (const char* name : {"a", "b", "c", "d"})
            make(std::string("in/") + name, 3 << 20, name[0]);
        ASSERT_EQ(sh("sha256sum in/* > sums").code, 0);
    }
    void expect_clean(const char* folder) {
        EXPECT_EQ(sh(std::string("find ") + folder + " -name '.*tbbpipe-*' | wc -l").out, "0\n");
        EXPECT_EQ(sh("sha256sum -c --quiet sums").code, 0) << "an input changed";
    }
};

TEST_F(CliFaultTest, EnospcWhileWritingOneOutputFailsOnlyThatFile) {
    make_inputs();
    const Result r = sh(faulty("/out/.b.tbp.tbbpipe-", "write", "errno:ENOSPC", 0) +
                        "pack -r in --output-dir out --json");
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("in/b: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("\"tokens_outstanding\":0"), std::string::npos) << r.out;
    EXPECT_FALSE(testing::exists(dir_ / "out/b.tbp"));
    EXPECT_EQ(sh("tbbpipe verify out/a.tbp out/c.tbp out/d.tbp -q").code, 0);
    expect_clean("out");
}

TEST_F(CliFaultTest, EioMidReadFailsOnlyThatFileAndNamesTheOffset) {
    make_inputs();
    const Result r = sh(faulty("/in/c", "read", "errno:EIO", 1 << 20) +
                        "pack -r in --output-dir out --json --chunk-size 256K");
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("in/c: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Input/output error"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("offset"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("\"tokens_outstanding\":0"), std::string::npos) << r.out;
    EXPECT_FALSE(testing::exists(dir_ / "out/c.tbp"));
    EXPECT_EQ(sh("tbbpipe verify out/a.tbp out/b.tbp out/d.tbp -q").code, 0);
    expect_clean("out");
}

// Short reads and writes everywhere (files, pipes, stdout): the loops must complete them.
TEST_F(CliFaultTest, ShortReadsAndWritesStillRoundTrip) {
    make_inputs();
    ASSERT_EQ(
        sh(faulty("/", "read", "short") + "pack -r in --output-dir out --chunk-size 64K").code, 0);
    ASSERT_EQ(sh(faulty("/", "read", "short") + "unpack -r out --output-dir back").code, 0);
    EXPECT_EQ(sh("cmp in/a back/a && cmp in/d back/d").code, 0);
    ASSERT_EQ(sh("cat in/b | " + faulty("pipe:", "read", "short") +
                 "pack -c | cat > b.tbp && tbbpipe unpack -c b.tbp | cmp - in/b")
                  .code,
              0);
    expect_clean("out");
}

TEST_F(CliFaultTest, PermissionDeniedOnOneOfManyInputs) {
    make_inputs();
    const Result r = sh(faulty("in/d", "open", "errno:EACCES") + "pack -r in --output-dir out");
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("in/d: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ermission denied"), std::string::npos) << r.err;
    EXPECT_FALSE(testing::exists(dir_ / "out/d.tbp"));
    EXPECT_EQ(sh("tbbpipe verify out/a.tbp out/b.tbp out/c.tbp -q").code, 0);
    expect_clean("out");
}

// A real full disk: a 1 MiB tmpfs (root only, where mounting is allowed).
TEST_F(CliFaultTest, RealEnospcOnASmallTmpfs) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
    ASSERT_EQ(sh("mkdir in tiny && head -c 2000000 /dev/urandom > in/big && echo hi > in/small && "
                 "sha256sum in/* > sums")
                  .code,
              0);
    if (sh("mount -t tmpfs -o size=1m tmpfs tiny").code != 0) GTEST_SKIP() << "mount refused";
    const Result r = sh("tbbpipe pack -r in --output-dir tiny --scheduler fifo");
    const Result listing = sh("ls -A tiny");
    sh("umount tiny");
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("in/big: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
    // The set's manifest lists what was packed; no partial output, no temporary file.
    EXPECT_EQ(listing.out, ".tbbpipe.manifest\nsmall.tbp\n");
    EXPECT_EQ(sh("sha256sum -c --quiet sums").code, 0);
}

}  // namespace
}  // namespace tbbpipe

// --- load (issue 6): many tiny files, a huge sparse file, a long mixed run ----------------------

namespace tbbpipe {
namespace {

// Budgets a finished run must show in its --json: every token back, nothing above its limit.
void expect_budgets_held(const std::string& json, long long rss_limit) {
    auto number = [&](const std::string& key) {
        const auto at = json.find("\"" + key + "\":");
        EXPECT_NE(at, std::string::npos) << key;
        return at == std::string::npos ? -1 : std::stoll(json.substr(at + key.size() + 3));
    };
    EXPECT_EQ(number("tokens_outstanding"), 0);
    EXPECT_LE(number("max_chunks_in_flight"), number("chunk_tokens"));
    EXPECT_LE(number("max_transforms_in_flight"), number("cpu_tokens"));
    EXPECT_LE(number("max_reads_in_flight"), number("io_tokens"));
    EXPECT_LE(number("max"), number("memory_limit_bytes"))
        << "the memory gauge's peak (first gauge listed)";
    EXPECT_LT(number("peak_rss_bytes"), rss_limit * kRssSlack);
}

class LoadTest : public CliTest {};

TEST_F(LoadTest, HundredThousandEmptyAndTinyFiles) {
    for (int folder = 0; folder < 100; ++folder) {
        const std::string dir = dir_ / ("in/d" + std::to_string(folder));
        std::filesystem::create_directories(dir);
        for (int i = 0; i < 1000; ++i) {
            const std::size_t size = (i % 2) ? static_cast<std::size_t>((i * 37) % 200) : 0;
            testing::write_file(dir + "/f" + std::to_string(i),
                                testing::Bytes(size, static_cast<std::uint8_t>(i)));
        }
    }
    Result r = sh("tbbpipe pack -r in --output-dir out --no-fsync --json > pack.json");
    ASSERT_EQ(r.code, 0) << r.err.substr(0, 2000);
    const std::string json = slurp(dir_ / "pack.json");
    EXPECT_NE(json.find("\"files\":100000,\"ok\":100000,\"failed\":0"), std::string::npos);
    expect_budgets_held(json, 512ll << 20);
    r = sh("tbbpipe unpack -r out --output-dir back --no-fsync --json > unpack.json");
    ASSERT_EQ(r.code, 0) << r.err.substr(0, 2000);
    expect_budgets_held(slurp(dir_ / "unpack.json"), 512ll << 20);
    EXPECT_EQ(sh("find back -type f | wc -l").out, "100000\n");
    EXPECT_EQ(sh("diff -r in/d7 back/d7 && diff -r in/d99 back/d99").code, 0);
}

TEST_F(LoadTest, EightGibSparseFileUnderTheMemoryLimit) {
    ASSERT_EQ(sh("truncate -s 8G sparse").code, 0);
    Result r = sh("tbbpipe pack --memory-limit 64M --no-fsync --json sparse > pack.json");
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string json = slurp(dir_ / "pack.json");
    EXPECT_NE(json.find("\"original_bytes\":8589934592"), std::string::npos) << json.substr(0, 400);
    expect_budgets_held(json, 100ll << 20);
    r = sh("tbbpipe verify --json sparse.tbp > verify.json");
    ASSERT_EQ(r.code, 0) << r.err;
    expect_budgets_held(slurp(dir_ / "verify.json"), 100ll << 20);
}

// Rounds of pack, verify and unpack over a mixed tree (one large file, medium and small ones),
// encrypted, with the fair scheduler and a tight memory limit; budgets checked after each run.
TEST_F(LoadTest, LongMixedRunKeepsEveryBudget) {
    ASSERT_EQ(sh("mkdir -p in/small in/medium && tbbpipe keygen -o k").code, 0);
    make("in/large", 96 << 20, 1);
    for (int i = 0; i < 20; ++i)
        make("in/medium/m" + std::to_string(i), (1 << 20) + i * 4099, i + 2);
    for (int i = 0; i < 300; ++i) make("in/small/s" + std::to_string(i), i * 131, i + 30);
    for (int round = 0; round < 3; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        const std::string out = "out" + std::to_string(round);
        Result r = sh("tbbpipe pack -r in --output-dir " + out +
                      " --key-file k --memory-limit 24M --no-fsync --json > p.json");
        ASSERT_EQ(r.code, 0) << r.err;
        expect_budgets_held(slurp(dir_ / "p.json"), 100ll << 20);
        r = sh("tbbpipe verify -r " + out + " --key-file k --json > v.json");
        ASSERT_EQ(r.code, 0) << r.err;
        expect_budgets_held(slurp(dir_ / "v.json"), 100ll << 20);
        r = sh("tbbpipe unpack -r " + out + " --output-dir back" + std::to_string(round) +
               " --key-file k --memory-limit 24M --json > u.json && diff -r in back" +
               std::to_string(round));
        ASSERT_EQ(r.code, 0) << r.err << r.out;
        expect_budgets_held(slurp(dir_ / "u.json"), 100ll << 20);
        sh("rm -rf " + out + " back" + std::to_string(round));
    }
}

}  // namespace
}  // namespace tbbpipe
