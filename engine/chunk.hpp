// Chunk: one unit of work as it travels through the graph.
//
// Chunks live in a fixed set of slots (ChunkSlots) whose buffers are reused from run to run, so a
// steady-state run allocates no fresh pages. Graph messages carry a Chunk* handle, never a buffer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/status.hpp"

namespace tbbpipe::engine {

/// Generic per-chunk facts a stage records for the ordered writer (sizes, flags, digest).
struct ChunkMeta {
    std::uint64_t index = 0;                ///< chunk index as stored in a container record
    std::uint32_t raw_size = 0;             ///< plaintext bytes
    std::uint32_t stored_size = 0;          ///< bytes of the stored payload
    std::uint32_t flags = 0;                ///< stage-defined flag bits
    std::array<std::uint8_t, 32> digest{};  ///< stage-defined digest of the plaintext
};

/// Thread-safety: owned by exactly one graph message at a time; never shared.
struct Chunk {
    std::uint64_t seq = 0;     ///< output order, assigned by the engine (contiguous from 0)
    std::uint64_t index = 0;   ///< position within its own stream (a file), set by the source
    std::uint64_t offset = 0;  ///< byte offset of this chunk in its source, for error messages
    bool last = false;         ///< the final chunk of its source (of its file, for many files)
    /// Which unit of work (a file) the chunk belongs to, when a source interleaves several; set
    /// by the source, never dereferenced by the engine.
    void* job = nullptr;

    std::vector<std::uint8_t> input;   ///< what the source filled; capacity is kept across uses
    std::vector<std::uint8_t> output;  ///< scratch for the transform; capacity is kept too
    std::size_t input_size = 0;        ///< valid bytes in input

    /// What the sink writes: points into input or output, set by the transform.
    const std::uint8_t* result = nullptr;
    std::size_t result_size = 0;

    ChunkMeta meta;
    Status status;  ///< not ok: this chunk failed (the run fails; the sink never sees it)

    // Engine bookkeeping for metrics: when the read and the transform finished (steady clock,
    // ns), and the buffer bytes this chunk was charged to the memory gauge.
    std::int64_t read_done_ns = 0;
    std::int64_t transformed_ns = 0;
    std::size_t charged_bytes = 0;

    std::size_t buffer_bytes() const { return input.capacity() + output.capacity(); }

    /// Makes sure a buffer holds at least n bytes. Growing allocates once; later uses reuse it.
    static std::uint8_t* ensure(std::vector<std::uint8_t>& buffer, std::size_t n) {
        if (buffer.size() < n) {
            // reserve() first: resize() alone may double the capacity, which would break the
            // memory budget the slot count was computed from.
            buffer.reserve(n);
            buffer.resize(n);
        }
        return buffer.data();
    }

    /// Clears per-use state but keeps buffer capacity.
    void recycle() {
        seq = 0;
        index = 0;
        offset = 0;
        last = false;
        job = nullptr;
        input_size = 0;
        result = nullptr;
        result_size = 0;
        meta = ChunkMeta{};
        status = Status::ok();
        read_done_ns = 0;
        transformed_ns = 0;
        charged_bytes = 0;
    }
};

}  // namespace tbbpipe::engine
