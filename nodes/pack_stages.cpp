#include "nodes/pack_stages.hpp"

#include <cstring>
#include <span>
#include <string>

#include "engine/status.hpp"
#include "nodes/byte_order.hpp"
#include "nodes/codec.hpp"
#include "nodes/file_io.hpp"

namespace tbbpipe::nodes {
namespace {

std::string chunk_context(const engine::Chunk& chunk) {
    return "chunk " + std::to_string(chunk.index) + " at offset " + std::to_string(chunk.offset);
}

}  // namespace

std::array<std::uint8_t, 32 + kRecordHeaderSize> record_aad(const Digest& header_digest,
                                                            const RecordHeader& record) {
    std::array<std::uint8_t, 32 + kRecordHeaderSize> aad{};
    std::memcpy(aad.data(), header_digest.data(), 32);
    encode_record_header(record, aad.data() + 32);
    return aad;
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

FileChunkReader::FileChunkReader(int fd, std::uint64_t size, std::uint32_t chunk_size)
    : fd_(fd), size_(size), chunk_size_(chunk_size) {}

bool FileChunkReader::claim(engine::Chunk& chunk) {
    // An empty file still gets one (empty, last) chunk: every container ends in a last chunk.
    if (claimed_any_ && next_offset_ >= size_) return false;
    const std::uint64_t length = std::min<std::uint64_t>(chunk_size_, size_ - next_offset_);
    chunk.index = claimed_++;
    chunk.offset = next_offset_;
    chunk.input_size = static_cast<std::size_t>(length);
    next_offset_ += length;
    chunk.last = next_offset_ >= size_;
    claimed_any_ = true;
    return true;
}

void FileChunkReader::fill(engine::Chunk& chunk) {
    // Sized to the chunk, not the nominal chunk size: a small file costs small buffers.
    std::uint8_t* buf = engine::Chunk::ensure(chunk.input, chunk.input_size);
    const std::size_t got = pread_full(fd_, buf, chunk.input_size, chunk.offset);
    if (got != chunk.input_size) {
        throw PipelineError(StatusCode::kIoError,
                            "file shrank while being read (" + chunk_context(chunk) + ")");
    }
}

StreamChunkReader::StreamChunkReader(int fd, std::uint32_t chunk_size,
                                     const std::atomic<bool>* cancel)
    : fd_(fd), chunk_size_(chunk_size), cancel_(cancel) {}

bool StreamChunkReader::claim(engine::Chunk& chunk) {
    if (done_) return false;
    std::uint8_t* buf = engine::Chunk::ensure(chunk.input, chunk_size_);
    std::size_t have = 0;
    if (lookahead_) {
        buf[0] = *lookahead_;
        lookahead_.reset();
        have = 1;
    }
    have += read_full(fd_, buf + have, chunk_size_ - have, cancel_);
    chunk.index = claimed_++;
    chunk.offset = offset_;
    chunk.input_size = have;
    offset_ += have;
    if (have == chunk_size_) {
        // A full chunk may or may not be the last: peek one byte to know.
        std::uint8_t next = 0;
        if (read_full(fd_, &next, 1, cancel_) == 1) lookahead_ = next;
    }
    chunk.last = !lookahead_;
    done_ = chunk.last;
    return true;
}

void PackTransform::transform(engine::Chunk& chunk) {
    const std::uint8_t* raw = chunk.input.data();
    const std::size_t raw_size = chunk.input_size;
    chunk.meta.index = chunk.index;
    chunk.meta.raw_size = static_cast<std::uint32_t>(raw_size);
    chunk.meta.digest = sha256(raw, raw_size);

    const bool encrypt = context_.cipher != CipherId::kNone;
    const std::size_t tag = encrypt ? kTagSize : 0;
    const std::uint8_t* payload = raw;
    std::size_t payload_size = raw_size;
    bool compressed = false;
    std::uint8_t* out = nullptr;
    std::vector<std::uint8_t> staged;  // the general path's output (outlives payload's use)
    if (context_.stages) {
        payload = run_steps(chunk, staged, payload_size, compressed);
        out = engine::Chunk::ensure(chunk.output, payload_size + tag);
        if (payload_size == 0) {
            payload = out;  // an empty staged buffer may have no storage at all
        } else if (!encrypt && payload != raw) {
            std::memcpy(out, payload, payload_size);  // the chunk must own what it hands on
            payload = out;
        }
    } else {
        const std::size_t capacity = max_stored_size(static_cast<std::uint32_t>(raw_size), encrypt);
        out = engine::Chunk::ensure(chunk.output, capacity);
        const std::size_t packed = compress_chunk(context_.compression, context_.level, raw,
                                                  raw_size, out, capacity - tag);
        compressed = packed != 0;
        payload = compressed ? out : raw;
        payload_size = compressed ? packed : raw_size;
    }

    RecordHeader record;
    record.index = chunk.index;
    record.raw_size = chunk.meta.raw_size;
    record.flags = (compressed ? kFlagCompressed : 0) | (chunk.last ? kFlagLast : 0);
    record.stored_size = static_cast<std::uint32_t>(payload_size + tag);
    chunk.meta.flags = record.flags;
    chunk.meta.stored_size = record.stored_size;

    if (encrypt) {
        const auto nonce = chunk_nonce(chunk.index, chunk.last);
        const auto aad = record_aad(context_.header_digest, record);
        // In place when the payload is already in `out` (CTR-style ciphers allow it).
        aead_seal(context_.cipher, *context_.payload_key, nonce.data(), aad.data(), aad.size(),
                  payload, payload_size, out);
        chunk.result = out;
    } else {
        chunk.result = payload;
    }
    chunk.result_size = record.stored_size;
}

const std::uint8_t* PackTransform::run_steps(engine::Chunk& chunk,
                                             std::vector<std::uint8_t>& staged,
                                             std::size_t& payload_size, bool& compressed) const {
    // Every form a chunk takes must fit a record, whatever the stages do to it.
    const std::size_t bound = max_stored_size(context_.chunk_size, false);
    std::span<const std::uint8_t> current(chunk.input.data(), chunk.input_size);
    std::vector<std::uint8_t> next;
    for (const StagePlan::Step& step : context_.stages->steps) {
        next.clear();
        if (!step.stage) {  // the compression; kept only if it shrinks the chunk
            next.resize(max_stored_size(static_cast<std::uint32_t>(current.size()), false));
            const std::size_t packed =
                compress_chunk(context_.compression, context_.level, current.data(), current.size(),
                               next.data(), next.size());
            if (packed == 0) continue;
            next.resize(packed);
            compressed = true;
        } else {
            try {
                step.stage->encode(current, next);
            } catch (const std::exception& e) {
                throw PipelineError(StatusCode::kInternal, chunk_context(chunk) + ": stage '" +
                                                               step.name + "' failed: " + e.what());
            } catch (...) {
                throw PipelineError(StatusCode::kInternal,
                                    chunk_context(chunk) + ": stage '" + step.name + "' failed");
            }
            if (next.size() > bound) {
                throw PipelineError(StatusCode::kResourceExhausted,
                                    chunk_context(chunk) + ": stage '" + step.name + "' made " +
                                        std::to_string(next.size()) +
                                        " bytes of it; a record holds at most " +
                                        std::to_string(bound));
            }
        }
        staged.swap(next);
        current = staged;
    }
    payload_size = current.size();
    return current.data();
}

ContainerWriter::ContainerWriter(int fd, const SealContext& context, const SecretBytes* footer_key,
                                 const std::atomic<bool>* cancel)
    : fd_(fd),
      context_(context),
      footer_key_(footer_key),
      cancel_(cancel),
      offset_(context.data_offset),
      root_(context.header_digest) {}

void ContainerWriter::write(const engine::Chunk& chunk) {
    // Called in chunk order by the engine's serial writer: offsets and the root depend on it.
    RecordHeader record;
    record.flags = chunk.meta.flags;
    record.index = chunk.meta.index;
    record.raw_size = chunk.meta.raw_size;
    record.stored_size = chunk.meta.stored_size;
    std::uint8_t header[kRecordHeaderSize];
    encode_record_header(record, header);
    iovec iov[2] = {{header, kRecordHeaderSize},
                    {const_cast<std::uint8_t*>(chunk.result), chunk.result_size}};
    writev_full(fd_, iov, 2, "output", cancel_);

    entries_.push_back(
        {offset_, record.raw_size, record.stored_size, record.flags, chunk.meta.digest});
    root_.add(chunk.meta.digest);
    offset_ += kRecordHeaderSize + chunk.result_size;
    plaintext_bytes_ += record.raw_size;
}

std::uint64_t ContainerWriter::finish(FooterBody metadata) {
    metadata.original_size = plaintext_bytes_;
    metadata.entries = std::move(entries_);
    metadata.root = root_.finish(plaintext_bytes_);
    const std::vector<std::uint8_t> body = encode_footer_body(metadata);
    const std::uint64_t count = metadata.entries.size();

    const auto stored_size =
        static_cast<std::uint32_t>(body.size() + (footer_key_ ? kTagSize : 32));
    std::vector<std::uint8_t> footer(kFooterPrefixSize + stored_size);
    put_u32(footer.data(), kFooterMagic);
    put_u32(footer.data() + 4, stored_size);
    const auto aad = footer_aad(context_.header_digest, stored_size, offset_, count);
    if (footer_key_) {
        const std::array<std::uint8_t, 12> nonce{};  // the footer key seals exactly one message
        aead_seal(context_.cipher, *footer_key_, nonce.data(), aad.data(), aad.size(), body.data(),
                  body.size(), footer.data() + kFooterPrefixSize);
    } else {
        // No key: a SHA-256 over the same bytes the AEAD would bind detects accidents.
        std::memcpy(footer.data() + kFooterPrefixSize, body.data(), body.size());
        std::vector<std::uint8_t> covered(aad.begin(), aad.end());
        covered.insert(covered.end(), body.begin(), body.end());
        const Digest check = sha256(covered.data(), covered.size());
        std::memcpy(footer.data() + kFooterPrefixSize + body.size(), check.data(), 32);
    }
    const auto trailer =
        encode_trailer({offset_, count, static_cast<std::uint32_t>(footer.size())});
    iovec iov[2] = {{footer.data(), footer.size()},
                    {const_cast<std::uint8_t*>(trailer.data()), trailer.size()}};
    writev_full(fd_, iov, 2, "output", cancel_);
    return offset_ + footer.size() + trailer.size();
}

}  // namespace tbbpipe::nodes
