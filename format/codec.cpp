#include "format/codec.hpp"

#include <lz4.h>
#include <lz4hc.h>

#include <string>

#include "core/status_error.hpp"

namespace tbbpipe::format {

std::size_t compress_chunk(Compression c, int level, const std::uint8_t* in, std::size_t n,
                           std::uint8_t* out, std::size_t cap) {
    if (n == 0 || c == Compression::kNone) return 0;
    const auto* src = reinterpret_cast<const char*>(in);
    auto* dst = reinterpret_cast<char*>(out);
    // Asking for at most n - 1 bytes makes lz4 give up early on incompressible data.
    const int limit = static_cast<int>(std::min(cap, n - 1));
    int got = 0;
    if (c == Compression::kLz4) {
        got = LZ4_compress_fast(src, dst, static_cast<int>(n), limit, level);
    } else {
        got = LZ4_compress_HC(src, dst, static_cast<int>(n), limit, level);
    }
    return got > 0 ? static_cast<std::size_t>(got) : 0;
}

void decompress_chunk(const std::uint8_t* in, std::size_t n, std::uint8_t* out,
                      std::size_t raw_size) {
    const int got =
        LZ4_decompress_safe(reinterpret_cast<const char*>(in), reinterpret_cast<char*>(out),
                            static_cast<int>(n), static_cast<int>(raw_size));
    if (got < 0 || static_cast<std::size_t>(got) != raw_size) {
        throw StatusError(StatusCode::kCorruptData,
                          "lz4 data does not decompress to " + std::to_string(raw_size) + " bytes");
    }
}

std::size_t decompress_bounded(const std::uint8_t* in, std::size_t n, std::uint8_t* out,
                               std::size_t cap) {
    const int got =
        LZ4_decompress_safe(reinterpret_cast<const char*>(in), reinterpret_cast<char*>(out),
                            static_cast<int>(n), static_cast<int>(cap));
    if (got < 0) {
        throw StatusError(StatusCode::kCorruptData,
                          "lz4 data does not decompress within " + std::to_string(cap) + " bytes");
    }
    return static_cast<std::size_t>(got);
}

}  // namespace tbbpipe::format

namespace tbbpipe {

LevelRange level_range(Compression c) {
    switch (c) {
        case Compression::kLz4: return {1, 65537, 1};  // LZ4 acceleration: higher is faster
        case Compression::kLz4Hc: return {LZ4HC_CLEVEL_MIN, LZ4HC_CLEVEL_MAX, LZ4HC_CLEVEL_DEFAULT};
        case Compression::kNone: return {0, 0, 0};
    }
    return {0, 0, 0};
}

}  // namespace tbbpipe
