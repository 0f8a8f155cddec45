#include "format/manifest.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "core/status_error.hpp"
#include "format/byte_order.hpp"

namespace tbbpipe::format {
namespace {

constexpr std::uint32_t kManifestMagic = 0x4d504254;  // "TBPM"
constexpr std::uint16_t kManifestVersion = 1;
constexpr std::size_t kManifestFixed = 4 + 2 + 2 + 8 + 4 + 4;
// path length, sizes, hash id, two digests: an entry's bytes besides its path.
constexpr std::size_t kEntryFixed = 2 + 8 + 8 + 1 + 32 + 32;

[[noreturn]] void corrupt(const std::string& what) {
    throw StatusError(StatusCode::kCorruptData, "manifest: " + what);
}

}  // namespace

bool valid_manifest_path(const std::string& path) {
    if (path.empty() || path.size() > kMaxManifestPath || path.front() == '/') return false;
    if (path.find('\0') != std::string::npos) return false;
    std::size_t pos = 0;
    while (pos <= path.size()) {
        std::size_t slash = path.find('/', pos);
        if (slash == std::string::npos) slash = path.size();
        const std::string_view part(path.data() + pos, slash - pos);
        if (part.empty() || part == "." || part == "..") return false;
        pos = slash + 1;
    }
    return true;
}

std::vector<std::uint8_t> encode_manifest(Manifest manifest) {
    auto& entries = manifest.entries;
    std::sort(entries.begin(), entries.end(),
              [](const ManifestEntry& a, const ManifestEntry& b) { return a.path < b.path; });
    std::size_t size = kManifestFixed;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (!valid_manifest_path(entries[i].path)) {
            throw StatusError(StatusCode::kInvalidArgument,
                              "manifest: not a relative path: " + entries[i].path);
        }
        if (i > 0 && entries[i].path == entries[i - 1].path) {
            throw StatusError(StatusCode::kInvalidArgument,
                              "manifest: listed twice: " + entries[i].path);
        }
        size += kEntryFixed + entries[i].path.size();
    }
    std::vector<std::uint8_t> out(size);
    std::uint8_t* p = out.data();
    put_u32(p, kManifestMagic);
    put_u16(p + 4, kManifestVersion);
    put_u16(p + 6, 0);
    put_u64(p + 8, static_cast<std::uint64_t>(manifest.made_sec));
    put_u32(p + 16, manifest.made_nsec);
    put_u32(p + 20, static_cast<std::uint32_t>(entries.size()));
    p += kManifestFixed;
    for (const ManifestEntry& e : entries) {
        put_u16(p, static_cast<std::uint16_t>(e.path.size()));
        std::copy(e.path.begin(), e.path.end(), p + 2);  // length-prefixed, no terminator
        p += 2 + e.path.size();
        put_u64(p, e.container_size);
        put_u64(p + 8, e.plaintext_size);
        p[16] = static_cast<std::uint8_t>(e.hash);
        std::memcpy(p + 17, e.header_digest.data(), 32);
        std::memcpy(p + 49, e.root.data(), 32);
        p += kEntryFixed - 2;
    }
    return out;
}

Manifest decode_manifest(const std::uint8_t* data, std::size_t size) {
    if (size < kManifestFixed) corrupt("too short");
    if (get_u32(data) != kManifestMagic) corrupt("not a manifest");
    if (get_u16(data + 4) != kManifestVersion) corrupt("unknown version");
    if (get_u16(data + 6) != 0) corrupt("reserved field set");
    Manifest m;
    m.made_sec = static_cast<std::int64_t>(get_u64(data + 8));
    m.made_nsec = get_u32(data + 16);
    if (m.made_nsec >= 1000000000) corrupt("bad time");
    const std::uint32_t count = get_u32(data + 20);
    std::size_t at = kManifestFixed;
    // Each entry takes at least kEntryFixed + 1 bytes: a count beyond that is a lie.
    if (count > (size - at) / (kEntryFixed + 1)) corrupt("entry count larger than the body");
    m.entries.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        if (size - at < 2) corrupt("truncated entry");
        const std::size_t path_size = get_u16(data + at);
        if (path_size == 0 || path_size > kMaxManifestPath) corrupt("bad path length");
        if (size - at < kEntryFixed + path_size) corrupt("truncated entry");
        ManifestEntry e;
        e.path.assign(reinterpret_cast<const char*>(data + at + 2), path_size);
        if (!valid_manifest_path(e.path)) corrupt("not a relative path");
        if (!m.entries.empty() && !(m.entries.back().path < e.path)) {
            corrupt("paths out of order or repeated");
        }
        const std::uint8_t* p = data + at + 2 + path_size;
        e.container_size = get_u64(p);
        e.plaintext_size = get_u64(p + 8);
        if (p[16] < 1 || p[16] > 3) corrupt("unknown hash id");
        e.hash = static_cast<Hash>(p[16]);
        std::memcpy(e.header_digest.data(), p + 17, 32);
        std::memcpy(e.root.data(), p + 49, 32);
        at += kEntryFixed + path_size;
        m.entries.push_back(std::move(e));
    }
    if (at != size) corrupt("bytes after the last entry");
    return m;
}

const ManifestEntry* find_entry(const Manifest& manifest, const std::string& path) {
    const auto it =
        std::lower_bound(manifest.entries.begin(), manifest.entries.end(), path,
                         [](const ManifestEntry& e, const std::string& p) { return e.path < p; });
    return it != manifest.entries.end() && it->path == path ? &*it : nullptr;
}

}  // namespace tbbpipe::format
