#include "nodes/unpack_stages.hpp"

#include <algorithm>
#include <cstring>
#include <span>
#include <string>

#include "engine/status.hpp"
#include "nodes/byte_order.hpp"
#include "nodes/codec.hpp"
#include "nodes/file_io.hpp"
#include "nodes/pack_stages.hpp"

namespace tbbpipe::nodes {
namespace {

[[noreturn]] void bad_chunk(const engine::Chunk& chunk, StatusCode code, const std::string& what) {
    throw PipelineError(code, "chunk " + std::to_string(chunk.index) + " at offset " +
                                  std::to_string(chunk.offset) + ": " + what);
}

// The input buffer holds a whole record and, for an encrypted compressed chunk, later the
// decompressed plaintext: sized to this chunk (sizes already checked against the caps), not to
// the nominal chunk size, so a tiny file declaring huge chunks costs tiny buffers.
std::size_t record_buffer_size(std::uint32_t raw_size, std::uint32_t stored_size) {
    return std::max<std::size_t>(kRecordHeaderSize + std::size_t{stored_size}, raw_size);
}

}  // namespace

IndexedRecordReader::IndexedRecordReader(int fd, const OpenedHeader& opened,
                                         const FooterBody& footer)
    : fd_(fd), opened_(opened), footer_(footer) {}

bool IndexedRecordReader::claim(engine::Chunk& chunk) {
    if (next_ >= footer_.entries.size()) return false;
    chunk.index = next_;
    const IndexEntry& e = footer_.entries[next_++];
    chunk.offset = e.offset;
    chunk.input_size = kRecordHeaderSize + e.stored_size;
    chunk.last = (e.flags & kFlagLast) != 0;
    return true;
}

void IndexedRecordReader::fill(engine::Chunk& chunk) {
    const IndexEntry& e = footer_.entries[chunk.index];
    std::uint8_t* buf =
        engine::Chunk::ensure(chunk.input, record_buffer_size(e.raw_size, e.stored_size));
    if (pread_full(fd_, buf, chunk.input_size, chunk.offset) != chunk.input_size) {
        bad_chunk(chunk, StatusCode::kCorruptData, "record truncated");
    }
}

StreamRecordReader::StreamRecordReader(int fd, const OpenedHeader& opened,
                                       const std::atomic<bool>* cancel)
    : fd_(fd), opened_(opened), cancel_(cancel), offset_(opened.data_offset) {}

void StreamRecordReader::read_exact(std::uint8_t* buf, std::size_t n, const char* what) {
    if (read_full(fd_, buf, n, cancel_) != n) {
        throw PipelineError(StatusCode::kCorruptData,
                            std::string("truncated: stream ended inside ") + what + " at offset " +
                                std::to_string(offset_));
    }
    offset_ += n;
}

bool StreamRecordReader::claim(engine::Chunk& chunk) {
    if (footer_) return false;
    std::uint8_t* buf = engine::Chunk::ensure(chunk.input, kRecordHeaderSize);
    chunk.offset = offset_;
    read_exact(buf, kFooterPrefixSize, "a record header");
    if (get_u32(buf) == kFooterMagic) {
        read_footer_and_trailer(buf);
        return false;
    }
    read_exact(buf + kFooterPrefixSize, kRecordHeaderSize - kFooterPrefixSize, "a record header");
    const RecordHeader record = decode_record_header(buf);
    const std::string where =
        "chunk " + std::to_string(index_) + " at offset " + std::to_string(chunk.offset);
    if (saw_last_)
        throw PipelineError(StatusCode::kCorruptData, where + ": data after the last chunk");
    if (record.index != index_) {
        throw PipelineError(StatusCode::kCorruptData,
                            where + ": record carries index " + std::to_string(record.index) +
                                " (chunks dropped, duplicated or reordered)");
    }
    if (record.raw_size > opened_.header.chunk_size ||
        record.stored_size >
            max_stored_size(opened_.header.chunk_size, opened_.header.encrypted())) {
        throw PipelineError(StatusCode::kCorruptData, where + ": record sizes out of range");
    }
    // Sizes are checked: now the buffer can grow to this record (which may move it).
    buf =
        engine::Chunk::ensure(chunk.input, record_buffer_size(record.raw_size, record.stored_size));
    read_exact(buf + kRecordHeaderSize, record.stored_size, "a record");
    seen_.push_back({chunk.offset, record.raw_size, record.stored_size, record.flags, {}});
    chunk.index = index_;
    chunk.input_size = kRecordHeaderSize + record.stored_size;
    chunk.last = (record.flags & kFlagLast) != 0;
    saw_last_ = chunk.last;
    ++index_;
    if (chunk.last) {
        // The footer follows the last record: read and check it now, so the file is complete
        // when its last chunk is (a batch finishes a file on its last chunk).
        std::uint8_t prefix[kFooterPrefixSize];
        read_exact(prefix, kFooterPrefixSize, "the footer");
        if (get_u32(prefix) != kFooterMagic) {
            throw PipelineError(StatusCode::kCorruptData,
                                "offset " + std::to_string(offset_ - kFooterPrefixSize) +
                                    ": data after the last chunk");
        }
        read_footer_and_trailer(prefix);
    }
    return true;
}

void StreamRecordReader::read_footer_and_trailer(const std::uint8_t* prefix) {
    const std::uint64_t footer_offset = offset_ - kFooterPrefixSize;
    const std::string where = "footer at offset " + std::to_string(footer_offset);
    if (!saw_last_) {
        throw PipelineError(StatusCode::kCorruptData,
                            where + ": no final chunk before it (truncated)");
    }
    const std::uint32_t stored_size = get_u32(prefix + 4);
    const std::size_t tag = opened_.header.encrypted() ? kTagSize : 32;
    if (stored_size > tag + footer_body_size(index_, kMaxNameLength)) {
        throw PipelineError(StatusCode::kCorruptData, where + ": size out of range");
    }
    std::vector<std::uint8_t> stored(stored_size);
    read_exact(stored.data(), stored.size(), "the footer");
    std::uint8_t raw_trailer[kTrailerSize];
    read_exact(raw_trailer, kTrailerSize, "the trailer");
    const Trailer trailer = decode_trailer(raw_trailer);
    if (trailer.footer_offset != footer_offset || trailer.chunk_count != index_ ||
        trailer.footer_size != kFooterPrefixSize + stored_size) {
        throw PipelineError(StatusCode::kCorruptData, "trailer does not match the records");
    }
    std::uint8_t extra = 0;
    if (read_full(fd_, &extra, 1, cancel_) != 0) {
        throw PipelineError(
            StatusCode::kCorruptData,
            "unexpected data after the trailer at offset " + std::to_string(offset_));
    }
    FooterBody footer = open_footer(opened_, stored.data(), stored_size, footer_offset, index_);
    check_index(opened_, footer, footer_offset);
    for (std::size_t i = 0; i < seen_.size(); ++i) {
        const IndexEntry& want = footer.entries[i];
        const IndexEntry& got = seen_[i];
        if (got.offset != want.offset || got.raw_size != want.raw_size ||
            got.stored_size != want.stored_size || got.flags != want.flags) {
            throw PipelineError(StatusCode::kCorruptData,
                                "chunk " + std::to_string(i) + " at offset " +
                                    std::to_string(got.offset) +
                                    ": record header does not match the index");
        }
    }
    footer_ = std::move(footer);
}

void UnpackTransform::transform(engine::Chunk& chunk) {
    const Header& h = opened_.header;
    std::uint8_t* in = chunk.input.data();
    const RecordHeader record = [&] {
        try {
            return decode_record_header(in);
        } catch (const PipelineError& e) {
            bad_chunk(chunk, StatusCode::kCorruptData, e.what());
        }
    }();
    const IndexEntry* expected = footer_ ? &footer_->entries[chunk.index] : nullptr;
    if (record.index != chunk.index || (expected && (record.raw_size != expected->raw_size ||
                                                     record.stored_size != expected->stored_size ||
                                                     record.flags != expected->flags))) {
        bad_chunk(chunk, StatusCode::kCorruptData,
                  "record header does not match the index (reordered, duplicated or altered)");
    }
    if (record.raw_size > h.chunk_size)
        bad_chunk(chunk, StatusCode::kCorruptData, "raw size too large");

    const bool compressed = (record.flags & kFlagCompressed) != 0;
    const bool last = (record.flags & kFlagLast) != 0;
    if (kRecordHeaderSize + std::size_t{record.stored_size} > chunk.input_size) {
        bad_chunk(chunk, StatusCode::kCorruptData, "record longer than what was read");
    }
    // The input buffer may receive the plaintext below: make room (keeps the record).
    in =
        engine::Chunk::ensure(chunk.input, record_buffer_size(record.raw_size, record.stored_size));
    const std::uint8_t* payload = in + kRecordHeaderSize;
    std::size_t payload_size = record.stored_size;
    std::uint8_t* out = engine::Chunk::ensure(
        chunk.output, std::max<std::size_t>(record.raw_size, record.stored_size));
    if (h.encrypted()) {
        if (payload_size < kTagSize) bad_chunk(chunk, StatusCode::kCorruptData, "record too short");
        const auto nonce = chunk_nonce(chunk.index, last);
        const auto aad = record_aad(opened_.header_digest, record);
        if (!aead_open(h.cipher, opened_.keys->payload, nonce.data(), aad.data(), aad.size(),
                       payload, payload_size, out)) {
            bad_chunk(chunk, StatusCode::kAuthFailed,
                      "authentication failed (corrupt, tampered, reordered or truncated)");
        }
        payload_size -= kTagSize;
        payload = out;
    }
    if (opened_.stages_recorded) {
        // Registered stages ran: undo every step, last first, then hand on the plaintext.
        std::vector<std::uint8_t> staged;
        const std::uint8_t* plain =
            undo_steps(chunk, payload, payload_size, compressed, record.raw_size, staged);
        const std::size_t plain_size = plain == payload ? payload_size : staged.size();
        if (plain_size != record.raw_size) {
            bad_chunk(chunk, StatusCode::kCorruptData,
                      "the stages give " + std::to_string(plain_size) + " bytes, the record says " +
                          std::to_string(record.raw_size));
        }
        if (plain != payload) {  // the chunk must own what it hands on
            out = engine::Chunk::ensure(chunk.output, record.raw_size);
            if (!staged.empty()) std::memcpy(out, staged.data(), staged.size());
            plain = out;
        }
        chunk.result = plain;
    } else if (compressed) {
        // Decompress into whichever buffer does not hold the payload.
        std::uint8_t* target = payload == out ? in : out;
        try {
            decompress_chunk(payload, payload_size, target, record.raw_size);
        } catch (const PipelineError& e) {
            bad_chunk(chunk, StatusCode::kCorruptData, e.what());
        }
        chunk.result = target;
    } else {
        if (payload_size != record.raw_size) {
            bad_chunk(chunk, StatusCode::kCorruptData, "stored size differs from raw size");
        }
        chunk.result = payload;
    }
    chunk.result_size = record.raw_size;
    chunk.meta.index = record.index;
    chunk.meta.raw_size = record.raw_size;
    chunk.meta.digest = sha256(chunk.result, chunk.result_size);
    if (expected && !digests_equal(chunk.meta.digest, expected->digest)) {
        bad_chunk(chunk, StatusCode::kCorruptData,
                  "SHA-256 of the plaintext does not match the index");
    }
}

const std::uint8_t* UnpackTransform::undo_steps(const engine::Chunk& chunk,
                                                const std::uint8_t* payload,
                                                std::size_t payload_size, bool compressed,
                                                std::uint32_t raw_size,
                                                std::vector<std::uint8_t>& staged) const {
    // No form of a chunk may exceed what a record can hold, and the last step undone must give
    // the raw size: those are the limits. Buffers grow with what a step gives, so a tiny record
    // in a container declaring huge chunks costs tiny buffers.
    const std::size_t bound = max_stored_size(opened_.header.chunk_size, false);
    const auto& steps = opened_.stages.steps;
    const bool has_compression =
        std::any_of(steps.begin(), steps.end(), [](const StagePlan::Step& s) { return !s.stage; });
    if (compressed && !has_compression) {
        bad_chunk(chunk, StatusCode::kCorruptData, "flagged compressed, but no compression ran");
    }
    std::span<const std::uint8_t> current(payload, payload_size);
    std::vector<std::uint8_t> next;
    for (std::size_t i = steps.size(); i-- > 0;) {
        const StagePlan::Step& step = steps[i];
        const std::size_t limit = i == 0 ? raw_size : bound;
        next.clear();
        if (!step.stage) {
            if (!compressed) continue;
            // lz4 expands at most 255:1 (plus a few bytes): no more room than that is needed.
            const std::size_t room = std::min(limit, 255 * current.size() + 16);
            next.resize(room);
            try {
                next.resize(decompress_bounded(current.data(), current.size(), next.data(), room));
            } catch (const PipelineError& e) {
                bad_chunk(chunk, StatusCode::kCorruptData, e.what());
            }
        } else {
            bool ok = false;
            std::string why;
            try {
                ok = step.stage->decode(current, limit, next);
            } catch (const std::exception& e) {
                why = std::string(": ") + e.what();
            } catch (...) {
            }
            if (!ok || next.size() > limit) {
                bad_chunk(chunk, StatusCode::kCorruptData,
                          "stage '" + step.name + "' cannot decode it" + why);
            }
        }
        staged.swap(next);
        current = staged;
    }
    return current.data();
}

void PlaintextWriter::write(const engine::Chunk& chunk) {
    // Called in chunk order by the engine's serial writer.
    if (fd_ >= 0) write_full(fd_, chunk.result, chunk.result_size, "output", cancel_);
    bytes_ += chunk.result_size;
    if (keep_digests_) digests_.push_back(chunk.meta.digest);
}

void check_streamed_digests(const FooterBody& footer, const std::vector<Digest>& seen) {
    if (seen.size() != footer.entries.size()) {
        throw PipelineError(StatusCode::kCorruptData, "chunk count differs from the footer");
    }
    for (std::size_t i = 0; i < seen.size(); ++i) {
        if (!digests_equal(seen[i], footer.entries[i].digest)) {
            throw PipelineError(StatusCode::kCorruptData,
                                "chunk " + std::to_string(i) + " at offset " +
                                    std::to_string(footer.entries[i].offset) +
                                    ": SHA-256 of the plaintext does not match the footer");
        }
    }
}

}  // namespace tbbpipe::nodes
