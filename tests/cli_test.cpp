// CLI tests: run the real tbbpipe binary and check exit codes, stdout, stderr and the files left
// behind (the conventions of issue 2: overwrite refusal, --rm, streams, terminals, signals).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tbbpipe/engine.hpp"
#include "tests/cli_support.hpp"

namespace tbbpipe {
namespace {

using testing::Bytes;
using testing::CliTest;
using testing::Result;
using testing::ScratchDir;
using testing::slurp;

TEST_F(CliTest, HelpDocumentsCommandsAndExitCodes) {
    const Result r = sh("tbbpipe --help");
    EXPECT_EQ(r.code, 0);
    for (const char* text :
         {"pack", "unpack", "verify", "info", "keygen", "--key-file", "--chunk-size", "--stages",
          "deflate", "Exit codes", "130", "integrity"}) {
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
         {"frobnicate f", "pack --bogus f", "unpack --compress lz4 f.tbp", "pack -T 2000 f",
          "pack --compress none --level 3 f", "pack --chunk-size 3K f", "pack --chunk-size 12Q f",
          "pack --cipher rot13 f", "pack -o x -c f", "verify -o x f.tbp", "keygen --rm",
          "pack --rm -c f", "pack --key-file f --passphrase-file f f"}) {
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

// An output that names its own input is refused, with -f too (it would be replaced by its own
// container), and the input stays as it was; a hard link to it is the same file.
TEST_F(CliTest, AnOutputThatIsItsOwnInputIsRefused) {
    make("f", 5000);
    const std::string before = slurp(dir_ / "f");
    ASSERT_EQ(sh("ln f g").code, 0);
    // Exit 1 (the output exists) without -f, 2 (a command-line mistake) with it.
    for (const auto& [cmd, code] :
         {std::pair{"tbbpipe pack -o f f", 1}, std::pair{"tbbpipe pack -f -o f f", 2},
          std::pair{"tbbpipe pack -f -o g f", 2}}) {
        const Result r = sh(cmd);
        EXPECT_EQ(r.code, code) << cmd << ": " << r.err;
        EXPECT_EQ(slurp(dir_ / "f"), before) << cmd;
    }
    EXPECT_NE(sh("tbbpipe pack -f -o f f").err.find("refusing to overwrite the input"),
              std::string::npos);
    EXPECT_NE(sh("tbbpipe pack -o f f").err.find("already exists"), std::string::npos);
    EXPECT_EQ(files(), (std::vector<std::string>{"f", "g"}));
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

TEST_F(CliTest, WrongKeyExitsThreeWrongKeyTypeTwoWithoutLeakingKeys) {
    make("f", 10000);
    ASSERT_EQ(
        sh("tbbpipe keygen -o k && tbbpipe keygen -o other && tbbpipe pack --key-file k f").code,
        0);
    Result r = sh("tbbpipe unpack --key-file other -o g f.tbp");
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("wrong key or passphrase"), std::string::npos) << r.err;
    r = sh("TBBPIPE_PASSPHRASE=swordfish tbbpipe verify f.tbp");
    EXPECT_EQ(r.code, 2);  // a usage mistake: the header says which kind of key it needs
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
                             "\"largest_chunk_bytes\":65536", "\"original_bytes\":300000",
                             "\"root_digest\":\"", "\"index\":[{\"index\":0,\"offset\":144"}) {
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
    r = sh("TBBPIPE_PASSPHRASE=pw tbbpipe pack -f --scrypt-log2n 19 f");  // above the reader's cap
    EXPECT_EQ(r.code, 2);
    // The costliest the writer allows, the reader accepts (19 and 20 once made containers that
    // no reader would open: 512 MiB and 1 GiB against a 256 MiB cap).
    r =
        sh("TBBPIPE_PASSPHRASE=pw tbbpipe pack -f --scrypt-log2n 18 f && "
           "TBBPIPE_PASSPHRASE=pw tbbpipe verify f.tbp");
    EXPECT_EQ(r.code, 0) << r.err;
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
    EXPECT_NE(during.find(" 200 OK"), std::string::npos) << during;
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
    EXPECT_NE(slurp(dir_ / "during").find(" 200 OK"), std::string::npos);
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

// On a terminal each redraw moves up exactly the lines it drew (13-line panel: 12 cursor-ups),
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
    EXPECT_EQ(ups, 12 * (panels - 1)) << tty;
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

// --- stages ----------------------------------------------------------------------------------

TEST_F(CliTest, StagesRunInOrderAreRecordedAndReversed) {
    make("f", 3 * 1024 * 1024 + 5);
    ASSERT_EQ(sh("tbbpipe keygen -o k").code, 0);
    const Result packed =
        sh("tbbpipe pack --stages deflate,chacha20-poly1305,sha256 --key-file k f");
    ASSERT_EQ(packed.code, 0) << packed.err;
    const Result info = sh("tbbpipe info --key-file k f.tbp");
    ASSERT_EQ(info.code, 0) << info.err;
    EXPECT_NE(info.out.find("stages:        deflate,chacha20-poly1305,sha256 (recorded)"),
              std::string::npos)
        << info.out;
    const Result json = sh("tbbpipe info --json f.tbp");  // no key: the header still says it
    EXPECT_NE(json.out.find("\"stages\":\"deflate,chacha20-poly1305,sha256\""), std::string::npos)
        << json.out;
    ASSERT_EQ(sh("mv f original && tbbpipe unpack --key-file k f.tbp && cmp f original").code, 0);

    // Built-in stages only: the header says it all, nothing is recorded.
    ASSERT_EQ(sh("tbbpipe pack --stages lz4hc -o plain.tbp original").code, 0);
    EXPECT_NE(sh("tbbpipe info plain.tbp").out.find("stages:        lz4hc,xxh3\n"),
              std::string::npos);
}

TEST_F(CliTest, TheHashIsChosenRecordedAndChecked) {
    make("f", 300000);
    ASSERT_EQ(sh("tbbpipe keygen -o k").code, 0);
    for (const char* hash : {"sha256", "xxh3"}) {
        const Result packed = sh(std::string("tbbpipe pack -f --hash ") + hash + " f");
        ASSERT_EQ(packed.code, 0) << packed.err;
        EXPECT_NE(sh("tbbpipe info f.tbp").out.find(std::string("hash:          ") + hash + "\n"),
                  std::string::npos);
        EXPECT_EQ(sh("tbbpipe verify f.tbp").code, 0);
    }
    EXPECT_EQ(
        sh("tbbpipe pack -f --hash none --key-file k f && tbbpipe verify --key-file k f.tbp").code,
        0);
    const Result plain_none = sh("tbbpipe pack -f --hash none f");
    EXPECT_EQ(plain_none.code, 2);
    EXPECT_NE(plain_none.err.find("hash none needs a key or passphrase"), std::string::npos)
        << plain_none.err;
    const Result disagree = sh("tbbpipe pack -f --hash sha256 --stages lz4,xxh3 f");
    EXPECT_EQ(disagree.code, 2);
    EXPECT_NE(disagree.err.find("names the digest xxh3, the hash option says sha256"),
              std::string::npos)
        << disagree.err;
    EXPECT_EQ(sh("tbbpipe pack -f --hash md5 f").code, 2);
    EXPECT_EQ(sh("tbbpipe verify --hash xxh3 f.tbp").code, 2);  // pack only
}

TEST_F(CliTest, BadStageSpecsExitTwoListingTheRegisteredStages) {
    make("f", 1000);
    ASSERT_EQ(sh("tbbpipe keygen -o k").code, 0);
    const Result unknown = sh("tbbpipe pack --stages xor-mask,lz4 f");
    EXPECT_EQ(unknown.code, 2);
    EXPECT_NE(unknown.err.find("unknown stage 'xor-mask'; registered: lz4, lz4hc, aes-256-gcm, "
                               "chacha20-poly1305, sha256, xxh3, deflate"),
              std::string::npos)
        << unknown.err;
    for (const char* args :
         {"--stages lz4,lz4hc f", "--stages aes-256-gcm,lz4 --key-file k f",
          "--stages lz4,aes-256-gcm f", "--stages lz4 --key-file k f",
          "--stages lz4 --compress lz4 f", "--stages deflate --cipher aes-256-gcm f",
          "--stages deflate --level 3 f", "--stages '' f"}) {
        const Result r = sh(std::string("tbbpipe pack ") + args);
        EXPECT_EQ(r.code, 2) << args << ": " << r.err;
        EXPECT_NE(r.err.find("tbbpipe: "), std::string::npos) << args;
    }
    EXPECT_EQ(sh("tbbpipe unpack --stages lz4 f.tbp").code, 2);  // pack only
    EXPECT_EQ(files(), (std::vector<std::string>{"f", "k"}));
}

// A container made by a program that registered its own stage: the CLI names what it lacks.
class Rot1 final : public Stage {
public:
    void encode(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) const override {
        for (const std::uint8_t b : in) out.push_back(static_cast<std::uint8_t>(b + 1));
    }
    bool decode(std::span<const std::uint8_t> in, std::size_t,
                std::vector<std::uint8_t>& out) const override {
        for (const std::uint8_t b : in) out.push_back(static_cast<std::uint8_t>(b - 1));
        return true;
    }
};

TEST_F(CliTest, AContainerNeedingAnUnregisteredStageExitsOneNamingIt) {
    make("f", 200000);
    EngineConfig config;  // a program with a stage the CLI does not have
    ASSERT_TRUE(config.stages.add("rot1", std::make_shared<Rot1>()).is_ok());
    Engine engine(config);
    Job job;
    job.files = {{dir_ / "f", dir_ / "f.tbp"}};
    job.pack.stages = "rot1,lz4";
    tbbpipe::Result<JobHandle> submitted = engine.submit(std::move(job));
    ASSERT_TRUE(submitted.ok()) << submitted.status().message();
    ASSERT_TRUE(submitted.value().wait().status.is_ok());
    for (const char* command : {"unpack -o out f.tbp", "verify f.tbp"}) {
        const Result r = sh(std::string("tbbpipe ") + command);
        EXPECT_EQ(r.code, 1) << command << ": " << r.err;
        EXPECT_NE(r.err.find("f.tbp: the container needs stage 'rot1' (stage 1 of "
                             "'rot1,lz4,xxh3'), which is not registered here; registered: lz4"),
                  std::string::npos)
            << r.err;
    }
    EXPECT_NE(sh("tbbpipe info f.tbp").out.find("rot1,lz4,xxh3 (recorded)"), std::string::npos);
    EXPECT_EQ(files(), (std::vector<std::string>{"f", "f.tbp"}));
}

TEST_F(CliTest, StagePluginsAddStagesThePackAndUnpackUse) {
    make("f", 300000);
    const std::string plugin = std::string("--stage-plugin '") + TBBPIPE_TEST_PLUGIN + "' ";
    const Result packed = sh("tbbpipe " + plugin + "pack --stages rot13,lz4 f");
    ASSERT_EQ(packed.code, 0) << packed.err;
    EXPECT_NE(sh("tbbpipe info f.tbp").out.find("rot13,lz4,xxh3 (recorded)"), std::string::npos);
    const Result missing = sh("tbbpipe unpack -o out f.tbp");
    EXPECT_EQ(missing.code, 1);
    EXPECT_NE(missing.err.find("needs stage 'rot13'"), std::string::npos) << missing.err;
    const Result unpacked = sh("tbbpipe " + plugin + "unpack -o out f.tbp && cmp f out");
    EXPECT_EQ(unpacked.code, 0) << unpacked.err;
    EXPECT_EQ(sh("tbbpipe " + plugin + "verify f.tbp").code, 0);

    // What is not a usable plugin stops the run before anything is read, naming the file.
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"/nonexistent/plugin.so", "cannot load the stage plugin"},
        {TBBPIPE_NOT_A_PLUGIN, "not a tbbpipe stage plugin"},
        {TBBPIPE_TEST_PLUGIN_REFUSING, "the stage plugin refused to register (returned 7"},
    };
    for (const auto& entry : bad) {
        const Result r =
            sh("tbbpipe --stage-plugin '" + entry.first + "' pack --stages lz4 -o g.tbp f");
        EXPECT_EQ(r.code, 2) << entry.first << ": " << r.err;
        EXPECT_NE(r.err.find(entry.first + ": " + entry.second), std::string::npos) << r.err;
    }
    // The same plugin twice registers rot13 twice: refused, not silently ignored.
    EXPECT_EQ(sh("tbbpipe " + plugin + plugin + "pack --stages lz4 -o g.tbp f").code, 2);
    EXPECT_EQ(files(), (std::vector<std::string>{"f", "f.tbp", "out"}));
}

}  // namespace
}  // namespace tbbpipe
