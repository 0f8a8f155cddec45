// Records: one per chunk, a 24-byte header and the stored payload (docs/FORMAT.md "Record").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "format/digest.hpp"

namespace tbbpipe::format {

inline constexpr std::size_t kRecordHeaderSize = 24;
inline constexpr std::uint32_t kRecordMagic = 0x43504254;  // "TBPC"

// Record flag bits.
inline constexpr std::uint32_t kFlagCompressed = 1u << 0;
inline constexpr std::uint32_t kFlagLast = 1u << 1;
inline constexpr std::uint32_t kKnownRecordFlags = kFlagCompressed | kFlagLast;

struct RecordHeader {
    std::uint32_t flags = 0;
    std::uint64_t index = 0;
    std::uint32_t raw_size = 0;
    std::uint32_t stored_size = 0;
};
void encode_record_header(const RecordHeader& r, std::uint8_t* out);
/// Throws kCorruptData if the magic or flags are wrong.
RecordHeader decode_record_header(const std::uint8_t* in);

/// Largest payload a record may carry for a given chunk size (the record bound).
std::size_t max_stored_size(std::uint32_t chunk_size, bool encrypted);

/// Record AAD: header digest || record header.
std::array<std::uint8_t, 32 + kRecordHeaderSize> record_aad(const Digest& header_digest,
                                                            const RecordHeader& record);

}  // namespace tbbpipe::format
