// Outputs that appear only when complete, created where they belong and nowhere else.
//
// Every output is written to a hidden temporary file beside its destination and renamed into
// place on success. Both happen relative to a descriptor of the destination's folder, held from
// the moment the output is created: a folder that a run created below an output root is reached
// from the root's descriptor without following any link (openat2 RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS, or a walk with O_NOFOLLOW), and before the rename it is reached that way
// again and must be the same folder. So a folder swapped for a link while a run goes cannot make
// an output land outside the tree.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>

#include "jobs/file_io.hpp"

namespace tbbpipe::jobs {

/// The root of an output tree, held open for a run. Thread-safety: const use from any thread.
class OutputRoot {
public:
    /// Opens (and creates, with its parents) the folder `path`; the user named it, so links in
    /// it are followed. Throws StatusError naming it.
    explicit OutputRoot(const std::string& path);
    int fd() const { return fd_.fd(); }
    const std::string& path() const { return path_; }
    /// Creates the folders of `relative` below the root, none of them a link or a non-folder,
    /// none of them "..". Throws kFailedPrecondition naming the offending folder.
    void make_folders(const std::string& relative) const;

private:
    std::string path_;
    FileHandle fd_;
};

/// Where an output goes: below an output root (root non-null; `relative` is its path below it),
/// or at a path as given (root null; its folder is taken as the user named it).
struct OutputPlace {
    const OutputRoot* root = nullptr;
    std::string relative;  ///< below root; with no root, the whole path
    std::string path;      ///< the full path, for messages
};

/// Thread-safety: one owner thread.
class OutputFile {
public:
    /// Creates the temporary file in the destination's folder. overwrite=false: fails early if
    /// the destination exists, and publish() refuses to replace a file that appeared meanwhile;
    /// overwrite=true still refuses to replace the file `keep` names (the input itself), when
    /// given. durable: commit() fsyncs the data before the rename and the folder after it, so a
    /// crash leaves either the old state or the complete file.
    /// An output named as a path of its own (no root) that is a character device or a FIFO
    /// (/dev/null, a named pipe) is written through, as zstd does, with or without overwrite: a
    /// device node is never replaced by a file. A block device is refused.
    OutputFile(const OutputPlace& place, bool overwrite, bool durable = true,
               const struct stat* keep = nullptr);
    /// The same for a path as given (no output root).
    OutputFile(const std::string& path, bool overwrite, bool durable = true);
    ~OutputFile();
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;

    int fd() const { return fd_.fd(); }
    const std::string& path() const { return place_.path; }
    /// The hidden temporary's path ("" when written through or done): another process may
    /// open it to write its share of the output (tbbpipe::SharedOutput).
    std::string temp_path() const {
        return temp_name_.empty() ? std::string() : folder_of(place_.path) + "/" + temp_name_;
    }
    /// Written through to a device or FIFO: commit, publish and set_metadata do nothing.
    bool direct() const { return direct_; }
    /// Sets permission bits and times on the temporary file before it is renamed.
    void set_metadata(std::uint32_t mode, std::int64_t mtime_sec, std::uint32_t mtime_nsec);
    /// Renames into place (after a flush when durable). Throws on failure (the temporary file
    /// is then removed).
    void commit();
    /// For batched durability (CommitBatch): the same as commit() without any flush; the caller
    /// flushed the file system before and flushes the folder after (sync_folder()).
    void publish();
    /// The file system the output lands in, and its folder (as a device and inode, to tell
    /// folders apart).
    dev_t device() const;
    std::pair<dev_t, ino_t> folder_id() const;
    /// fsync on the output's folder, so its rename survives a crash. Returns whether it worked.
    bool sync_folder() const;
    /// Removes the temporary file now (also done by the destructor if not committed).
    void discard();
    /// fsync calls commit() made (0 when not durable).
    int syncs() const { return syncs_; }

private:
    bool open_direct();
    void create_temporary();
    void check_folder_unchanged() const;

    OutputPlace place_;
    std::string name_;  // the destination's name in its folder
    std::string temp_name_;
    FileHandle folder_;  // the destination's folder, held from creation to rename
    FileHandle fd_;
    bool overwrite_;
    bool durable_;
    int syncs_ = 0;
    bool done_ = false;
    bool direct_ = false;
    int registry_slot_ = -1;
};

/// syncfs() on the file system holding fd: one flush for many files. Throws naming what.
void sync_file_system(int fd, const std::string& what);

}  // namespace tbbpipe::jobs
