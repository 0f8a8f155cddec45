// Sealing: how a file's plaintext becomes a container, as pure functions over bytes. A pack job
// makes one ContainerRecipe for all its files, one FileSeal per file (its header and keys), seals
// each chunk into a record (concurrently), and feeds the records in order to an IndexBuilder,
// which makes the footer and trailer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "format/cipher.hpp"
#include "format/footer.hpp"
#include "format/header.hpp"
#include "format/record.hpp"
#include "format/stage_spec.hpp"

namespace tbbpipe::format {

/// What every container of a pack job shares. Read-only while files are sealed.
struct ContainerRecipe {
    /// Compression, cipher, KDF, salt, cost, key id and flags; chunk_size is the containers'
    /// nominal (largest) chunk size.
    Header header;
    const StagePlan* stages = nullptr;  ///< what runs, resolved
    int level = 1;                      ///< the compression level actually used
    const SecretBytes* kek = nullptr;   ///< wraps each file key; null: not encrypted
};

/// One file's header bytes and keys. Thread-safety: read-only once made; seal_chunk may run on
/// many threads at once with the same FileSeal.
struct FileSeal {
    const ContainerRecipe* recipe = nullptr;
    std::vector<std::uint8_t> header_bytes;  ///< the header and, when recorded, the stage list
    Digest header_digest{};
    std::unique_ptr<FileKeys> keys;  ///< null: not encrypted
    std::uint64_t data_offset() const { return header_bytes.size(); }
};

/// A fresh file key (wrapped under the recipe's KEK), the header digest, and the header's
/// authentication: everything written before the first record.
FileSeal seal_header(const ContainerRecipe& recipe);

/// One chunk made into a record payload.
struct SealedChunk {
    RecordHeader record;
    Digest digest{};                        ///< of the plaintext
    const std::uint8_t* payload = nullptr;  ///< record.stored_size bytes, in `plain` or `out`
};

/// Digests the plaintext, runs the stages (the compression is kept only if it shrinks the
/// chunk), encrypts. `out` is the chunk's scratch buffer (grown as needed, capacity kept);
/// `where` names the chunk in messages ("chunk 3 at offset 3145728").
/// Throws StatusError: kInternal for a stage that throws, kResourceExhausted for one whose
/// output passes the record bound.
SealedChunk seal_chunk(const FileSeal& seal, std::uint64_t index, bool last,
                       std::span<const std::uint8_t> plain, std::vector<std::uint8_t>& out,
                       const std::string& where);

/// What the footer records about the file besides its index.
struct FileMetadata {
    std::string name;  ///< the stored name (cut to kMaxNameLength)
    std::uint32_t mode = 0;
    std::int64_t mtime_sec = 0;
    std::uint32_t mtime_nsec = 0;
};

/// The index of a container being written, record by record in order, and at the end its
/// footer and trailer. Thread-safety: one thread (the ordered writer).
class IndexBuilder {
public:
    explicit IndexBuilder(const FileSeal& seal);
    /// The next record in order (its 24-byte header is `record`). Ordering matters: offsets and
    /// the root digest follow the order of the calls.
    void add(const RecordHeader& record, const Digest& digest);
    std::uint64_t plaintext_bytes() const { return plaintext_bytes_; }
    /// The footer and trailer bytes that end the container.
    std::vector<std::uint8_t> finish(FileMetadata metadata);
    /// The container's size and root digest once finish() was called.
    std::uint64_t container_size() const { return container_size_; }
    const Digest& root() const { return root_digest_; }

private:
    const FileSeal& seal_;
    std::uint64_t offset_;  // where the next record starts
    std::uint64_t plaintext_bytes_ = 0;
    std::uint64_t container_size_ = 0;
    Digest root_digest_{};
    std::vector<IndexEntry> entries_;
    RootHasher root_;
};

}  // namespace tbbpipe::format
