#include "format/deflate_stage.hpp"

#include <cryptopp/filters.h>
#include <cryptopp/zdeflate.h>
#include <cryptopp/zinflate.h>

namespace tbbpipe::format {
namespace {

struct OverLimit {};

// Collects inflated bytes and stops at the limit: a small record must not inflate to gigabytes
// before the size check could see it.
class BoundedSink final : public CryptoPP::Bufferless<CryptoPP::Sink> {
public:
    BoundedSink(std::vector<std::uint8_t>& out, std::size_t limit) : out_(out), limit_(limit) {}
    std::size_t Put2(const CryptoPP::byte* in, std::size_t n, int, bool) override {
        if (n > limit_ - out_.size()) throw OverLimit{};
        out_.insert(out_.end(), in, in + n);
        return 0;
    }

private:
    std::vector<std::uint8_t>& out_;
    std::size_t limit_;
};

class DeflateStage final : public Stage {
public:
    void encode(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) const override {
        CryptoPP::Deflator deflator(new CryptoPP::VectorSink(out));
        deflator.Put(in.data(), in.size());
        deflator.MessageEnd();
    }
    bool decode(std::span<const std::uint8_t> in, std::size_t limit,
                std::vector<std::uint8_t>& out) const override {
        try {
            CryptoPP::Inflator inflator(new BoundedSink(out, limit));
            inflator.Put(in.data(), in.size());
            inflator.MessageEnd();
            return true;
        } catch (const OverLimit&) {
            return false;
        } catch (const CryptoPP::Exception&) {
            return false;  // not a deflate stream
        }
    }
};

}  // namespace

std::shared_ptr<const Stage> make_deflate_stage() {
    return std::make_shared<DeflateStage>();
}

}  // namespace tbbpipe::format
