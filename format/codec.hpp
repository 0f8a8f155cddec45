// Codec: chunk compression. A chunk that does not shrink is stored raw (the caller decides).
#pragma once

#include <cstddef>
#include <cstdint>

#include "tbbpipe/options.hpp"

namespace tbbpipe::format {

/// Compresses n bytes into out (capacity cap). Returns the compressed size, or 0 when the result
/// would not be smaller than the input (store raw).
std::size_t compress_chunk(Compression c, int level, const std::uint8_t* in, std::size_t n,
                           std::uint8_t* out, std::size_t cap);

/// Decompresses exactly raw_size bytes; throws StatusError(kCorruptData) on any mismatch.
void decompress_chunk(const std::uint8_t* in, std::size_t n, std::uint8_t* out,
                      std::size_t raw_size);

/// Decompresses into at most cap bytes and returns how many came out; throws
/// StatusError(kCorruptData) when the data is not lz4 or needs more room.
std::size_t decompress_bounded(const std::uint8_t* in, std::size_t n, std::uint8_t* out,
                               std::size_t cap);

}  // namespace tbbpipe::format
