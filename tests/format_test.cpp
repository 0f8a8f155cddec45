// Container format v1 pieces in isolation: encoders/decoders, hostile values, nonces, AEADs,
// codecs. Whole-container behaviour lives in container_test.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>

#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "format/cipher.hpp"
#include "format/codec.hpp"
#include "format/footer.hpp"
#include "format/header.hpp"
#include "format/locked_pool.hpp"
#include "format/open.hpp"
#include "format/record.hpp"
#include "tests/test_support.hpp"

namespace tbbpipe::format {
namespace {

using testing::Bytes;

StatusCode code_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const StatusError& e) {
        return e.code();
    }
    return StatusCode::kOk;
}

Header sample_header() {
    Header h;
    h.compression = Compression::kLz4Hc;
    h.level = 9;
    h.cipher = Cipher::kChaCha20Poly1305;
    h.kdf = KeyDerivation::kScrypt;
    h.scrypt = {15, 8, 4};
    h.chunk_size = 256 * 1024;
    for (int i = 0; i < 16; ++i) h.salt[i] = static_cast<std::uint8_t>(i);
    h.key_id = {1, 2, 3, 4, 5, 6, 7, 8};
    h.wrapped_key[0] = 0xaa;
    h.auth[31] = 0x55;
    return h;
}

TEST(Header, RoundTripsEveryField) {
    const Header h = sample_header();
    const auto bytes = encode_header(h);
    const Header back = decode_header(bytes.data(), bytes.size());
    EXPECT_EQ(back.compression, h.compression);
    EXPECT_EQ(back.level, h.level);
    EXPECT_EQ(back.cipher, h.cipher);
    EXPECT_EQ(back.kdf, h.kdf);
    EXPECT_EQ(back.scrypt.log2_n, 15);
    EXPECT_EQ(back.chunk_size, h.chunk_size);
    EXPECT_EQ(back.salt, h.salt);
    EXPECT_EQ(back.key_id, h.key_id);
    EXPECT_EQ(back.wrapped_key, h.wrapped_key);
    EXPECT_EQ(back.auth, h.auth);
    EXPECT_EQ(bytes.size(), kHeaderSize);
}

TEST(Header, RejectsHostileOrUnknownFields) {
    const auto reject = [](auto mutate) {
        auto bytes = encode_header(sample_header());
        mutate(bytes.data());
        return code_of([&] { (void)decode_header(bytes.data(), bytes.size()); });
    };
    EXPECT_EQ(reject([](std::uint8_t* p) { p[1] = 'X'; }), StatusCode::kCorruptData);  // magic
    EXPECT_EQ(reject([](std::uint8_t* p) { put_u16(p + 8, 3); }),
              StatusCode::kCorruptData);                                              // version
    EXPECT_EQ(reject([](std::uint8_t* p) { p[15] = 4; }), StatusCode::kCorruptData);  // hash
    // Version 1 knew SHA-256 only.
    EXPECT_EQ(reject([](std::uint8_t* p) {
                  put_u16(p + 8, 1);
                  p[15] = static_cast<std::uint8_t>(Hash::kXxh3);
              }),
              StatusCode::kCorruptData);
    EXPECT_EQ(reject([](std::uint8_t* p) { p[12] = 9; }), StatusCode::kCorruptData);  // compression
    EXPECT_EQ(reject([](std::uint8_t* p) { p[14] = 7; }), StatusCode::kCorruptData);  // cipher
    EXPECT_EQ(reject([](std::uint8_t* p) { p[14] = 0; }),
              StatusCode::kCorruptData);  // cipher vs kdf
    EXPECT_EQ(reject([](std::uint8_t* p) { put_u32(p + 16, 1u << 31); }), StatusCode::kCorruptData);
    EXPECT_EQ(reject([](std::uint8_t* p) { put_u32(p + 16, 16); }), StatusCode::kCorruptData);
    EXPECT_EQ(reject([](std::uint8_t* p) { put_u32(p + 108, 2); }), StatusCode::kCorruptData);
    // scrypt costs above the reader's cap: 2^30 N, or r so large memory would be gigabytes.
    EXPECT_EQ(reject([](std::uint8_t* p) { p[21] = 30; }), StatusCode::kCorruptData);
    EXPECT_EQ(reject([](std::uint8_t* p) {
                  p[21] = 20;
                  p[22] = 255;
              }),
              StatusCode::kCorruptData);
    EXPECT_EQ(reject([](std::uint8_t* p) { p[23] = 200; }), StatusCode::kCorruptData);
    const auto bytes = encode_header(sample_header());
    EXPECT_EQ(code_of([&] { (void)decode_header(bytes.data(), 100); }), StatusCode::kCorruptData);
}

// A hostile scrypt cost is refused before any derivation runs: it must be fast.
TEST(Header, HostileScryptCostIsRefusedBeforeDeriving) {
    auto bytes = encode_header(sample_header());
    bytes[21] = 40;
    const Secret secret = Secret::passphrase("pw");
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(code_of([&] { (void)authenticate_header(bytes.data(), bytes.size(), secret, true); }),
              StatusCode::kCorruptData);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(Record, RoundTripsAndRejectsBadMagicOrFlags) {
    RecordHeader r{kFlagCompressed | kFlagLast, 123456789012ull, 1 << 20, 4242};
    std::uint8_t buf[kRecordHeaderSize];
    encode_record_header(r, buf);
    const RecordHeader back = decode_record_header(buf);
    EXPECT_EQ(back.flags, r.flags);
    EXPECT_EQ(back.index, r.index);
    EXPECT_EQ(back.raw_size, r.raw_size);
    EXPECT_EQ(back.stored_size, r.stored_size);
    buf[0] ^= 1;
    EXPECT_EQ(code_of([&] { (void)decode_record_header(buf); }), StatusCode::kCorruptData);
    encode_record_header({0x80, 0, 0, 0}, buf);
    EXPECT_EQ(code_of([&] { (void)decode_record_header(buf); }), StatusCode::kCorruptData);
}

TEST(Footer, RoundTripsAndRejectsCountsThatDoNotFit) {
    FooterBody b;
    b.original_size = 5;
    b.mode = 0640;
    b.mtime_sec = 1700000000;
    b.mtime_nsec = 5;
    b.name = "report.pdf";
    b.entries.push_back({144, 5, 9, kFlagLast, {}});
    b.entries[0].digest[0] = 7;
    b.root[1] = 9;
    const auto bytes = encode_footer_body(b);
    EXPECT_EQ(bytes.size(), footer_body_size(1, b.name.size(), Hash::kSha256));
    const FooterBody back = decode_footer_body(bytes.data(), bytes.size(), Hash::kSha256);
    EXPECT_EQ(back.name, b.name);
    EXPECT_EQ(back.mode, b.mode);
    EXPECT_EQ(back.mtime_sec, b.mtime_sec);
    ASSERT_EQ(back.entries.size(), 1u);
    EXPECT_EQ(back.entries[0].digest, b.entries[0].digest);
    EXPECT_EQ(back.root, b.root);

    // A count of 2^60 in a tiny body must be refused without reserving anything.
    auto hostile = bytes;
    put_u64(hostile.data(), 1ull << 60);
    EXPECT_EQ(
        code_of([&] { (void)decode_footer_body(hostile.data(), hostile.size(), Hash::kSha256); }),
        StatusCode::kCorruptData);
    hostile = bytes;
    put_u32(hostile.data() + 20, 1u << 30);  // name length
    EXPECT_EQ(
        code_of([&] { (void)decode_footer_body(hostile.data(), hostile.size(), Hash::kSha256); }),
        StatusCode::kCorruptData);
}

TEST(Trailer, RoundTripsAndNeedsItsMagic) {
    const auto t = encode_trailer({1000, 3, 250});
    const Trailer back = decode_trailer(t.data());
    EXPECT_EQ(back.footer_offset, 1000u);
    EXPECT_EQ(back.chunk_count, 3u);
    EXPECT_EQ(back.footer_size, 250u);
    auto bad = t;
    bad[31] ^= 1;
    EXPECT_EQ(code_of([&] { (void)decode_trailer(bad.data()); }), StatusCode::kCorruptData);
}

TEST(Nonce, IsBigEndianCounterThenLastFlag) {
    const auto n = chunk_nonce(0x0102030405060708ull, true);
    const std::uint8_t expected[12] = {0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1};
    EXPECT_EQ(std::memcmp(n.data(), expected, 12), 0);
    EXPECT_NE(chunk_nonce(5, false), chunk_nonce(5, true));
    EXPECT_NE(chunk_nonce(5, false), chunk_nonce(6, false));
}

class AeadTest : public ::testing::TestWithParam<Cipher> {};

TEST_P(AeadTest, SealsOpensAndDetectsEveryChange) {
    SecretBytes key(32);
    random_bytes(key.data(), key.size());
    const Bytes msg = testing::make_data(10000, testing::DataKind::kMixed);
    const auto nonce = chunk_nonce(3, false);
    const std::uint8_t aad[4] = {1, 2, 3, 4};
    Bytes sealed(msg.size() + kTagSize);
    aead_seal(GetParam(), key, nonce.data(), aad, 4, msg.data(), msg.size(), sealed.data());
    Bytes opened(msg.size());
    ASSERT_TRUE(aead_open(GetParam(), key, nonce.data(), aad, 4, sealed.data(), sealed.size(),
                          opened.data()));
    EXPECT_EQ(opened, msg);

    // In place, as the pack transform does for compressed chunks.
    Bytes inplace = msg;
    inplace.resize(msg.size() + kTagSize);
    aead_seal(GetParam(), key, nonce.data(), aad, 4, inplace.data(), msg.size(), inplace.data());
    EXPECT_EQ(inplace, sealed);

    Bytes flipped = sealed;
    flipped[5000] ^= 0x10;
    EXPECT_FALSE(aead_open(GetParam(), key, nonce.data(), aad, 4, flipped.data(), flipped.size(),
                           opened.data()));
    const auto other = chunk_nonce(3, true);
    EXPECT_FALSE(aead_open(GetParam(), key, other.data(), aad, 4, sealed.data(), sealed.size(),
                           opened.data()));
    const std::uint8_t other_aad[4] = {1, 2, 3, 5};
    EXPECT_FALSE(aead_open(GetParam(), key, nonce.data(), other_aad, 4, sealed.data(),
                           sealed.size(), opened.data()));
}

INSTANTIATE_TEST_SUITE_P(Ciphers, AeadTest,
                         ::testing::Values(Cipher::kAes256Gcm, Cipher::kChaCha20Poly1305));

TEST(Keys, KeyIdSeparatesKeysAndFileKeysDifferByHeader) {
    SecretBytes a(32), b(32);
    random_bytes(a.data(), 32);
    random_bytes(b.data(), 32);
    EXPECT_NE(key_id_for(a), key_id_for(b));
    EXPECT_EQ(key_id_for(a), key_id_for(a));
    Digest d1{}, d2{};
    d2[0] = 1;
    EXPECT_NE(derive_file_keys(a, d1).payload, derive_file_keys(a, d2).payload);
    const FileKeys k = derive_file_keys(a, d1);
    EXPECT_NE(k.payload, k.footer);
    EXPECT_NE(k.footer, k.header_mac);
}

// Keys come from slabs locked once, not from an mlock per key (format/locked_pool.hpp): more
// keys than one slab holds, all in the pool, each keeping its own bytes while the others come and
// go; a block given back is handed out again; a long passphrase takes the heap.
TEST(Keys, SmallKeysLiveInTheLockedPool) {
    std::vector<SecretBytes> keys;
    for (int i = 0; i < 1200; ++i) {
        keys.emplace_back(32);
        std::memset(keys.back().data(), i & 0xff, 32);
        EXPECT_TRUE(locked_pool_owns(keys.back().data()));
    }
    for (int i = 0; i < 1200; i += 2) keys[static_cast<std::size_t>(i)] = SecretBytes();
    for (int i = 1; i < 1200; i += 2) {
        const SecretBytes& k = keys[static_cast<std::size_t>(i)];
        for (std::size_t b = 0; b < 32; ++b) ASSERT_EQ(k[b], i & 0xff) << "key " << i;
    }
    const void* freed = keys[1].data();
    keys[1] = SecretBytes();
    const SecretBytes again(16);
    EXPECT_EQ(again.data(), freed);  // the block freed last comes back first
    const SecretBytes passphrase(4096);
    EXPECT_FALSE(locked_pool_owns(passphrase.data()));
    EXPECT_FALSE(locked_pool_owns(&keys));
}

TEST(Keys, KekCacheDerivesOncePerSalt) {
    const Secret secret = Secret::passphrase("correct horse");
    Header h;
    h.kdf = KeyDerivation::kScrypt;
    h.scrypt = {14, 8, 1};
    KekCache cache;
    const auto t0 = std::chrono::steady_clock::now();
    const SecretBytes first = cache.get(secret, h);
    const auto t1 = std::chrono::steady_clock::now();
    const SecretBytes again = cache.get(secret, h);
    const auto t2 = std::chrono::steady_clock::now();
    EXPECT_EQ(first, again);
    EXPECT_LT(t2 - t1, (t1 - t0) / 4);  // a hit costs nothing next to scrypt
    // A different passphrase with the same salt must derive, not hit the cache.
    const Secret other = Secret::passphrase("dorrect horse");
    EXPECT_NE(cache.get(other, h), first);
    h.salt[0] = 1;
    EXPECT_NE(cache.get(secret, h), first);
}

TEST(Codec, IncompressibleIsReportedAndBadDataRejected) {
    const Bytes noise = testing::make_data(65536, testing::DataKind::kIncompressible);
    Bytes out(max_stored_size(65536, false));
    EXPECT_EQ(
        compress_chunk(Compression::kLz4, 1, noise.data(), noise.size(), out.data(), out.size()),
        0u);
    const Bytes text = testing::make_data(65536, testing::DataKind::kCompressible);
    for (const Compression c : {Compression::kLz4, Compression::kLz4Hc}) {
        const std::size_t n = compress_chunk(c, level_range(c).fallback, text.data(), text.size(),
                                             out.data(), out.size());
        ASSERT_GT(n, 0u);
        ASSERT_LT(n, text.size() / 2);
        Bytes back(text.size());
        decompress_chunk(out.data(), n, back.data(), back.size());
        EXPECT_EQ(back, text);
        EXPECT_EQ(code_of([&] { decompress_chunk(out.data(), n, back.data(), back.size() - 1); }),
                  StatusCode::kCorruptData);
        out[n / 2] ^= 0xff;
        EXPECT_NE(code_of([&] {
                      decompress_chunk(out.data(), n, back.data(), back.size());
                      if (back != text) throw StatusError(StatusCode::kCorruptData, "differs");
                  }),
                  StatusCode::kOk);
    }
    EXPECT_EQ(
        compress_chunk(Compression::kNone, 0, text.data(), text.size(), out.data(), out.size()),
        0u);
}

}  // namespace
}  // namespace tbbpipe::format
