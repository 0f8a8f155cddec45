// Everyday use (issue 14), through the real CLI: devices and FIFOs as outputs and inputs, the
// habits zstd users bring (-T0, -k, -qq/-vv), help per command, suggestions for typos, what a run
// of many files prints, info's chunk sizes, and the progress line and dashboard on a narrow
// terminal (a pty from `script`, its width set with stty).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <string>

#include "tests/cli_support.hpp"

namespace tbbpipe {
namespace {

using testing::CliTest;
using testing::Result;
using testing::slurp;

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size())
        ++n;
    return n;
}

using HabitsTest = CliTest;

TEST_F(HabitsTest, ACharacterDeviceGivenAsTheOutputIsWrittenThroughNotReplaced) {
    if (::geteuid() != 0) GTEST_SKIP() << "mknod needs root";
    make("f", 300000);
    ASSERT_EQ(::mknod((dir_ / "mynull").c_str(), S_IFCHR | 0666, ::makedev(1, 3)), 0);
    for (const char* command : {"tbbpipe pack -o mynull f", "tbbpipe pack -f -o mynull f",
                                "tbbpipe pack -o /dev/null f"}) {
        const Result r = sh(command);
        EXPECT_EQ(r.code, 0) << command << ": " << r.err;
        struct stat st {};
        ASSERT_EQ(::stat((dir_ / "mynull").c_str(), &st), 0);
        EXPECT_TRUE(S_ISCHR(st.st_mode)) << command << " replaced the device node";
    }
    ASSERT_EQ(sh("tbbpipe pack f").code, 0);
    const Result r = sh("tbbpipe unpack -f -o mynull f.tbp");
    EXPECT_EQ(r.code, 0) << r.err;
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / "mynull").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << "unpack replaced the device node";
}

TEST_F(HabitsTest, AFifoGivenAsTheOutputIsWrittenThrough) {
    make("f", 300000);
    const Result r =
        sh("mkfifo pipe && (cat pipe > got &) && tbbpipe pack -o pipe f && sleep 0.2 "
           "&& tbbpipe verify < got");
    EXPECT_EQ(r.code, 0) << r.err;
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / "pipe").c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST_F(HabitsTest, StandardInputNamedTwiceIsAUsageError) {
    const Result r = sh("echo hi | tbbpipe pack - -");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("standard input (-) is named twice"), std::string::npos) << r.err;
    EXPECT_EQ(files(), std::vector<std::string>{});  // nothing written
}

TEST_F(HabitsTest, DevicesAsInputsAreRefusedUnlessAsked) {
    Result r = sh("tbbpipe pack -o z.tbp /dev/zero");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("/dev/zero"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--read-devices"), std::string::npos) << r.err;
    EXPECT_FALSE(testing::exists(dir_ / "z.tbp"));
    r = sh("tbbpipe pack --read-devices -o n.tbp /dev/null && tbbpipe verify n.tbp");
    EXPECT_EQ(r.code, 0) << r.err;
    // A FIFO stays an input without asking.
    r = sh("mkfifo in && (head -c 100000 /dev/urandom > in &) && tbbpipe pack -o p.tbp in");
    EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(HabitsTest, ZstdHabitsAreAccepted) {
    make("f", 300000);
    Result r = sh("tbbpipe pack -T0 -k f");  // all cores; inputs are kept anyway
    EXPECT_EQ(r.code, 0) << r.err;
    r = sh("tbbpipe unpack -qq -o g f.tbp && cmp f g");
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.err, "");
    r = sh("tbbpipe unpack -qq -o g f.tbp");  // exists: the exit code says it, nothing else
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "");
    r = sh("tbbpipe unpack -q -o g f.tbp");  // -q: the error is still said
    EXPECT_NE(r.err.find("g already exists"), std::string::npos) << r.err;
    r = sh("tbbpipe verify -vv f.tbp");
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.err.find("engine: cpu tokens"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("chunks, done"), std::string::npos) << r.err;
    r = sh("tbbpipe verify -v f.tbp");
    EXPECT_EQ(r.err.find("chunks, done"), std::string::npos) << r.err;
}

TEST_F(HabitsTest, EachCommandHasItsOwnHelpAndBareTbbpipeAShortUsage) {
    const Result all = sh("tbbpipe --help");
    const Result pack = sh("tbbpipe pack --help");
    ASSERT_EQ(pack.code, 0);
    EXPECT_LT(count(pack.out, "\n"), count(all.out, "\n"));
    EXPECT_NE(pack.out.find("--compress"), std::string::npos);
    EXPECT_NE(pack.out.find("--key-file"), std::string::npos);
    const Result info = sh("tbbpipe info --help");
    EXPECT_EQ(info.out.find("--compress"), std::string::npos) << info.out;
    EXPECT_EQ(sh("tbbpipe help pack").out, pack.out);
    const Result bare = sh("tbbpipe");
    EXPECT_EQ(bare.code, 2);
    EXPECT_LE(count(bare.err, "\n"), 3u) << bare.err;
    EXPECT_NE(bare.err.find("Usage: tbbpipe"), std::string::npos);
}

TEST_F(HabitsTest, ATypoSuggestsTheNearestNameAndPointsToHelpOnce) {
    make("f", 1000);
    Result r = sh("tbbpipe pack --key-fiel k f");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("did you mean --key-file?"), std::string::npos) << r.err;
    EXPECT_EQ(count(r.err, "tbbpipe --help"), 1u) << r.err;
    r = sh("tbbpipe unpak f.tbp");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("did you mean unpack?"), std::string::npos) << r.err;
    EXPECT_EQ(count(r.err, "tbbpipe --help"), 1u) << r.err;
    r = sh("tbbpipe pack --zzzzzzzzzz f");  // nothing near: no guess
    EXPECT_EQ(r.err.find("did you mean"), std::string::npos) << r.err;
}

TEST_F(HabitsTest, ManyFilesPrintOneSummaryLineAndPerFileLinesOnlyWithVerbose) {
    for (int i = 0; i < 5; ++i) make("f" + std::to_string(i), 1000 + i, i + 1);
    Result r = sh("tbbpipe pack f0 f1 f2 f3 f4");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(count(r.err, "\n"), 1u) << r.err;
    EXPECT_NE(r.err.find("5 files, 0 failed"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(" 0 MB/s"), std::string::npos) << r.err;
    r = sh("tbbpipe verify -v f0.tbp f1.tbp f2.tbp f3.tbp f4.tbp");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(count(r.err, "\n"), 6u) << r.err;  // a line per file and the summary
    r = sh("tbbpipe verify -q f0.tbp f1.tbp f2.tbp f3.tbp f4.tbp");
    EXPECT_EQ(r.err, "");
}

TEST_F(HabitsTest, HelpAndCodeAgreeOnLevelsAndKeygenNamesAnExistingFileOnce) {
    make("f", 1000);
    EXPECT_NE(sh("tbbpipe pack --help").out.find("lz4hc: 3..12"), std::string::npos);
    EXPECT_EQ(sh("tbbpipe pack --compress lz4hc --level 2 f").code, 2);
    EXPECT_EQ(sh("tbbpipe pack --compress lz4hc --level 3 f").code, 0);
    ASSERT_EQ(sh("tbbpipe keygen -o my.key").code, 0);
    const Result r = sh("tbbpipe keygen -o my.key");
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(count(r.err, "my.key"), 1u) << r.err;
}

TEST_F(HabitsTest, InfoShowsTheLargestChunkAndTheRealDistribution) {
    make("f", 5 * 65536 + 100);
    ASSERT_EQ(sh("tbbpipe pack --chunk-size 64K f").code, 0);
    const Result r = sh("tbbpipe info f.tbp");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("largest chunk: 65536 bytes"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("chunk sizes:   smallest 100, median 65536, largest 65536"),
              std::string::npos)
        << r.out;
}

// A pty 40 columns wide: every redraw of the progress line stays on its line (no line feed
// between redraws, no line longer than the terminal), and the ETA appears.
TEST_F(HabitsTest, TheProgressLineFitsANarrowTerminal) {
    make("f", 20 * 1000 * 1000);
    const Result r = sh("script -qec \"stty cols 40; (head -c 20000000 f; sleep 1.5) | " TBBPIPE_CLI
                        " pack -o out.tbp\" /dev/null > tty.txt");
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string tty = slurp(dir_ / "tty.txt");
    ASSERT_NE(tty.find("MB/s"), std::string::npos) << tty;
    // Everything before the result line is redraws: carriage returns, never a new line.
    const std::size_t result = tty.find("out.tbp");
    ASSERT_NE(result, std::string::npos) << tty;
    const std::string redraws = tty.substr(0, tty.rfind('\r', result));
    EXPECT_EQ(redraws.find('\n'), std::string::npos) << redraws;
    for (std::size_t at = 0, next; at < redraws.size(); at = next + 1) {
        next = std::min(redraws.find('\r', at), redraws.size());
        const std::string drawn = redraws.substr(at, next - at);
        EXPECT_LT(drawn.size() - std::min(drawn.size(), count(drawn, "\x1b[J") * 3), 40u) << drawn;
    }
}

// Every drawn line, escape sequences taken out, split at line feeds and carriage returns.
std::vector<std::string> drawn_lines(std::string tty) {
    for (const std::string seq : {"\x1b[1A", "\x1b[J"}) {
        for (std::size_t at; (at = tty.find(seq)) != std::string::npos;) tty.erase(at, seq.size());
    }
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t end; (end = tty.find_first_of("\r\n", start)) != std::string::npos;
         start = end + 1) {
        lines.push_back(tty.substr(start, end - start));
    }
    return lines;
}

TEST_F(HabitsTest, TheDashboardFitsShowsProgressAndEndsBeforeTheSummary) {
    make("f", 20 * 1000 * 1000);
    Result r = sh("script -qec \"stty cols 40; (head -c 20000000 f; sleep 1) | " TBBPIPE_CLI
                  " pack --metrics-interval 300 -o out.tbp\" /dev/null > tty.txt");
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string tty = slurp(dir_ / "tty.txt");
    EXPECT_GE(count(tty, "PIPELINE METRICS"), 2u) << tty;
    // No drawn line reaches the 40th column (the result line is text, not a redraw).
    for (const std::string& line : drawn_lines(tty)) {
        if (line.find("out.tbp") == std::string::npos) {
            EXPECT_LT(line.size(), 40u) << line;
        }
    }
    // The last frame comes before the file's result line.
    EXPECT_LT(tty.rfind("PIPELINE METRICS"), tty.rfind("out.tbp")) << tty;
    // Of a file the total is known: bytes of the total and the percent, cut to fit.
    r = sh("script -qec \"stty cols 40; " TBBPIPE_CLI
           " pack -f --metrics-interval 300 -o out.tbp f\" /dev/null > tty2.txt");
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string tty2 = slurp(dir_ / "tty2.txt");
    EXPECT_NE(tty2.find("progress    19.1 MiB / 19.1 MiB (100"), std::string::npos) << tty2;
    // Off a terminal nothing is cut: the whole progress panel line, and the files done.
    r = sh("tbbpipe pack -f --metrics-interval 300 -o out.tbp f");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("progress    19.1 MiB / 19.1 MiB (100.0%)   files 1/1"), std::string::npos)
        << r.err;
    EXPECT_LT(r.err.rfind("PIPELINE METRICS"), r.err.rfind("out.tbp")) << r.err;
}

TEST_F(HabitsTest, TheProgressLineShowsAnEtaOnceTheRateIsKnown) {
    make("f", 40 * 1000 * 1000);
    // Slow input: about 4 MB/s for 5 s, so several redraws carry an ETA.
    const Result r =
        sh("script -qec \"stty cols 120; (for i in 1 2 3 4 5; do head -c 4000000; "
           "sleep 1; done) < f | " TBBPIPE_CLI
           " pack --progress --no-fsync -o out.tbp"
           "\" /dev/null > tty.txt");
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string tty = slurp(dir_ / "tty.txt");
    // A stream has no known total: no ETA, and no fake one.
    EXPECT_EQ(tty.find("ETA"), std::string::npos) << tty;
    const Result file = sh("script -qec \"stty cols 120; " TBBPIPE_CLI
                           " pack -f --progress --io-tokens 1 --cpu-tokens 1 --chunk-size 64K "
                           "--compress lz4hc --level 12 -o out.tbp f\" /dev/null > tty2.txt");
    ASSERT_EQ(file.code, 0) << file.err;
    const std::string tty2 = slurp(dir_ / "tty2.txt");
    EXPECT_NE(tty2.find("ETA 0:"), std::string::npos) << tty2;
}

}  // namespace
}  // namespace tbbpipe
