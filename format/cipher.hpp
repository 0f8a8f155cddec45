// Cipher: the AEADs, key derivation and key wrapping of the container format.
//
// Key hierarchy (docs/FORMAT.md has the why):
//   user secret (key file or passphrase) --raw / scrypt--> KEK
//   KEK wraps a per-file random file key (AEAD, AAD = the header's fixed fields)
//   file key --HKDF(salt = header digest)--> payload key, footer key, header MAC key
// Key material lives in CryptoPP::SecByteBlock, which wipes itself, and never enters a message.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "format/header.hpp"
#include "format/secret_bytes.hpp"

namespace tbbpipe::format {

/// Fills buf with bytes from the OS CSPRNG.
void random_bytes(std::uint8_t* buf, std::size_t n);

/// KEK for a header: the key file bytes, or scrypt(passphrase, salt, header's cost).
SecretBytes derive_kek(const Secret& secret, const Header& header);

/// First 8 bytes of HMAC-SHA256(KEK, label): lets a reader tell a wrong key from corruption.
std::array<std::uint8_t, 8> key_id_for(const SecretBytes& kek);

/// The per-file keys derived from the file key and the header digest.
struct FileKeys {
    SecretBytes payload{32};
    SecretBytes footer{32};
    SecretBytes header_mac{32};
};
FileKeys derive_file_keys(const SecretBytes& file_key, const Digest& header_digest);

/// AEAD seal: writes size + 16 bytes (ciphertext || tag) to out. out may equal in exactly (in
/// place, as the pack transform does for compressed chunks; a test pins it) but not overlap it
/// partially.
void aead_seal(Cipher cipher, const SecretBytes& key, const std::uint8_t* nonce12,
               const std::uint8_t* aad, std::size_t aad_size, const std::uint8_t* in,
               std::size_t size, std::uint8_t* out);
/// AEAD open: in holds ciphertext || tag (size includes the tag). false: tag mismatch.
[[nodiscard]] bool aead_open(Cipher cipher, const SecretBytes& key, const std::uint8_t* nonce12,
                             const std::uint8_t* aad, std::size_t aad_size, const std::uint8_t* in,
                             std::size_t size, std::uint8_t* out);

/// Chunk nonce: 3 zero bytes || 64-bit big-endian chunk counter || last-chunk flag byte.
std::array<std::uint8_t, 12> chunk_nonce(std::uint64_t index, bool last);

/// HMAC-SHA256.
Digest hmac_sha256(const SecretBytes& key, const std::uint8_t* data, std::size_t size);

}  // namespace tbbpipe::format

namespace tbbpipe::format {

/// Derived KEKs by (secret, salt, cost), so a passphrase costs one scrypt per run, not per file.
/// Thread-safety: all members may be called concurrently; the derivation runs outside the lock.
class KekCache {
public:
    SecretBytes get(const Secret& secret, const Header& header);
    /// Passphrase derivations (scrypt runs) made so far: a run spread over processes promises
    /// one per process, and tests hold it to that.
    std::uint64_t derivations() const { return derivations_.load(std::memory_order_relaxed); }
    /// Counts a derivation made elsewhere with the same secret (a pack's own KEK).
    void count_derivation() { derivations_.fetch_add(1, std::memory_order_relaxed); }

private:
    struct Entry {
        std::array<std::uint8_t, 20> id;  // salt and cost
        KeyDerivation kind;
        SecretBytes secret;  // the passphrase itself: a different one must never hit
        SecretBytes kek;
    };
    std::mutex mutex_;
    std::vector<Entry> entries_;  // guarded by mutex_; a handful per run
    // A statistic read after the derivations it counts are done: relaxed is enough.
    std::atomic<std::uint64_t> derivations_{0};
};

}  // namespace tbbpipe::format
