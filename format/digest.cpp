#include "format/digest.hpp"

#include <cryptopp/misc.h>
#include <cryptopp/sha.h>

#include "tbbpipe/container.hpp"

namespace tbbpipe::format {

Digest sha256(const std::uint8_t* data, std::size_t size) {
    Digest out;
    CryptoPP::SHA256().CalculateDigest(out.data(), data, size);
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

}  // namespace tbbpipe
