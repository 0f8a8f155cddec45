#include "format/cipher.hpp"

#include <sys/mman.h>
#include <sys/random.h>

#include <cryptopp/aes.h>
#include <cryptopp/chachapoly.h>
#include <cryptopp/gcm.h>
#include <cryptopp/hkdf.h>
#include <cryptopp/hmac.h>
#include <cryptopp/misc.h>
#include <cryptopp/scrypt.h>
#include <cryptopp/sha.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/no_block.hpp"
#include "core/status_error.hpp"
#include "format/byte_order.hpp"

namespace tbbpipe::format {
namespace {

const std::uint8_t* bytes_of(const char* s) {
    return reinterpret_cast<const std::uint8_t*>(s);
}

template <typename Encryption>
void seal_with(const SecretBytes& key, const std::uint8_t* nonce, const std::uint8_t* aad,
               std::size_t aad_size, const std::uint8_t* in, std::size_t size, std::uint8_t* out) {
    Encryption enc;
    enc.SetKeyWithIV(key.data(), key.size(), nonce, 12);
    enc.EncryptAndAuthenticate(out, out + size, kTagSize, nonce, 12, aad, aad_size, in, size);
}

template <typename Decryption>
bool open_with(const SecretBytes& key, const std::uint8_t* nonce, const std::uint8_t* aad,
               std::size_t aad_size, const std::uint8_t* in, std::size_t size, std::uint8_t* out) {
    if (size < kTagSize) return false;
    Decryption dec;
    dec.SetKeyWithIV(key.data(), key.size(), nonce, 12);
    const std::size_t body = size - kTagSize;
    return dec.DecryptAndVerify(out, in + body, kTagSize, nonce, 12, aad, aad_size, in, body);
}

}  // namespace

void lock_memory(const void* p, std::size_t n) noexcept {
    (void)::mlock(p, n);
}

void unlock_memory(const void* p, std::size_t n) noexcept {
    (void)::munlock(p, n);
}

void random_bytes(std::uint8_t* buf, std::size_t n) {
    // getrandom(2), the kernel's CSPRNG (the source of /dev/urandom) in one system call: Crypto++'s
    // OS_GenerateRandomBlock opens, reads and closes /dev/urandom on every call, three calls per
    // nonce and per file key, which small files pay for each file.
    // Where blocking is not allowed, GRND_NONBLOCK: before the kernel's pool is seeded (early
    // boot) the draw moves to a thread that may wait for it.
    const unsigned flags = blocking_allowed() ? 0u : GRND_NONBLOCK;
    while (n > 0) {
        const ssize_t got = ::getrandom(buf, n, flags);
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN && flags) throw WouldBlock{};
            throw StatusError(StatusCode::kInternal,
                              std::string("getrandom failed: ") + std::strerror(errno));
        }
        buf += got;
        n -= static_cast<std::size_t>(got);
    }
}

SecretBytes derive_kek(const Secret& secret, const Header& header) {
    const SecretBytes& bytes = SecretAccess::bytes(secret);
    if (secret.kind() == KeyDerivation::kKeyFile) {
        if (bytes.size() != kFileKeySize) {
            throw StatusError(StatusCode::kInvalidArgument, "key file must hold exactly 32 bytes");
        }
        return bytes;
    }
    if (secret.kind() == KeyDerivation::kScrypt) {
        // Seconds of CPU, often under the claim lock: where waiting is allowed (an I/O thread),
        // so an arena thread is never the one that keeps every other claim waiting.
        require_blocking_allowed();
        SecretBytes kek(32);
        CryptoPP::Scrypt scrypt;
        scrypt.DeriveKey(kek.data(), kek.size(), bytes.data(), bytes.size(), header.salt.data(),
                         header.salt.size(), 1ull << header.scrypt.log2_n, header.scrypt.r,
                         header.scrypt.p);
        return kek;
    }
    throw StatusError(StatusCode::kInternal, "no secret to derive a key from");
}

std::array<std::uint8_t, 8> key_id_for(const SecretBytes& kek) {
    static const char kLabel[] = "tbbpipe v1 key id";
    const Digest mac = hmac_sha256(kek, bytes_of(kLabel), sizeof kLabel - 1);
    std::array<std::uint8_t, 8> id{};
    std::memcpy(id.data(), mac.data(), id.size());
    return id;
}

FileKeys derive_file_keys(const SecretBytes& file_key, const Digest& header_digest) {
    FileKeys keys;
    CryptoPP::HKDF<CryptoPP::SHA256> hkdf;
    const auto derive = [&](SecretBytes& out, const char* info) {
        hkdf.DeriveKey(out.data(), out.size(), file_key.data(), file_key.size(),
                       header_digest.data(), header_digest.size(), bytes_of(info),
                       std::strlen(info));
    };
    derive(keys.payload, "tbbpipe v1 payload");
    derive(keys.footer, "tbbpipe v1 footer");
    derive(keys.header_mac, "tbbpipe v1 header mac");
    return keys;
}

void aead_seal(Cipher cipher, const SecretBytes& key, const std::uint8_t* nonce,
               const std::uint8_t* aad, std::size_t aad_size, const std::uint8_t* in,
               std::size_t size, std::uint8_t* out) {
    switch (cipher) {
        case Cipher::kAes256Gcm:
            return seal_with<CryptoPP::GCM<CryptoPP::AES>::Encryption>(key, nonce, aad, aad_size,
                                                                       in, size, out);
        case Cipher::kChaCha20Poly1305:
            return seal_with<CryptoPP::ChaCha20Poly1305::Encryption>(key, nonce, aad, aad_size, in,
                                                                     size, out);
        case Cipher::kNone: break;
    }
    throw StatusError(StatusCode::kInternal, "seal without a cipher");
}

bool aead_open(Cipher cipher, const SecretBytes& key, const std::uint8_t* nonce,
               const std::uint8_t* aad, std::size_t aad_size, const std::uint8_t* in,
               std::size_t size, std::uint8_t* out) {
    switch (cipher) {
        case Cipher::kAes256Gcm:
            return open_with<CryptoPP::GCM<CryptoPP::AES>::Decryption>(key, nonce, aad, aad_size,
                                                                       in, size, out);
        case Cipher::kChaCha20Poly1305:
            return open_with<CryptoPP::ChaCha20Poly1305::Decryption>(key, nonce, aad, aad_size, in,
                                                                     size, out);
        case Cipher::kNone: break;
    }
    throw StatusError(StatusCode::kInternal, "open without a cipher");
}

std::array<std::uint8_t, 12> chunk_nonce(std::uint64_t index, bool last) {
    std::array<std::uint8_t, 12> nonce{};
    put_u64_be(nonce.data() + 3, index);
    nonce[11] = last ? 1 : 0;
    return nonce;
}

Digest hmac_sha256(const SecretBytes& key, const std::uint8_t* data, std::size_t size) {
    Digest out;
    CryptoPP::HMAC<CryptoPP::SHA256> hmac(key.data(), key.size());
    hmac.CalculateDigest(out.data(), data, size);
    return out;
}

}  // namespace tbbpipe::format

namespace tbbpipe::format {

SecretBytes KekCache::get(const Secret& secret, const Header& header) {
    if (secret.kind() != KeyDerivation::kScrypt) return derive_kek(secret, header);
    const SecretBytes& bytes = SecretAccess::bytes(secret);
    std::array<std::uint8_t, 20> id{};
    std::memcpy(id.data(), header.salt.data(), 16);
    id[16] = header.scrypt.log2_n;
    id[17] = header.scrypt.r;
    id[18] = header.scrypt.p;
    {
        std::lock_guard lock(mutex_);
        for (const auto& e : entries_) {
            if (e.id == id && e.kind == secret.kind() && e.secret.size() == bytes.size() &&
                CryptoPP::VerifyBufsEqual(e.secret.data(), bytes.data(), e.secret.size())) {
                return e.kek;
            }
        }
    }
    SecretBytes kek = derive_kek(secret, header);  // slow: not under the lock
    count_derivation();
    std::lock_guard lock(mutex_);
    if (entries_.size() < 64) entries_.push_back({id, secret.kind(), bytes, kek});
    return kek;
}

}  // namespace tbbpipe::format
