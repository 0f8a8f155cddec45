// A fault-injecting I/O layer for tests, loaded into the real tbbpipe binary with LD_PRELOAD.
// It interposes open/openat2 (through syscall())/read/pread/preadv2/write/writev/pwritev2 and,
// for file descriptors whose path contains
// TBBPIPE_FAULT_PATH, injects what TBBPIPE_FAULT_MODE says:
//   errno:NAME   fail with that errno (EIO, ENOSPC, EACCES) once TBBPIPE_FAULT_AFTER bytes of
//                the TBBPIPE_FAULT_OP direction (read | write | open) went through
//   short        transfer at most 1000 bytes per call (reads and writes), never fail
//   delay:MS     sleep MS milliseconds before each TBBPIPE_FAULT_OP call (read | write), so a
//                test can act while a run is in the middle of that file
// Nothing here is linked into tbbpipe itself; the product code is exercised unchanged.
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct Config {
    const char* path = nullptr;  // substring of the target's path; null: injection off
    const char* op = "";         // read | write | open
    int error = 0;               // errno to inject; 0 with shorten
    bool shorten = false;
    int delay_ms = 0;
    long long after = 0;
};

const Config& config() {
    static const Config c = [] {
        Config c;
        c.path = std::getenv("TBBPIPE_FAULT_PATH");
        const char* op = std::getenv("TBBPIPE_FAULT_OP");
        const char* mode = std::getenv("TBBPIPE_FAULT_MODE");
        const char* after = std::getenv("TBBPIPE_FAULT_AFTER");
        c.op = op ? op : "";
        c.after = after ? std::atoll(after) : 0;
        if (mode && std::strcmp(mode, "short") == 0) c.shorten = true;
        if (mode && std::strncmp(mode, "delay:", 6) == 0) c.delay_ms = std::atoi(mode + 6);
        if (mode && std::strncmp(mode, "errno:", 6) == 0) {
            const char* name = mode + 6;
            c.error = std::strcmp(name, "ENOSPC") == 0   ? ENOSPC
                      : std::strcmp(name, "EACCES") == 0 ? EACCES
                                                         : EIO;
        }
        if (!mode) c.path = nullptr;
        return c;
    }();
    return c;
}

std::atomic<long long> g_bytes{0};  // bytes that went through matching calls of `op`

bool path_matches(const char* path) {
    return config().path && path && std::strstr(path, config().path) != nullptr;
}

bool fd_matches(int fd) {
    if (!config().path) return false;
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    char target[4096];
    const ssize_t n = ::readlink(link, target, sizeof target - 1);
    if (n <= 0) return false;
    target[n] = '\0';
    return path_matches(target);
}

// -1 with errno set when this call must fail; otherwise the byte cap for it (0: no cap).
long long decide(int fd, const char* op, size_t n, bool* fail) {
    *fail = false;
    if (!fd_matches(fd)) return 0;
    if (config().shorten) return n > 1000 ? 1000 : 0;
    if (config().delay_ms > 0) {
        if (std::strcmp(config().op, op) == 0)
            ::usleep(static_cast<useconds_t>(config().delay_ms) * 1000);
        return 0;
    }
    if (std::strcmp(config().op, op) != 0 || !config().error) return 0;
    if (g_bytes.load() >= config().after) {
        *fail = true;
        errno = config().error;
    }
    return 0;
}

template <typename Fn>
Fn next(const char* name) {
    return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
    static auto real = next<int (*)(const char*, int, ...)>("open");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = static_cast<mode_t>(va_arg(ap, int));
        va_end(ap);
    }
    if (config().error && std::strcmp(config().op, "open") == 0 && path_matches(path)) {
        errno = config().error;
        return -1;
    }
    return real(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = static_cast<mode_t>(va_arg(ap, int));
        va_end(ap);
    }
    return open(path, flags, mode);
}

ssize_t read(int fd, void* buf, size_t n) {
    static auto real = next<ssize_t (*)(int, void*, size_t)>("read");
    bool fail = false;
    const long long cap = decide(fd, "read", n, &fail);
    if (fail) return -1;
    const ssize_t r = real(fd, buf, cap ? static_cast<size_t>(cap) : n);
    if (r > 0) g_bytes += r;
    return r;
}

ssize_t pread(int fd, void* buf, size_t n, off_t offset) {
    static auto real = next<ssize_t (*)(int, void*, size_t, off_t)>("pread");
    bool fail = false;
    const long long cap = decide(fd, "read", n, &fail);
    if (fail) return -1;
    const ssize_t r = real(fd, buf, cap ? static_cast<size_t>(cap) : n, offset);
    if (r > 0) g_bytes += r;
    return r;
}

ssize_t pread64(int fd, void* buf, size_t n, off_t offset) {
    return pread(fd, buf, n, offset);
}

// RWF_NOWAIT reads of the page cache (the engine's reads on arena threads) go through here.
ssize_t preadv2(int fd, const struct iovec* iov, int count, off_t offset, int flags) {
    static auto real = next<ssize_t (*)(int, const struct iovec*, int, off_t, int)>("preadv2");
    size_t total = 0;
    for (int i = 0; i < count; ++i) total += iov[i].iov_len;
    bool fail = false;
    const long long cap = decide(fd, "read", total, &fail);
    if (fail) return -1;
    if (cap && count > 0) {
        const struct iovec one = {iov[0].iov_base, iov[0].iov_len < 1000 ? iov[0].iov_len : 1000};
        const ssize_t r = real(fd, &one, 1, offset, flags);
        if (r > 0) g_bytes += r;
        return r;
    }
    const ssize_t r = real(fd, iov, count, offset, flags);
    if (r > 0) g_bytes += r;
    return r;
}

ssize_t pwritev2(int fd, const struct iovec* iov, int count, off_t offset, int flags) {
    static auto real = next<ssize_t (*)(int, const struct iovec*, int, off_t, int)>("pwritev2");
    size_t total = 0;
    for (int i = 0; i < count; ++i) total += iov[i].iov_len;
    bool fail = false;
    const long long cap = decide(fd, "write", total, &fail);
    if (fail) return -1;
    if (cap && count > 0) {
        const struct iovec one = {iov[0].iov_base, iov[0].iov_len < 1000 ? iov[0].iov_len : 1000};
        const ssize_t r = real(fd, &one, 1, offset, flags);
        if (r > 0) g_bytes += r;
        return r;
    }
    const ssize_t r = real(fd, iov, count, offset, flags);
    if (r > 0) g_bytes += r;
    return r;
}

// openat2 has no glibc wrapper: the engine calls it through syscall(), so the open fault must
// be injected here too. Every system call takes at most six register arguments; they are passed
// on as they came.
long syscall(long number, ...) {
    static auto real = next<long (*)(long, ...)>("syscall");
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (long& arg : a) arg = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_openat2 && config().error && std::strcmp(config().op, "open") == 0 &&
        // The second argument of openat2 is the path (an address passed as a long).
        path_matches(reinterpret_cast<const char*>(a[1]))) {  // NOLINT(performance-no-int-to-ptr)
        errno = config().error;
        return -1;
    }
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

ssize_t write(int fd, const void* buf, size_t n) {
    static auto real = next<ssize_t (*)(int, const void*, size_t)>("write");
    bool fail = false;
    const long long cap = decide(fd, "write", n, &fail);
    if (fail) return -1;
    const ssize_t r = real(fd, buf, cap ? static_cast<size_t>(cap) : n);
    if (r > 0) g_bytes += r;
    return r;
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
    static auto real = next<ssize_t (*)(int, const struct iovec*, int)>("writev");
    size_t total = 0;
    for (int i = 0; i < count; ++i) total += iov[i].iov_len;
    bool fail = false;
    const long long cap = decide(fd, "write", total, &fail);
    if (fail) return -1;
    if (cap && count > 0) {
        // A short writev: part of the first buffer only.
        return write(fd, iov[0].iov_base, iov[0].iov_len < 1000 ? iov[0].iov_len : 1000);
    }
    const ssize_t r = real(fd, iov, count);
    if (r > 0) g_bytes += r;
    return r;
}

}  // extern "C"
