#include "jobs/set_manifest.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <set>

#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "format/open.hpp"
#include "jobs/container_file.hpp"
#include "jobs/file_io.hpp"
#include "jobs/output_file.hpp"

namespace tbbpipe::jobs {
namespace {

// A manifest of a million files is about 150 MB; more than this is not one of ours.
constexpr std::uint64_t kMaxManifestContainer = 512ull * 1024 * 1024;

std::string manifest_path(const std::string& root) {
    return root + "/" + format::kManifestName;
}

// The path of `path` below `root` ("" when it is not below it).
std::string below(const std::string& root, const std::string& path) {
    const std::size_t skip = root.size() + (root.back() == '/' ? 0 : 1);
    if (path.size() <= skip || path.compare(0, root.size(), root) != 0) return "";
    if (root.back() != '/' && path[root.size()] != '/') return "";
    return path.substr(skip);
}

// A whole (small) container from memory: header authenticated, trailer and footer checked, every
// record opened in order and checked against the index. Returns the plaintext; *name gets the
// name it records.
std::vector<std::uint8_t> open_container(const std::vector<std::uint8_t>& bytes,
                                         const Secret& secret, format::KekCache* kek_cache,
                                         std::string* name) {
    using format::kFooterPrefixSize;
    using format::kRecordHeaderSize;
    using format::kTrailerSize;
    const std::uint64_t size = bytes.size();
    if (size < format::kHeaderSize) {
        throw StatusError(StatusCode::kCorruptData, "too short for a header");
    }
    const format::OpenedHeader opened =
        format::authenticate_header(bytes.data(), size, secret, true, kek_cache);
    if (opened.stages_recorded) {
        throw StatusError(StatusCode::kCorruptData, "a manifest never records stages");
    }
    if (size < opened.data_offset + kTrailerSize + kFooterPrefixSize) {
        throw StatusError(StatusCode::kCorruptData, "truncated");
    }
    const format::Trailer trailer = format::decode_trailer(bytes.data() + size - kTrailerSize);
    format::check_trailer(opened, trailer, size);
    const std::uint8_t* footer = bytes.data() + trailer.footer_offset;
    if (format::get_u32(footer) != format::kFooterMagic ||
        format::get_u32(footer + 4) != trailer.footer_size - kFooterPrefixSize) {
        throw StatusError(StatusCode::kCorruptData, "footer: bad prefix");
    }
    const format::FooterBody body =
        format::open_footer(opened, footer + kFooterPrefixSize,
                            trailer.footer_size - static_cast<std::uint32_t>(kFooterPrefixSize),
                            trailer.footer_offset, trailer.chunk_count);
    std::vector<std::uint8_t> plain;
    std::vector<std::uint8_t> in;
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < body.entries.size(); ++i) {
        const format::IndexEntry& e = body.entries[i];
        const std::size_t record = kRecordHeaderSize + e.stored_size;
        in.assign(bytes.begin() + static_cast<std::ptrdiff_t>(e.offset),
                  bytes.begin() + static_cast<std::ptrdiff_t>(e.offset + record));
        in.resize(format::record_buffer_size(e.raw_size, e.stored_size));
        const format::OpenedChunk chunk =
            format::open_chunk(opened, i, &e, in, record, out, chunk_name(i, e.offset));
        plain.insert(plain.end(), chunk.plain, chunk.plain + chunk.record.raw_size);
    }
    *name = body.name;
    return plain;
}

// The plaintext sealed as a container of the recipe, chunk by chunk.
std::vector<std::uint8_t> seal_container(const std::vector<std::uint8_t>& plain,
                                         const format::ContainerRecipe& recipe,
                                         format::FileMetadata metadata) {
    const format::FileSeal seal = format::seal_header(recipe);
    format::IndexBuilder index(seal);
    std::vector<std::uint8_t> out = seal.header_bytes;
    std::vector<std::uint8_t> scratch;
    const std::size_t chunk = recipe.header.chunk_size;
    std::uint64_t i = 0;
    std::size_t at = 0;
    do {
        const std::size_t n = std::min(chunk, plain.size() - at);
        const bool last = at + n == plain.size();
        const format::SealedChunk sealed =
            format::seal_chunk(seal, i, last, {plain.data() + at, n}, scratch, chunk_name(i, at));
        std::uint8_t header[format::kRecordHeaderSize];
        format::encode_record_header(sealed.record, header);
        out.insert(out.end(), header, header + sizeof header);
        out.insert(out.end(), sealed.payload, sealed.payload + sealed.record.stored_size);
        index.add(sealed.record, sealed.digest);
        at += n;
        ++i;
    } while (at < plain.size());
    const std::vector<std::uint8_t> tail = index.finish(std::move(metadata));
    out.insert(out.end(), tail.begin(), tail.end());
    return out;
}

// The manifest at root, or null when there is none. Throws StatusError (naming the manifest)
// when it cannot be read or opened.
std::unique_ptr<format::Manifest> read_manifest(const std::string& root, const Secret& secret,
                                                format::KekCache* kek_cache) {
    const std::string path = manifest_path(root);
    struct stat st {};
    FileHandle in(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!in.valid()) {
        if (errno == ENOENT) return nullptr;
        throw_errno(path + ": cannot open", errno);
    }
    if (::fstat(in.fd(), &st) != 0 || !S_ISREG(st.st_mode)) {
        throw StatusError(StatusCode::kCorruptData, path + ": not a regular file");
    }
    if (static_cast<std::uint64_t>(st.st_size) > kMaxManifestContainer) {
        throw StatusError(StatusCode::kCorruptData, path + ": too large for a manifest");
    }
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
    if (pread_full(in.fd(), bytes.data(), bytes.size(), 0) != bytes.size()) {
        throw StatusError(StatusCode::kIoError, path + ": changed while read");
    }
    try {
        std::string name;
        const std::vector<std::uint8_t> plain = open_container(bytes, secret, kek_cache, &name);
        if (name != format::kManifestName) {
            throw StatusError(StatusCode::kAuthFailed, "holds '" + name + "', not a manifest");
        }
        return std::make_unique<format::Manifest>(
            format::decode_manifest(plain.data(), plain.size()));
    } catch (const StatusError& e) {
        throw StatusError(e.status().code(), path + ": " + e.status().message());
    }
}

}  // namespace

std::vector<SetReport> check_sets(std::vector<FileEntry>& files, const Secret& secret,
                                  format::KekCache* kek_cache, Manifests& manifests) {
    std::vector<SetReport> reports;
    std::map<std::string, std::size_t> report_of;       // set root -> reports index
    std::map<std::string, std::set<std::string>> seen;  // set root -> listed paths present
    for (FileEntry& entry : files) {
        const std::string& root = entry.file->set_root;
        if (root.empty()) continue;
        auto it = report_of.find(root);
        if (it == report_of.end()) {
            it = report_of.emplace(root, reports.size()).first;
            SetReport report;
            report.root = root;
            try {
                std::unique_ptr<format::Manifest> m = read_manifest(root, secret, kek_cache);
                report.manifest = m != nullptr;
                if (m) manifests[root] = std::move(m);
            } catch (...) {
                report.status = status_from_current_exception();
            }
            reports.push_back(std::move(report));
        }
        const auto manifest = manifests.find(root);
        if (entry.done || manifest == manifests.end()) continue;
        const std::string path = below(root, entry.file->input);
        const format::ManifestEntry* listed =
            path.empty() ? nullptr : format::find_entry(*manifest->second, path);
        if (!listed) {
            entry.result->status = {StatusCode::kAuthFailed,
                                    "not in the set's manifest (" + manifest_path(root) +
                                        "): added to the tree after it was packed"};
            entry.done = true;
            continue;
        }
        entry.listed = listed;
        seen[root].insert(path);
    }
    for (SetReport& report : reports) {
        const auto manifest = manifests.find(report.root);
        if (manifest == manifests.end()) continue;
        const std::set<std::string>& present = seen[report.root];
        for (const format::ManifestEntry& e : manifest->second->entries) {
            if (!present.count(e.path)) report.missing.push_back(e.path);
        }
    }
    return reports;
}

std::vector<SetReport> write_sets(const std::vector<FileEntry>& files, const RunPlan& plan,
                                  const format::ContainerRecipe& recipe, const Secret& secret,
                                  format::KekCache* kek_cache, bool durable,
                                  const std::vector<SetMember>& members) {
    std::map<std::string, std::vector<format::ManifestEntry>> packed;  // by set root
    for (const FileEntry& entry : files) {
        const std::string& root = entry.file->set_root;
        if (root.empty()) continue;
        auto& list = packed[root];  // a set whose files all failed still gets its report
        if (!entry.done || !entry.result->status.is_ok()) continue;
        format::ManifestEntry e = entry.packed;
        e.path = below(root, entry.file->output);
        if (!e.path.empty()) list.push_back(std::move(e));
    }
    for (const SetMember& m : members) {
        format::ManifestEntry e;
        e.path = below(m.set_root, m.output);
        e.container_size = m.container.container_size;
        e.plaintext_size = m.container.plaintext_size;
        e.hash = m.container.hash;
        e.header_digest = m.container.header_digest;
        e.root = m.container.root_digest;
        if (!e.path.empty()) packed[m.set_root].push_back(std::move(e));
    }
    // The manifest holds nothing a stage registry would be needed for: the run's compression
    // (lz4 unless none), cipher and hash, built in.
    PackOptions options;
    std::vector<SetReport> reports;
    for (auto& [root, entries] : packed) {
        SetReport report;
        report.root = root;
        try {
            format::Manifest manifest;
            try {
                // Entries of earlier runs stay, unless this run packed their path anew.
                if (auto old = read_manifest(root, secret, kek_cache)) manifest = std::move(*old);
            } catch (const StatusError&) {
                // Another key's, or damaged: this run's manifest replaces it.
            }
            std::set<std::string> fresh;
            for (const auto& e : entries) fresh.insert(e.path);
            std::erase_if(manifest.entries,
                          [&](const format::ManifestEntry& e) { return fresh.count(e.path) > 0; });
            manifest.entries.insert(manifest.entries.end(), entries.begin(), entries.end());
            const auto now = std::chrono::system_clock::now().time_since_epoch();
            manifest.made_sec = std::chrono::duration_cast<std::chrono::seconds>(now).count();
            manifest.made_nsec = static_cast<std::uint32_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() % 1000000000);

            format::StagePlan stages;
            format::ContainerRecipe manifest_recipe = recipe;
            manifest_recipe.header.flags &= ~format::kHeaderFlagStageList;
            if (recipe.stages && recipe.stages->recorded()) {
                // A registered stage ran on the files; the manifest keeps to built-in ones.
                options.cipher =
                    recipe.header.cipher == Cipher::kNone ? options.cipher : recipe.header.cipher;
                options.hash = recipe.header.hash;
                stages = format::plan_for_pack(options, recipe.kek != nullptr, StageRegistry());
                manifest_recipe.stages = &stages;
                manifest_recipe.header.compression = stages.compression;
                manifest_recipe.level = 1;
            }
            format::FileMetadata metadata;
            metadata.name = format::kManifestName;
            metadata.mode = 0644;
            metadata.mtime_sec = manifest.made_sec;
            metadata.mtime_nsec = manifest.made_nsec;
            const std::vector<std::uint8_t> bytes = seal_container(
                format::encode_manifest(std::move(manifest)), manifest_recipe, std::move(metadata));
            const auto root_it = plan.roots.find(root);
            const OutputPlace place{
                root_it == plan.roots.end() ? nullptr : root_it->second.get(),
                root_it == plan.roots.end() ? manifest_path(root) : format::kManifestName,
                manifest_path(root)};
            OutputFile out(place, /*overwrite=*/true, durable);
            write_full(out.fd(), bytes.data(), bytes.size(), "manifest");
            out.set_metadata(0644, 0, 0);
            out.commit();
            report.manifest = true;
        } catch (...) {
            report.status = status_from_current_exception();
        }
        reports.push_back(std::move(report));
    }
    return reports;
}

}  // namespace tbbpipe::jobs
