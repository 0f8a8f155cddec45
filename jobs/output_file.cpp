#include "jobs/output_file.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/status_error.hpp"
#include "format/cipher.hpp"
#include "tbbpipe/cleanup.hpp"

namespace tbbpipe::jobs {
namespace {

// Calls visit(part) for each component of a relative path, skipping empty ones and ".".
template <class Visit>
void for_each_part(const std::string& relative, Visit&& visit) {
    std::size_t pos = 0;
    while (pos < relative.size()) {
        std::size_t slash = relative.find('/', pos);
        if (slash == std::string::npos) slash = relative.size();
        const std::string part = relative.substr(pos, slash - pos);
        pos = slash + 1;
        if (!part.empty() && part != ".") visit(part);
    }
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

// The longest name a Linux file system takes (NAME_MAX on every one tbbpipe writes to).
constexpr std::size_t kNameMax = 255;
constexpr char kTempMark[] = ".tbbpipe-";
constexpr std::size_t kTempSuffix = 6;

std::string parent_of(const std::string& relative) {
    const auto slash = relative.rfind('/');
    return slash == std::string::npos ? "" : relative.substr(0, slash);
}

[[noreturn]] void refuse_link(const std::string& what) {
    throw StatusError(StatusCode::kFailedPrecondition,
                      what + ": refusing to write through a symbolic link");
}

// Opens the folder `name` in `at` without following a link. O_NOFOLLOW with O_DIRECTORY says
// ENOTDIR for a link as for a file, so a failure looks again to say which it was.
FileHandle open_folder_nofollow(int at, const std::string& name, const std::string& what) {
    FileHandle next(::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (next.valid()) return next;
    const int err = errno;
    struct stat st {};
    if (err == ELOOP ||
        (::fstatat(at, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))) {
        refuse_link(what);
    }
    if (err == ENOTDIR) throw StatusError(StatusCode::kFailedPrecondition, what + ": not a folder");
    throw_errno("cannot open folder " + what, err);
}

// The folder `relative` below root, reached without following any link and without leaving the
// root. openat2 says so in one call; where it is missing (Linux < 5.6, or a sandbox that hides
// it), a walk component by component with O_NOFOLLOW.
FileHandle open_beneath(const OutputRoot& root, const std::string& relative) {
    const std::string what = relative.empty() ? root.path() : root.path() + "/" + relative;
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    const std::string at = relative.empty() ? "." : relative;
    const auto fd =
        static_cast<int>(::syscall(SYS_openat2, root.fd(), at.c_str(), &how, sizeof how));
    if (fd >= 0) return FileHandle(fd);
    const int err = errno;
    if (err == ELOOP || err == EXDEV) refuse_link(what);
    if (err == ENOTDIR) throw StatusError(StatusCode::kFailedPrecondition, what + ": not a folder");
    if (err != ENOSYS && err != EPERM) throw_errno("cannot open folder " + what, err);
    FileHandle current(::dup(root.fd()));
    if (!current.valid()) throw_errno("cannot open folder " + root.path(), errno);
    for_each_part(relative, [&](const std::string& part) {
        if (part == "..") refuse_link(what);
        current = open_folder_nofollow(current.fd(), part, what);
    });
    return current;
}

std::pair<dev_t, ino_t> identity(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return {0, 0};
    return {st.st_dev, st.st_ino};
}

}  // namespace

OutputRoot::OutputRoot(const std::string& path) : path_(path) {
    // The root and its parents are the user's choice and may be links (to another disk, say);
    // only what a run creates beneath it must be real folders.
    for (std::size_t i = 1; i <= path.size(); ++i) {
        if (i != path.size() && path[i] != '/') continue;
        const std::string prefix = path.substr(0, i);
        struct stat st {};
        if (prefix == "." || prefix == ".." || ::stat(prefix.c_str(), &st) == 0) continue;
        if (::mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST) {
            throw_errno("cannot create folder " + prefix, errno);
        }
    }
    fd_ = FileHandle(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd_.valid()) throw_errno("cannot open folder " + path, errno);
}

void OutputRoot::make_folders(const std::string& relative) const {
    FileHandle current(::dup(fd_.fd()));
    if (!current.valid()) throw_errno("cannot open folder " + path_, errno);
    std::string done = path_;
    for_each_part(relative, [&](const std::string& part) {
        done += "/" + part;
        if (part == "..") {
            throw StatusError(StatusCode::kFailedPrecondition,
                              done + ": refusing a path that leaves the output folder");
        }
        if (::mkdirat(current.fd(), part.c_str(), 0777) != 0 && errno != EEXIST) {
            throw_errno("cannot create folder " + done, errno);
        }
        current = open_folder_nofollow(current.fd(), part, done);
    });
}

OutputFile::OutputFile(const OutputPlace& place, bool overwrite, bool durable,
                       const struct stat* keep)
    : place_(place), overwrite_(overwrite), durable_(durable) {
    if (place_.path.empty()) place_.path = place_.relative;
    if (place_.root) {
        folder_ = open_beneath(*place_.root, parent_of(place_.relative));
    } else {
        const std::string folder = folder_of(place_.relative);
        folder_ = FileHandle(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!folder_.valid()) throw_errno("cannot open folder " + folder, errno);
    }
    name_ = base_name(place_.relative);
    if (!place_.root && open_direct()) return;
    if (name_.size() > kNameMax) {
        throw StatusError(StatusCode::kInvalidArgument,
                          place_.path + ": its name is " + std::to_string(name_.size()) +
                              " bytes, more than the " + std::to_string(kNameMax) +
                              " bytes a file name may have");
    }
    struct stat st {};
    if (::fstatat(folder_.fd(), name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!overwrite) {
            throw StatusError(StatusCode::kAlreadyExists, place_.path + " already exists");
        }
        if (keep && st.st_dev == keep->st_dev && st.st_ino == keep->st_ino) {
            throw StatusError(StatusCode::kInvalidArgument,
                              "refusing to overwrite the input with its own output");
        }
    }
    create_temporary();
}

// A device or a FIFO named as the output: written through (its node stays what it is). Links
// are followed here (the user named the path: /dev/stdout is one). Returns whether it was one.
bool OutputFile::open_direct() {
    struct stat st {};
    if (::fstatat(folder_.fd(), name_.c_str(), &st, 0) != 0) return false;
    if (S_ISBLK(st.st_mode)) {
        throw StatusError(StatusCode::kFailedPrecondition,
                          place_.path + ": is a block device (not written to)");
    }
    if (!S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode)) return false;
    fd_ = FileHandle(::openat(folder_.fd(), name_.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC));
    if (!fd_.valid()) throw_errno(place_.path + ": cannot open", errno);
    direct_ = true;
    return true;
}

OutputFile::OutputFile(const std::string& path, bool overwrite, bool durable)
    : OutputFile(OutputPlace{nullptr, path, path}, overwrite, durable) {}

// A hidden name beside the destination (same file system, so the rename is atomic), recognisable
// as ours (".NAME.tbbpipe-XXXXXX"), and never longer than a name may be: a long NAME is cut.
void OutputFile::create_temporary() {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const std::size_t room = kNameMax - 1 - (sizeof kTempMark - 1) - kTempSuffix;
    std::string stem = ".";
    stem.append(name_, 0, std::min(name_.size(), room));
    stem.append(kTempMark);
    for (int attempt = 0; attempt < 100; ++attempt) {
        std::array<std::uint8_t, kTempSuffix> draw{};
        format::random_bytes(draw.data(), draw.size());
        std::string candidate = stem;
        for (const std::uint8_t b : draw) candidate += kAlphabet[b % (sizeof kAlphabet - 1)];
        const int fd = ::openat(folder_.fd(), candidate.c_str(),
                                O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            fd_ = FileHandle(fd);
            temp_name_ = std::move(candidate);
            const std::string folder = folder_of(place_.path);
            registry_slot_ = register_temp(folder + "/" + temp_name_);
            return;
        }
        if (errno != EEXIST) {
            throw_errno("cannot create a temporary file in " + folder_of(place_.path), errno);
        }
    }
    throw StatusError(StatusCode::kIoError,
                      "cannot create a temporary file in " + folder_of(place_.path));
}

OutputFile::~OutputFile() {
    discard();
}

void OutputFile::set_metadata(std::uint32_t mode, std::int64_t mtime_sec,
                              std::uint32_t mtime_nsec) {
    if (direct_) return;  // a device's or a FIFO's mode is not ours to change
    if (mode != 0 && ::fchmod(fd_.fd(), static_cast<mode_t>(mode & 01777)) != 0) {
        throw_errno(place_.path + ": cannot set mode", errno);
    }
    if (mtime_sec != 0 || mtime_nsec != 0) {
        const timespec times[2] = {{0, UTIME_OMIT},
                                   {static_cast<time_t>(mtime_sec), static_cast<long>(mtime_nsec)}};
        if (::futimens(fd_.fd(), times) != 0) {
            throw_errno(place_.path + ": cannot set mtime", errno);
        }
    }
}

void OutputFile::commit() {
    if (done_) throw StatusError(StatusCode::kInternal, "output committed twice");
    if (direct_) {
        fd_.reset();
        done_ = true;
        return;
    }
    if (durable_) {
        if (::fsync(fd_.fd()) != 0) {
            const int err = errno;
            discard();
            throw_errno(place_.path + ": cannot flush to disk", err);
        }
        ++syncs_;
    }
    publish();
    // The rename lives in the folder: flush it too, or a crash could forget the new name.
    if (durable_ && sync_folder()) ++syncs_;
}

// The folder held since creation must still be the one the tree leads to: a folder moved away
// and replaced (by a link, say) would otherwise receive the output wherever it now is.
void OutputFile::check_folder_unchanged() const {
    if (!place_.root) return;
    bool same = false;
    try {
        const FileHandle now = open_beneath(*place_.root, parent_of(place_.relative));
        same = identity(now.fd()) == identity(folder_.fd());
    } catch (const StatusError&) {
        same = false;
    }
    if (!same) {
        throw StatusError(StatusCode::kFailedPrecondition,
                          place_.path +
                              ": its folder was replaced while the run went (by a link or another "
                              "folder): not written");
    }
}

void OutputFile::publish() {
    if (done_) throw StatusError(StatusCode::kInternal, "output committed twice");
    if (direct_) {
        fd_.reset();
        done_ = true;
        return;
    }
    fd_.reset();
    try {
        check_folder_unchanged();
    } catch (...) {
        discard();
        throw;
    }
    const unsigned flags = overwrite_ ? 0 : RENAME_NOREPLACE;
    if (::renameat2(folder_.fd(), temp_name_.c_str(), folder_.fd(), name_.c_str(), flags) != 0) {
        const int err = errno;
        discard();
        if (err == EEXIST) {
            throw StatusError(StatusCode::kAlreadyExists, place_.path + " already exists");
        }
        // Whatever the reason (a folder in the way, say), the operation failed: exit 1.
        throw StatusError(StatusCode::kIoError,
                          place_.path + ": cannot rename into place: " + std::strerror(err));
    }
    done_ = true;
    unregister_temp(registry_slot_);
    registry_slot_ = -1;
}

dev_t OutputFile::device() const {
    struct stat st {};
    return fd_.valid() && ::fstat(fd_.fd(), &st) == 0 ? st.st_dev : 0;
}

std::pair<dev_t, ino_t> OutputFile::folder_id() const {
    return identity(folder_.fd());
}

bool OutputFile::sync_folder() const {
    return folder_.valid() && ::fsync(folder_.fd()) == 0;
}

void OutputFile::discard() {
    if (done_) return;
    fd_.reset();
    if (direct_) {
        done_ = true;  // what was written through is out: nothing to remove
        return;
    }
    if (!temp_name_.empty()) ::unlinkat(folder_.fd(), temp_name_.c_str(), 0);
    unregister_temp(registry_slot_);
    registry_slot_ = -1;
    done_ = true;
}

void sync_file_system(int fd, const std::string& what) {
    if (::syncfs(fd) != 0) throw_errno(what + ": cannot flush to disk", errno);
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
