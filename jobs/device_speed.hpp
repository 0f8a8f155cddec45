// DeviceSpeed: whether I/O on a device can make a thread wait long. It decides where the engine
// runs a file's reads and writes (core/no_block.hpp): on the arena thread that wants the data,
// or on an I/O thread that may wait without keeping a CPU token's thread from the transforms.
#pragma once

#include <sys/stat.h>

#include <string>

namespace tbbpipe::jobs {

enum class DeviceSpeed {
    kMemory,  ///< tmpfs, ramfs, or a memory character device (/dev/null): never waits
    kFast,    ///< a local file system (ext4, xfs, btrfs, f2fs) on an NVMe or SATA SSD
    kDisk,    ///< a local file system on a disk, or on a block device of unknown kind: reads
              ///< from the page cache do not wait (RWF_NOWAIT tells), writes may, for long
    kOther,   ///< network, FUSE and overlay file systems, pipes, sockets, terminals: any call
              ///< may wait on something far away
};

/// Reads may be tried on an arena thread (with RWF_NOWAIT, or plainly from memory).
inline bool reads_may_run_inline(DeviceSpeed s) {
    return s != DeviceSpeed::kOther;
}
/// Writes may run on an arena thread: they cannot wait long.
inline bool writes_may_run_inline(DeviceSpeed s) {
    return s == DeviceSpeed::kMemory || s == DeviceSpeed::kFast;
}

/// The speed of what st (from fstat or stat of a file or folder) lives on. Cached per file
/// system. Thread-safe.
DeviceSpeed device_speed(const struct stat& st, int fd = -1, const std::string& path = {});
/// The speed of the device holding fd.
DeviceSpeed device_speed_of_fd(int fd);
/// The speed of the device that holds path, or the nearest existing folder above it (an output
/// not written yet). kOther when nothing can be stat()ed.
DeviceSpeed device_speed_of_path(const std::string& path);

}  // namespace tbbpipe::jobs
