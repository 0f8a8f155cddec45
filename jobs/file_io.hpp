// File I/O: descriptors, full reads and writes (jobs/output_file.hpp has the outputs).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <stop_token>
#include <string>

namespace tbbpipe::jobs {

/// Owns a file descriptor. Thread-safety: the handle itself is not shared between threads;
/// pread on fd() from many threads is fine.
class FileHandle {
public:
    FileHandle() = default;
    explicit FileHandle(int fd, bool owned = true) : fd_(fd), owned_(owned) {}
    ~FileHandle() { reset(); }
    FileHandle(FileHandle&& other) noexcept;
    FileHandle& operator=(FileHandle&& other) noexcept;
    FileHandle(const FileHandle&) = delete;
    FileHandle& operator=(const FileHandle&) = delete;

    int fd() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    void reset();

private:
    int fd_ = -1;
    bool owned_ = false;
};

/// Opens an input for reading; *st receives its fstat. Throws StatusError naming what failed.
/// expect_regular: the file was listed as a regular file; anything else now is an error, and
/// opening never blocks (a FIFO swapped in is refused, not waited on).
/// Inside a NonBlocking scope (core/no_block.hpp) it throws WouldBlock unless the path resolves
/// from the kernel's caches and the file lives on a local or memory file system.
FileHandle open_input(const std::string& path, bool expect_regular = false,
                      struct stat* st = nullptr);

/// Reads until n bytes or EOF; returns what it got. Never inside a NonBlocking scope (WouldBlock).
/// With a stop token that can be stopped it waits in poll() with a short timeout and throws
/// kCancelled once a stop is requested: a read blocked on a pipe must end when its job is
/// cancelled, and nothing else would wake it.
std::size_t read_full(int fd, std::uint8_t* buf, std::size_t n, const std::stop_token& stop = {});
/// What a reader knows of a regular file, so pread_full can spare system calls.
struct InputFacts {
    std::uint64_t size = UINT64_MAX;  ///< from fstat: a read ending here is at the end
    bool in_memory = false;           ///< tmpfs or ramfs: a read never waits
};

/// pread until n bytes or EOF. Inside a NonBlocking scope it reads with RWF_NOWAIT and throws
/// WouldBlock when the data is not all in the page cache (or the file system cannot say).
std::size_t pread_full(int fd, std::uint8_t* buf, std::size_t n, std::uint64_t offset,
                       const InputFacts& facts = {});

/// How an output takes writes, decided once per output by output_kind().
enum class OutputKind {
    kFile,   ///< a regular file or block device, or nothing can cancel: a write always returns
    kPipe,   ///< a pipe: cancellable waits while it is full
    kOther,  ///< a socket, terminal or character device: cancellable waits
};
OutputKind output_kind(int fd, const std::stop_token& stop);

/// Writes all iovecs (modifies the array). Throws StatusError(kIoError) with what. With a stop
/// token that can be stopped, a write blocked on a stalled pipe gives up (kCancelled) once a stop
/// is requested.
void writev_full(int fd, iovec* iov, int count, const char* what, const std::stop_token& stop = {});
/// The same for an output whose kind is known (spares an fstat per write).
void writev_full(int fd, iovec* iov, int count, const char* what, const std::stop_token& stop,
                 OutputKind kind);
void write_full(int fd, const std::uint8_t* buf, std::size_t n, const char* what,
                const std::stop_token& stop = {});
void write_full(int fd, const std::uint8_t* buf, std::size_t n, const char* what,
                const std::stop_token& stop, OutputKind kind);

/// Grows a pipe to 1 MiB (Linux's default pipe-max-size, allowed to any user), so a 1 MiB chunk
/// crosses in one call and the other end wakes once per chunk rather than per 64 KiB. Does
/// nothing for anything but a pipe; best effort (a per-user pipe limit may refuse).
void widen_pipe(int fd);

/// Throws StatusError(status_code_from_errno(err), "what: strerror(err)").
[[noreturn]] void throw_errno(const std::string& what, int err);

/// The folder part of a path ("a/b" -> "a", "b" -> ".", "/b" -> "/").
std::string folder_of(const std::string& path);
/// File name without its folders ("/a/b.txt" -> "b.txt").
std::string base_name(const std::string& path);

}  // namespace tbbpipe::jobs
