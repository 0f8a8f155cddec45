// Chunk buffers: byte vectors whose capacity is kept from use to use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tbbpipe {

/// Makes sure `buffer` holds at least n bytes and returns its data. Growing allocates once (to
/// exactly n: reserve() first, since resize() alone may double the capacity, which would break
/// the memory budget that the engine's slot count was computed from); later uses reuse it.
inline std::uint8_t* ensure_size(std::vector<std::uint8_t>& buffer, std::size_t n) {
    if (buffer.size() < n) {
        buffer.reserve(n);
        buffer.resize(n);
    }
    return buffer.data();
}

}  // namespace tbbpipe
