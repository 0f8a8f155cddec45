#include "format/header.hpp"

#include <algorithm>
#include <cstring>

#include "core/status_error.hpp"
#include "format/byte_order.hpp"

namespace tbbpipe::format {
namespace {

// PNG-style magic: a high byte catches 7-bit transfers, CR LF / LF catch newline translation.
constexpr std::uint8_t kHeaderMagic[8] = {0x89, 'T', 'B', 'P', '\r', '\n', 0x1a, '\n'};

[[noreturn]] void corrupt(const std::string& what) {
    throw StatusError(StatusCode::kCorruptData, what);
}

// The public enums double as the format's ids: pin their values.
static_assert(static_cast<int>(Compression::kLz4Hc) == 2 &&
              static_cast<int>(Cipher::kChaCha20Poly1305) == 2 &&
              static_cast<int>(KeyDerivation::kScrypt) == 2);

}  // namespace

std::array<std::uint8_t, kHeaderSize> encode_header(const Header& h) {
    std::array<std::uint8_t, kHeaderSize> out{};
    std::uint8_t* p = out.data();
    std::memcpy(p, kHeaderMagic, 8);
    put_u16(p + 8, kFormatVersion);
    put_u16(p + 10, static_cast<std::uint16_t>(kHeaderSize));
    p[12] = static_cast<std::uint8_t>(h.compression);
    p[13] = static_cast<std::uint8_t>(std::clamp(h.level, -128, 127) & 0xff);
    p[14] = static_cast<std::uint8_t>(h.cipher);
    p[15] = static_cast<std::uint8_t>(h.hash);
    put_u32(p + 16, h.chunk_size);
    p[20] = static_cast<std::uint8_t>(h.kdf);
    p[21] = h.scrypt.log2_n;
    p[22] = h.scrypt.r;
    p[23] = h.scrypt.p;
    std::memcpy(p + 24, h.salt.data(), 16);
    std::memcpy(p + 40, h.key_id.data(), 8);
    std::memcpy(p + 48, h.wrap_nonce.data(), 12);
    std::memcpy(p + 60, h.wrapped_key.data(), kWrappedKeySize);
    put_u32(p + 108, h.flags);
    std::memcpy(p + kHeaderAuthOffset, h.auth.data(), 32);
    return out;
}

Header decode_header(const std::uint8_t* p, std::size_t size) {
    if (size < kHeaderSize) corrupt("file too short for a tbbpipe header");
    if (std::memcmp(p, kHeaderMagic, 8) != 0) corrupt("not a tbbpipe container (bad magic)");
    const auto version = get_u16(p + 8);
    if (version < 1 || version > kFormatVersion) {
        corrupt("unsupported container version " + std::to_string(version));
    }
    if (get_u16(p + 10) != kHeaderSize) corrupt("header: bad header length");
    Header h;
    if (p[12] > 2) corrupt("header: unknown compression id " + std::to_string(p[12]));
    h.compression = static_cast<Compression>(p[12]);
    h.level = p[13] < 128 ? int{p[13]} : int{p[13]} - 256;  // the byte is two's complement
    if (p[14] > 2) corrupt("header: unknown cipher id " + std::to_string(p[14]));
    h.cipher = static_cast<Cipher>(p[14]);
    // Version 1 knew only SHA-256; version 2 adds XXH3-128 and none.
    if (p[15] < 1 || p[15] > (version == 1 ? 1 : 3)) {
        corrupt("header: unknown hash id " + std::to_string(p[15]));
    }
    h.chunk_size = get_u32(p + 16);
    if (h.chunk_size < kMinChunkSize || h.chunk_size > kMaxChunkSize) {
        corrupt("header: chunk size " + std::to_string(h.chunk_size) + " out of range");
    }
    if (p[20] > 2) corrupt("header: unknown key derivation id " + std::to_string(p[20]));
    h.kdf = static_cast<KeyDerivation>(p[20]);
    if ((h.kdf == KeyDerivation::kNone) != (h.cipher == Cipher::kNone)) {
        corrupt("header: cipher and key derivation disagree");
    }
    h.hash = static_cast<Hash>(p[15]);
    // Without a cipher, the digests are the only check there is.
    if (h.hash == Hash::kNone && h.cipher == Cipher::kNone) {
        corrupt("header: no digest and no cipher");
    }
    h.scrypt = {p[21], p[22], p[23]};
    if (h.kdf == KeyDerivation::kScrypt) {
        // Checked before anything is derived: a hostile header must not cost more time or memory
        // than the most expensive container our own writer makes, nor less than its floor.
        const auto& s = h.scrypt;
        const std::uint64_t n = 1ull << std::min<int>(s.log2_n, 40);
        const std::uint64_t memory = 128ull * s.r * n;
        const std::uint64_t work = n * s.r * s.p;
        if (s.log2_n < kMinScryptLog2N || s.log2_n > kMaxScryptLog2N || s.r < 1 || s.p < 1 ||
            s.p > 16 || memory > kScryptMaxMemory || work > kScryptMaxWork) {
            throw StatusError(StatusCode::kCorruptData,
                              "header: scrypt cost (log2 N " + std::to_string(s.log2_n) + ", r " +
                                  std::to_string(s.r) + ", p " + std::to_string(s.p) +
                                  ") outside what a reader accepts (log2 N 14..18, p <= 16, at "
                                  "most 256 MiB and N*r*p <= 2^23)");
        }
    }
    std::memcpy(h.salt.data(), p + 24, 16);
    std::memcpy(h.key_id.data(), p + 40, 8);
    std::memcpy(h.wrap_nonce.data(), p + 48, 12);
    std::memcpy(h.wrapped_key.data(), p + 60, kWrappedKeySize);
    h.flags = get_u32(p + 108);
    if (h.flags & ~kKnownHeaderFlags) corrupt("header: unknown flags");
    std::memcpy(h.auth.data(), p + kHeaderAuthOffset, 32);
    return h;
}

std::vector<std::uint8_t> header_auth_input(const std::uint8_t* header, const std::uint8_t* list,
                                            std::size_t list_size) {
    std::vector<std::uint8_t> covered(kHeaderAuthOffset + list_size);  // sized once, filled
    std::memcpy(covered.data(), header, kHeaderAuthOffset);
    if (list_size != 0) std::memcpy(covered.data() + kHeaderAuthOffset, list, list_size);
    return covered;
}

std::vector<std::uint8_t> encode_stage_list(const std::string& spec) {
    std::vector<std::uint8_t> out(kStageListPrefixSize + spec.size());
    put_u32(out.data(), kStageListMagic);
    put_u16(out.data() + 4, static_cast<std::uint16_t>(spec.size()));
    put_u16(out.data() + 6, 0);
    std::memcpy(out.data() + kStageListPrefixSize, spec.data(), spec.size());
    return out;
}

std::size_t stage_list_size(const std::uint8_t* prefix) {
    if (get_u32(prefix) != kStageListMagic) corrupt("stage list: bad magic");
    const std::size_t length = get_u16(prefix + 4);
    if (length == 0 || length > kMaxStageSpecLength) corrupt("stage list: bad length");
    if (get_u16(prefix + 6) != 0) corrupt("stage list: reserved field set");
    return kStageListPrefixSize + length;
}

std::string decode_stage_list(const std::uint8_t* list, std::size_t size) {
    if (size < kStageListPrefixSize || stage_list_size(list) != size) {
        corrupt("stage list: truncated");
    }
    return {reinterpret_cast<const char*>(list) + kStageListPrefixSize,
            size - kStageListPrefixSize};
}

}  // namespace tbbpipe::format
