// Inline I/O (core/no_block.hpp): the I/O primitives that say WouldBlock instead of waiting,
// and which of a job's reads and writes the engine runs on its arena threads.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "core/no_block.hpp"
#include "jobs/device_speed.hpp"
#include "jobs/file_io.hpp"
#include "tests/job_support.hpp"
#include "tests/test_support.hpp"

namespace tbbpipe::jobs {
namespace {

using testing::Bytes;
using testing::DataKind;
using testing::ScratchDir;

struct Pipe {
    Pipe() { EXPECT_EQ(::pipe(fds), 0); }
    ~Pipe() {
        for (const int fd : fds) {
            if (fd >= 0) ::close(fd);
        }
    }
    void close_end(int i) {
        ::close(fds[i]);
        fds[i] = -1;
    }
    int fds[2] = {-1, -1};
};

// A scratch folder in memory (/dev/shm when it is a tmpfs), or none.
bool shm_is_tmpfs() {
    struct statfs fs {};
    return ::statfs("/dev/shm", &fs) == 0 && fs.f_type == 0x01021994;  // TMPFS_MAGIC
}

// Writes data to path, flushes it and drops it from the page cache. false: the cache kept it,
// or the file system cannot tell a cached read from one that waits (no RWF_NOWAIT), so the
// test has nothing to see.
bool write_uncached(const std::string& path, const Bytes& data) {
    testing::write_file(path, data);
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return false;
    struct stat st {};
    ::fstat(fd, &st);
    if (device_speed(st, fd) == DeviceSpeed::kMemory) {
        ::close(fd);
        return false;  // tmpfs: there is no device to wait for
    }
    std::uint8_t probe = 0;
    iovec v{&probe, 1};
    const bool nowait_works = ::preadv2(fd, &v, 1, 0, RWF_NOWAIT) == 1;  // cached right now
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    const bool evicted = ::preadv2(fd, &v, 1, 0, RWF_NOWAIT) < 0 && errno == EAGAIN;
    ::close(fd);
    return nowait_works && evicted;
}

TEST(NonBlockingIo, APipeIsNeverOpenedOrReadWhereBlockingIsNotAllowed) {
    ScratchDir dir;
    const std::string fifo = dir / "fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    Pipe pipe;
    std::uint8_t buf[16];
    {
        const NonBlocking scope;
        EXPECT_FALSE(blocking_allowed());
        EXPECT_THROW(open_input(fifo, /*expect_regular=*/false), WouldBlock);
        EXPECT_THROW(read_full(pipe.fds[0], buf, sizeof buf), WouldBlock);
    }
    EXPECT_TRUE(blocking_allowed());
}

TEST(NonBlockingIo, AReadOfDataNotInThePageCacheSaysWouldBlockAndLaterSucceeds) {
    ScratchDir dir;
    const std::string path = dir / "cold";
    const Bytes data = testing::make_data(1 << 20, DataKind::kMixed);
    if (!write_uncached(path, data)) GTEST_SKIP() << "cannot evict a file from the page cache here";
    struct stat st {};
    FileHandle in = open_input(path, true, &st);
    Bytes got(data.size());
    {
        const NonBlocking scope;
        EXPECT_THROW(pread_full(in.fd(), got.data(), got.size(), 0), WouldBlock);
    }
    ASSERT_EQ(pread_full(in.fd(), got.data(), got.size(), 0), got.size());  // may wait: it does
    EXPECT_EQ(got, data);
    const NonBlocking scope;  // now it is cached
    Bytes again(data.size());
    InputFacts facts;
    facts.size = static_cast<std::uint64_t>(st.st_size);
    EXPECT_EQ(pread_full(in.fd(), again.data(), again.size(), 0, facts), again.size());
    EXPECT_EQ(again, data);
}

TEST(NonBlockingIo, DevicesAreSortedBySpeed) {
    EXPECT_EQ(device_speed_of_path("/dev/null"), DeviceSpeed::kMemory);
    Pipe pipe;
    EXPECT_EQ(device_speed_of_fd(pipe.fds[1]), DeviceSpeed::kOther);
    if (shm_is_tmpfs()) {
        EXPECT_EQ(device_speed_of_path("/dev/shm/not-there/x"), DeviceSpeed::kMemory);
    }
    EXPECT_TRUE(writes_may_run_inline(DeviceSpeed::kMemory));
    EXPECT_TRUE(writes_may_run_inline(DeviceSpeed::kFast));
    EXPECT_FALSE(writes_may_run_inline(DeviceSpeed::kDisk));
    EXPECT_FALSE(writes_may_run_inline(DeviceSpeed::kOther));
    EXPECT_TRUE(reads_may_run_inline(DeviceSpeed::kDisk));
    EXPECT_FALSE(reads_may_run_inline(DeviceSpeed::kOther));
}

TEST(NonBlockingIo, PipesAreWidenedToOneMebibyte) {
    std::ifstream max_file("/proc/sys/fs/pipe-max-size");
    long max = 0;
    if (!(max_file >> max) || max < (1 << 20)) GTEST_SKIP() << "pipe-max-size below 1 MiB";
    Pipe pipe;
    widen_pipe(pipe.fds[1]);
    EXPECT_GE(::fcntl(pipe.fds[1], F_GETPIPE_SZ), 1 << 20);
}

// Many small files in memory: every write on an arena thread, and (a busy claim lock aside)
// every read too. The containers are the same as ever: they unpack to the inputs.
TEST(InlineIo, SmallFilesInMemoryAreReadAndWrittenOnTheArenaThreads) {
    if (!shm_is_tmpfs()) GTEST_SKIP() << "/dev/shm is not a tmpfs";
    const std::string root = "/dev/shm/tbbpipe-inline-XXXXXX";
    std::string pattern = root;
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    const std::string dir = pattern;
    std::vector<Job::File> files;
    for (int i = 0; i < 60; ++i) {
        const std::string in = dir + "/f" + std::to_string(i);
        testing::write_file(
            in, testing::make_data(1000 + 97 * static_cast<std::size_t>(i), DataKind::kMixed,
                                   static_cast<std::uint32_t>(i)));
        files.push_back({in, in + ".tbp"});
    }
    testing::Jobs jobs;
    const testing::BatchRun packed = jobs.run_batch(Operation::kPack, files);
    for (const FileResult& f : packed.files) ASSERT_TRUE(f.status.is_ok()) << f.status.message();
    EXPECT_EQ(packed.stats.writes_inline, 60u);
    EXPECT_EQ(packed.stats.writes_handed_off, 0u);
    EXPECT_GE(packed.stats.reads_inline, 50u);
    std::vector<Job::File> back;
    back.reserve(files.size());
    for (const Job::File& f : files) back.push_back({f.output, f.input + ".back"});
    const testing::BatchRun unpacked = jobs.run_batch(Operation::kUnpack, back);
    for (const FileResult& f : unpacked.files) ASSERT_TRUE(f.status.is_ok()) << f.status.message();
    for (const Job::File& f : files) {
        EXPECT_EQ(testing::read_file(f.input + ".back"), testing::read_file(f.input)) << f.input;
    }
    EXPECT_EQ(unpacked.stats.writes_inline, 60u);
    std::filesystem::remove_all(dir);
}

// A pipe may stall for as long as its reader likes: its writes go to the writer thread.
TEST(InlineIo, APipeOutputIsWrittenByTheWriterThread) {
    ScratchDir dir;
    const Bytes data = testing::make_data(3 << 20, DataKind::kMixed);
    testing::write_file(dir / "in", data);
    Pipe pipe;
    std::thread drain([fd = pipe.fds[0]] {
        std::uint8_t buf[65536];
        while (::read(fd, buf, sizeof buf) > 0) {
        }
    });
    Job::File f{dir / "in", "(pipe)"};
    f.output_fd = pipe.fds[1];
    testing::Jobs jobs;
    const testing::BatchRun r = jobs.run_batch(Operation::kPack, {f});
    pipe.close_end(1);
    drain.join();
    ASSERT_TRUE(r.files.front().status.is_ok()) << r.files.front().status.message();
    EXPECT_EQ(r.stats.writes_inline, 0u);
    EXPECT_EQ(r.stats.writes_handed_off, 3u);
}

// A pipe as input: read in order under the claim, on an I/O thread.
TEST(InlineIo, AStreamInputIsReadByTheIoThreads) {
    const Bytes data = testing::make_data(3 << 20, DataKind::kMixed);
    ScratchDir dir;
    Pipe pipe;
    std::thread feed([&] {
        std::size_t done = 0;
        while (done < data.size()) {
            const ssize_t w = ::write(pipe.fds[1], data.data() + done, data.size() - done);
            if (w <= 0) break;
            done += static_cast<std::size_t>(w);
        }
        pipe.close_end(1);
    });
    Job::File f{"(pipe)", dir / "out.tbp"};
    f.input_fd = pipe.fds[0];
    testing::Jobs jobs;
    const testing::BatchRun r = jobs.run_batch(Operation::kPack, {f});
    feed.join();
    ASSERT_TRUE(r.files.front().status.is_ok()) << r.files.front().status.message();
    EXPECT_GE(r.stats.reads_handed_off, 3u);  // each of the three chunks
}

// Data that is not in the page cache is read where waiting is allowed.
TEST(InlineIo, AFileNotInThePageCacheIsReadByTheIoThreads) {
    ScratchDir dir;
    const Bytes data = testing::make_data(4 << 20, DataKind::kMixed);
    if (!write_uncached(dir / "cold", data)) {
        GTEST_SKIP() << "cannot evict a file from the page cache here";
    }
    testing::Jobs jobs;
    const testing::Outcome packed = jobs.pack(dir / "cold", dir / "cold.tbp");
    ASSERT_TRUE(packed.status.is_ok()) << packed.status.message();
    EXPECT_GE(packed.run.reads_handed_off, 1u);
    const testing::Outcome back = jobs.unpack(dir / "cold.tbp", dir / "back");
    ASSERT_TRUE(back.status.is_ok()) << back.status.message();
    EXPECT_EQ(testing::read_file(dir / "back"), data);
}

}  // namespace
}  // namespace tbbpipe::jobs
