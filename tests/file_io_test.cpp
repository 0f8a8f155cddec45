// File I/O: cancellable stream reads and writes, outputs that appear only on commit, and the
// temporary-file registry a second signal uses.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/status_error.hpp"
#include "jobs/file_io.hpp"
#include "jobs/output_file.hpp"
#include "tbbpipe/cleanup.hpp"
#include "tests/test_support.hpp"

namespace tbbpipe::jobs {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Pipe {
    Pipe() { EXPECT_EQ(::pipe(fds), 0); }
    ~Pipe() {
        for (const int fd : fds) {
            if (fd >= 0) ::close(fd);
        }
    }
    int fds[2] = {-1, -1};
};

// A signal reaches one thread; a read blocked in another must still notice the flag. The pipe is
// closed after 3 s so a broken implementation fails the timing check instead of hanging.
TEST(StreamIo, ReadBlockedOnAStalledPipeGivesUpWhenCancelled) {
    Pipe pipe;
    std::stop_source cancel;
    StatusCode code = StatusCode::kOk;
    Clock::duration took{};
    std::thread reader([&] {
        std::uint8_t buf[64];
        const auto start = Clock::now();
        try {
            (void)read_full(pipe.fds[0], buf, sizeof buf, cancel.get_token());
        } catch (const StatusError& e) {
            code = e.code();
        }
        took = Clock::now() - start;
    });
    std::this_thread::sleep_for(200ms);
    cancel.request_stop();
    std::thread closer([&] {
        std::this_thread::sleep_for(3s);
        ::close(pipe.fds[1]);
        pipe.fds[1] = -1;
    });
    reader.join();
    EXPECT_EQ(code, StatusCode::kCancelled);
    EXPECT_LT(took, 1500ms);
    closer.join();
}

TEST(StreamIo, WriteBlockedOnAFullPipeGivesUpWhenCancelled) {
    ::signal(SIGPIPE, SIG_IGN);
    Pipe pipe;
    std::stop_source cancel;
    StatusCode code = StatusCode::kOk;
    Clock::duration took{};
    const std::vector<std::uint8_t> big(4 << 20, 7);  // far more than a pipe holds
    std::thread writer([&] {
        const auto start = Clock::now();
        try {
            write_full(pipe.fds[1], big.data(), big.size(), "output", cancel.get_token());
        } catch (const StatusError& e) {
            code = e.code();
        }
        took = Clock::now() - start;
    });
    std::this_thread::sleep_for(200ms);
    cancel.request_stop();
    std::thread closer([&] {
        std::this_thread::sleep_for(3s);
        ::close(pipe.fds[0]);
        pipe.fds[0] = -1;
    });
    writer.join();
    EXPECT_EQ(code, StatusCode::kCancelled);
    EXPECT_LT(took, 1500ms);
    closer.join();
}

TEST(StreamIo, ReadsEverythingThenEof) {
    Pipe pipe;
    ASSERT_EQ(::write(pipe.fds[1], "hello", 5), 5);
    ::close(pipe.fds[1]);
    pipe.fds[1] = -1;
    std::stop_source cancel;
    std::uint8_t buf[16];
    EXPECT_EQ(read_full(pipe.fds[0], buf, sizeof buf, cancel.get_token()), 5u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 5), "hello");
}

TEST(OutputFileTest, AppearsOnlyOnCommitAndNeverReplacesWithoutOverwrite) {
    testing::ScratchDir dir;
    {
        OutputFile out(dir / "x", false);
        write_full(out.fd(), reinterpret_cast<const std::uint8_t*>("abc"), 3, "x");
        EXPECT_FALSE(testing::exists(dir / "x"));
        EXPECT_EQ(dir.list().size(), 1u);  // just the hidden temporary
        out.commit();
    }
    EXPECT_EQ(testing::read_file(dir / "x"), (testing::Bytes{'a', 'b', 'c'}));
    {
        OutputFile abandoned(dir / "y", false);
        write_full(abandoned.fd(), reinterpret_cast<const std::uint8_t*>("zz"), 2, "y");
    }  // destroyed without commit
    EXPECT_EQ(dir.list(), (std::vector<std::string>{"x"}));
    EXPECT_THROW(OutputFile(dir / "x", false), StatusError);
    // Appeared between creation and commit: refused, temporary removed, original kept.
    OutputFile racing(dir / "z", false);
    testing::write_file(dir / "z", {1});
    try {
        racing.commit();
        ADD_FAILURE() << "commit replaced a file that appeared meanwhile";
    } catch (const StatusError& e) {
        EXPECT_EQ(e.code(), StatusCode::kAlreadyExists);
    }
    EXPECT_EQ(dir.list(), (std::vector<std::string>{"x", "z"}));
    OutputFile forced(dir / "x", true);
    forced.commit();
    EXPECT_TRUE(testing::read_file(dir / "x").empty());
}

TEST(OutputFileTest, RegisteredTemporariesAreRemovedForASecondSignal) {
    testing::ScratchDir dir;
    OutputFile a(dir / "a", false);
    OutputFile b(dir / "b", false);
    EXPECT_EQ(dir.list().size(), 2u);
    remove_temporary_outputs();
    EXPECT_TRUE(dir.list().empty());
}

}  // namespace
}  // namespace tbbpipe::jobs
