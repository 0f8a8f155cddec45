#include "tbbpipe/storage.hpp"

#include "jobs/storage_probe.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <system_error>

namespace tbbpipe {
namespace {

namespace fs = std::filesystem;

// Depths per device kind. Every token pins one chunk buffer, so past the depth where a device
// stops getting faster more tokens only add memory and latency.
// - NVMe 32: the controller takes deep queues and spreads them over many flash channels;
//   chunk-sized sequential I/O on common drives keeps gaining up to roughly QD 16-32, then
//   flattens.
// - SATA/SAS SSD 8: NCQ caps the drive at 32 commands, and large sequential requests fill the
//   ~550 MB/s link by QD 4-8.
// - HDD 2: one actuator. With requests for several files outstanding the head seeks between them
//   and throughput drops; 2 keeps the next request queued while one is served, so the disk never
//   idles, without interleaving many streams.
// - Unknown 4: tmpfs is memory copies (depth hardly matters), overlay hides a device that may be
//   an HDD, network file systems gain from some concurrency. 4 costs a hidden HDD little and
//   still hides latency elsewhere.
constexpr int kNvmeDepth = 32;
constexpr int kSsdDepth = 8;
constexpr int kHddDepth = 2;
constexpr int kUnknownDepth = 4;

// What the sysfs entry of one st_dev says; shared by every path on that device.
struct DeviceFacts {
    StorageType type = StorageType::kUnknown;
    std::string device;
    int nr_requests = 0;
    std::string reason;
};
using DeviceCache = std::map<dev_t, DeviceFacts>;

// The first line of a small sysfs attribute, trailing whitespace removed; nullopt if unreadable.
std::optional<std::string> read_attribute(const fs::path& file) {
    std::ifstream in(file);
    std::string line;
    if (!in || !std::getline(in, line)) return std::nullopt;
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ' || line.back() == '\t')) {
        line.pop_back();
    }
    return line;
}

int parse_positive(const std::optional<std::string>& text) {
    if (!text) return 0;
    int value = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    return ec == std::errc() && end == text->data() + text->size() && value > 0 ? value : 0;
}

DeviceFacts probe_device(dev_t dev, const std::string& sysfs_root) {
    const std::string id = std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
    DeviceFacts facts;
    // The entry is looked up before judging major 0: with the real /sys major 0 never has one,
    // but a fake root in tests may describe the tmpfs or overlay the tests run on.
    const fs::path entry = fs::path(sysfs_root) / "dev" / "block" / id;
    std::error_code ec;
    const fs::path node = fs::canonical(entry, ec);
    if (ec) {
        facts.reason = major(dev) == 0 ? "no block device (st_dev " + id +
                                             ": tmpfs, overlay, network or virtual file system)"
                                       : "no sysfs entry " + entry.string();
        return facts;
    }
    // A partition has no queue/ of its own; its whole disk is the parent folder.
    fs::path disk = node;
    std::string partition_note;
    if (fs::exists(node / "partition", ec)) {
        disk = node.parent_path();
        partition_note = " (partition " + node.filename().string() + ")";
    }
    facts.device = disk.filename().string();
    facts.nr_requests = parse_positive(read_attribute(disk / "queue" / "nr_requests"));
    const auto rotational = read_attribute(disk / "queue" / "rotational");
    std::string detail = id + " -> " + facts.device + partition_note + ": ";
    if (rotational == "1") {
        facts.type = StorageType::kHdd;
        detail += "rotational=1";
    } else if (rotational == "0") {
        facts.type = facts.device.starts_with("nvme") ? StorageType::kNvme : StorageType::kSsd;
        detail += "rotational=0";
    } else {
        detail += "no readable queue/rotational";
    }
    if (facts.nr_requests > 0) detail += ", nr_requests=" + std::to_string(facts.nr_requests);
    facts.reason = std::move(detail);
    return facts;
}

// The st_dev of path, or of its nearest existing parent (an output not written yet); how it got
// there goes into note. Returns false with the reason in note when nothing can be stat()ed.
bool locate_device(const std::string& path, dev_t& dev, std::string& note) {
    fs::path probe = path.empty() ? fs::path(".") : fs::path(path);
    for (;;) {
        struct stat st {};
        if (::stat(probe.c_str(), &st) == 0) {
            dev = st.st_dev;
            if (probe.native() != path)
                note = "via nearest existing parent " + probe.string() + ", ";
            return true;
        }
        const int err = errno;
        if (err != ENOENT && err != ENOTDIR) {
            note = "cannot stat " + probe.string() + ": " + std::generic_category().message(err);
            return false;
        }
        // Each step strictly shortens the path, so this ends at "." or "/".
        fs::path parent = probe.parent_path();
        if (parent.empty()) parent = ".";
        if (parent == probe) {
            note = "no existing parent folder of " + path;
            return false;
        }
        probe = std::move(parent);
    }
}

StorageInfo probe_cached(const std::string& path, const std::string& sysfs_root,
                         DeviceCache* cache) {
    StorageInfo info;
    info.path = path;
    if (path == "-") {
        info.reason = "stream (stdin/stdout): no block device";
        return info;
    }
    dev_t dev{};
    std::string note;
    if (!locate_device(path, dev, note)) {
        info.reason = std::move(note);
        return info;
    }
    DeviceFacts facts;
    if (cache) {
        auto it = cache->find(dev);
        if (it == cache->end()) it = cache->emplace(dev, probe_device(dev, sysfs_root)).first;
        facts = it->second;
    } else {
        facts = probe_device(dev, sysfs_root);
    }
    info.type = facts.type;
    info.device = std::move(facts.device);
    info.nr_requests = facts.nr_requests;
    info.reason = note + facts.reason;
    return info;
}

}  // namespace

std::optional<StorageType> parse_storage_type(std::string_view text) {
    if (text == "auto") return StorageType::kAuto;
    if (text == "nvme") return StorageType::kNvme;
    if (text == "ssd") return StorageType::kSsd;
    if (text == "hdd") return StorageType::kHdd;
    return std::nullopt;
}

std::string_view storage_type_name(StorageType type) {
    switch (type) {
        case StorageType::kAuto: return "auto";
        case StorageType::kNvme: return "nvme";
        case StorageType::kSsd: return "ssd";
        case StorageType::kHdd: return "hdd";
        case StorageType::kUnknown: return "unknown";
    }
    return "unknown";
}

namespace jobs {

StorageType probe_device_type(dev_t dev) {
    return probe_device(dev, "/sys").type;
}

}  // namespace jobs

StorageInfo probe_storage(const std::string& path, const std::string& sysfs_root) {
    return probe_cached(path, sysfs_root, nullptr);
}

int io_depth_for(const StorageInfo& info) {
    int depth = kUnknownDepth;
    switch (info.type) {
        case StorageType::kNvme: depth = kNvmeDepth; break;
        case StorageType::kSsd: depth = kSsdDepth; break;
        case StorageType::kHdd: depth = kHddDepth; break;
        case StorageType::kAuto:
        case StorageType::kUnknown: depth = kUnknownDepth; break;
    }
    // The block layer keeps at most nr_requests per queue; more of ours would only wait in the
    // scheduler, each holding a chunk buffer.
    if (info.nr_requests > 0) depth = std::min(depth, info.nr_requests);
    return std::max(depth, 1);
}

IoDepthChoice choose_io_depth(const std::vector<std::string>& paths, StorageType override_type,
                              const std::string& sysfs_root) {
    IoDepthChoice choice;
    if (override_type != StorageType::kAuto) {
        StorageInfo forced;
        forced.type = override_type;
        choice.io_tokens = io_depth_for(forced);
        choice.type = override_type;
        choice.reason = std::to_string(choice.io_tokens) + " for " +
                        std::string(storage_type_name(override_type)) +
                        ": storage type given, nothing probed";
        return choice;
    }
    if (paths.empty()) {
        choice.io_tokens = io_depth_for(StorageInfo{});
        choice.reason = std::to_string(choice.io_tokens) + " for unknown: no paths to probe";
        return choice;
    }
    // Many inputs usually share a few devices: read each device's sysfs entry once.
    DeviceCache cache;
    choice.probed.reserve(paths.size());
    std::size_t slowest = 0;
    int slowest_depth = 0;
    for (const auto& path : paths) {
        choice.probed.push_back(probe_cached(path, sysfs_root, &cache));
        const int depth = io_depth_for(choice.probed.back());
        if (choice.probed.size() == 1 || depth < slowest_depth) {
            slowest = choice.probed.size() - 1;
            slowest_depth = depth;
        }
    }
    const StorageInfo& pacing = choice.probed[slowest];
    choice.io_tokens = slowest_depth;
    choice.type = pacing.type;
    choice.reason = std::to_string(slowest_depth) + " for " +
                    std::string(storage_type_name(pacing.type)) + ": " + pacing.path + " (" +
                    pacing.reason + ")";
    if (paths.size() > 1) {
        choice.reason += ", the smallest depth of " + std::to_string(paths.size()) + " paths";
    }
    return choice;
}

}  // namespace tbbpipe
