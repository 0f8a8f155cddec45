#include "format/digest.hpp"

#include <cryptopp/misc.h>
#include <cryptopp/sha.h>
#include <xxhash.h>

#include <cstring>

#include "tbbpipe/container.hpp"

namespace tbbpipe::format {

Digest sha256(const std::uint8_t* data, std::size_t size) {
    Digest out;
    CryptoPP::SHA256().CalculateDigest(out.data(), data, size);
    return out;
}

std::size_t digest_size(Hash hash) {
    switch (hash) {
        case Hash::kSha256: return 32;
        case Hash::kXxh3: return 16;
        case Hash::kNone: return 0;
    }
    return 32;
}

Digest chunk_digest(Hash hash, const std::uint8_t* data, std::size_t size) {
    Digest out{};
    switch (hash) {
        case Hash::kSha256: return sha256(data, size);
        case Hash::kXxh3: {
            XXH128_canonical_t canonical;
            XXH128_canonicalFromHash(&canonical, XXH3_128bits(data, size));
            static_assert(sizeof canonical.digest == 16);
            std::memcpy(out.data(), canonical.digest, 16);
            return out;
        }
        case Hash::kNone: return out;
    }
    return out;
}

bool digests_equal(const Digest& a, const Digest& b) {
    return CryptoPP::VerifyBufsEqual(a.data(), b.data(), a.size());
}

}  // namespace tbbpipe::format

namespace tbbpipe {

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

std::string digest_hex(Hash hash, const std::array<std::uint8_t, 32>& digest) {
    return to_hex(digest.data(), format::digest_size(hash));
}

}  // namespace tbbpipe
