#include "jobs/file_io.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>

#include "core/no_block.hpp"
#include "core/status_error.hpp"
#include "jobs/device_speed.hpp"

namespace tbbpipe::jobs {
namespace {

// Waits until fd is ready for events, checking for a stop request every 100 ms.
void wait_ready(int fd, short events, const std::stop_token& stop) {
    if (!stop.stop_possible()) return;
    pollfd p{fd, events, 0};
    for (;;) {
        if (stop.stop_requested()) {
            throw StatusError(StatusCode::kCancelled, "interrupted");
        }
        const int r = ::poll(&p, 1, 100);
        if (r > 0) return;  // ready, or an error/hang-up the read or write will report
        if (r < 0 && errno != EINTR) throw_errno("poll failed", errno);
    }
}

// Bytes a write to this pipe can take right now without blocking. A blocking write larger than
// that would wait for the reader, where the cancel flag can no longer be checked. Size minus
// queued overstates the room by the already-read part of the head page (up to a page), so one
// page is held back; after POLLOUT at least PIPE_BUF bytes always fit.
std::size_t pipe_room(int fd) {
    constexpr std::size_t kPage = 4096;
    const int size = ::fcntl(fd, F_GETPIPE_SZ);
    int queued = 0;
    if (size <= 0 || ::ioctl(fd, FIONREAD, &queued) != 0) return PIPE_BUF;
    const std::size_t room = size > queued ? static_cast<std::size_t>(size - queued) : 0;
    return room > kPage + PIPE_BUF ? room - kPage : PIPE_BUF;
}

}  // namespace

FileHandle::FileHandle(FileHandle&& other) noexcept : fd_(other.fd_), owned_(other.owned_) {
    other.fd_ = -1;
}

FileHandle& FileHandle::operator=(FileHandle&& other) noexcept {
    if (this != &other) {
        reset();
        fd_ = other.fd_;
        owned_ = other.owned_;
        other.fd_ = -1;
    }
    return *this;
}

void FileHandle::reset() {
    if (fd_ >= 0 && owned_) ::close(fd_);
    fd_ = -1;
}

namespace {

// open() that must not wait: the path is resolved from the kernel's caches only (openat2 with
// RESOLVE_CACHED, Linux 5.12); anything else would go to the disk or the network: WouldBlock.
int open_cached(const std::string& path, int flags) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags);
    how.resolve = RESOLVE_CACHED;
    const auto fd =
        static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how));
    if (fd < 0 && (errno == EAGAIN || errno == ENOSYS || errno == EINVAL || errno == E2BIG)) {
        throw WouldBlock{};
    }
    return fd;
}

}  // namespace

FileHandle open_input(const std::string& path, bool expect_regular, struct stat* st_out) {
    // A file listed as regular is opened with O_NONBLOCK: if it turned into a FIFO meanwhile,
    // open() must not block where no cancel flag can reach it (it is refused below instead). The
    // flag stays: reads of a regular file ignore it (pread_full copes should one not). A FIFO
    // named as such is opened blocking, waiting for its writer as a reader should, and never
    // where blocking is not allowed.
    const int flags = O_RDONLY | O_CLOEXEC | (expect_regular ? O_NONBLOCK : 0);
    if (!expect_regular) require_blocking_allowed();
    const int fd = blocking_allowed() ? ::open(path.c_str(), flags) : open_cached(path, flags);
    if (fd < 0) throw_errno("cannot open", errno);
    FileHandle handle(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_errno("cannot stat", errno);
    if (S_ISDIR(st.st_mode)) {
        throw StatusError(StatusCode::kInvalidArgument, "is a directory");
    }
    if (expect_regular && !S_ISREG(st.st_mode)) {
        throw StatusError(StatusCode::kIoError, "no longer a regular file");
    }
    // A network or FUSE file system may make even the next fstat wait: not here.
    if (!blocking_allowed() && !reads_may_run_inline(device_speed(st, fd))) throw WouldBlock{};
    if (st_out) *st_out = st;
    return handle;
}

std::size_t read_full(int fd, std::uint8_t* buf, std::size_t n, const std::stop_token& stop) {
    require_blocking_allowed();  // a pipe's read may wait for its writer indefinitely
    std::size_t got = 0;
    while (got < n) {
        wait_ready(fd, POLLIN, stop);
        const ssize_t r = ::read(fd, buf + got, n - got);
        if (r > 0) {
            got += static_cast<std::size_t>(r);
        } else if (r == 0) {
            break;
        } else if (errno == EINTR) {
            if (stop.stop_requested()) {
                throw StatusError(StatusCode::kCancelled, "interrupted");
            }
        } else {
            throw_errno("read failed", errno);
        }
    }
    return got;
}

std::size_t pread_full(int fd, std::uint8_t* buf, std::size_t n, std::uint64_t offset,
                       const InputFacts& facts) {
    // Where blocking is not allowed, RWF_NOWAIT: the read copies what the page cache holds and
    // says EAGAIN rather than wait for the device; a read from memory never waits anyway.
    const bool nowait = !blocking_allowed() && !facts.in_memory;
    std::size_t got = 0;
    while (got < n) {
        const std::uint64_t at = offset + got;
        // A short read that ends where the file ends is its end: no second call to hear so.
        if (got > 0 && at == facts.size) break;
        ssize_t r = 0;
        if (nowait) {
            iovec v{buf + got, n - got};
            r = ::preadv2(fd, &v, 1, static_cast<off_t>(at), RWF_NOWAIT);
        } else {
            r = ::pread(fd, buf + got, n - got, static_cast<off_t>(at));
        }
        if (r > 0) {
            got += static_cast<std::size_t>(r);
        } else if (r == 0) {
            break;
        } else if (errno == EINTR) {
            continue;
        } else if (!blocking_allowed() && (errno == EAGAIN || errno == EOPNOTSUPP)) {
            throw WouldBlock{};  // not cached, or a file system that cannot say
        } else if (errno == EAGAIN) {
            // A file system that honours the O_NONBLOCK open_input() leaves on: clear it.
            const int flags = ::fcntl(fd, F_GETFL);
            if (flags < 0 || !(flags & O_NONBLOCK) || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)) {
                throw_errno("read failed at offset " + std::to_string(at), EAGAIN);
            }
        } else {
            throw_errno("read failed at offset " + std::to_string(at), errno);
        }
    }
    return got;
}

namespace {

// How writev_full writes to one output.
enum class WriteMode {
    kPlain,   // regular file, block device, or no way to cancel: writev, which always returns
    kNowait,  // RWF_NOWAIT: whatever fits now, EAGAIN instead of waiting
    kPipe,    // poll, then no more than the pipe has room for
    kSmall,   // socket or terminal without RWF_NOWAIT: poll, then PIPE_BUF at a time
};

// One write; -1 with errno as the system call left it.
ssize_t write_some(int fd, const iovec* iov, int count, WriteMode mode) {
    switch (mode) {
        case WriteMode::kPlain: return ::writev(fd, iov, count);
        case WriteMode::kNowait: return ::pwritev2(fd, iov, count, -1, RWF_NOWAIT);
        case WriteMode::kPipe:
            return ::write(fd, iov->iov_base, std::min(pipe_room(fd), iov->iov_len));
        case WriteMode::kSmall:
            // After POLLOUT a PIPE_BUF-sized write does not wait long; a large one could, past
            // the cancel flag.
            return ::write(fd, iov->iov_base, std::min<std::size_t>(PIPE_BUF, iov->iov_len));
    }
    return -1;
}

}  // namespace

OutputKind output_kind(int fd, const std::stop_token& stop) {
    struct stat st {};
    if (!stop.stop_possible() || ::fstat(fd, &st) != 0 || S_ISREG(st.st_mode) ||
        S_ISBLK(st.st_mode)) {
        return OutputKind::kFile;
    }
    return S_ISFIFO(st.st_mode) ? OutputKind::kPipe : OutputKind::kOther;
}

void writev_full(int fd, iovec* iov, int count, const char* what, const std::stop_token& stop) {
    writev_full(fd, iov, count, what, stop, output_kind(fd, stop));
}

void writev_full(int fd, iovec* iov, int count, const char* what, const std::stop_token& stop,
                 OutputKind kind) {
    // Only an output that can stall indefinitely (pipe, socket, terminal) needs the cancellable
    // wait; a regular file's write always returns, so it costs no poll per chunk. For those the
    // first choice is RWF_NOWAIT: the whole chunk goes in one call while the reader keeps up,
    // and the poll (with its cancel check) happens only when it does not. Pipes, sockets and
    // /dev/null take it (Linux 6.x); where the kernel or device says EOPNOTSUPP, sized writes
    // after a poll take over.
    WriteMode mode = kind == OutputKind::kFile ? WriteMode::kPlain : WriteMode::kNowait;
    while (count > 0) {
        if (mode == WriteMode::kPipe || mode == WriteMode::kSmall) wait_ready(fd, POLLOUT, stop);
        const ssize_t w = write_some(fd, iov, count, mode);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (mode == WriteMode::kNowait && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                wait_ready(fd, POLLOUT, stop);
                continue;
            }
            if (mode == WriteMode::kNowait && (errno == EOPNOTSUPP || errno == EINVAL)) {
                mode = kind == OutputKind::kPipe ? WriteMode::kPipe : WriteMode::kSmall;
                continue;
            }
            throw_errno(std::string(what) + " write failed", errno);
        }
        auto left = static_cast<std::size_t>(w);
        while (count > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            ++iov;
            --count;
        }
        if (count > 0) {
            iov->iov_base = static_cast<char*>(iov->iov_base) + left;
            iov->iov_len -= left;
        }
    }
}

void widen_pipe(int fd) {
    constexpr int kWanted = 1 << 20;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) return;
    const int size = ::fcntl(fd, F_GETPIPE_SZ);
    if (size > 0 && size < kWanted) (void)::fcntl(fd, F_SETPIPE_SZ, kWanted);  // best effort
}

void write_full(int fd, const std::uint8_t* buf, std::size_t n, const char* what,
                const std::stop_token& stop) {
    iovec iov{const_cast<std::uint8_t*>(buf), n};
    writev_full(fd, &iov, 1, what, stop);
}

void write_full(int fd, const std::uint8_t* buf, std::size_t n, const char* what,
                const std::stop_token& stop, OutputKind kind) {
    iovec iov{const_cast<std::uint8_t*>(buf), n};
    writev_full(fd, &iov, 1, what, stop, kind);
}

void throw_errno(const std::string& what, int err) {
    throw StatusError(status_code_from_errno(err), what + ": " + std::strerror(err));
}

std::string folder_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string base_name(const std::string& path) {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    const auto slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
}

}  // namespace tbbpipe::jobs
