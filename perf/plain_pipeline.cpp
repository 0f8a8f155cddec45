#include "perf/plain_pipeline.hpp"

#include <sys/uio.h>

#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "format/byte_order.hpp"
#include "format/codec.hpp"
#include "jobs/file_io.hpp"

namespace tbbpipe::perf {
namespace {

constexpr std::size_t kPrefixSize = 24;
constexpr std::size_t kAadSize = 32 + kPrefixSize;  // the container's record AAD is this size

// One token's buffers. The pool holds exactly max_tokens of them and parallel_pipeline never has
// more tokens in flight, so the input filter always finds one free; they are reused, so a run
// allocates nothing after its first chunks.
struct Work {
    std::uint64_t index = 0;
    std::uint64_t offset = 0;
    bool last = false;
    std::size_t raw_size = 0;
    std::vector<std::uint8_t> in;
    std::vector<std::uint8_t> out;
    std::vector<std::uint8_t> plain;
    std::array<std::uint8_t, kPrefixSize> prefix{};
    SealedEntry entry;
};

class WorkPool {
public:
    explicit WorkPool(std::size_t count) {
        for (std::size_t i = 0; i < count; ++i) {
            owned_.push_back(std::make_unique<Work>());
            free_.push(owned_.back().get());
        }
    }
    Work* take() {
        Work* w = nullptr;
        const bool got = free_.try_pop(w);
        assert(got && "more tokens than work items");
        if (!got) throw std::logic_error("plain pipeline: work pool empty");
        return w;
    }
    void give(Work* w) { free_.push(w); }

private:
    std::vector<std::unique_ptr<Work>> owned_;
    tbb::concurrent_queue<Work*> free_;
};

int resolve_threads(int threads) {
    return threads > 0 ? threads : std::max(1, tbb::info::default_concurrency());
}

std::uint8_t* sized(std::vector<std::uint8_t>& v, std::size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
}

void encode_prefix(const SealedEntry& e, std::uint64_t index, bool last, std::uint8_t* out) {
    format::put_u64(out, index);
    format::put_u32(out + 8, e.raw_size);
    format::put_u32(out + 12, e.stored_size);
    format::put_u32(out + 16, (e.compressed ? 1u : 0u) | (last ? 2u : 0u));
    format::put_u32(out + 20, 0);
}

std::array<std::uint8_t, kAadSize> make_aad(const std::uint8_t* prefix) {
    std::array<std::uint8_t, kAadSize> aad{};
    std::fill(aad.begin(), aad.begin() + 32, std::uint8_t{0x5c});  // stands in for a header digest
    std::memcpy(aad.data() + 32, prefix, kPrefixSize);
    return aad;
}

// The parallel body of plain_pack: the same three kernels as tbbpipe's PackTransform.
void seal_chunk(const PlainPipelineConfig& config, Work& w) {
    const std::uint8_t* raw = w.in.data();
    SealedEntry& e = w.entry;
    e.raw_size = static_cast<std::uint32_t>(w.raw_size);
    e.digest = format::chunk_digest(config.hash, raw, w.raw_size);
    std::uint8_t* packed_buf = sized(w.out, w.raw_size + format::kTagSize);
    const std::size_t packed = format::compress_chunk(tbbpipe::Compression::kLz4, 1, raw,
                                                      w.raw_size, packed_buf, w.raw_size);
    e.compressed = packed != 0;
    const std::uint8_t* payload = e.compressed ? packed_buf : raw;
    const std::size_t payload_size = e.compressed ? packed : w.raw_size;
    e.stored_size = static_cast<std::uint32_t>(payload_size + format::kTagSize);
    encode_prefix(e, w.index, w.last, w.prefix.data());
    const auto aad = make_aad(w.prefix.data());
    const auto nonce = format::chunk_nonce(w.index, w.last);
    // aead_seal must not write over its input: seal into `plain`, which pack does not use.
    std::uint8_t* sealed = sized(w.plain, payload_size + format::kTagSize);
    format::aead_seal(tbbpipe::Cipher::kAes256Gcm, config.key, nonce.data(), aad.data(), aad.size(),
                      payload, payload_size, sealed);
}

// The parallel body of plain_unpack: open, decompress, check the digest.
void open_chunk(const PlainPipelineConfig& config, Work& w) {
    const SealedEntry& e = w.entry;
    encode_prefix(e, w.index, w.last, w.prefix.data());
    const auto aad = make_aad(w.prefix.data());
    const auto nonce = format::chunk_nonce(w.index, w.last);
    std::uint8_t* opened = sized(w.out, e.stored_size);
    if (!format::aead_open(tbbpipe::Cipher::kAes256Gcm, config.key, nonce.data(), aad.data(),
                           aad.size(), w.in.data(), e.stored_size, opened)) {
        throw std::runtime_error("plain pipeline: chunk " + std::to_string(w.index) +
                                 " failed authentication");
    }
    const std::uint8_t* plaintext = opened;
    if (e.compressed) {
        std::uint8_t* target = sized(w.plain, e.raw_size);
        format::decompress_chunk(opened, e.stored_size - format::kTagSize, target, e.raw_size);
        plaintext = target;
    } else if (e.stored_size - format::kTagSize != e.raw_size) {
        throw std::runtime_error("plain pipeline: chunk " + std::to_string(w.index) +
                                 " has a raw payload of the wrong size");
    }
    const format::Digest digest = format::chunk_digest(config.hash, plaintext, e.raw_size);
    if (!format::digests_equal(digest, e.digest)) {
        throw std::runtime_error("plain pipeline: chunk " + std::to_string(w.index) +
                                 " digest mismatch");
    }
    // The output filter writes w.out when the payload was stored raw, else w.plain.
    w.raw_size = e.raw_size;
    if (!e.compressed) std::swap(w.out, w.plain);
}

}  // namespace

PlainPipelineRun plain_pack(const PlainPipelineConfig& config, int in_fd, std::uint64_t size,
                            int out_fd, std::vector<SealedEntry>* index) {
    const int threads = resolve_threads(config.threads);
    const auto tokens = 2 * static_cast<std::size_t>(threads);
    WorkPool pool(tokens);
    PlainPipelineRun run;
    std::uint64_t next_offset = 0;
    std::uint64_t next_index = 0;
    std::uint64_t out_offset = 0;
    tbb::task_arena arena(threads);
    arena.execute([&] {
        tbb::parallel_pipeline(
            tokens,
            tbb::make_filter<void, Work*>(
                tbb::filter_mode::serial_in_order,
                [&](tbb::flow_control& fc) -> Work* {
                    if (next_offset >= size) {
                        fc.stop();
                        return nullptr;
                    }
                    Work* w = pool.take();
                    w->index = next_index++;
                    w->offset = next_offset;
                    w->raw_size = static_cast<std::size_t>(
                        std::min<std::uint64_t>(config.chunk_size, size - next_offset));
                    next_offset += w->raw_size;
                    w->last = next_offset >= size;
                    if (jobs::pread_full(in_fd, sized(w->in, config.chunk_size), w->raw_size,
                                         w->offset) != w->raw_size) {
                        throw std::runtime_error("plain pipeline: input shrank");
                    }
                    return w;
                }) &
                tbb::make_filter<Work*, Work*>(tbb::filter_mode::parallel,
                                               [&](Work* w) {
                                                   seal_chunk(config, *w);
                                                   return w;
                                               }) &
                // Ordering: serial_in_order hands chunks over in the order the input filter made
                // them, so records land in index order.
                tbb::make_filter<Work*, void>(tbb::filter_mode::serial_in_order, [&](Work* w) {
                    iovec iov[2] = {{w->prefix.data(), kPrefixSize},
                                    {w->plain.data(), w->entry.stored_size}};
                    jobs::writev_full(out_fd, iov, 2, "plain pipeline");
                    if (index) {
                        SealedEntry e = w->entry;
                        e.offset = out_offset + kPrefixSize;
                        index->push_back(e);
                    }
                    out_offset += kPrefixSize + w->entry.stored_size;
                    run.plaintext_bytes += w->raw_size;
                    ++run.chunks;
                    pool.give(w);
                }));
    });
    run.stored_bytes = out_offset;
    return run;
}

PlainPipelineRun plain_unpack(const PlainPipelineConfig& config, int in_fd,
                              const std::vector<SealedEntry>& index, int out_fd) {
    const int threads = resolve_threads(config.threads);
    const auto tokens = 2 * static_cast<std::size_t>(threads);
    WorkPool pool(tokens);
    PlainPipelineRun run;
    std::size_t next = 0;
    tbb::task_arena arena(threads);
    arena.execute([&] {
        tbb::parallel_pipeline(
            tokens,
            tbb::make_filter<void, Work*>(
                tbb::filter_mode::serial_in_order,
                [&](tbb::flow_control& fc) -> Work* {
                    if (next >= index.size()) {
                        fc.stop();
                        return nullptr;
                    }
                    Work* w = pool.take();
                    w->entry = index[next];
                    w->index = next;
                    w->last = ++next == index.size();
                    const std::size_t n = w->entry.stored_size;
                    if (jobs::pread_full(in_fd, sized(w->in, n), n, w->entry.offset) != n) {
                        throw std::runtime_error("plain pipeline: sealed file truncated");
                    }
                    run.stored_bytes += n;
                    return w;
                }) &
                tbb::make_filter<Work*, Work*>(tbb::filter_mode::parallel,
                                               [&](Work* w) {
                                                   open_chunk(config, *w);
                                                   return w;
                                               }) &
                // Ordering: serial_in_order writes plaintext in chunk order.
                tbb::make_filter<Work*, void>(tbb::filter_mode::serial_in_order, [&](Work* w) {
                    jobs::write_full(out_fd, w->plain.data(), w->raw_size, "plain pipeline");
                    run.plaintext_bytes += w->raw_size;
                    ++run.chunks;
                    pool.give(w);
                }));
    });
    return run;
}

}  // namespace tbbpipe::perf
