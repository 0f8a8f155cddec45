// Custom stages: the spec rules, the registry, deflate, and whole containers whose records went
// through registered stages: round trips (file and stream, plain and encrypted, either side of
// the compression), the recorded stage list, a missing stage named, the list's tampering
// detected, and a stage that misbehaves failing only its file.
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <stdexcept>

#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "format/deflate_stage.hpp"
#include "format/header.hpp"
#include "format/record.hpp"
#include "format/stage_spec.hpp"
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

// XORs every byte with a mask: length-preserving, its own inverse. Counts calls, so a test can
// see every chunk went through it.
class XorMask final : public Stage {
public:
    void encode(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) const override {
        ++encodes;
        for (const std::uint8_t b : in) out.push_back(b ^ 0x5a);
    }
    bool decode(std::span<const std::uint8_t> in, std::size_t limit,
                std::vector<std::uint8_t>& out) const override {
        if (in.size() > limit) return false;
        for (const std::uint8_t b : in) out.push_back(b ^ 0x5a);
        return true;
    }
    mutable std::atomic<int> encodes{0};
};

// Prepends "TAG!": grows the chunk, and refuses to decode what does not start with it.
class Tagger final : public Stage {
public:
    void encode(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) const override {
        out.assign({'T', 'A', 'G', '!'});
        out.insert(out.end(), in.begin(), in.end());
    }
    bool decode(std::span<const std::uint8_t> in, std::size_t limit,
                std::vector<std::uint8_t>& out) const override {
        if (in.size() < 4 || std::memcmp(in.data(), "TAG!", 4) != 0 || in.size() - 4 > limit) {
            return false;
        }
        out.assign(in.begin() + 4, in.end());
        return true;
    }
};

// Doubles every chunk: a full incompressible chunk then cannot fit a record.
class Doubler final : public Stage {
public:
    void encode(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) const override {
        out.assign(in.begin(), in.end());
        out.insert(out.end(), in.begin(), in.end());
    }
    bool decode(std::span<const std::uint8_t>, std::size_t,
                std::vector<std::uint8_t>&) const override {
        return false;
    }
};

class Thrower final : public Stage {
public:
    void encode(std::span<const std::uint8_t>, std::vector<std::uint8_t>&) const override {
        throw std::runtime_error("boom");
    }
    bool decode(std::span<const std::uint8_t>, std::size_t,
                std::vector<std::uint8_t>&) const override {
        return false;
    }
};

StatusCode code_of(const std::function<void()>& f, std::string* message = nullptr) {
    try {
        f();
    } catch (const StatusError& e) {
        if (message) *message = e.what();
        return e.code();
    }
    return StatusCode::kOk;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// --- the spec --------------------------------------------------------------------------------

TEST(StageSpec, ParsesIntoStepsCipherAndACanonicalForm) {
    StageRegistry registry;
    const StagePlan plan = parse_stage_spec(" deflate , lz4hc,chacha20-poly1305", &registry,
                                            SpecSource::kUser, Hash::kXxh3);
    EXPECT_EQ(plan.spec, "deflate,lz4hc,chacha20-poly1305,xxh3");  // the digest is implied
    EXPECT_EQ(plan.hash, Hash::kXxh3);
    EXPECT_FALSE(plan.digest_listed);
    EXPECT_EQ(plan.compression, Compression::kLz4Hc);
    EXPECT_EQ(plan.cipher, Cipher::kChaCha20Poly1305);
    ASSERT_EQ(plan.steps.size(), 2u);
    EXPECT_EQ(plan.steps[0].name, "deflate");
    EXPECT_NE(plan.steps[0].stage, nullptr);
    EXPECT_EQ(plan.steps[1].stage, nullptr);  // the compression
    EXPECT_TRUE(plan.recorded());

    const StagePlan builtin =
        parse_stage_spec("lz4,aes-256-gcm,sha256", &registry, SpecSource::kUser, Hash::kXxh3);
    EXPECT_EQ(builtin.spec, "lz4,aes-256-gcm,sha256");
    EXPECT_EQ(builtin.hash, Hash::kSha256);  // named in the spec
    EXPECT_FALSE(builtin.recorded());        // the header's fields say it all
    // From a container, a spec without a digest has none.
    const StagePlan none =
        parse_stage_spec("deflate,aes-256-gcm", nullptr, SpecSource::kContainer, Hash::kNone);
    EXPECT_EQ(none.spec, "deflate,aes-256-gcm");
    EXPECT_EQ(none.hash, Hash::kNone);
    EXPECT_EQ(parse_stage_spec("sha256", &registry, SpecSource::kUser, Hash::kXxh3).compression,
              Compression::kNone);
}

TEST(StageSpec, BrokenSpecsAreRefusedSayingWhy) {
    StageRegistry registry;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "stage 1 is empty"},
        {"lz4,,sha256", "stage 2 is empty"},
        {"lz4,lz4", "listed twice"},
        {"lz4,lz4hc", "at most one of lz4, lz4hc"},
        {"aes-256-gcm,chacha20-poly1305", "at most one cipher"},
        {"aes-256-gcm,lz4", "comes after the cipher"},
        {"sha256,lz4", "sha256 (the digest) must be the last stage"},
        {"lz4,sha256,xxh3", "sha256 (the digest) must be the last stage"},
        {"LZ4", "not a valid stage name"},
        {"lz4;rm", "not a valid stage name"},
        {"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", "more than 16 stages"},
    };
    for (const auto& entry : cases) {
        const std::string& spec = entry.first;  // a plain reference: lambdas capture it
        const std::string& why = entry.second;
        std::string message;
        EXPECT_EQ(
            code_of(
                [&] { (void)parse_stage_spec(spec, &registry, SpecSource::kUser, Hash::kXxh3); },
                &message),
            StatusCode::kInvalidArgument)
            << spec;
        EXPECT_TRUE(contains(message, why)) << spec << ": " << message;
    }
    // From a container, the same mistakes mean damage.
    EXPECT_EQ(code_of([] {
                  (void)parse_stage_spec("lz4,lz4", nullptr, SpecSource::kContainer, Hash::kNone);
              }),
              StatusCode::kCorruptData);
}

TEST(StageSpec, AnUnknownNameListsEveryRegisteredStage) {
    StageRegistry registry;
    ASSERT_TRUE(registry.add("xor-mask", std::make_shared<XorMask>()).is_ok());
    std::string message;
    EXPECT_EQ(code_of(
                  [&] {
                      (void)parse_stage_spec("zstd,sha256", &registry, SpecSource::kUser,
                                             Hash::kXxh3);
                  },
                  &message),
              StatusCode::kInvalidArgument);
    EXPECT_TRUE(contains(message, "unknown stage 'zstd'")) << message;
    EXPECT_TRUE(contains(message,
                         "registered: lz4, lz4hc, aes-256-gcm, chacha20-poly1305, "
                         "sha256, xxh3, deflate, xor-mask"))
        << message;
}

TEST(StageRegistry, NamesAreCheckedAndNeverTakenTwice) {
    StageRegistry registry;
    const auto stage = std::make_shared<XorMask>();
    EXPECT_TRUE(registry.add("xor-mask", stage).is_ok());
    EXPECT_EQ(registry.add("xor-mask", stage).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(registry.add("lz4", stage).code(), StatusCode::kInvalidArgument);      // built-in
    EXPECT_EQ(registry.add("deflate", stage).code(), StatusCode::kInvalidArgument);  // shipped
    EXPECT_EQ(registry.add("Xor", stage).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(registry.add("-x", stage).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(registry.add(std::string(33, 'a'), stage).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(registry.add("null", nullptr).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(registry.find("xor-mask"), stage);
    EXPECT_EQ(registry.find("lz4"), nullptr);
    EXPECT_TRUE(registry.contains("lz4"));
    EXPECT_FALSE(registry.contains("zstd"));
    // A copy shares the stages and is independent after.
    StageRegistry copy = registry;
    EXPECT_TRUE(copy.add("other", stage).is_ok());
    EXPECT_FALSE(registry.contains("other"));
}

TEST(DeflateStage, RoundTripsShrinksTextAndHonoursTheLimit) {
    const auto deflate = make_deflate_stage();
    const Bytes text = testing::make_data(100000, DataKind::kCompressible, 3);
    Bytes packed, back;
    deflate->encode(text, packed);
    EXPECT_LT(packed.size(), text.size() / 2);
    ASSERT_TRUE(deflate->decode(packed, text.size(), back));
    EXPECT_EQ(back, text);
    back.clear();
    EXPECT_FALSE(deflate->decode(packed, text.size() - 1, back));  // one byte short of room
    back.clear();
    const Bytes junk = testing::make_data(1000, DataKind::kIncompressible, 4);
    EXPECT_FALSE(deflate->decode(junk, 1 << 20, back));
}

// --- whole containers -------------------------------------------------------------------------

class StageContainerTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }

    EngineConfig settings(const std::shared_ptr<const StageRegistry>& registry) const {
        EngineConfig e;
        e.cpu_tokens = 2;
        e.io_tokens = 2;
        e.stages = *registry;
        return e;
    }
    std::shared_ptr<StageRegistry> with_test_stages() {
        auto registry = std::make_shared<StageRegistry>();
        EXPECT_TRUE(registry->add("xor-mask", xor_).is_ok());
        EXPECT_TRUE(registry->add("tagger", std::make_shared<Tagger>()).is_ok());
        EXPECT_TRUE(registry->add("doubler", std::make_shared<Doubler>()).is_ok());
        EXPECT_TRUE(registry->add("thrower", std::make_shared<Thrower>()).is_ok());
        return registry;
    }
    static testing::TestPack spec(const std::string& stages) {
        testing::TestPack s;
        s.chunk_size = kChunk;
        s.stages = stages;
        return s;
    }

    ScratchDir dir_;
    std::shared_ptr<XorMask> xor_ = std::make_shared<XorMask>();
};

TEST_F(StageContainerTest, RegisteredStagesRoundTripAndAreRecorded) {
    testing::Jobs jobs(settings(with_test_stages()));
    const Bytes original = testing::make_data(5 * kChunk + 321, DataKind::kCompressible, 7);
    testing::write_file(dir_ / "in", original);
    const std::vector<std::string> specs = {"xor-mask,lz4,sha256", "lz4,tagger",
                                            "tagger,deflate,xor-mask", "deflate,aes-256-gcm",
                                            "xor-mask,lz4hc,chacha20-poly1305,sha256"};
    for (const std::string& s : specs) {
        const StagePlan plan =
            parse_stage_spec(s, &*with_test_stages(), SpecSource::kUser, Hash::kXxh3);
        const Secret secret = plan.cipher == Cipher::kNone ? Secret() : testing::key_secret(3);
        const int before = xor_->encodes.load();
        const testing::Outcome packed =
            jobs.pack(dir_ / "in", dir_ / "c.tbp", spec(s), secret, true);
        ASSERT_TRUE(packed.status.is_ok()) << s << ": " << packed.status.message();
        if (contains(s, "xor-mask")) {
            EXPECT_EQ(xor_->encodes.load() - before, 6) << s;  // once per chunk
        }

        // The header flags a stage list, and the list holds the canonical spec.
        const Bytes container = testing::read_file(dir_ / "c.tbp");
        const Header header = decode_header(container.data(), container.size());
        EXPECT_EQ(header.flags, kHeaderFlagStageList) << s;
        const std::size_t list = stage_list_size(container.data() + kHeaderSize);
        EXPECT_EQ(decode_stage_list(container.data() + kHeaderSize, list), plan.spec);
        const ContainerInfo info = testing::Jobs::inspect(dir_ / "c.tbp", secret);
        EXPECT_EQ(info.stages, plan.spec);
        EXPECT_EQ(info.chunks.front().offset, kHeaderSize + list);

        ASSERT_TRUE(jobs.unpack(dir_ / "c.tbp", dir_ / "out", secret, true).status.is_ok()) << s;
        EXPECT_EQ(testing::read_file(dir_ / "out"), original) << s;
        EXPECT_TRUE(jobs.verify(dir_ / "c.tbp", secret).status.is_ok()) << s;
        {
            FifoFeeder feed(dir_ / "c.pipe", container);
            const testing::Outcome streamed =
                jobs.unpack(dir_ / "c.pipe", dir_ / "out2", secret, true);
            ASSERT_TRUE(streamed.status.is_ok()) << s << ": " << streamed.status.message();
        }
        EXPECT_EQ(testing::read_file(dir_ / "out2"), original) << s;
    }
}

TEST_F(StageContainerTest, BuiltInOnlySpecsWriteTheSameContainerAsTheFlags) {
    testing::Jobs jobs(settings(with_test_stages()));
    testing::write_file(dir_ / "in", testing::make_data(3 * kChunk, DataKind::kCompressible, 2));
    testing::TestPack flags;
    flags.chunk_size = kChunk;
    flags.compression = Compression::kLz4Hc;
    ASSERT_TRUE(jobs.pack(dir_ / "in", dir_ / "a.tbp", flags, {}, false).status.is_ok());
    ASSERT_TRUE(
        jobs.pack(dir_ / "in", dir_ / "b.tbp", spec("lz4hc,xxh3"), {}, false).status.is_ok());
    EXPECT_EQ(testing::read_file(dir_ / "a.tbp"), testing::read_file(dir_ / "b.tbp"));
    EXPECT_EQ(decode_header(testing::read_file(dir_ / "b.tbp").data(), kHeaderSize).flags, 0u);
}

TEST_F(StageContainerTest, AMissingStageIsNamedAndNothingIsWritten) {
    testing::Jobs full(settings(with_test_stages()));
    testing::write_file(dir_ / "in", testing::make_data(2 * kChunk, DataKind::kCompressible, 5));
    ASSERT_TRUE(full.pack(dir_ / "in", dir_ / "c.tbp", spec("deflate,xor-mask,aes-256-gcm"),
                          testing::key_secret(1), false)
                    .status.is_ok());
    testing::Jobs plain(settings(std::make_shared<StageRegistry>()));
    for (const bool verify : {false, true}) {
        const testing::Outcome out =
            verify ? plain.verify(dir_ / "c.tbp", testing::key_secret(1))
                   : plain.unpack(dir_ / "c.tbp", dir_ / "out", testing::key_secret(1), false);
        EXPECT_EQ(out.status.code(), StatusCode::kFailedPrecondition);
        const std::string& m = out.status.message();
        EXPECT_TRUE(contains(m,
                             "needs stage 'xor-mask' (stage 2 of "
                             "'deflate,xor-mask,aes-256-gcm,xxh3')"))
            << m;
        EXPECT_TRUE(contains(m, "registered: lz4, lz4hc")) << m;
    }
    // info still shows what ran, without the stage.
    EXPECT_EQ(plain.inspect(dir_ / "c.tbp", {}).stages, "deflate,xor-mask,aes-256-gcm,xxh3");
    EXPECT_EQ(dir_.list(), (std::vector<std::string>{"c.tbp", "in"}));
}

TEST_F(StageContainerTest, AChangedOrCutStageListIsDetected) {
    testing::Jobs jobs(settings(with_test_stages()));
    testing::write_file(dir_ / "in", testing::make_data(2 * kChunk, DataKind::kCompressible, 6));
    for (const bool encrypted : {false, true}) {
        const Secret secret = encrypted ? testing::key_secret(2) : Secret();
        const std::string s = encrypted ? "tagger,xor-mask,aes-256-gcm" : "tagger,xor-mask";
        ASSERT_TRUE(jobs.pack(dir_ / "in", dir_ / "c.tbp", spec(s), secret, true).status.is_ok());
        const Bytes good = testing::read_file(dir_ / "c.tbp");
        // Swap the two registered stages' order: every name still known, the list well formed.
        Bytes swapped = good;
        const std::string reordered =
            encrypted ? "xor-mask,tagger,aes-256-gcm,sha256" : "xor-mask,tagger,sha256";
        std::memcpy(swapped.data() + kHeaderSize + kStageListPrefixSize, reordered.data(),
                    reordered.size());
        Bytes cut(good.begin(), good.begin() + kHeaderSize + 12);
        Bytes bad_magic = good;
        bad_magic[kHeaderSize] ^= 1;
        for (const Bytes* damaged : {&swapped, &cut, &bad_magic}) {
            testing::write_file(dir_ / "bad.tbp", *damaged);
            const testing::Outcome out = jobs.unpack(dir_ / "bad.tbp", dir_ / "out", secret, false);
            EXPECT_TRUE(out.status.code() == StatusCode::kCorruptData ||
                        out.status.code() == StatusCode::kAuthFailed)
                << out.status.message();
            EXPECT_FALSE(testing::exists(dir_ / "out"));
        }
    }
}

TEST_F(StageContainerTest, EmptyFilesRoundTripThroughStages) {
    testing::Jobs jobs(settings(with_test_stages()));
    testing::write_file(dir_ / "in", Bytes{});
    for (const std::string s : {"xor-mask", "xor-mask,lz4", "deflate,aes-256-gcm"}) {
        const Secret secret = contains(s, "aes") ? testing::key_secret(4) : Secret();
        ASSERT_TRUE(jobs.pack(dir_ / "in", dir_ / "c.tbp", spec(s), secret, true).status.is_ok());
        ASSERT_TRUE(jobs.unpack(dir_ / "c.tbp", dir_ / "out", secret, true).status.is_ok()) << s;
        EXPECT_TRUE(testing::read_file(dir_ / "out").empty());
    }
}

// A list naming only built-ins would be a second encoding of a container the header's fields
// already describe; a list with control characters is shown escaped.
TEST_F(StageContainerTest, ListsNoWriterMakesAreRefused) {
    testing::Jobs jobs(settings(with_test_stages()));
    testing::write_file(dir_ / "in", testing::make_data(1000, DataKind::kCompressible, 1));
    ASSERT_TRUE(jobs.pack(dir_ / "in", dir_ / "c.tbp", spec("lz4"), {}, false).status.is_ok());
    const Bytes good = testing::read_file(dir_ / "c.tbp");
    const auto with_list = [&](const std::string& list_spec) {
        Bytes bytes(good.begin(), good.begin() + kHeaderSize);
        put_u32(bytes.data() + 108, kHeaderFlagStageList);
        const auto list = encode_stage_list(list_spec);
        bytes.insert(bytes.end(), list.begin(), list.end());
        const Bytes covered = header_auth_input(bytes.data(), list.data(), list.size());
        const Digest checksum = sha256(covered.data(), covered.size());  // plain: a valid header
        std::memcpy(bytes.data() + kHeaderAuthOffset, checksum.data(), checksum.size());
        bytes.insert(bytes.end(), good.begin() + kHeaderSize, good.end());
        testing::write_file(dir_ / "bad.tbp", bytes);
        return jobs.unpack(dir_ / "bad.tbp", dir_ / "out", {}, false).status;
    };
    const Status builtin = with_list("lz4,sha256");
    EXPECT_EQ(builtin.code(), StatusCode::kCorruptData);
    EXPECT_TRUE(contains(builtin.message(), "names only built-in stages")) << builtin.message();
    const Status control = with_list("lz4,x\x1b[2J,sha256");
    EXPECT_EQ(control.code(), StatusCode::kCorruptData);
    EXPECT_TRUE(contains(control.message(), "x\\x1b[2J")) << control.message();
    EXPECT_FALSE(testing::exists(dir_ / "out"));
}

TEST_F(StageContainerTest, AStageThatFailsFailsOnlyItsFileNamingStageAndChunk) {
    testing::Jobs jobs(settings(with_test_stages()));
    testing::write_file(dir_ / "in", testing::make_data(3 * kChunk, DataKind::kIncompressible, 8));

    const testing::Outcome grown =
        jobs.pack(dir_ / "in", dir_ / "g.tbp", spec("doubler"), {}, false);
    EXPECT_EQ(grown.status.code(), StatusCode::kResourceExhausted);
    EXPECT_TRUE(contains(grown.status.message(), "stage 'doubler' made 32768 bytes of it"))
        << grown.status.message();

    const testing::Outcome thrown =
        jobs.pack(dir_ / "in", dir_ / "t.tbp", spec("thrower"), {}, false);
    EXPECT_EQ(thrown.status.code(), StatusCode::kInternal);
    EXPECT_TRUE(contains(thrown.status.message(), "stage 'thrower' failed: boom"))
        << thrown.status.message();
    EXPECT_EQ(thrown.run.tokens_outstanding, 0);

    // A plain container's payload is not sealed: damage the tag of chunk 1 and the stage's
    // decode refuses it.
    ASSERT_TRUE(jobs.pack(dir_ / "in", dir_ / "c.tbp", spec("tagger"), {}, false).status.is_ok());
    Bytes damaged = testing::read_file(dir_ / "c.tbp");
    const ContainerInfo info = testing::Jobs::inspect(dir_ / "c.tbp", {});
    damaged[info.chunks[1].offset + kRecordHeaderSize] ^= 1;
    testing::write_file(dir_ / "bad.tbp", damaged);
    const testing::Outcome bad = jobs.unpack(dir_ / "bad.tbp", dir_ / "out", {}, false);
    EXPECT_EQ(bad.status.code(), StatusCode::kCorruptData);
    EXPECT_TRUE(contains(bad.status.message(), "chunk 1 at offset")) << bad.status.message();
    EXPECT_TRUE(contains(bad.status.message(), "stage 'tagger' cannot decode it"))
        << bad.status.message();
    EXPECT_EQ(dir_.list(), (std::vector<std::string>{"bad.tbp", "c.tbp", "in"}));
}

TEST_F(StageContainerTest, ASpecAndTheSecretMustAgree) {
    testing::Jobs jobs(settings(with_test_stages()));
    testing::write_file(dir_ / "in", Bytes{1, 2, 3});
    const testing::Outcome no_key =
        jobs.pack(dir_ / "in", dir_ / "c.tbp", spec("lz4,aes-256-gcm"), {}, false);
    EXPECT_EQ(no_key.status.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(contains(no_key.status.message(), "aes-256-gcm needs a key"))
        << no_key.status.message();
    const testing::Outcome no_cipher =
        jobs.pack(dir_ / "in", dir_ / "c.tbp", spec("lz4"), testing::key_secret(1), false);
    EXPECT_EQ(no_cipher.status.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(contains(no_cipher.status.message(), "encrypt nothing"))
        << no_cipher.status.message();
    EXPECT_EQ(dir_.list(), (std::vector<std::string>{"in"}));
}

}  // namespace
}  // namespace tbbpipe::format
