// The unpack direction: record reader -> decrypt + decompress + digest check -> ordered writer.
// Verify is the same graph with a writer that discards the plaintext.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/pipeline.hpp"
#include "nodes/container_reader.hpp"

namespace tbbpipe::nodes {

/// Reads records of a seekable container by its authenticated index, in parallel (pread).
class IndexedRecordReader final : public engine::ChunkSource {
public:
    IndexedRecordReader(int fd, const OpenedHeader& opened, const FooterBody& footer);
    bool claim(engine::Chunk& chunk) override;
    void fill(engine::Chunk& chunk) override;

private:
    int fd_;
    const OpenedHeader& opened_;
    const FooterBody& footer_;
    std::size_t next_ = 0;  // claim() is serialised by the engine
};

/// Reads records from a pipe in order; at the footer it opens and checks it, then demands EOF.
class StreamRecordReader final : public engine::ChunkSource {
public:
    StreamRecordReader(int fd, const OpenedHeader& opened, const std::atomic<bool>* cancel);
    bool claim(engine::Chunk& chunk) override;
    int max_concurrent_reads() const override { return 1; }
    /// The footer, once the stream reached it.
    const std::optional<FooterBody>& footer() const { return footer_; }

private:
    void read_exact(std::uint8_t* buf, std::size_t n, const char* what);
    void read_footer_and_trailer(const std::uint8_t* prefix);

    int fd_;
    const OpenedHeader& opened_;
    const std::atomic<bool>* cancel_;
    std::uint64_t offset_;  // from the end of the header (and stage list)
    std::uint64_t index_ = 0;
    bool saw_last_ = false;
    // What each record said about itself, checked against the footer's index at the end (the
    // seekable path checks the same thing up front): 20 bytes a chunk.
    std::vector<IndexEntry> seen_;
    std::optional<FooterBody> footer_;
};

/// Checks the record header against what is expected, opens it, decompresses, and compares the
/// plaintext digest (with the index when known; otherwise the writer does at the end).
/// Thread-safe: read-only state.
class UnpackTransform final : public engine::ChunkTransform {
public:
    /// footer: the authenticated index, or nullptr when streaming.
    UnpackTransform(const OpenedHeader& opened, const FooterBody* footer)
        : opened_(opened), footer_(footer) {}
    void transform(engine::Chunk& chunk) override;

private:
    /// Reverses the recorded stages; returns the plaintext (payload itself when nothing ran, else
    /// staged's bytes).
    const std::uint8_t* undo_steps(const engine::Chunk& chunk, const std::uint8_t* payload,
                                   std::size_t payload_size, bool compressed,
                                   std::uint32_t raw_size, std::vector<std::uint8_t>& staged) const;
    const OpenedHeader& opened_;
    const FooterBody* footer_;
};

/// Writes plaintext in order to fd (or nowhere, fd < 0, for verify) and keeps the chunk digests
/// so a streamed container can be checked against its footer at the end.
class PlaintextWriter final : public engine::ChunkSink {
public:
    PlaintextWriter(int fd, bool keep_digests, const std::atomic<bool>* cancel)
        : fd_(fd), keep_digests_(keep_digests), cancel_(cancel) {}
    void write(const engine::Chunk& chunk) override;
    std::uint64_t bytes() const { return bytes_; }
    const std::vector<Digest>& digests() const { return digests_; }

private:
    int fd_;
    bool keep_digests_;
    const std::atomic<bool>* cancel_;
    std::uint64_t bytes_ = 0;
    std::vector<Digest> digests_;
};

/// After a streamed run: the digests seen must equal the footer's, one per entry.
void check_streamed_digests(const FooterBody& footer, const std::vector<Digest>& seen);

}  // namespace tbbpipe::nodes
