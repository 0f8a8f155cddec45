// Chunk: one unit of work as it travels through the graph.
//
// Chunks live in a fixed set of slots (ChunkSlots) whose buffers are reused from run to run, so a
// steady-state run allocates no fresh pages. Graph messages carry a Chunk* handle, never a buffer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/buffer.hpp"
#include "tbbpipe/status.hpp"

namespace tbbpipe::engine {

/// Per-chunk facts the transform records for the ordered writer (sizes, flags, digest). The
/// engine carries them and never reads them.
struct ChunkMeta {
    std::uint64_t index = 0;                ///< chunk index as stored in a container record
    std::uint32_t raw_size = 0;             ///< plaintext bytes
    std::uint32_t stored_size = 0;          ///< bytes of the stored payload
    std::uint32_t flags = 0;                ///< record flag bits
    std::array<std::uint8_t, 32> digest{};  ///< digest of the plaintext
};

/// Thread-safety: owned by exactly one graph message at a time; never shared.
struct Chunk {
    std::uint64_t seq = 0;     ///< output order, assigned by the engine (contiguous from 0)
    std::uint64_t index = 0;   ///< position within its own job (a file), set by claim()
    std::uint64_t offset = 0;  ///< byte offset of this chunk in its input, for messages
    bool last = false;         ///< the final chunk of its job
    /// Which job (file) of the run the chunk belongs to, set by claim(); the engine never reads
    /// it (ChunkSteps implementations index their own table of jobs with it).
    std::uint32_t job = 0;

    std::vector<std::uint8_t> input;   ///< what the read filled; capacity is kept across uses
    std::vector<std::uint8_t> output;  ///< scratch for the transform; capacity is kept too
    std::size_t input_size = 0;        ///< valid bytes in input

    /// What the writer writes: points into input or output, set by the transform.
    const std::uint8_t* result = nullptr;
    std::size_t result_size = 0;

    ChunkMeta meta;
    Status status;  ///< not ok: this chunk failed (ChunkSteps::fail hears of it, in order)
    /// Its job had already failed, so no work was done on it: not a failure of its own (the
    /// chunk that failed carries the reason), but it still travels in order so its seq is spent.
    bool skipped = false;

    // Engine bookkeeping for metrics: when the read and the transform finished (steady clock,
    // ns), and the buffer bytes this chunk was charged to the memory gauge.
    std::int64_t read_done_ns = 0;
    std::int64_t transformed_ns = 0;
    std::size_t charged_bytes = 0;

    std::size_t buffer_bytes() const { return input.capacity() + output.capacity(); }

    /// Clears per-use state but keeps buffer capacity.
    void recycle() {
        seq = 0;
        index = 0;
        offset = 0;
        last = false;
        job = 0;
        input_size = 0;
        result = nullptr;
        result_size = 0;
        meta = ChunkMeta{};
        status = Status::ok();
        skipped = false;
        read_done_ns = 0;
        transformed_ns = 0;
        charged_bytes = 0;
    }
};

}  // namespace tbbpipe::engine
