#include "format/footer.hpp"

#include <cryptopp/sha.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "core/status_error.hpp"
#include "format/byte_order.hpp"

namespace tbbpipe::format {
namespace {

constexpr std::uint8_t kTrailerMagic[8] = {'T', 'B', 'P', 'E', 'N', 'D', '0', '1'};

[[noreturn]] void corrupt(const std::string& what) {
    throw StatusError(StatusCode::kCorruptData, what);
}

}  // namespace

std::size_t index_entry_size(Hash hash) {
    return kIndexEntryFixedSize + digest_size(hash);
}

std::size_t footer_body_size(std::uint64_t entries, std::size_t name_len, Hash hash) {
    return kFooterFixedSize + name_len + entries * index_entry_size(hash) + 32;
}

std::vector<std::uint8_t> encode_footer_body(const FooterBody& b) {
    const std::size_t digest_bytes = digest_size(b.hash);
    std::vector<std::uint8_t> out(footer_body_size(b.entries.size(), b.name.size(), b.hash));
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
        std::memcpy(p + kIndexEntryFixedSize, e.digest.data(), digest_bytes);
        p += kIndexEntryFixedSize + digest_bytes;
    }
    std::memcpy(p, b.root.data(), 32);
    return out;
}

FooterBody decode_footer_body(const std::uint8_t* data, std::size_t size, Hash hash) {
    if (size < footer_body_size(0, 0, hash)) corrupt("footer too short");
    const std::size_t digest_bytes = digest_size(hash);
    const std::size_t entry_size = index_entry_size(hash);
    FooterBody b;
    b.hash = hash;
    const std::uint64_t count = get_u64(data);
    b.original_size = get_u64(data + 8);
    b.mode = get_u32(data + 16);
    const std::uint32_t name_len = get_u32(data + 20);
    b.mtime_sec = static_cast<std::int64_t>(get_u64(data + 24));
    b.mtime_nsec = get_u32(data + 32);
    if (name_len > kMaxNameLength) corrupt("footer: stored name too long");
    // Check the declared count against the bytes we actually have before reserving anything.
    if (count > (size / entry_size) || footer_body_size(count, name_len, hash) != size) {
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
        std::memcpy(e.digest.data(), p + kIndexEntryFixedSize, digest_bytes);
        p += entry_size;
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

std::array<std::uint8_t, 32 + kFooterPrefixSize + 16> footer_aad(const Digest& header_digest,
                                                                 std::uint32_t stored_size,
                                                                 std::uint64_t footer_offset,
                                                                 std::uint64_t chunk_count) {
    std::array<std::uint8_t, 32 + kFooterPrefixSize + 16> aad{};
    std::memcpy(aad.data(), header_digest.data(), 32);
    put_u32(aad.data() + 32, kFooterMagic);
    put_u32(aad.data() + 36, stored_size);
    put_u64(aad.data() + 40, footer_offset);
    put_u64(aad.data() + 48, chunk_count);
    return aad;
}

// The root chains the header digest, every chunk digest and the size under the file's hash:
// SHA-256 or XXH3-128 (as big-endian bytes); with none there is nothing to chain.
struct RootHasher::Impl {
    explicit Impl(Hash h) : hash(h), xxh(h == Hash::kXxh3 ? XXH3_createState() : nullptr) {
        if (xxh) XXH3_128bits_reset(xxh);
    }
    ~Impl() {
        if (xxh) XXH3_freeState(xxh);
    }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    void update(const std::uint8_t* data, std::size_t size) {
        if (hash == Hash::kSha256) sha.Update(data, size);
        if (xxh) XXH3_128bits_update(xxh, data, size);
    }
    const Hash hash;
    CryptoPP::SHA256 sha;
    XXH3_state_t* const xxh;
};

RootHasher::RootHasher(Hash hash, const Digest& header_digest)
    : impl_(std::make_unique<Impl>(hash)) {
    if (!impl_->xxh && hash == Hash::kXxh3) throw std::bad_alloc();
    impl_->update(header_digest.data(), header_digest.size());
}
RootHasher::~RootHasher() = default;
void RootHasher::add(const Digest& d) {
    impl_->update(d.data(), digest_size(impl_->hash));
}
Digest RootHasher::finish(std::uint64_t original_size) {
    std::uint8_t size_le[8];
    put_u64(size_le, original_size);
    impl_->update(size_le, 8);
    Digest out{};
    if (impl_->hash == Hash::kSha256) impl_->sha.Final(out.data());
    if (impl_->xxh) {
        XXH128_canonical_t canonical;
        XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(impl_->xxh));
        std::memcpy(out.data(), canonical.digest, sizeof canonical.digest);
    }
    return out;
}

struct IndexFingerprint::Impl {
    CryptoPP::SHA256 sha;
};

IndexFingerprint::IndexFingerprint() : impl_(std::make_unique<Impl>()) {}
IndexFingerprint::~IndexFingerprint() = default;
void IndexFingerprint::add(const IndexEntry& e) {
    std::uint8_t fixed[kIndexEntryFixedSize];
    put_u64(fixed, e.offset);
    put_u32(fixed + 8, e.raw_size);
    put_u32(fixed + 12, e.stored_size);
    put_u32(fixed + 16, e.flags);
    impl_->sha.Update(fixed, sizeof fixed);
}
Digest IndexFingerprint::finish() {
    Digest out{};
    impl_->sha.Final(out.data());
    return out;
}

}  // namespace tbbpipe::format
