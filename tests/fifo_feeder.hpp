// FifoFeeder: writes bytes into a FIFO from a thread, so a reader sees a non-seekable stream.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "tests/test_support.hpp"

namespace tbbpipe::testing {

class FifoFeeder {
public:
    FifoFeeder(const std::string& path, Bytes data) : path_(path) {
        ::mkfifo(path.c_str(), 0600);
        thread_ = std::thread([this, data = std::move(data)] {
            const int fd = ::open(path_.c_str(), O_WRONLY);
            if (fd < 0) return;
            std::size_t done = 0;
            while (done < data.size()) {
                const ssize_t w = ::write(fd, data.data() + done, data.size() - done);
                if (w <= 0) break;  // reader gave up (EPIPE): fine
                done += static_cast<std::size_t>(w);
            }
            ::close(fd);
            done_ = true;
        });
    }
    ~FifoFeeder() {
        // The reader may have stopped early (or never opened the FIFO): drain whatever the writer
        // still has so its open() and write() return, then join it.
        const int fd = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK);
        char sink[65536];
        while (!done_) {
            if (fd < 0 || ::read(fd, sink, sizeof sink) <= 0)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        thread_.join();
        if (fd >= 0) ::close(fd);
        ::unlink(path_.c_str());
    }

private:
    std::string path_;
    std::atomic<bool> done_{false};
    std::thread thread_;
};

}  // namespace tbbpipe::testing
