// The pack direction: input reader -> compress + encrypt + hash -> ordered container writer.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/pipeline.hpp"
#include "nodes/cipher.hpp"
#include "nodes/container_format.hpp"
#include "nodes/stage_spec.hpp"

namespace tbbpipe::nodes {

/// Reads a regular file of known size; chunks are claimed in order and read with pread in
/// parallel. A file that shrinks while read fails its chunk.
class FileChunkReader final : public engine::ChunkSource {
public:
    FileChunkReader(int fd, std::uint64_t size, std::uint32_t chunk_size);
    bool claim(engine::Chunk& chunk) override;
    void fill(engine::Chunk& chunk) override;
    /// The size of the chunks claimed from now on (adaptive chunking); at most the container's
    /// nominal chunk size.
    void set_chunk_size(std::uint32_t size) { chunk_size_ = size; }

private:
    int fd_;
    std::uint64_t size_;
    std::uint32_t chunk_size_;
    std::uint64_t next_offset_ = 0;  // claim() is serialised by the engine
    std::uint64_t claimed_ = 0;
    bool claimed_any_ = false;
};

/// Reads a pipe or terminal sequentially; a one-byte look-ahead tells the last chunk.
class StreamChunkReader final : public engine::ChunkSource {
public:
    StreamChunkReader(int fd, std::uint32_t chunk_size, const std::atomic<bool>* cancel);
    bool claim(engine::Chunk& chunk) override;
    int max_concurrent_reads() const override { return 1; }
    std::uint64_t bytes_read() const { return offset_; }

private:
    int fd_;
    std::uint32_t chunk_size_;
    const std::atomic<bool>* cancel_;
    std::uint64_t offset_ = 0;
    std::uint64_t claimed_ = 0;
    std::optional<std::uint8_t> lookahead_;
    bool done_ = false;
};

/// Everything the transform needs to seal a chunk. Keys are only set when encrypting.
struct SealContext {
    Compression compression = Compression::kLz4;
    int level = 1;
    CipherId cipher = CipherId::kNone;
    std::uint32_t chunk_size = 0;
    Digest header_digest{};
    const SecretBytes* payload_key = nullptr;
    /// Set when registered stages run (the general path); null: compression only.
    const StagePlan* stages = nullptr;
    std::uint64_t data_offset = kHeaderSize;  ///< where record 0 starts
};

/// Hash the plaintext, compress (raw if it does not shrink), encrypt: one body per chunk, so a
/// chunk costs one graph hop. Thread-safe: holds only read-only state.
class PackTransform final : public engine::ChunkTransform {
public:
    explicit PackTransform(const SealContext& context) : context_(context) {}
    void transform(engine::Chunk& chunk) override;

private:
    /// Runs the steps in order; returns the payload to seal (the input or a staged buffer).
    const std::uint8_t* run_steps(engine::Chunk& chunk, std::vector<std::uint8_t>& staged,
                                  std::size_t& payload_size, bool& compressed) const;
    SealContext context_;
};

/// Writes records in chunk order and, at the end, the footer and trailer.
class ContainerWriter final : public engine::ChunkSink {
public:
    /// The header has already been written to fd (header_size bytes).
    ContainerWriter(int fd, const SealContext& context, const SecretBytes* footer_key,
                    const std::atomic<bool>* cancel);
    void write(const engine::Chunk& chunk) override;
    /// Writes footer + trailer. Returns the total container size.
    std::uint64_t finish(FooterBody metadata);
    std::uint64_t plaintext_bytes() const { return plaintext_bytes_; }

private:
    int fd_;
    SealContext context_;
    const SecretBytes* footer_key_;
    const std::atomic<bool>* cancel_;
    std::uint64_t offset_;  // from the end of the header (and stage list)
    std::uint64_t plaintext_bytes_ = 0;
    std::vector<IndexEntry> entries_;
    RootHasher root_;
};

/// Record AAD: header digest || record header.
std::array<std::uint8_t, 32 + kRecordHeaderSize> record_aad(const Digest& header_digest,
                                                            const RecordHeader& record);
/// Footer AAD: header digest || footer prefix || footer offset || chunk count.
std::array<std::uint8_t, 32 + kFooterPrefixSize + 16> footer_aad(const Digest& header_digest,
                                                                 std::uint32_t stored_size,
                                                                 std::uint64_t footer_offset,
                                                                 std::uint64_t chunk_count);

}  // namespace tbbpipe::nodes
