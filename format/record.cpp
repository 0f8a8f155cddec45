#include "format/record.hpp"

#include <lz4.h>

#include <algorithm>
#include <cstring>

#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "format/header.hpp"

namespace tbbpipe::format {

void encode_record_header(const RecordHeader& r, std::uint8_t* out) {
    put_u32(out, kRecordMagic);
    put_u32(out + 4, r.flags);
    put_u64(out + 8, r.index);
    put_u32(out + 16, r.raw_size);
    put_u32(out + 20, r.stored_size);
}

RecordHeader decode_record_header(const std::uint8_t* in) {
    if (get_u32(in) != kRecordMagic)
        throw StatusError(StatusCode::kCorruptData, "bad record magic");
    RecordHeader r;
    r.flags = get_u32(in + 4);
    if (r.flags & ~kKnownRecordFlags)
        throw StatusError(StatusCode::kCorruptData, "unknown record flags");
    r.index = get_u64(in + 8);
    r.raw_size = get_u32(in + 16);
    r.stored_size = get_u32(in + 20);
    return r;
}

std::size_t max_stored_size(std::uint32_t chunk_size, bool encrypted) {
    const auto bound = static_cast<std::size_t>(LZ4_compressBound(static_cast<int>(chunk_size)));
    return std::max<std::size_t>(bound, chunk_size) + (encrypted ? kTagSize : 0);
}

std::array<std::uint8_t, 32 + kRecordHeaderSize> record_aad(const Digest& header_digest,
                                                            const RecordHeader& record) {
    std::array<std::uint8_t, 32 + kRecordHeaderSize> aad{};
    std::memcpy(aad.data(), header_digest.data(), 32);
    encode_record_header(record, aad.data() + 32);
    return aad;
}

}  // namespace tbbpipe::format
