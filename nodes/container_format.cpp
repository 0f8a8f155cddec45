#include "nodes/container_format.hpp"

#include <cryptopp/sha.h>

#include <lz4.h>
#include <algorithm>
#include <cstring>

#include "engine/status.hpp"
#include "nodes/byte_order.hpp"

namespace tbbpipe::nodes {
namespace {

// PNG-style magic: a high byte catches 7-bit transfers, CR LF / LF catch newline translation.
constexpr std::uint8_t kHeaderMagic[8] = {0x89, 'T', 'B', 'P', '\r', '\n', 0x1a, '\n'};
constexpr std::uint8_t kTrailerMagic[8] = {'T', 'B', 'P', 'E', 'N', 'D', '0', '1'};

[[noreturn]] void corrupt(const std::string& what) {
    throw PipelineError(StatusCode::kCorruptData, what);
}

}  // namespace

const char* compression_name(Compression c) {
    switch (c) {
        case Compression::kNone: return "none";
        case Compression::kLz4: return "lz4";
        case Compression::kLz4Hc: return "lz4hc";
    }
    return "?";
}
const char* cipher_name(CipherId c) {
    switch (c) {
        case CipherId::kNone: return "none";
        case CipherId::kAes256Gcm: return "aes-256-gcm";
        case CipherId::kChaCha20Poly1305: return "chacha20-poly1305";
    }
    return "?";
}
const char* kdf_name(KdfId k) {
    switch (k) {
        case KdfId::kNone: return "none";
        case KdfId::kKeyFile: return "key-file";
        case KdfId::kScrypt: return "scrypt";
    }
    return "?";
}

std::array<std::uint8_t, kHeaderSize> encode_header(const Header& h) {
    std::array<std::uint8_t, kHeaderSize> out{};
    std::uint8_t* p = out.data();
    std::memcpy(p, kHeaderMagic, 8);
    put_u16(p + 8, kFormatVersion);
    put_u16(p + 10, static_cast<std::uint16_t>(kHeaderSize));
    p[12] = static_cast<std::uint8_t>(h.compression);
    p[13] = static_cast<std::uint8_t>(h.level);
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
    if (version != kFormatVersion) {
        corrupt("unsupported container version " + std::to_string(version));
    }
    if (get_u16(p + 10) != kHeaderSize) corrupt("header: bad header length");
    Header h;
    if (p[12] > 2) corrupt("header: unknown compression id " + std::to_string(p[12]));
    h.compression = static_cast<Compression>(p[12]);
    h.level = static_cast<std::int8_t>(p[13]);
    if (p[14] > 2) corrupt("header: unknown cipher id " + std::to_string(p[14]));
    h.cipher = static_cast<CipherId>(p[14]);
    if (p[15] != 1) corrupt("header: unknown hash id " + std::to_string(p[15]));
    h.chunk_size = get_u32(p + 16);
    if (h.chunk_size < kMinChunkSize || h.chunk_size > kMaxChunkSize) {
        corrupt("header: chunk size " + std::to_string(h.chunk_size) + " out of range");
    }
    if (p[20] > 2) corrupt("header: unknown key derivation id " + std::to_string(p[20]));
    h.kdf = static_cast<KdfId>(p[20]);
    if ((h.kdf == KdfId::kNone) != (h.cipher == CipherId::kNone)) {
        corrupt("header: cipher and key derivation disagree");
    }
    h.scrypt = {p[21], p[22], p[23]};
    if (h.kdf == KdfId::kScrypt) {
        const auto& s = h.scrypt;
        const std::uint64_t memory = 128ull * s.r * (1ull << std::min<int>(s.log2_n, 40));
        if (s.log2_n < 1 || s.log2_n > kScryptMaxLog2N || s.r < 1 || s.p < 1 || s.p > 16 ||
            memory > kScryptMaxMemory) {
            throw PipelineError(StatusCode::kCorruptData,
                                "header: scrypt cost (log2 N " + std::to_string(s.log2_n) + ", r " +
                                    std::to_string(s.r) + ", p " + std::to_string(s.p) +
                                    ") exceeds the reader's cap");
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

void encode_record_header(const RecordHeader& r, std::uint8_t* out) {
    put_u32(out, kRecordMagic);
    put_u32(out + 4, r.flags);
    put_u64(out + 8, r.index);
    put_u32(out + 16, r.raw_size);
    put_u32(out + 20, r.stored_size);
}

RecordHeader decode_record_header(const std::uint8_t* in) {
    if (get_u32(in) != kRecordMagic) corrupt("bad record magic");
    RecordHeader r;
    r.flags = get_u32(in + 4);
    if (r.flags & ~kKnownRecordFlags) corrupt("unknown record flags");
    r.index = get_u64(in + 8);
    r.raw_size = get_u32(in + 16);
    r.stored_size = get_u32(in + 20);
    return r;
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

std::size_t max_stored_size(std::uint32_t chunk_size, bool encrypted) {
    const auto bound = static_cast<std::size_t>(LZ4_compressBound(static_cast<int>(chunk_size)));
    return std::max<std::size_t>(bound, chunk_size) + (encrypted ? kTagSize : 0);
}

std::size_t footer_body_size(std::uint64_t entries, std::size_t name_len) {
    return kFooterFixedSize + name_len + entries * kIndexEntrySize + 32;
}

std::vector<std::uint8_t> encode_footer_body(const FooterBody& b) {
    std::vector<std::uint8_t> out(footer_body_size(b.entries.size(), b.name.size()));
    std::uint8_t* p = out.data();
    put_u64(p, b.entries.size());
    put_u64(p + 8, b.original_size);
    put_u32(p + 16, b.mode);
    put_u32(p + 20, static_cast<std::uint32_t>(b.name.size()));
    put_u64(p + 24, static_cast<std::uint64_t>(b.mtime_sec));
    put_u32(p + 32, b.mtime_nsec);
    put_u32(p + 36, 0);
    p += kFooterFixedSize;
    std::copy(b.name.begin(), b.name.end(), p);
    p += b.name.size();
    for (const auto& e : b.entries) {
        put_u64(p, e.offset);
        put_u32(p + 8, e.raw_size);
        put_u32(p + 12, e.stored_size);
        put_u32(p + 16, e.flags);
        std::memcpy(p + 20, e.digest.data(), 32);
        p += kIndexEntrySize;
    }
    std::memcpy(p, b.root.data(), 32);
    return out;
}

FooterBody decode_footer_body(const std::uint8_t* data, std::size_t size) {
    if (size < footer_body_size(0, 0)) corrupt("footer too short");
    FooterBody b;
    const std::uint64_t count = get_u64(data);
    b.original_size = get_u64(data + 8);
    b.mode = get_u32(data + 16);
    const std::uint32_t name_len = get_u32(data + 20);
    b.mtime_sec = static_cast<std::int64_t>(get_u64(data + 24));
    b.mtime_nsec = get_u32(data + 32);
    if (name_len > kMaxNameLength) corrupt("footer: stored name too long");
    // Check the declared count against the bytes we actually have before reserving anything.
    if (count > (size / kIndexEntrySize) || footer_body_size(count, name_len) != size) {
        corrupt("footer: entry count does not match its size");
    }
    if (b.mtime_nsec >= 1000000000u) corrupt("footer: bad mtime");
    const std::uint8_t* p = data + kFooterFixedSize;
    b.name.assign(reinterpret_cast<const char*>(p), name_len);
    p += name_len;
    b.entries.resize(count);
    for (auto& e : b.entries) {
        e.offset = get_u64(p);
        e.raw_size = get_u32(p + 8);
        e.stored_size = get_u32(p + 12);
        e.flags = get_u32(p + 16);
        std::memcpy(e.digest.data(), p + 20, 32);
        p += kIndexEntrySize;
    }
    std::memcpy(b.root.data(), p, 32);
    return b;
}

std::array<std::uint8_t, kTrailerSize> encode_trailer(const Trailer& t) {
    std::array<std::uint8_t, kTrailerSize> out{};
    put_u64(out.data(), t.footer_offset);
    put_u64(out.data() + 8, t.chunk_count);
    put_u32(out.data() + 16, t.footer_size);
    put_u32(out.data() + 20, 0);
    std::memcpy(out.data() + 24, kTrailerMagic, 8);
    return out;
}

Trailer decode_trailer(const std::uint8_t* in) {
    if (std::memcmp(in + 24, kTrailerMagic, 8) != 0) {
        corrupt("trailer missing (truncated or appended data)");
    }
    if (get_u32(in + 20) != 0) corrupt("trailer: reserved field set");
    return {get_u64(in), get_u64(in + 8), get_u32(in + 16)};
}

struct RootHasher::Impl {
    CryptoPP::SHA256 sha;
};

RootHasher::RootHasher(const Digest& header_digest) : impl_(std::make_unique<Impl>()) {
    impl_->sha.Update(header_digest.data(), header_digest.size());
}
RootHasher::~RootHasher() = default;
void RootHasher::add(const Digest& d) {
    impl_->sha.Update(d.data(), d.size());
}
Digest RootHasher::finish(std::uint64_t original_size) {
    std::uint8_t size_le[8];
    put_u64(size_le, original_size);
    impl_->sha.Update(size_le, 8);
    Digest out;
    impl_->sha.Final(out.data());
    return out;
}

Digest sha256(const std::uint8_t* data, std::size_t size) {
    Digest out;
    CryptoPP::SHA256().CalculateDigest(out.data(), data, size);
    return out;
}

std::string to_hex(const std::uint8_t* data, std::size_t size) {
    static const char* kDigits = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out.push_back(kDigits[data[i] >> 4]);
        out.push_back(kDigits[data[i] & 15]);
    }
    return out;
}

}  // namespace tbbpipe::nodes
