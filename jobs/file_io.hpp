// File I/O: descriptors, full reads and writes, and outputs that appear only when complete.
#pragma once

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

/// Opens an input for reading. Throws StatusError naming what failed.
/// expect_regular: the file was listed as a regular file; anything else now is an error, and
/// opening never blocks (a FIFO swapped in is refused, not waited on).
FileHandle open_input(const std::string& path, bool expect_regular = false);

/// Reads until n bytes or EOF; returns what it got. With a stop token that can be stopped it
/// waits in poll() with a short timeout and throws kCancelled once a stop is requested: a read
/// blocked on a pipe must end when its job is cancelled, and nothing else would wake it.
std::size_t read_full(int fd, std::uint8_t* buf, std::size_t n, const std::stop_token& stop = {});
/// pread until n bytes or EOF.
std::size_t pread_full(int fd, std::uint8_t* buf, std::size_t n, std::uint64_t offset);
/// Writes all iovecs (modifies the array). Throws StatusError(kIoError) with what. With a stop
/// token that can be stopped, a write blocked on a stalled pipe gives up (kCancelled) once a stop
/// is requested.
void writev_full(int fd, iovec* iov, int count, const char* what, const std::stop_token& stop = {});
void write_full(int fd, const std::uint8_t* buf, std::size_t n, const char* what,
                const std::stop_token& stop = {});

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
