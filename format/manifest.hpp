// The manifest of a set: which containers a pack into an output tree made, so a later unpack or
// verify of the tree can tell a container swapped, missing, added or replaced (docs/FORMAT.md
// "Manifest", docs/SECURITY.md "Sets"). This is its body; it is stored as the plaintext of a
// container of its own, sealed like the others (or checksummed, without a key).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/digest.hpp"
#include "tbbpipe/options.hpp"

namespace tbbpipe::format {

/// The manifest's file name, at the root of its tree. It is not a .tbp file, so no walk of the
/// tree takes it for a container, nor has it the ".tbbpipe-" of a temporary output.
inline constexpr const char* kManifestName = ".tbbpipe.manifest";

/// One container of the set, as its pack left it.
struct ManifestEntry {
    std::string path;  ///< the container's path below the set's root ("docs/a.txt.tbp")
    std::uint64_t container_size = 0;
    std::uint64_t plaintext_size = 0;
    Hash hash = Hash::kXxh3;
    Digest header_digest{};  ///< SHA-256 of its header: unique per container when encrypted
    Digest root{};           ///< its root digest: the plaintext's, under `hash`
};

struct Manifest {
    std::int64_t made_sec = 0;  ///< when the pack that last wrote it ended (Unix time)
    std::uint32_t made_nsec = 0;
    std::vector<ManifestEntry> entries;  ///< sorted by path, no path twice
};

/// Entry paths: relative, '/'-separated, at most this long, no empty, "." or ".." part, no NUL.
inline constexpr std::size_t kMaxManifestPath = 4096;
bool valid_manifest_path(const std::string& path);

/// Sorts the entries and encodes them. Throws kInvalidArgument for an invalid or repeated path.
std::vector<std::uint8_t> encode_manifest(Manifest manifest);
/// Parses a body; throws kCorruptData for anything malformed (every length is checked against
/// what is there before it is used; paths must be valid, sorted and unique).
Manifest decode_manifest(const std::uint8_t* data, std::size_t size);

/// The entry for `path`, or null (entries sorted: a binary search).
const ManifestEntry* find_entry(const Manifest& manifest, const std::string& path);

}  // namespace tbbpipe::format
