// CLI tests: run the real tbbpipe binary and check exit codes, stdout, stderr and the files left
// behind (the conventions of issue 2: overwrite refusal, --rm, streams, terminals, signals).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/test_support.hpp"

namespace tbbpipe {
namespace {

using testing::Bytes;
using testing::ScratchDir;

struct Result {
    int code = -1;
    std::string out, err;
};

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class CliTest : public ::testing::Test {
protected:
    // Runs a shell snippet in the scratch folder; "tbbpipe" in it is the binary under test.
    Result sh(const std::string& script) {
        const std::string cmd = "cd '" + dir_.path() +
                                "' && tbbpipe() { '" TBBPIPE_CLI "' \"$@\"; } && { " + script +
                                "\n} >'" + out_ + "' 2>'" + err_ + "'";
        const int status = std::system(("/bin/bash -c " + quote(cmd)).c_str());
        Result r;
        r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        r.out = slurp(out_);
        r.err = slurp(err_);
        return r;
    }
    static std::string quote(const std::string& s) {
        std::string q = "'";
        for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return q + "'";
    }
    void make(const std::string& name, std::size_t size, std::uint32_t seed = 1) {
        testing::write_file(dir_ / name, testing::make_data(size, testing::DataKind::kMixed, seed));
    }
    std::vector<std::string> files() const { return dir_.list(); }

    ScratchDir dir_;
    ScratchDir logs_;
    std::string out_ = logs_ / "stdout";
    std::string err_ = logs_ / "stderr";
};

TEST_F(CliTest, HelpDocumentsCommandsAndExitCodes) {
    const Result r = sh("tbbpipe --help");
    EXPECT_EQ(r.code, 0);
    for (const char* text : {"pack", "unpack", "verify", "info", "keygen", "--key-file",
                             "--chunk-size", "Exit codes", "130", "integrity"}) {
        EXPECT_NE(r.out.find(text), std::string::npos) << text;
    }
    const Result none = sh("tbbpipe");
    EXPECT_EQ(none.code, 2);
    EXPECT_NE(none.err.find("Usage: tbbpipe"), std::string::npos);
    const Result v = sh("tbbpipe --version");
    EXPECT_EQ(v.code, 0);
    EXPECT_NE(v.out.find("tbbpipe 0.1.0"), std::string::npos);
}

TEST_F(CliTest, BadCommandLinesExitTwo) {
    make("f", 100);
    for (const char* args :
         {"frobnicate f", "pack --bogus f", "unpack --compress lz4 f.tbp", "pack -T 0 f",
          "pack --compress none --level 3 f", "pack --chunk-size 3K f", "pack --chunk-size 12Q f",
          "pack --cipher rot13 f", "pack -o x -c f", "pack -q -v f", "verify -o x f.tbp",
          "keygen --rm", "pack --rm -c f", "pack --key-file f --passphrase-file f f"}) {
        const Result r = sh(std::string("tbbpipe ") + args);
        EXPECT_EQ(r.code, 2) << args << ": " << r.err;
        EXPECT_NE(r.err.find("tbbpipe: "), std::string::npos) << args;
    }
    EXPECT_EQ(files(), (std::vector<std::string>{"f"}));
}

TEST_F(CliTest, PackThenUnpackKeepsInputsStripsSuffixAndRestoresMetadata) {
    make("data.bin", 3 * 1024 * 1024 + 11);
    ASSERT_EQ(sh("chmod 0604 data.bin && touch -d '2001-02-03 04:05:06' data.bin").code, 0);
    const Result packed = sh("tbbpipe pack data.bin");
    ASSERT_EQ(packed.code, 0) << packed.err;
    EXPECT_NE(packed.err.find("data.bin.tbp"), std::string::npos) << packed.err;
    EXPECT_EQ(files(), (std::vector<std::string>{"data.bin", "data.bin.tbp"}));
    ASSERT_EQ(sh("mv data.bin original && tbbpipe unpack data.bin.tbp").code, 0);
    EXPECT_EQ(testing::read_file(dir_ / "data.bin"), testing::read_file(dir_ / "original"));
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / "data.bin").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0604u);
    EXPECT_EQ(sh("test \"$(stat -c %Y data.bin)\" = \"$(stat -c %Y original)\"").code, 0);
    EXPECT_EQ(sh("tbbpipe verify data.bin.tbp").code, 0);
}

TEST_F(CliTest, NeverOverwritesWithoutForce) {
    make("f", 5000);
    ASSERT_EQ(sh("tbbpipe pack f").code, 0);
    const std::string first = slurp(dir_ / "f.tbp");
    Result r = sh("tbbpipe pack f");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("f.tbp already exists"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("-f"), std::string::npos);
    EXPECT_EQ(slurp(dir_ / "f.tbp"), first);
    r = sh("tbbpipe unpack f.tbp");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("already exists"), std::string::npos);
    EXPECT_EQ(sh("tbbpipe pack -f f && tbbpipe unpack -f f.tbp").code, 0);
    EXPECT_EQ(files(), (std::vector<std::string>{"f", "f.tbp"}));
}

TEST_F(CliTest, StdinToStdoutStreamsBothWays) {
    make("f", 2 * 1024 * 1024 + 3);
    ASSERT_EQ(sh("printf 'hunter2\\n' > pw").code, 0);
    const Result r =
        sh("tbbpipe pack --passphrase-file pw -c < f > f.tbp && "
           "tbbpipe unpack --passphrase-file pw < f.tbp > g && cmp f g && "
           "cat f | tbbpipe pack | tbbpipe unpack -c - | cmp - f");
    EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(CliTest, RefusesBinaryOnATerminalAndReadingFromOne) {
    make("f", 1000);
    // `script` runs the command on a pseudo-terminal, as an interactive user would.
    Result r = sh("script -qec \"" TBBPIPE_CLI " pack -c f\" /dev/null");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.out.find("terminal"), std::string::npos) << r.out;
    r = sh("script -qec \"" TBBPIPE_CLI " keygen\" /dev/null");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.out.find("terminal"), std::string::npos) << r.out;
    EXPECT_EQ(files(), (std::vector<std::string>{"f"}));
}

TEST_F(CliTest, CorruptDataExitsThreeNamesChunkAndOffsetAndLeavesNoOutput) {
    make("f", 4 * 1024 * 1024);
    ASSERT_EQ(sh("tbbpipe keygen -o k && tbbpipe pack --key-file k f && rm f").code, 0);
    // Flip one byte inside the third chunk's payload (records start after the 144-byte header).
    Bytes c = testing::read_file(dir_ / "f.tbp");
    c[144 + 2 * (24 + 1048576 + 16) / 2 + 3 * 1024 * 1024 / 2] ^= 0x04;
    testing::write_file(dir_ / "f.tbp", c);
    Result r = sh("tbbpipe unpack --key-file k f.tbp");
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("f.tbp: chunk "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("at offset "), std::string::npos) << r.err;
    EXPECT_EQ(files(), (std::vector<std::string>{"f.tbp", "k"}));
    r = sh("tbbpipe verify --key-file k f.tbp");
    EXPECT_EQ(r.code, 3);
    r = sh("tbbpipe unpack --key-file k -c f.tbp > /dev/null");
    EXPECT_EQ(r.code, 3);
}

TEST_F(CliTest, WrongKeyOrTypeExitsThreeWithoutLeakingKeys) {
    make("f", 10000);
    ASSERT_EQ(
        sh("tbbpipe keygen -o k && tbbpipe keygen -o other && tbbpipe pack --key-file k f").code,
        0);
    Result r = sh("tbbpipe unpack --key-file other -o g f.tbp");
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("wrong key or passphrase"), std::string::npos) << r.err;
    r = sh("TBBPIPE_PASSPHRASE=swordfish tbbpipe verify f.tbp");
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("wrong key type"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("swordfish"), std::string::npos);
    r = sh("tbbpipe verify f.tbp");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("encrypted"), std::string::npos) << r.err;
    EXPECT_FALSE(testing::exists(dir_ / "g"));
}

TEST_F(CliTest, ManyFilesOneFailingStillDoesTheRest) {
    make("a", 1000, 1);
    make("b", 2000, 2);
    const Result r = sh("TBBPIPE_PASSPHRASE=pw tbbpipe pack a missing b --scrypt-log2n 14");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("missing: cannot open"), std::string::npos) << r.err;
    EXPECT_EQ(files(), (std::vector<std::string>{"a", "a.tbp", "b", "b.tbp"}));
    EXPECT_EQ(
        sh("mkdir out && TBBPIPE_PASSPHRASE=pw tbbpipe unpack --output-dir out a.tbp b.tbp && "
           "cmp a out/a && cmp b out/b")
            .code,
        0);
}

TEST_F(CliTest, RmRemovesInputOnlyAfterAVerifiedOutput) {
    make("f", 100000);
    make("g", 100000, 2);
    Result r = sh("tbbpipe pack --rm -o nowhere/g.tbp g");
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(testing::exists(dir_ / "g"));
    r = sh("tbbpipe pack --rm f");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_FALSE(testing::exists(dir_ / "f"));
    EXPECT_EQ(sh("tbbpipe verify f.tbp").code, 0);
    r = sh("tbbpipe unpack --rm f.tbp");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(files(), (std::vector<std::string>{"f", "g"}));
}

TEST_F(CliTest, UnpackNeedsTheSuffixOrAnOutputName) {
    make("f", 100);
    ASSERT_EQ(sh("tbbpipe pack -o f.box f").code, 0);
    Result r = sh("tbbpipe unpack f.box");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("f.box: unknown suffix"), std::string::npos) << r.err;
    EXPECT_EQ(sh("tbbpipe unpack f.box -o g && cmp f g").code, 0);
}

TEST_F(CliTest, KeygenWritesAPrivate32ByteKeyAndNeverOverwrites) {
    ASSERT_EQ(sh("tbbpipe keygen -o my.key").code, 0);
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / "my.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 32);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    const std::string key = slurp(dir_ / "my.key");
    EXPECT_EQ(sh("tbbpipe keygen -o my.key").code, 1);
    EXPECT_EQ(slurp(dir_ / "my.key"), key);
    EXPECT_EQ(sh("tbbpipe keygen -f -o my.key").code, 0);
    EXPECT_NE(slurp(dir_ / "my.key"), key);
    EXPECT_EQ(sh("tbbpipe keygen > k2 && test $(stat -c %s k2) = 32").code, 0);
}

TEST_F(CliTest, JsonSummaryAndInfo) {
    make("f", 300000);
    ASSERT_EQ(sh("tbbpipe keygen -o k").code, 0);
    Result r =
        sh("tbbpipe pack --json --key-file k --cipher chacha20-poly1305 --compress lz4hc --level 4 "
           "--chunk-size 64K f");
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* text : {"{\"command\":\"pack\"", "\"status\":\"ok\"", "\"chunks\":5",
                             "\"exit_code\":0", "\"max_transforms_in_flight\""}) {
        EXPECT_NE(r.out.find(text), std::string::npos) << text << " in " << r.out;
    }
    r = sh("tbbpipe info --json f.tbp");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("\"cipher\":\"chacha20-poly1305\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"authenticated\":false"), std::string::npos) << r.out;
    r = sh("tbbpipe info --json --key-file k f.tbp");
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* text : {"\"authenticated\":true", "\"compression\":\"lz4hc\"", "\"level\":4",
                             "\"chunk_size\":65536", "\"original_bytes\":300000",
                             "\"root_digest\":\"", "\"chunks\":[{\"index\":0,\"offset\":144"}) {
        EXPECT_NE(r.out.find(text), std::string::npos) << text << " in " << r.out;
    }
    if (sh("command -v python3").code == 0) {
        EXPECT_EQ(sh("tbbpipe info --json --key-file k f.tbp | python3 -m json.tool").code, 0);
        EXPECT_EQ(sh("tbbpipe verify --json --key-file k f.tbp | python3 -m json.tool").code, 0);
    }
    r = sh("tbbpipe info f");
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("f: not a tbbpipe container"), std::string::npos) << r.err;
}

// SIGINT mid-run: exit 130, the partial output and its temporary file are gone. The signal is sent
// once the temporary output exists (so the handlers are installed and there is something to
// clean up); the input is bounded so a lost signal fails the test instead of hanging it.
TEST_F(CliTest, InterruptExits130AndRemovesPartialOutput) {
    for (const char* signals :
         {"kill -INT $pid", "kill -INT $pid; kill -INT $pid", "kill -TERM $pid"}) {
        // The binary itself, not the `tbbpipe` shell function: $! must be its pid.
        const Result r =
            sh(std::string("head -c 3G /dev/zero | '" TBBPIPE_CLI "' pack -o out.tbp & pid=$!; "
                           "for i in $(seq 200); do ls -a | grep -q 'out.tbp.tbbpipe-' && break; "
                           "sleep 0.05; done; sleep 0.2; ") +
               signals + "; wait $pid; echo $? > rc");
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(slurp(dir_ / "rc"), "130\n") << signals;
        EXPECT_EQ(files(), (std::vector<std::string>{"rc"})) << signals;
        ::unlink((dir_ / "rc").c_str());
    }
}

// A reader blocked on a pipe that stays open (no data, no EOF) must still notice the signal:
// the run ends within a second or two, not when the writer finally closes the pipe.
TEST_F(CliTest, InterruptReachesAReaderBlockedOnAStalledPipe) {
    for (const char* command : {"pack -o out.tbp", "unpack -o out"}) {
        // For unpack, feed a valid container's first chunk, then stall.
        ASSERT_EQ(sh("head -c 3000000 /dev/urandom > big && tbbpipe pack -q -o big.tbp big").code,
                  0);
        const std::string feed = std::string(command).rfind("pack", 0) == 0
                                     ? "head -c 2500000 big"
                                     : "head -c 2000000 big.tbp";
        // Through a FIFO, so $! is tbbpipe alone (wait on a pipeline member waits for the job).
        const Result r =
            sh("mkfifo p; (" + feed + "; sleep 8) > p & '" TBBPIPE_CLI "' " + command +
               " < p & pid=$!; sleep 1; start=$(date +%s%N); kill -INT $pid; "
               "wait $pid; rc=$?; echo $rc $(( ($(date +%s%N) - start) / 1000000 )) > rc; "
               "rm -f p");
        EXPECT_EQ(r.code, 0) << r.err;
        std::istringstream rc(slurp(dir_ / "rc"));
        int code = 0, ms = 0;
        rc >> code >> ms;
        EXPECT_EQ(code, 130) << command;
        EXPECT_LT(ms, 3000) << command << ": the blocked read did not see the signal";
        EXPECT_EQ(files(), (std::vector<std::string>{"big", "big.tbp", "rc"})) << command;
        ASSERT_EQ(sh("rm -f rc big big.tbp").code, 0);
    }
}

TEST_F(CliTest, PassphrasePromptAsksTwiceWhenPacking) {
    make("f", 5000);
    // script gives the command a terminal and forwards our answers to it.
    Result r =
        sh("(sleep 0.5; printf 'pw1\\n'; sleep 0.3; printf 'pw1\\n'; sleep 1) | script -qec "
           "\"" TBBPIPE_CLI " pack -p --scrypt-log2n 14 f\" /dev/null");
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("Confirm passphrase"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("pw1"), std::string::npos) << "the passphrase was echoed";
    EXPECT_EQ(
        sh("printf 'pw1\\n' > pw && tbbpipe unpack --passphrase-file pw -o g f.tbp && cmp f g")
            .code,
        0);
    r = sh(
        "(sleep 0.5; printf 'a\\n'; sleep 0.3; printf 'b\\n'; sleep 1) | script -qec \"" TBBPIPE_CLI
        " pack -p -o h.tbp f\" /dev/null");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.out.find("do not match"), std::string::npos) << r.out;
    EXPECT_FALSE(testing::exists(dir_ / "h.tbp"));
}

// --- budgets (issue 3, first part) ---------------------------------------------------------------

TEST_F(CliTest, BudgetFlagsAreEnforcedAndVisibleInJson) {
    make("f", 12 * 1024 * 1024);
    Result r =
        sh("tbbpipe pack --json --memory-limit 6M --io-tokens 1 --cpu-tokens 1 --chunk-size 1M f");
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* text : {"\"cpu_tokens\":1", "\"io_tokens\":1", "\"chunk_tokens\":2",
                             "\"max_transforms_in_flight\":1", "\"max_reads_in_flight\":1",
                             "\"tbbpipe_memory_limit_bytes\":{\"value\":6291456"}) {
        EXPECT_NE(r.out.find(text), std::string::npos) << text << " in " << r.out;
    }
    EXPECT_EQ(r.out.find("\"max_chunks_in_flight\":3"), std::string::npos);
    // The memory gauge's peak stays under the limit.
    const auto at = r.out.find("\"tbbpipe_memory_bytes\":{\"value\":0,\"max\":");
    ASSERT_NE(at, std::string::npos) << r.out;
    EXPECT_LE(std::stoll(r.out.substr(at + 40)), 6291456);
    r = sh("tbbpipe pack -f --io-qdepth 2 --json f");
    EXPECT_NE(r.out.find("\"io_tokens\":2"), std::string::npos);
    r = sh("tbbpipe pack -f --memory-limit 1M --chunk-size 1M f");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("below one chunk's buffers"), std::string::npos) << r.err;
    // With --chunk-size auto (the default) the chunk size shrinks until the limit affords every
    // slot the engine can keep busy (2 x cpu + io + 2 = 5), instead of running with fewer.
    r = sh("tbbpipe pack -f --json --memory-limit 6M --io-tokens 1 --cpu-tokens 1 f");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("\"chunk_tokens\":5"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"chunk_size_mode\":\"auto\""), std::string::npos) << r.out;
    EXPECT_EQ(sh("tbbpipe pack -f -T 2 --cpu-tokens 2 f").code, 2);
    EXPECT_EQ(sh("tbbpipe pack -f --io-tokens 0 f").code, 2);
    EXPECT_EQ(sh("tbbpipe pack -f --memory-limit 10K f").code, 2);
}

// --- durability (issue 6) ---------------------------------------------------------------------

TEST_F(CliTest, OutputsAreFlushedBeforeTheRenameUnlessNoFsync) {
    make("f", 100000);
    Result r = sh("tbbpipe pack --json f");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("\"fsyncs\":2"), std::string::npos) << r.out;  // the data, then the folder
    r = sh("tbbpipe unpack --json -o g f.tbp");
    EXPECT_NE(r.out.find("\"fsyncs\":2"), std::string::npos) << r.out;
    r = sh("tbbpipe pack -f --no-fsync --json f");
    EXPECT_NE(r.out.find("\"fsyncs\":0"), std::string::npos) << r.out;
    EXPECT_EQ(sh("tbbpipe verify f.tbp").code, 0);
}

// SIGKILL mid-write: nothing under the final name; the leftover temporary is rejected by verify
// and unpack, and the next run is not disturbed by it.
TEST_F(CliTest, AKillMidWriteLeavesOnlyARejectedTemporary) {
    const Result r =
        sh("head -c 3G /dev/zero | '" TBBPIPE_CLI
           "' pack -o out.tbp & pid=$!; "
           "for i in $(seq 200); do ls -a | grep -q 'out.tbp.tbbpipe-' && break; sleep 0.05; done; "
           "sleep 0.3; kill -KILL $pid; wait $pid; echo $? > rc");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(slurp(dir_ / "rc"), "137\n");
    EXPECT_FALSE(testing::exists(dir_ / "out.tbp"));
    std::string temp;
    for (const auto& name : files()) {
        if (name.rfind(".out.tbp.tbbpipe-", 0) == 0) temp = name;
    }
    ASSERT_FALSE(temp.empty()) << "expected the killed run's temporary file";
    EXPECT_EQ(sh("tbbpipe verify '" + temp + "'").code, 3);
    EXPECT_EQ(sh("tbbpipe unpack -o x '" + temp + "'").code, 3);
    EXPECT_FALSE(testing::exists(dir_ / "x"));
    make("small", 5000);
    EXPECT_EQ(sh("tbbpipe pack -o out.tbp small && tbbpipe verify out.tbp").code, 0);
}

TEST_F(CliTest, KeysAndCostsAreGuarded) {
    make("f", 1000);
    ASSERT_EQ(sh("tbbpipe keygen -o k && chmod 644 k").code, 0);
    Result r = sh("tbbpipe pack --key-file k f");
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.err.find("warning: key file k is readable by others"), std::string::npos) << r.err;
    r = sh("TBBPIPE_PASSPHRASE=pw tbbpipe pack -f --scrypt-log2n 13 f");  // below the floor
    EXPECT_EQ(r.code, 2);
    r = sh("TBBPIPE_PASSPHRASE=pw tbbpipe pack -f --scrypt-log2n 21 f");  // above the reader's cap
    EXPECT_EQ(r.code, 2);
}

// The output name already exists as a symlink pointing outside the folder: with -f the link is
// replaced by the file (rename does not follow it); the link's target is never written.
TEST_F(CliTest, UnpackNeverWritesThroughASymlinkAtTheOutputName) {
    make("f", 5000);
    ASSERT_EQ(
        sh("tbbpipe pack f && mkdir out && printf victim > victim && ln -s ../victim out/f").code,
        0);
    EXPECT_EQ(sh("tbbpipe unpack --output-dir out f.tbp").code, 1);  // exists: refused without -f
    EXPECT_EQ(slurp(dir_ / "victim"), "victim");
    ASSERT_EQ(sh("tbbpipe unpack -f --output-dir out f.tbp").code, 0);
    EXPECT_EQ(slurp(dir_ / "victim"), "victim");
    EXPECT_EQ(sh("test -f out/f && ! test -L out/f && cmp f out/f").code, 0);
}

// Hand-made hostile containers through the CLI: refused with exit 3 and a message, quickly.
TEST_F(CliTest, HostileHeadersAreRefusedWithExitThree) {
    make("f", 50000);
    ASSERT_EQ(sh("tbbpipe pack f").code, 0);
    const Bytes good = testing::read_file(dir_ / "f.tbp");
    const auto patch = [&](std::size_t offset, const Bytes& bytes) {
        Bytes bad = good;
        std::size_t i = offset;
        for (const auto b : bytes) bad[i++] = b;
        testing::write_file(dir_ / "bad.tbp", bad);
        return sh("tbbpipe verify bad.tbp");
    };
    // chunk size 2^31 (header offset 16); record raw size 4 GiB (first record at 144, +16);
    // trailer chunk count 2^63 (last 32 bytes, +8); footer offset pointing backwards (+0).
    const std::size_t trailer = good.size() - 32;
    for (const auto& [offset, bytes] :
         std::vector<std::pair<std::size_t, Bytes>>{{16, {0, 0, 0, 0x80}},
                                                    {144 + 16, {0xff, 0xff, 0xff, 0xff}},
                                                    {trailer + 8, {0, 0, 0, 0, 0, 0, 0, 0x80}},
                                                    {trailer, {1, 0, 0, 0, 0, 0, 0, 0}}}) {
        const Result r = patch(offset, bytes);
        EXPECT_EQ(r.code, 3) << "patch at " << offset << ": " << r.err;
        EXPECT_NE(r.err.find("bad.tbp: "), std::string::npos) << r.err;
    }
}

// --- observability (issue 4) -----------------------------------------------------------------

TEST_F(CliTest, MetricsFileIsValidPrometheusText) {
    make("f", 3 * 1024 * 1024);
    const Result r = sh("tbbpipe pack --metrics-file m.prom --metrics-interval 100 f");
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string prom = slurp(dir_ / "m.prom");
    for (const char* text :
         {"# TYPE tbbpipe_chunks_total counter", "tbbpipe_chunks_total 3",
          "# TYPE tbbpipe_chunk_transform_seconds histogram",
          "tbbpipe_chunk_transform_seconds_bucket{le=\"+Inf\"} 3",
          "tbbpipe_io_seconds_count{op=\"read\"} 3", "tbbpipe_tokens{kind=\"cpu\"}",
          "tbbpipe_files_total{status=\"ok\"} 1", "tbbpipe_memory_limit_bytes"}) {
        EXPECT_NE(prom.find(text), std::string::npos) << text << " in\n" << prom;
    }
    // Written atomically: no temporary file is left beside it.
    EXPECT_EQ(files(), (std::vector<std::string>{"f", "f.tbp", "m.prom"}));
    if (sh("command -v promtool").code != 0) GTEST_SKIP() << "promtool not installed";
    const Result check = sh("promtool check metrics < m.prom");
    EXPECT_EQ(check.code, 0) << check.out << check.err;
}

TEST_F(CliTest, MetricsEndpointAnswersDuringTheRunAndIsGoneAfter) {
    make("f", 2 * 1024 * 1024);
    ASSERT_EQ(sh("tbbpipe pack -q f").code, 0);
    // The container arrives through a pipe that stays open 2 s, so the run lasts that long.
    const Result r =
        sh("( (cat f.tbp; sleep 2) | '" TBBPIPE_CLI
           "' verify --metrics-listen 127.0.0.1:0 2> log & "
           "for i in $(seq 50); do grep -q 'serving metrics' log && break; sleep 0.05; done; "
           "port=$(grep -o '127.0.0.1:[0-9]*' log | cut -d: -f2); "
           "exec 3<>/dev/tcp/127.0.0.1/$port && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && "
           "cat <&3 > during; exec 3>&-; wait; "
           "if exec 3<>/dev/tcp/127.0.0.1/$port; then echo open > after; else echo closed > after; "
           "fi ) 2>/dev/null");
    EXPECT_EQ(r.code, 0) << r.err;
    const std::string during = slurp(dir_ / "during");
    EXPECT_NE(during.find("HTTP/1.0 200 OK"), std::string::npos) << during;
    EXPECT_NE(during.find("text/plain; version=0.0.4"), std::string::npos);
    EXPECT_NE(during.find("# TYPE tbbpipe_chunks_total counter"), std::string::npos);
    EXPECT_EQ(slurp(dir_ / "after"), "closed\n");
    EXPECT_NE(slurp(dir_ / "log").find("(stdin): OK"), std::string::npos);
}

// A client that trickles a request holds the (one-at-a-time) server for at most its 2 s request
// deadline: a normal scrape behind it is still answered.
TEST_F(CliTest, MetricsEndpointSurvivesASlowClient) {
    make("f", 1024 * 1024);
    ASSERT_EQ(sh("tbbpipe pack -q f").code, 0);
    const Result r = sh(
        "( (cat f.tbp; sleep 5) | '" TBBPIPE_CLI
        "' verify --metrics-listen 127.0.0.1:0 2> log & "
        "for i in $(seq 50); do grep -q 'serving metrics' log && break; sleep 0.05; done; "
        "port=$(grep -o '127.0.0.1:[0-9]*' log | cut -d: -f2); "
        "exec 4<>/dev/tcp/127.0.0.1/$port; printf 'G' >&4; sleep 0.2; "
        "start=$(date +%s%N); exec 3<>/dev/tcp/127.0.0.1/$port && "
        "printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 6 cat <&3 > during; "
        "echo $(( ($(date +%s%N) - start) / 1000000 )) > ms; exec 3>&- 4>&-; wait ) 2>/dev/null");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(slurp(dir_ / "during").find("HTTP/1.0 200 OK"), std::string::npos);
    EXPECT_LT(std::stoi(slurp(dir_ / "ms")), 3500);
}

TEST_F(CliTest, MetricsEndpointRefusesNonLoopbackUnlessAllowed) {
    make("f", 1000);
    ASSERT_EQ(sh("tbbpipe pack -q f").code, 0);
    Result r = sh("tbbpipe verify --metrics-listen 10.1.2.3:9100 f.tbp");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("not a loopback address"), std::string::npos) << r.err;
    r = sh("tbbpipe verify --metrics-listen-any f.tbp");
    EXPECT_EQ(r.code, 2);
    r = sh("tbbpipe verify --metrics-listen nonsense f.tbp");
    EXPECT_EQ(r.code, 2);
}

TEST_F(CliTest, ProgressLineOnATerminalButNotInAPipe) {
    make("f", 20 * 1000 * 1000);
    // A stream that pauses keeps the run going long enough for the line to be drawn; `script`
    // gives it a terminal for stderr.
    Result r = sh("rm -f out.tbp; script -qec \"(head -c 20000000 f; sleep 1.2) | " TBBPIPE_CLI
                  " pack -o out.tbp\" /dev/null > tty.txt");
    EXPECT_EQ(r.code, 0) << r.err;
    const std::string tty = slurp(dir_ / "tty.txt");
    EXPECT_NE(tty.find("MB/s"), std::string::npos) << tty;
    EXPECT_NE(tty.find("files 0/1"), std::string::npos) << tty;
    EXPECT_NE(tty.find("\x1b[J"), std::string::npos) << "the line is redrawn in place";
    // Same run into a pipe: no progress line unless forced.
    r = sh("rm -f out.tbp; (head -c 20000000 f; sleep 1.2) | tbbpipe pack -o out.tbp 2> pipe.txt");
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(slurp(dir_ / "pipe.txt").find("files 0/1"), std::string::npos)
        << slurp(dir_ / "pipe.txt");
    r =
        sh("rm -f out.tbp; (head -c 20000000 f; sleep 1.2) | tbbpipe pack --progress -o out.tbp 2> "
           "forced.txt");
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(slurp(dir_ / "forced.txt").find("files 0/1"), std::string::npos);
    r = sh("rm -f out.tbp; script -qec \"(head -c 20000000 f; sleep 1.2) | " TBBPIPE_CLI
           " pack --no-progress -o out.tbp\" /dev/null > quiet.txt");
    EXPECT_EQ(slurp(dir_ / "quiet.txt").find("files 0/1"), std::string::npos);
}

TEST_F(CliTest, DashboardShowsEveryPanelWithRealFigures) {
    make("f", 8 * 1024 * 1024);
    const Result r =
        sh("(head -c 8388608 f; sleep 0.5) | tbbpipe pack --metrics-interval 200 -o out.tbp");
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* text :
         {"PIPELINE METRICS", "files/s", "MB/s", "chunks/s", "tokens free  cpu",
          "queues      cpu avg", "memory", "of 64.0 MiB", "buffer pool reuse", "chunk cpu",
          "queue wait", "token wait", "io read", "io write", "P99"}) {
        EXPECT_NE(r.err.find(text), std::string::npos) << text << " in\n" << r.err;
    }
}

// On a terminal each redraw moves up exactly the lines it drew (12-line panel: 11 cursor-ups),
// so the dashboard never eats the lines printed above it.
TEST_F(CliTest, DashboardRedrawsInPlaceWithoutEatingEarlierLines) {
    make("f", 20 * 1000 * 1000);
    const Result r = sh("script -qec \"(head -c 20000000 f; sleep 1) | " TBBPIPE_CLI
                        " pack --metrics-interval 300 -o out.tbp\" /dev/null > tty.txt");
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string tty = slurp(dir_ / "tty.txt");
    std::size_t panels = 0, ups = 0;
    for (std::size_t p = 0; (p = tty.find("PIPELINE METRICS", p)) != std::string::npos; ++p)
        ++panels;
    for (std::size_t p = 0; (p = tty.find("\x1b[1A", p)) != std::string::npos; ++p) ++ups;
    ASSERT_GE(panels, 2u) << tty;
    // Every panel but the last is cleared once (by the next panel or by the file's result line).
    EXPECT_EQ(ups, 11 * (panels - 1)) << tty;
}

TEST_F(CliTest, AnUnwritableMetricsFileFailsTheRunButNotTheDashboard) {
    make("f", 4 * 1024 * 1024);
    const Result r = sh("tbbpipe pack --metrics-interval 100 --metrics-file nowhere/m.prom f");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("PIPELINE METRICS"), std::string::npos);
    EXPECT_NE(r.err.find("nowhere/m.prom: cannot create"), std::string::npos) << r.err;
    EXPECT_TRUE(testing::exists(dir_ / "f.tbp"));  // the data itself was fine
}

TEST_F(CliTest, JsonSummaryCarriesEveryMetric) {
    make("f", 2 * 1024 * 1024 + 5);
    const Result r = sh("tbbpipe pack --json f");
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* text :
         {"\"metrics\":{", "\"tbbpipe_chunks_total\":3", "\"tbbpipe_input_bytes_total\":2097157",
          "\"tbbpipe_chunk_transform_seconds\":{\"count\":3",
          "\"p99\":", "\"tbbpipe_tokens_in_use{kind=\\\"cpu\\\"}\":{\"value\":0"}) {
        EXPECT_NE(r.out.find(text), std::string::npos) << text << " in " << r.out;
    }
}

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
    EXPECT_EQ(r.out, "./a/b/two.tbp\n./a/one.tbp\n./c/three.tbp\n./d/empty.tbp\n./top.tbp\n");
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
    EXPECT_NE(r.out.find("\"durability_syncs\":2,"), std::string::npos) << r.out;
    r = sh("tbbpipe pack -r in --output-dir out2 --json --no-fsync");
    EXPECT_NE(r.out.find("\"durability_syncs\":0,"), std::string::npos) << r.out;
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
    EXPECT_LT(rss, 100ll << 20) << "peak RSS " << rss;
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
    EXPECT_EQ(listing.out, "small.tbp\n") << "no partial output, no temporary file";
    EXPECT_EQ(sh("sha256sum -c --quiet sums").code, 0);
}

}  // namespace
}  // namespace tbbpipe
