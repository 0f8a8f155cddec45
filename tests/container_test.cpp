// Whole containers through testing::Jobs: the round-trip matrix, determinism, the tampering
// matrix (seekable and streamed), wrong keys, budgets in real runs, and no output after failure.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "format/cipher.hpp"
#include "format/footer.hpp"
#include "format/header.hpp"
#include "format/open.hpp"
#include "format/record.hpp"
#include "tests/fifo_feeder.hpp"
#include "tests/job_support.hpp"
#include "tests/secret_support.hpp"
#include "tests/test_support.hpp"

namespace tbbpipe::format {
namespace {

using testing::Bytes;
using testing::DataKind;
using testing::FifoFeeder;
using testing::ScratchDir;

constexpr std::uint32_t kChunk = 16 * 1024;

using testing::key_secret;
using testing::passphrase;

EngineConfig engine_settings(int threads) {
    EngineConfig e;
    e.cpu_tokens = threads;
    e.io_tokens = 2;
    return e;
}

using testing::Outcome;

class ContainerTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }
    ScratchDir dir_;
};

// --- round trips -------------------------------------------------------------------------------

struct Combo {
    Compression compression;
    Cipher cipher;
};

TEST_F(ContainerTest, RoundTripMatrix) {
    const std::size_t sizes[] = {0, 1, kChunk - 1, kChunk, kChunk + 1, 7 * kChunk + 3};
    const DataKind kinds[] = {DataKind::kCompressible, DataKind::kIncompressible, DataKind::kMixed};
    const Compression compressions[] = {Compression::kLz4, Compression::kLz4Hc, Compression::kNone};
    const Cipher ciphers[] = {Cipher::kNone, Cipher::kAes256Gcm, Cipher::kChaCha20Poly1305};
    for (const int threads : {1, 3}) {
        testing::Jobs jobs(engine_settings(threads));
        for (const std::size_t size : sizes) {
            for (const DataKind kind : kinds) {
                const Bytes data = testing::make_data(size, kind, static_cast<std::uint32_t>(size));
                testing::write_file(dir_ / "in", data);
                for (const Compression c : compressions) {
                    for (const Cipher cipher : ciphers) {
                        SCOPED_TRACE(::testing::Message()
                                     << "threads " << threads << " size " << size << " kind "
                                     << int(kind) << " " << compression_name(c) << " "
                                     << cipher_name(cipher));
                        testing::TestPack s;
                        s.compression = c;
                        s.cipher = cipher;
                        s.chunk_size = kChunk;
                        const Secret secret = cipher == Cipher::kNone ? Secret() : key_secret(1);
                        const testing::Outcome packed =
                            jobs.pack(dir_ / "in", dir_ / "c.tbp", s, secret, true);
                        ASSERT_TRUE(packed.status.is_ok()) << packed.status.message();
                        EXPECT_EQ(packed.chunks,
                                  std::max<std::size_t>(1, (size + kChunk - 1) / kChunk));
                        const testing::Outcome verified = jobs.verify(dir_ / "c.tbp", secret);
                        ASSERT_TRUE(verified.status.is_ok()) << verified.status.message();
                        const testing::Outcome unpacked =
                            jobs.unpack(dir_ / "c.tbp", dir_ / "out", secret, true);
                        ASSERT_TRUE(unpacked.status.is_ok()) << unpacked.status.message();
                        ASSERT_EQ(testing::read_file(dir_ / "out"), data);
                        if (kind == DataKind::kCompressible && size > 1000 &&
                            c != Compression::kNone) {
                            EXPECT_LT(packed.bytes_out, size / 2);  // it really compressed
                        }
                        if (kind == DataKind::kIncompressible && size > 0) {
                            // Stored raw, not expanded: overhead is headers, tags and the index.
                            EXPECT_LT(packed.bytes_out, size + 1024);
                        }
                    }
                }
            }
        }
    }
}

TEST_F(ContainerTest, PassphraseRoundTripAndOneDerivationPerRun) {
    const Bytes data = testing::make_data(100000, DataKind::kMixed);
    testing::write_file(dir_ / "a", data);
    testing::write_file(dir_ / "b", data);
    testing::Jobs jobs(engine_settings(2));
    testing::TestPack s;
    s.chunk_size = kChunk;
    s.scrypt_log2_n = 14;
    const Secret pw = passphrase("correct horse battery staple");
    ASSERT_TRUE(jobs.pack(dir_ / "a", dir_ / "a.tbp", s, pw, false).status.is_ok());
    ASSERT_TRUE(jobs.pack(dir_ / "b", dir_ / "b.tbp", s, pw, false).status.is_ok());
    // Same run, same salt (one scrypt), but each file has its own file key.
    const Bytes ca = testing::read_file(dir_ / "a.tbp"), cb = testing::read_file(dir_ / "b.tbp");
    EXPECT_TRUE(std::equal(ca.begin() + 24, ca.begin() + 40, cb.begin() + 24));
    EXPECT_FALSE(std::equal(ca.begin() + 60, ca.begin() + 108, cb.begin() + 60));
    testing::Jobs reader(engine_settings(2));
    ASSERT_TRUE(reader.unpack(dir_ / "a.tbp", dir_ / "a.out", pw, false).status.is_ok());
    EXPECT_EQ(testing::read_file(dir_ / "a.out"), data);
    const testing::Outcome wrong = reader.verify(dir_ / "b.tbp", passphrase("wrong"));
    EXPECT_EQ(wrong.status.code(), StatusCode::kAuthFailed);
    EXPECT_NE(wrong.status.message().find("wrong key or passphrase"), std::string::npos);
}

TEST_F(ContainerTest, StreamedInputAndStreamedContainerRoundTrip) {
    const Bytes data = testing::make_data(5 * kChunk + 77, DataKind::kMixed);
    testing::Jobs jobs(engine_settings(2));
    testing::TestPack s;
    s.chunk_size = kChunk;
    {
        FifoFeeder feed(dir_ / "in.pipe", data);
        const testing::Outcome packed =
            jobs.pack(dir_ / "in.pipe", dir_ / "c.tbp", s, key_secret(3), false);
        ASSERT_TRUE(packed.status.is_ok()) << packed.status.message();
        EXPECT_EQ(packed.run.max_reads_in_flight, 1);  // a pipe is read by one reader at a time
    }
    {
        FifoFeeder feed(dir_ / "c.pipe", testing::read_file(dir_ / "c.tbp"));
        const testing::Outcome unpacked =
            jobs.unpack(dir_ / "c.pipe", dir_ / "out", key_secret(3), false);
        ASSERT_TRUE(unpacked.status.is_ok()) << unpacked.status.message();
    }
    EXPECT_EQ(testing::read_file(dir_ / "out"), data);
}

TEST_F(ContainerTest, EmptyStreamRoundTrips) {
    testing::Jobs jobs(engine_settings(2));
    {
        FifoFeeder feed(dir_ / "in.pipe", {});
        ASSERT_TRUE(jobs.pack(dir_ / "in.pipe", dir_ / "c.tbp", {}, {}, false).status.is_ok());
    }
    ASSERT_TRUE(jobs.unpack(dir_ / "c.tbp", dir_ / "out", {}, false).status.is_ok());
    EXPECT_TRUE(testing::read_file(dir_ / "out").empty());
}

// --- determinism, metadata, budgets ----------------------------------------------------------

TEST_F(ContainerTest, UnencryptedOutputIsIdenticalAtOneAndManyThreads) {
    testing::write_file(dir_ / "in", testing::make_data(3 * 1024 * 1024 + 5, DataKind::kMixed));
    testing::TestPack s;
    s.chunk_size = 64 * 1024;
    for (const Compression c : {Compression::kLz4, Compression::kLz4Hc, Compression::kNone}) {
        s.compression = c;
        testing::Jobs one(engine_settings(1)), many(engine_settings(4));
        ASSERT_TRUE(one.pack(dir_ / "in", dir_ / "one.tbp", s, {}, true).status.is_ok());
        ASSERT_TRUE(many.pack(dir_ / "in", dir_ / "many.tbp", s, {}, true).status.is_ok());
        EXPECT_EQ(testing::read_file(dir_ / "one.tbp"), testing::read_file(dir_ / "many.tbp"))
            << compression_name(c);
    }
    // Encrypted output differs run to run: each file gets a fresh random key and nonce.
    testing::Jobs jobs(engine_settings(2));
    ASSERT_TRUE(jobs.pack(dir_ / "in", dir_ / "e1.tbp", s, key_secret(1), true).status.is_ok());
    ASSERT_TRUE(jobs.pack(dir_ / "in", dir_ / "e2.tbp", s, key_secret(1), true).status.is_ok());
    EXPECT_NE(testing::read_file(dir_ / "e1.tbp"), testing::read_file(dir_ / "e2.tbp"));
}

TEST_F(ContainerTest, UnpackRestoresModeAndMtime) {
    testing::write_file(dir_ / "in", testing::make_data(1000, DataKind::kMixed));
    ::chmod((dir_ / "in").c_str(), 0640);
    const timespec times[2] = {{1600000000, 123456789}, {1600000000, 123456789}};
    ::utimensat(AT_FDCWD, (dir_ / "in").c_str(), times, 0);
    testing::Jobs jobs(engine_settings(2));
    ASSERT_TRUE(jobs.pack(dir_ / "in", dir_ / "in.tbp", {}, key_secret(2), false).status.is_ok());
    ASSERT_TRUE(jobs.unpack(dir_ / "in.tbp", dir_ / "out", key_secret(2), false).status.is_ok());
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / "out").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
    EXPECT_EQ(st.st_mtim.tv_nsec, 123456789);
}

TEST_F(ContainerTest, RealRunsStayWithinTheirBudgetsAndMemory) {
    testing::write_file(dir_ / "in", testing::make_data(8 * 1024 * 1024, DataKind::kMixed));
    EngineConfig e;
    e.cpu_tokens = 2;
    e.io_tokens = 1;
    e.memory_limit = 6 * 1024 * 1024;  // ~2 chunks of 1 MiB (input + output buffers each)
    testing::Jobs jobs(e);
    testing::TestPack s;
    s.chunk_size = 1024 * 1024;
    const testing::Outcome packed = jobs.pack(dir_ / "in", dir_ / "c.tbp", s, key_secret(1), false);
    ASSERT_TRUE(packed.status.is_ok());
    EXPECT_EQ(packed.run.chunk_tokens, 2u);
    EXPECT_LE(packed.run.max_chunks_in_flight, 2);
    EXPECT_LE(packed.run.max_reads_in_flight, 1);
    EXPECT_LE(packed.run.max_transforms_in_flight, 2);
    EXPECT_EQ(packed.run.tokens_outstanding, 0);
    EXPECT_LE(jobs.last_pipeline()->reserved_buffer_bytes(), e.memory_limit);
    const testing::Outcome unpacked =
        jobs.unpack(dir_ / "c.tbp", dir_ / "out", key_secret(1), false);
    ASSERT_TRUE(unpacked.status.is_ok());
    EXPECT_LE(unpacked.run.max_chunks_in_flight, 2);
    EXPECT_LE(jobs.last_pipeline()->reserved_buffer_bytes(), e.memory_limit);
}

// Found by the unpack fuzzer: buffers used to be sized to the declared chunk size and one engine
// kept per chunk size, so tiny containers declaring 16 MiB, 8 MiB, 4 MiB... chunks cost hundreds
// of MiB in one run. Now a chunk's buffers fit the chunk and one engine lives at a time.
TEST_F(ContainerTest, TinyContainersWithHugeChunkSizesCostTinyBuffers) {
    testing::write_file(dir_ / "one", {'x'});
    testing::Jobs jobs(engine_settings(2));
    for (const std::uint32_t chunk : {16u << 20, 8u << 20, 4u << 20, 1u << 20}) {
        testing::TestPack s;
        s.chunk_size = chunk;
        const std::string name = dir_ / ("one-" + std::to_string(chunk) + ".tbp");
        ASSERT_TRUE(jobs.pack(dir_ / "one", name, s, key_secret(4), false).status.is_ok());
        EXPECT_LT(jobs.last_pipeline()->reserved_buffer_bytes(), 64u * 1024) << chunk;
        ASSERT_TRUE(jobs.verify(name, key_secret(4)).status.is_ok());
        EXPECT_LT(jobs.last_pipeline()->reserved_buffer_bytes(), 64u * 1024) << chunk;
    }
}

TEST_F(ContainerTest, RefusesToOverwriteWithoutForceAndNeverOverwritesItsInput) {
    testing::write_file(dir_ / "in", testing::make_data(1000, DataKind::kMixed));
    testing::write_file(dir_ / "in.tbp", {1, 2, 3});
    testing::Jobs jobs(engine_settings(2));
    const testing::Outcome refused = jobs.pack(dir_ / "in", dir_ / "in.tbp", {}, {}, false);
    EXPECT_EQ(refused.status.code(), StatusCode::kAlreadyExists);
    EXPECT_EQ(testing::read_file(dir_ / "in.tbp"), (Bytes{1, 2, 3}));
    ASSERT_TRUE(jobs.pack(dir_ / "in", dir_ / "in.tbp", {}, {}, true).status.is_ok());
    const testing::Outcome self = jobs.unpack(dir_ / "in.tbp", dir_ / "in.tbp", {}, true);
    EXPECT_EQ(self.status.code(), StatusCode::kInvalidArgument);
    const testing::Outcome packed_onto_itself = jobs.pack(dir_ / "in", dir_ / "in", {}, {}, true);
    EXPECT_EQ(packed_onto_itself.status.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(jobs.verify(dir_ / "in.tbp", {}).status.is_ok());
    EXPECT_EQ(dir_.list(), (std::vector<std::string>{"in", "in.tbp"}));
}

// --- tampering ---------------------------------------------------------------------------------

class TamperTest : public ContainerTest, public ::testing::WithParamInterface<Cipher> {
protected:
    void SetUp() override {
        // Incompressible data: every record has the same size, so records can be swapped.
        original_ = testing::make_data(4 * kChunk + 100, DataKind::kIncompressible, 9);
        testing::write_file(dir_ / "in", original_);
        testing::TestPack s;
        s.chunk_size = kChunk;
        s.cipher = encrypted() ? GetParam() : Cipher::kAes256Gcm;
        ASSERT_TRUE(jobs_.pack(dir_ / "in", dir_ / "good.tbp", s, secret(), false).status.is_ok());
        good_ = testing::read_file(dir_ / "good.tbp");
        record_size_ = kRecordHeaderSize + kChunk + (encrypted() ? kTagSize : 0);
    }
    bool encrypted() const { return GetParam() != Cipher::kNone; }
    Secret secret() const { return encrypted() ? key_secret(5) : Secret(); }
    std::size_t record_offset(std::size_t i) const { return kHeaderSize + i * record_size_; }
    std::size_t footer_offset() const {
        return record_offset(4) + kRecordHeaderSize + 100 + (encrypted() ? kTagSize : 0);
    }

    // Unpacks damaged bytes as a file and as a stream; both must fail with an integrity code,
    // leave no output, and name a reason. Returns the file-mode message.
    std::string expect_detected(const Bytes& damaged, const std::string& what,
                                const Secret* key = nullptr) {
        const Secret use = key ? *key : secret();
        testing::write_file(dir_ / "bad.tbp", damaged);
        const testing::Outcome file = jobs_.unpack(dir_ / "bad.tbp", dir_ / "out", use, false);
        EXPECT_TRUE(file.status.code() == StatusCode::kCorruptData ||
                    file.status.code() == StatusCode::kAuthFailed)
            << what << ": " << status_code_name(file.status.code()) << " " << file.status.message();
        EXPECT_FALSE(testing::exists(dir_ / "out")) << what;
        {
            FifoFeeder feed(dir_ / "bad.pipe", damaged);
            const testing::Outcome stream =
                jobs_.unpack(dir_ / "bad.pipe", dir_ / "out", use, false);
            EXPECT_TRUE(stream.status.code() == StatusCode::kCorruptData ||
                        stream.status.code() == StatusCode::kAuthFailed)
                << what << " (streamed): " << status_code_name(stream.status.code()) << " "
                << stream.status.message();
        }
        EXPECT_FALSE(testing::exists(dir_ / "out")) << what;
        EXPECT_EQ(dir_.list(), (std::vector<std::string>{"bad.tbp", "good.tbp", "in"})) << what;
        EXPECT_EQ(file.run.tokens_outstanding, 0);
        return file.status.message();
    }

    testing::Jobs jobs_{engine_settings(2)};
    Bytes original_, good_;
    std::size_t record_size_ = 0;
};

TEST_P(TamperTest, UntouchedContainerIsAccepted) {
    ASSERT_TRUE(jobs_.unpack(dir_ / "good.tbp", dir_ / "out", secret(), false).status.is_ok());
    EXPECT_EQ(testing::read_file(dir_ / "out"), original_);
    EXPECT_EQ(good_.size(), footer_offset() + kFooterPrefixSize +
                                footer_body_size(5, 2, Hash::kXxh3) +
                                (encrypted() ? kTagSize : 32) + kTrailerSize);
}

TEST_P(TamperTest, AFlippedBitAnywhereIsDetected) {
    std::vector<std::size_t> positions;
    for (std::size_t i = 0; i < kHeaderSize; ++i) positions.push_back(i);  // every header byte
    for (std::size_t r = 0; r < 5; ++r) {
        for (std::size_t i = 0; i < kRecordHeaderSize; ++i)
            positions.push_back(record_offset(r) + i);
        positions.push_back(record_offset(r) + kRecordHeaderSize);       // first payload byte
        positions.push_back(record_offset(r) + kRecordHeaderSize + 50);  // middle
    }
    positions.push_back(footer_offset() - 1);  // last payload byte
    for (std::size_t i = footer_offset(); i < good_.size(); i += 3) positions.push_back(i);
    for (std::size_t i = good_.size() - kTrailerSize; i < good_.size(); ++i) positions.push_back(i);
    for (const std::size_t pos : positions) {
        for (const int bit : {0x01, 0x80}) {
            Bytes bad = good_;
            bad[pos] ^= static_cast<std::uint8_t>(bit);
            expect_detected(bad, "bit " + std::to_string(bit) + " at byte " + std::to_string(pos));
        }
    }
}

TEST_P(TamperTest, TruncationAnywhereIsDetected) {
    std::vector<std::size_t> cuts = {0, 10, kHeaderSize - 1, kHeaderSize};
    for (std::size_t r = 1; r <= 4; ++r) cuts.push_back(record_offset(r));      // at boundaries
    for (std::size_t r = 0; r < 4; ++r) cuts.push_back(record_offset(r) + 30);  // mid-record
    cuts.push_back(footer_offset());
    cuts.push_back(footer_offset() + 20);
    cuts.push_back(good_.size() - kTrailerSize);
    cuts.push_back(good_.size() - 1);
    for (const std::size_t cut : cuts) {
        expect_detected(Bytes(good_.begin(), good_.begin() + static_cast<std::ptrdiff_t>(cut)),
                        "truncated to " + std::to_string(cut));
    }
}

// Found by container_reader_fuzz: a trailer that agrees with the file size but claims a footer
// shorter than its own prefix made the reader look at bytes it had not read.
TEST_P(TamperTest, ATrailerClaimingATinyFooterIsDetected) {
    const std::size_t tag = encrypted() ? kTagSize : 32;
    for (std::size_t size = 1; size < kFooterPrefixSize + tag; ++size) {
        Bytes bad(good_.begin(), good_.begin() + static_cast<std::ptrdiff_t>(footer_offset()));
        bad.insert(bad.end(), size, 0);
        Trailer t;
        t.footer_offset = footer_offset();
        t.chunk_count = 5;
        t.footer_size = static_cast<std::uint32_t>(size);
        const auto trailer = encode_trailer(t);
        bad.insert(bad.end(), trailer.begin(), trailer.end());
        const std::string msg =
            expect_detected(bad, "footer of " + std::to_string(size) + " bytes");
        EXPECT_NE(msg.find("footer size too small"), std::string::npos) << msg;
    }
}

TEST_P(TamperTest, SwappedDuplicatedDroppedAndAppendedDataIsDetected) {
    const auto record = [&](std::size_t i) {
        return Bytes(good_.begin() + static_cast<std::ptrdiff_t>(record_offset(i)),
                     good_.begin() + static_cast<std::ptrdiff_t>(record_offset(i) + record_size_));
    };
    const auto put = [&](Bytes& b, std::size_t i, const Bytes& rec) {
        std::copy(rec.begin(), rec.end(),
                  b.begin() + static_cast<std::ptrdiff_t>(record_offset(i)));
    };
    Bytes swapped = good_;
    put(swapped, 1, record(2));
    put(swapped, 2, record(1));
    expect_detected(swapped, "records 1 and 2 swapped");

    // The same swap with the index fields rewritten to look in order.
    Bytes relabelled = swapped;
    relabelled[record_offset(1) + 8] = 1;
    relabelled[record_offset(2) + 8] = 2;
    expect_detected(relabelled, "records swapped and relabelled");

    Bytes duplicated = good_;
    put(duplicated, 2, record(1));
    expect_detected(duplicated, "record 1 duplicated over record 2");

    Bytes dropped = good_;
    dropped.erase(dropped.begin() + static_cast<std::ptrdiff_t>(record_offset(2)),
                  dropped.begin() + static_cast<std::ptrdiff_t>(record_offset(3)));
    expect_detected(dropped, "record 2 dropped");

    Bytes appended = good_;
    appended.push_back('x');
    expect_detected(appended, "one byte appended");

    Bytes twice = good_;
    twice.insert(twice.end(), good_.begin(), good_.end());
    expect_detected(twice, "container appended to itself");
}

TEST_P(TamperTest, WrongKeyAndWrongKeyTypeAreToldApart) {
    if (!encrypted()) {
        // A key offered for a plaintext container is refused: it could be a downgrade.
        const Secret key = key_secret(5);
        const std::string msg = expect_detected(good_, "key for plaintext", &key);
        EXPECT_NE(msg.find("not encrypted"), std::string::npos) << msg;
        return;
    }
    const Secret other = key_secret(99);
    std::string msg = expect_detected(good_, "wrong key", &other);
    EXPECT_NE(msg.find("wrong key or passphrase"), std::string::npos) << msg;
    // The wrong kind of secret is a usage mistake (the header says which it needs), not damage.
    const Secret pw = passphrase("not a key file");
    testing::write_file(dir_ / "bad.tbp", good_);
    const testing::Outcome typed = jobs_.unpack(dir_ / "bad.tbp", dir_ / "out", pw, false);
    EXPECT_EQ(typed.status.code(), StatusCode::kInvalidArgument) << typed.status.message();
    EXPECT_NE(typed.status.message().find("wrong key type"), std::string::npos)
        << typed.status.message();
    EXPECT_FALSE(testing::exists(dir_ / "out"));
    // Corruption of the wrapped key with the right key is reported as corruption, not wrong key.
    Bytes bad = good_;
    bad[70] ^= 1;
    msg = expect_detected(bad, "wrapped key damaged");
    EXPECT_NE(msg.find("header corrupt"), std::string::npos) << msg;
    // No key at all: a usage problem, not an integrity one.
    const testing::Outcome none = jobs_.verify(dir_ / "good.tbp", {});
    EXPECT_EQ(none.status.code(), StatusCode::kInvalidArgument);
}

TEST_P(TamperTest, BadDataMessagesNameTheChunkAndOffset) {
    Bytes bad = good_;
    bad[record_offset(3) + kRecordHeaderSize + 7] ^= 0x20;
    const std::string msg = expect_detected(bad, "payload of chunk 3");
    EXPECT_NE(msg.find("chunk 3 at offset " + std::to_string(record_offset(3))), std::string::npos)
        << msg;
}

INSTANTIATE_TEST_SUITE_P(Ciphers, TamperTest,
                         ::testing::Values(Cipher::kNone, Cipher::kAes256Gcm,
                                           Cipher::kChaCha20Poly1305),
                         [](const auto& param_info) {
                             const Cipher c = param_info.param;
                             return std::string(c == Cipher::kNone        ? "plain"
                                                : c == Cipher::kAes256Gcm ? "aes"
                                                                          : "chacha");
                         });

// Found by the unpack fuzzer: an unencrypted container whose index disagrees with a record's
// header (checksums recomputed to match). Verifying the file rejected it; verifying the same
// bytes from a pipe used to accept it, because streamed records were never compared with the
// footer's index.
TEST_F(ContainerTest, StreamedRecordsAreCheckedAgainstTheIndexToo) {
    const Bytes forged = testing::read_file(TBBPIPE_TEST_DATA "/stream_index_gap.bin");
    ASSERT_FALSE(forged.empty());
    testing::write_file(dir_ / "forged.tbp", forged);
    testing::Jobs jobs(engine_settings(2));
    EXPECT_EQ(jobs.verify(dir_ / "forged.tbp", {}).status.code(), StatusCode::kCorruptData);
    FifoFeeder feed(dir_ / "forged.pipe", forged);
    const testing::Outcome streamed = jobs.verify(dir_ / "forged.pipe", {});
    EXPECT_EQ(streamed.status.code(), StatusCode::kCorruptData) << streamed.status.message();
    EXPECT_NE(streamed.status.message().find("do not match the index"), std::string::npos);
}

// Every hash round-trips, file and stream; none is refused without a cipher.
TEST_F(ContainerTest, EveryHashRoundTripsAndNoneNeedsACipher) {
    const Bytes data = testing::make_data(5 * kChunk + 9, DataKind::kMixed, 4);
    testing::write_file(dir_ / "in", data);
    testing::Jobs jobs(engine_settings(2));
    for (const Hash hash : {Hash::kSha256, Hash::kXxh3, Hash::kNone}) {
        for (const bool encrypted : {false, true}) {
            SCOPED_TRACE(std::string(hash_name(hash)) + (encrypted ? " encrypted" : " plain"));
            testing::TestPack s;
            s.chunk_size = kChunk;
            s.hash = hash;
            const Secret secret = encrypted ? key_secret(6) : Secret();
            const testing::Outcome packed = jobs.pack(dir_ / "in", dir_ / "c.tbp", s, secret, true);
            if (hash == Hash::kNone && !encrypted) {
                EXPECT_EQ(packed.status.code(), StatusCode::kInvalidArgument);
                EXPECT_NE(packed.status.message().find("hash none needs a key"), std::string::npos);
                continue;
            }
            ASSERT_TRUE(packed.status.is_ok()) << packed.status.message();
            const ContainerInfo info = testing::Jobs::inspect(dir_ / "c.tbp", secret);
            EXPECT_EQ(info.hash, hash);
            EXPECT_EQ(info.format_version, 2);
            ASSERT_TRUE(jobs.unpack(dir_ / "c.tbp", dir_ / "out", secret, true).status.is_ok());
            EXPECT_EQ(testing::read_file(dir_ / "out"), data);
            FifoFeeder feed(dir_ / "c.pipe", testing::read_file(dir_ / "c.tbp"));
            ASSERT_TRUE(jobs.verify(dir_ / "c.pipe", secret).status.is_ok());
        }
    }
}

// What the digest is for when a cipher seals every record: a codec that returns the wrong bytes
// from an authentic record. Simulated by re-sealing a changed plaintext under the file's own
// keys, so the tag verifies: the default (XXH3-128) catches it, as does SHA-256; with none the
// tag is all there is, and the damage goes through (which is what docs/SECURITY.md says).
TEST_F(ContainerTest, TheDigestCatchesWhatTheCipherCannot) {
    const Bytes data = testing::make_data(4 * kChunk, DataKind::kIncompressible, 5);
    testing::write_file(dir_ / "in", data);
    testing::Jobs jobs(engine_settings(2));
    for (const Hash hash : {Hash::kXxh3, Hash::kSha256, Hash::kNone}) {
        SCOPED_TRACE(hash_name(hash));
        testing::TestPack s;
        s.chunk_size = kChunk;
        s.compression = Compression::kNone;
        s.hash = hash;
        const Secret key = key_secret(8);
        ASSERT_TRUE(jobs.pack(dir_ / "in", dir_ / "c.tbp", s, key, true).status.is_ok());
        Bytes container = testing::read_file(dir_ / "c.tbp");
        const OpenedHeader opened = authenticate_header(container.data(), kHeaderSize, key, true);
        // Record 1: open it, change one plaintext byte, seal it again in place.
        const std::size_t at = kHeaderSize + (kRecordHeaderSize + kChunk + kTagSize);
        const RecordHeader record = decode_record_header(container.data() + at);
        const auto nonce = chunk_nonce(1, false);
        const auto aad = record_aad(opened.header_digest, record);
        Bytes plain(kChunk);
        ASSERT_TRUE(aead_open(opened.header.cipher, opened.keys->payload, nonce.data(), aad.data(),
                              aad.size(), container.data() + at + kRecordHeaderSize,
                              record.stored_size, plain.data()));
        plain[77] ^= 1;
        aead_seal(opened.header.cipher, opened.keys->payload, nonce.data(), aad.data(), aad.size(),
                  plain.data(), plain.size(), container.data() + at + kRecordHeaderSize);
        testing::write_file(dir_ / "bad.tbp", container);
        const testing::Outcome verified = jobs.verify(dir_ / "bad.tbp", key);
        if (hash == Hash::kNone) {
            EXPECT_TRUE(verified.status.is_ok()) << verified.status.message();
        } else {
            EXPECT_EQ(verified.status.code(), StatusCode::kCorruptData);
            EXPECT_NE(verified.status.message().find(std::string(hash_name(hash)) +
                                                     " of the plaintext does not match"),
                      std::string::npos)
                << verified.status.message();
        }
    }
}

// Format v1 (tbbpipe 0.1.0, SHA-256 digests, kept in tests/data/v1): every kind still verifies
// and unpacks to the original, as a file and as a stream, and says it is v1.
TEST_F(ContainerTest, V1ContainersStayReadable) {
    const std::string data = TBBPIPE_TEST_DATA "/v1/";
    const Bytes plain = testing::read_file(data + "plain.bin");
    const Bytes key_bytes = testing::read_file(data + "key");
    ASSERT_EQ(plain.size(), 154000u);
    ASSERT_EQ(key_bytes.size(), 32u);
    const Secret key = Secret::key(key_bytes);
    const Secret passphrase = Secret::passphrase("v1 passphrase");
    const std::vector<std::pair<std::string, Secret>> files = {
        {"lz4.tbp", {}},     {"aes.tbp", key},  {"chacha.tbp", key}, {"scrypt.tbp", passphrase},
        {"deflate.tbp", {}}, {"stored.tbp", {}}};
    testing::Jobs jobs(engine_settings(2));
    for (const auto& [name, secret] : files) {
        SCOPED_TRACE(name);
        const testing::Outcome verified = jobs.verify(data + name, secret);
        ASSERT_TRUE(verified.status.is_ok()) << verified.status.message();
        const testing::Outcome unpacked = jobs.unpack(data + name, dir_ / "out", secret, true);
        ASSERT_TRUE(unpacked.status.is_ok()) << unpacked.status.message();
        EXPECT_EQ(testing::read_file(dir_ / "out"), plain);
        {
            FifoFeeder feed(dir_ / "c.pipe", testing::read_file(data + name));
            ASSERT_TRUE(jobs.unpack(dir_ / "c.pipe", dir_ / "out", secret, true).status.is_ok());
        }
        EXPECT_EQ(testing::read_file(dir_ / "out"), plain);
        const ContainerInfo info = testing::Jobs::inspect(data + name, secret);
        EXPECT_EQ(info.format_version, 1);
        EXPECT_EQ(info.hash, Hash::kSha256);
        EXPECT_TRUE(info.authenticated);
    }
    ASSERT_TRUE(jobs.unpack(data + "empty.tbp", dir_ / "out", {}, true).status.is_ok());
    EXPECT_TRUE(testing::read_file(dir_ / "out").empty());
    // A damaged v1 container is still caught by its SHA-256 digests.
    Bytes damaged = testing::read_file(data + "stored.tbp");
    damaged[kHeaderSize + kRecordHeaderSize + 100] ^= 1;
    testing::write_file(dir_ / "bad.tbp", damaged);
    const testing::Outcome bad = jobs.verify(dir_ / "bad.tbp", {});
    EXPECT_EQ(bad.status.code(), StatusCode::kCorruptData);
    EXPECT_NE(bad.status.message().find("sha256 of the plaintext does not match"),
              std::string::npos)
        << bad.status.message();
}

TEST_F(ContainerTest, FailedPackLeavesNothingAndReturnsEveryToken) {
    testing::write_file(dir_ / "in", testing::make_data(200000, DataKind::kMixed));
    testing::Jobs jobs(engine_settings(2));
    // Output folder does not exist: fails before any chunk.
    testing::Outcome out = jobs.pack(dir_ / "in", dir_ / "missing/x.tbp", {}, {}, false);
    EXPECT_EQ(out.status.code(), StatusCode::kNotFound);
    // Cancelled mid-way: partial output removed.
    testing::Jobs cancelled(engine_settings(2));
    cancelled.stop.request_stop();
    out = cancelled.pack(dir_ / "in", dir_ / "in.tbp", {}, {}, false);
    EXPECT_EQ(out.status.code(), StatusCode::kCancelled);
    EXPECT_EQ(out.run.tokens_outstanding, 0);
    EXPECT_EQ(dir_.list(), (std::vector<std::string>{"in"}));
}

}  // namespace
}  // namespace tbbpipe::format
