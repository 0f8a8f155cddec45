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

#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>

#include "core/no_block.hpp"
#include "core/status_error.hpp"
#include "jobs/device_speed.hpp"
#include "tbbpipe/cleanup.hpp"

namespace tbbpipe::jobs {
namespace {

[[noreturn]] void throw_errno(const std::string& what, int err) {
    throw StatusError(status_code_from_errno(err), what + ": " + std::strerror(err));
}

// Temporary outputs alive right now, so a second signal can remove them without locks or
// allocation. States: 0 free, 1 being written, 2 holds a path, 3 taken by the signal handler.
// Every transition is a CAS, so the handler never reads a path that is being rewritten, and a
// slot the handler took is never reused (the handler ends the process).
constexpr int kRegistrySlots = 256;  // outputs in flight plus a commit batch
constexpr std::size_t kRegistryPathMax = 4096;
struct RegistrySlot {
    std::atomic<int> state{0};
    char path[kRegistryPathMax];
};
std::array<RegistrySlot, kRegistrySlots> g_registry;

int register_temp(const std::string& path) {
    if (path.size() >= kRegistryPathMax) return -1;
    for (int i = 0; i < kRegistrySlots; ++i) {
        int expected = 0;
        if (g_registry[i].state.compare_exchange_strong(expected, 1, std::memory_order_acquire)) {
            std::memcpy(g_registry[i].path, path.c_str(), path.size() + 1);
            g_registry[i].state.store(2, std::memory_order_release);
            return i;
        }
    }
    return -1;  // more outputs than slots: removed by their destructors, but not by a 2nd signal
}

void unregister_temp(int slot) {
    if (slot < 0) return;
    int expected = 2;
    g_registry[slot].state.compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
}

std::string folder_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

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

OutputFile::OutputFile(const std::string& path, bool overwrite, bool durable)
    : path_(path), overwrite_(overwrite), durable_(durable) {
    struct stat st {};
    if (!overwrite && ::lstat(path.c_str(), &st) == 0) {
        throw StatusError(StatusCode::kAlreadyExists, path + " already exists");
    }
    // A hidden name beside the destination: same file system, so the rename is atomic.
    const std::string folder = folder_of(path);
    std::string pattern = folder + "/." + base_name(path) + ".tbbpipe-XXXXXX";
    const int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
    if (fd < 0) throw_errno("cannot create a temporary file in " + folder, errno);
    fd_ = FileHandle(fd);
    temp_path_ = pattern;
    registry_slot_ = register_temp(temp_path_);
}

OutputFile::~OutputFile() {
    discard();
}

void OutputFile::set_metadata(std::uint32_t mode, std::int64_t mtime_sec,
                              std::uint32_t mtime_nsec) {
    if (mode != 0 && ::fchmod(fd_.fd(), static_cast<mode_t>(mode & 01777)) != 0) {
        throw_errno(path_ + ": cannot set mode", errno);
    }
    if (mtime_sec != 0 || mtime_nsec != 0) {
        const timespec times[2] = {{0, UTIME_OMIT},
                                   {static_cast<time_t>(mtime_sec), static_cast<long>(mtime_nsec)}};
        if (::futimens(fd_.fd(), times) != 0) throw_errno(path_ + ": cannot set mtime", errno);
    }
}

void OutputFile::commit() {
    if (done_) throw StatusError(StatusCode::kInternal, "output committed twice");
    if (durable_) {
        if (::fsync(fd_.fd()) != 0) {
            const int err = errno;
            discard();
            throw_errno(path_ + ": cannot flush to disk", err);
        }
        ++syncs_;
    }
    publish();
    // The rename lives in the folder: flush it too, or a crash could forget the new name.
    if (durable_ && sync_folder(folder_of(path_))) ++syncs_;
}

void OutputFile::publish() {
    if (done_) throw StatusError(StatusCode::kInternal, "output committed twice");
    fd_.reset();
    const unsigned flags = overwrite_ ? 0 : RENAME_NOREPLACE;
    if (::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, path_.c_str(), flags) != 0) {
        const int err = errno;
        discard();
        if (err == EEXIST) {
            throw StatusError(StatusCode::kAlreadyExists, path_ + " already exists");
        }
        throw_errno(path_ + ": cannot rename into place", err);
    }
    done_ = true;
    unregister_temp(registry_slot_);
    registry_slot_ = -1;
}

dev_t OutputFile::device() const {
    struct stat st {};
    return fd_.valid() && ::fstat(fd_.fd(), &st) == 0 ? st.st_dev : 0;
}

std::string OutputFile::folder() const {
    return folder_of(path_);
}

void sync_file_system(int fd, const std::string& what) {
    if (::syncfs(fd) != 0) throw_errno(what + ": cannot flush to disk", errno);
}

bool sync_folder(const std::string& folder) {
    const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return false;
    const bool ok = ::fsync(dir) == 0;
    ::close(dir);
    return ok;
}

void make_folders(const std::string& root, const std::string& relative) {
    // The root is the user's choice and may be a link (to another disk, say); only what we create
    // beneath it must be real folders.
    auto make = [](const std::string& path, bool refuse_links) {
        struct stat st {};
        if ((refuse_links ? ::lstat(path.c_str(), &st) : ::stat(path.c_str(), &st)) == 0) {
            if (S_ISLNK(st.st_mode)) {
                throw StatusError(StatusCode::kFailedPrecondition,
                                  path + ": refusing to write through a symbolic link");
            }
            if (!S_ISDIR(st.st_mode)) {
                throw StatusError(StatusCode::kFailedPrecondition, path + ": not a folder");
            }
            return;
        }
        if (::mkdir(path.c_str(), 0777) != 0 && errno != EEXIST) {
            throw_errno("cannot create folder " + path, errno);
        }
    };
    std::string path;
    for (std::size_t i = 0; i <= root.size(); ++i) {
        if (i == root.size() || (root[i] == '/' && i > 0)) {
            path = root.substr(0, i);
            if (path != "." && path != "..") make(path, false);
        }
    }
    path = root;
    std::size_t pos = 0;
    while (pos < relative.size()) {
        std::size_t slash = relative.find('/', pos);
        if (slash == std::string::npos) slash = relative.size();
        const std::string part = relative.substr(pos, slash - pos);
        pos = slash + 1;
        if (part.empty() || part == ".") continue;
        if (part == "..") {
            throw StatusError(StatusCode::kFailedPrecondition,
                              relative + ": refusing a path that leaves the output folder");
        }
        path += "/" + part;
        make(path, true);
    }
}

void OutputFile::discard() {
    if (done_) return;
    fd_.reset();
    ::unlink(temp_path_.c_str());
    unregister_temp(registry_slot_);
    registry_slot_ = -1;
    done_ = true;
}

std::string base_name(const std::string& path) {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    const auto slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
}

}  // namespace tbbpipe::jobs

namespace tbbpipe {

void remove_temporary_outputs() noexcept {
    for (auto& slot : jobs::g_registry) {
        int expected = 2;
        if (slot.state.compare_exchange_strong(expected, 3, std::memory_order_acq_rel)) {
            ::unlink(slot.path);
        }
    }
}

}  // namespace tbbpipe
