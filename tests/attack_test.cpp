// Hardening II (issue 12): each attack or mistake performed through the real CLI, with the exit
// code, the message, what was written where, and that the other files came through.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/cli_support.hpp"

namespace tbbpipe {
namespace {

using testing::Bytes;
using testing::CliTest;
using testing::Result;
using testing::slurp;

class AttackTest : public CliTest {
protected:
    // Overwrites bytes of a file at an offset (a forger's edit).
    void poke(const std::string& name, std::size_t offset, const Bytes& bytes) {
        Bytes data = testing::read_file(dir_ / name);
        ASSERT_LE(offset + bytes.size(), data.size());
        std::copy(bytes.begin(), bytes.end(), data.begin() + static_cast<std::ptrdiff_t>(offset));
        testing::write_file(dir_ / name, data);
    }
    // Three ordinary files packed into tree/ (so a hostile one can join them).
    void make_tree() {
        ASSERT_EQ(sh("mkdir -p src tree").code, 0);
        for (const char* name : {"a", "b", "c"}) make(std::string("src/") + name, 300000, name[0]);
        ASSERT_EQ(sh("tbbpipe pack -q -r src --output-dir tree").code, 0);
    }
    void expect_restored(const std::vector<std::string>& names) {
        for (const std::string& name : names) {
            EXPECT_EQ(slurp(dir_ / ("back/" + name)), slurp(dir_ / ("src/" + name))) << name;
        }
    }
};

// 3. A container whose (authentic) chunks are larger than the memory limit affords fails alone
// with exit 1, naming the limit; the others are restored. Its forged twin (the header's chunk
// size edited) fails authentication, exit 3. Both used to fail the whole run.
TEST_F(AttackTest, ChunksLargerThanTheMemoryLimitFailOnlyTheirFile) {
    make_tree();
    make("src/big", 1000);
    ASSERT_EQ(
        sh("tbbpipe pack -q --memory-limit 512M --chunk-size 64M -o tree/big.tbp src/big").code, 0);
    Result r = sh("tbbpipe unpack -r tree --output-dir back --memory-limit 64M");
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("tree/big.tbp: its 67108864-byte chunks need"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("more than the memory limit of 67108864"), std::string::npos) << r.err;
    expect_restored({"a", "b", "c"});
    EXPECT_FALSE(testing::exists(dir_ / "back/big"));

    // A forger makes a small container claim 64 MiB chunks: refused as damaged, alone.
    ASSERT_EQ(sh("rm -rf back tree/big.tbp && cp tree/a.tbp tree/forged.tbp").code, 0);
    poke("tree/forged.tbp", 16, {0x00, 0x00, 0x00, 0x04});  // chunk size 64 MiB, little-endian
    r = sh("tbbpipe unpack -r tree --output-dir back");
    EXPECT_EQ(r.code, 3) << r.err;
    EXPECT_NE(r.err.find("tree/forged.tbp: "), std::string::npos) << r.err;
    expect_restored({"a", "b", "c"});
    EXPECT_FALSE(testing::exists(dir_ / "back/forged"));
}

// 3. A stream of empty chunks that are not the last would cost per-chunk state and no bytes:
// refused at the first, exit 3.
TEST_F(AttackTest, EmptyChunksBeforeTheLastAreRefused) {
    make("empty", 0);
    ASSERT_EQ(sh("tbbpipe pack -q empty").code, 0);
    const Bytes real = testing::read_file(dir_ / "empty.tbp");
    ASSERT_GT(real.size(), 144u + 24u);
    // The real header, then 10,000 empty records flagged not-last, counting up.
    Bytes forged(real.begin(), real.begin() + 144);
    for (std::uint64_t i = 0; i < 10000; ++i) {
        Bytes record = {'T', 'B', 'P', 'C', 0, 0, 0, 0};
        for (int b = 0; b < 8; ++b) record.push_back(static_cast<std::uint8_t>(i >> (8 * b)));
        record.resize(24, 0);  // raw size 0, stored size 0
        forged.insert(forged.end(), record.begin(), record.end());
    }
    testing::write_file(dir_ / "forged.tbp", forged);
    Result r = sh("cat forged.tbp | tbbpipe verify -");
    EXPECT_EQ(r.code, 3) << r.err;
    EXPECT_NE(r.err.find("chunk 0 at offset 144: an empty chunk before the last"),
              std::string::npos)
        << r.err;
}

// 4. scrypt costs are capped before anything is derived: the top of the range, the memory, the
// total work (N * r * p) and a floor. Each edit is refused at once as a damaged header.
TEST_F(AttackTest, HostileScryptCostsAreRefusedBeforeDeriving) {
    make("f", 1000);
    ASSERT_EQ(sh("TBBPIPE_PASSPHRASE=pw tbbpipe pack -q --scrypt-log2n 14 f").code, 0);
    struct Edit {
        std::uint8_t log2_n, r, p;
    };
    // log2 N 20 (the old cap, 1 GiB); 264 MiB via r; work 2^25 via p; log2 N 10 (the floor).
    for (const Edit e : {Edit{20, 8, 4}, Edit{16, 33, 1}, Edit{18, 8, 16}, Edit{10, 8, 4}}) {
        ASSERT_EQ(sh("cp f.tbp g.tbp").code, 0);
        poke("g.tbp", 21, {e.log2_n, e.r, e.p});
        const Result r = sh("TBBPIPE_PASSPHRASE=pw tbbpipe verify g.tbp");
        EXPECT_EQ(r.code, 3) << int(e.log2_n) << " " << int(e.r) << " " << int(e.p) << r.err;
        EXPECT_NE(r.err.find("outside what a reader accepts"), std::string::npos) << r.err;
    }
    EXPECT_EQ(sh("TBBPIPE_PASSPHRASE=pw tbbpipe verify f.tbp").code, 0);
}

// 2. A folder of the output tree swapped for a link while the run goes: the files that belong in
// it are not written (through the link or anywhere), the rest is restored, nothing lands outside.
// The first (large) file's writes are slowed down so the swap happens while it is written.
TEST_F(AttackTest, AFolderSwappedForALinkMidRunCannotRedirectOutputs) {
    ASSERT_EQ(sh("mkdir -p src/sub evil").code, 0);
    make("src/first", 8 << 20);
    make("src/sub/x", 20000, 2);
    make("src/sub/y", 30000, 3);
    ASSERT_EQ(sh("tbbpipe pack -q -r src --output-dir tree --chunk-size 256K").code, 0);
    const std::string slow =
        "ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 LD_PRELOAD='" TBBPIPE_FAULT_LIB
        "' TBBPIPE_FAULT_PATH=/out/.first. TBBPIPE_FAULT_OP=write TBBPIPE_FAULT_MODE=delay:40 ";
    const std::string script =
        slow + "'" TBBPIPE_CLI "' unpack -r tree --output-dir out --scheduler fifo -T 1 " +
        "--no-fsync 2>err.txt & run=$!\n" +
        "for i in $(seq 500); do ls -a out 2>/dev/null | grep -q '^[.]first[.]tbbpipe-' " +
        "&& break; sleep 0.01; done\n" + "mv out/sub out/sub.moved && ln -s ../evil out/sub\n" +
        "wait $run; code=$?; cat err.txt >&2; exit $code";
    const Result r = sh(script);
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("refusing to write through a symbolic link"), std::string::npos) << r.err;
    EXPECT_EQ(sh("ls -A evil | wc -l").out, "0\n") << "an output escaped the tree";
    EXPECT_EQ(sh("ls -A out/sub.moved | wc -l").out, "0\n");
    EXPECT_EQ(slurp(dir_ / "out/first"), slurp(dir_ / "src/first"));
}

}  // namespace
}  // namespace tbbpipe
