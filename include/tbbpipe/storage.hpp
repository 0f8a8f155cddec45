// Storage probe: which kind of block device holds a path, and how many reads to keep in flight
// on it (the device-aware default of EngineConfig::io_tokens).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tbbpipe {

/// What a path is stored on, as far as the I/O depth is concerned. kAuto is only a request
/// ("probe it"), never a probe result. kUnknown: tmpfs, overlay, network file systems, streams,
/// or a device without a usable sysfs entry.
enum class StorageType { kAuto, kNvme, kSsd, kHdd, kUnknown };

/// Parses a storage type: "nvme", "ssd", "hdd" or "auto" (lower case). Anything else, "unknown"
/// included, is nullopt.
std::optional<StorageType> parse_storage_type(std::string_view text);

/// Lower-case name ("nvme", "ssd", "hdd", "auto", "unknown"), for messages and JSON.
std::string_view storage_type_name(StorageType type);

/// What probe_storage() found for one path. Value type.
struct StorageInfo {
    std::string path;                          ///< the path probed, as given
    StorageType type = StorageType::kUnknown;  ///< what the probe concluded (never kAuto)
    std::string device;   ///< whole disk ("nvme0n1", "sda", not "sda1"); empty if none
    int nr_requests = 0;  ///< the disk's queue/nr_requests; 0 if unknown
    std::string reason;   ///< one line: how the type was decided
};

/// Probes the block device holding path: stat() gives st_dev, <sysfs_root>/dev/block/MAJ:MIN
/// leads to the device (for a partition, its whole disk), whose queue/rotational and name decide
/// the type. A path that does not exist yet (an output) is probed through its nearest existing
/// parent folder; "-" (stdin/stdout) has no device. The entry is looked up even for major 0, so a
/// fake sysfs_root can describe any file system; with the real /sys, major 0 (tmpfs, overlay,
/// proc, nfs) has no entry and comes back kUnknown.
/// Never throws on probe trouble: anything it cannot resolve is kUnknown with the reason.
/// Thread-safety: reads the file system only; safe from any thread.
StorageInfo probe_storage(const std::string& path, const std::string& sysfs_root = "/sys");

/// The I/O depth for a probed (or forced) storage type, clamped to nr_requests when that is known
/// and smaller; always >= 1. kAuto counts as kUnknown.
int io_depth_for(const StorageInfo& info);

/// The I/O depth for a job, and how it was chosen. Value type.
struct IoDepthChoice {
    int io_tokens = 0;                         ///< reads/writes to allow in flight
    StorageType type = StorageType::kUnknown;  ///< the type that set io_tokens
    std::vector<StorageInfo> probed;           ///< one per path; empty with an override
    std::string reason;                        ///< one line, for --verbose and the run report
};

/// Chooses the I/O depth (EngineConfig::io_tokens) for a job's paths. With override_type != kAuto
/// the override's depth is used and nothing is probed; the reason says so. Otherwise every path is
/// probed and the smallest depth wins: the token budget is shared by the whole run, so the slowest
/// device (an HDD input feeding an NVMe output) paces it, and a depth fit for the fast one would
/// only make the slow one seek. No paths: the kUnknown depth. Thread-safety: as probe_storage().
/// @code
///   const auto choice = choose_io_depth({"/data/in", "/backup/out.tbp"});
///   config.io_tokens = choice.io_tokens;  // e.g. 2 when /data is on a rotating disk
/// @endcode
IoDepthChoice choose_io_depth(const std::vector<std::string>& paths,
                              StorageType override_type = StorageType::kAuto,
                              const std::string& sysfs_root = "/sys");

}  // namespace tbbpipe
