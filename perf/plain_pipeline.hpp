// PlainPipeline: the ceiling tbbpipe's flow graph is measured against.
//
// A hand-written tbb::parallel_pipeline doing the same per-chunk work as tbbpipe (the chunk digest
// of the plaintext, lz4 level 1, AES-256-GCM with a per-chunk nonce, and the reverse for unpack)
// with nothing else: no token budgets, no sequencer, no index, no footer. It reads with pread
// through a serial input filter and writes through a serial output filter, so its I/O pattern
// matches tbbpipe's. Whatever tbbpipe loses against it is engine and format overhead.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/cipher.hpp"
#include "format/digest.hpp"
#include "format/header.hpp"
#include "format/record.hpp"

namespace tbbpipe::perf {

/// One sealed chunk of the ceiling's own (format-agnostic) output file.
struct SealedEntry {
    std::uint64_t offset = 0;  ///< where its payload starts in the sealed file
    std::uint32_t raw_size = 0;
    std::uint32_t stored_size = 0;  ///< payload bytes including the 16-byte tag
    bool compressed = false;
    format::Digest digest{};  ///< the plaintext's digest under PlainPipelineConfig::hash
};

struct PlainPipelineConfig {
    int threads = 0;  ///< arena size; 0 = all cores
    std::uint32_t chunk_size = 1u << 20;
    Hash hash = Hash::kXxh3;      ///< the chunk digest, as tbbpipe's --hash
    format::SecretBytes key{32};  ///< AES-256-GCM key
};

/// What one run did. Throws std::exception (from a filter) on failure.
struct PlainPipelineRun {
    std::uint64_t plaintext_bytes = 0;
    std::uint64_t stored_bytes = 0;  ///< bytes written, record prefixes included (pack)
    std::uint64_t chunks = 0;
};

/// Reads size bytes of in_fd in chunks, seals each in parallel, writes them in order to out_fd
/// (a 24-byte prefix then the payload, like a container record). When index is given, records
/// where each payload went so plain_unpack can read the file back.
/// Thread-safety: independent calls may run concurrently.
PlainPipelineRun plain_pack(const PlainPipelineConfig& config, int in_fd, std::uint64_t size,
                            int out_fd, std::vector<SealedEntry>* index);

/// Reads the payloads named by index from in_fd, opens, decompresses and checks each chunk's
/// digest in parallel, and writes the plaintext in order to out_fd. Throws on a tag or digest
/// mismatch, so every run is a verified round trip.
PlainPipelineRun plain_unpack(const PlainPipelineConfig& config, int in_fd,
                              const std::vector<SealedEntry>& index, int out_fd);

}  // namespace tbbpipe::perf
