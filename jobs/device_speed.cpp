#include "jobs/device_speed.hpp"

#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <map>
#include <mutex>

#include "jobs/storage_probe.hpp"

namespace tbbpipe::jobs {
namespace {

// One answer per file system for the process's life: what a device is does not change while we
// run, and the sysfs probe costs a dozen system calls.
std::mutex g_mutex;
std::map<dev_t, DeviceSpeed> g_speeds;  // guarded by g_mutex

bool memory_file_system(decltype(statfs::f_type) type) {
    return type == TMPFS_MAGIC || type == RAMFS_MAGIC;
}

// Local file systems on block devices whose buffered I/O waits only for that device. Network,
// FUSE and overlay file systems are not here: any call may wait on something far away.
bool local_file_system(decltype(statfs::f_type) type) {
    return type == EXT4_SUPER_MAGIC || type == XFS_SUPER_MAGIC || type == BTRFS_SUPER_MAGIC ||
           type == F2FS_SUPER_MAGIC;
}

DeviceSpeed classify(dev_t dev, int fd, const std::string& path) {
    struct statfs fs {};
    const int r = fd >= 0 ? ::fstatfs(fd, &fs) : ::statfs(path.c_str(), &fs);
    if (r != 0) return DeviceSpeed::kOther;
    if (memory_file_system(fs.f_type)) return DeviceSpeed::kMemory;
    if (!local_file_system(fs.f_type)) return DeviceSpeed::kOther;
    const StorageType type = probe_device_type(dev);
    return type == StorageType::kNvme || type == StorageType::kSsd ? DeviceSpeed::kFast
                                                                   : DeviceSpeed::kDisk;
}

}  // namespace

DeviceSpeed device_speed(const struct stat& st, int fd, const std::string& path) {
    // Character device major 1 is the kernel's memory devices: null, zero, full, (u)random.
    if (S_ISCHR(st.st_mode))
        return major(st.st_rdev) == 1 ? DeviceSpeed::kMemory : DeviceSpeed::kOther;
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return DeviceSpeed::kOther;
    {
        std::lock_guard lock(g_mutex);
        const auto it = g_speeds.find(st.st_dev);
        if (it != g_speeds.end()) return it->second;
    }
    const DeviceSpeed speed = classify(st.st_dev, fd, path);  // outside the lock: reads sysfs
    std::lock_guard lock(g_mutex);
    return g_speeds.emplace(st.st_dev, speed).first->second;
}

DeviceSpeed device_speed_of_fd(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return DeviceSpeed::kOther;
    return device_speed(st, fd);
}

DeviceSpeed device_speed_of_path(const std::string& path) {
    std::string probe = path.empty() ? "." : path;
    for (;;) {
        struct stat st {};
        if (::stat(probe.c_str(), &st) == 0) return device_speed(st, -1, probe);
        if ((errno != ENOENT && errno != ENOTDIR) || probe == "/" || probe == ".") {
            return DeviceSpeed::kOther;
        }
        // Up one folder: each step strictly shortens the path, ending at "/" or ".".
        while (probe.size() > 1 && probe.back() == '/') probe.pop_back();
        const auto slash = probe.rfind('/');
        probe = slash == std::string::npos ? "." : slash == 0 ? "/" : probe.substr(0, slash);
    }
}

}  // namespace tbbpipe::jobs
