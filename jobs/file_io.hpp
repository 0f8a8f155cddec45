// File I/O: descriptors, full reads and writes, and outputs that appear only when complete.
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

/// A destination that appears under its final name only after commit(): the bytes go to a
/// temporary file in the same folder, renamed into place on success and removed otherwise.
/// Thread-safety: one owner thread.
class OutputFile {
public:
    /// Creates the temporary file. overwrite=false: fails early if the destination exists, and
    /// commit() refuses to replace a file that appeared meanwhile. durable: commit() fsyncs the
    /// data before the rename and the folder after it, so a crash leaves either the old state or
    /// the complete file, never a renamed file with missing data.
    OutputFile(const std::string& path, bool overwrite, bool durable = true);
    ~OutputFile();
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;

    int fd() const { return fd_.fd(); }
    const std::string& path() const { return path_; }
    /// Sets permission bits and times on the temporary file before it is renamed.
    void set_metadata(std::uint32_t mode, std::int64_t mtime_sec, std::uint32_t mtime_nsec);
    /// Renames into place. Throws on failure (the temporary file is then removed).
    void commit();
    /// For batched durability (CommitBatch): the same as commit() without any flush; the caller
    /// flushed the file system before and flushes the folder after.
    void publish();
    /// The file system and folder the output lands in.
    dev_t device() const;
    std::string folder() const;
    /// Removes the temporary file now (also done by the destructor if not committed).
    void discard();
    /// fsync calls commit() made (0 when not durable).
    int syncs() const { return syncs_; }

private:
    std::string path_;
    std::string temp_path_;
    FileHandle fd_;
    bool overwrite_;
    bool durable_;
    int syncs_ = 0;
    bool done_ = false;
    int registry_slot_ = -1;
};

/// syncfs() on the file system holding fd: one flush for many files. Throws naming what.
void sync_file_system(int fd, const std::string& what);
/// fsync on a folder, so renames in it survive a crash. Returns whether it worked.
bool sync_folder(const std::string& folder);
/// Creates root/relative and its missing parents (mode 0777 & ~umask). The root may be a link
/// (the user named it); below it, a component that is a symlink or not a folder, or a "..", is
/// refused, so a planted link cannot redirect outputs out of the tree.
void make_folders(const std::string& root, const std::string& relative);

/// File name without its folders ("/a/b.txt" -> "b.txt").
std::string base_name(const std::string& path);

}  // namespace tbbpipe::jobs
