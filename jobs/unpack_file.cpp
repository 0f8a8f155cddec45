#include "jobs/unpack_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/buffer.hpp"
#include "core/no_block.hpp"
#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "jobs/container_file.hpp"
#include "jobs/device_speed.hpp"

namespace tbbpipe::jobs {
namespace {

using format::kFooterPrefixSize;
using format::kRecordHeaderSize;

[[noreturn]] void corrupt(const std::string& what) {
    throw StatusError(StatusCode::kCorruptData, what);
}

// A part's plaintext at its offset in the shared output (regular file: a write always returns).
void pwrite_full(int fd, const std::uint8_t* buf, std::size_t n, std::uint64_t offset) {
    while (n > 0) {
        const ssize_t w = ::pwrite(fd, buf, n, static_cast<off_t>(offset));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) throw_errno("cannot write the output", w < 0 ? errno : EIO);
        buf += w;
        n -= static_cast<std::size_t>(w);
        offset += static_cast<std::uint64_t>(w);
    }
}

}  // namespace

UnpackFile::UnpackFile(const RunContext& run, FileEntry& entry)
    : run_(run), entry_(entry), file_(*entry.file), inline_reads_(entry.inline_reads) {
    // A stream is read in order and its planned handle moves in here: never on a thread that
    // must not block (nothing of it could be undone).
    if (file_.part && (entry.stream || entry.stream_input.valid())) {
        throw StatusError(StatusCode::kInvalidArgument, "a part needs a regular file");
    }
    if (entry.stream || entry.stream_input.valid() || !entry.inline_reads) {
        require_blocking_allowed();
    }
    bool have_stat = false;
    if (entry.stream_input.valid()) {
        in_ = std::move(entry.stream_input);
    } else if (file_.input_fd >= 0) {
        in_ = FileHandle(file_.input_fd, /*owned=*/false);
    } else {
        in_ = open_input(file_.input, !entry.stream, &st_);
        have_stat = true;
    }
    if (!have_stat && ::fstat(in_.fd(), &st_) != 0) {
        throw StatusError(status_code_from_errno(errno),
                          std::string("cannot stat the input: ") + std::strerror(errno));
    }
    seekable_ = S_ISREG(st_.st_mode);
    if (seekable_) {
        facts_.size = static_cast<std::uint64_t>(st_.st_size);
        facts_.in_memory = device_speed(st_, in_.fd()) == DeviceSpeed::kMemory;
    } else {
        widen_pipe(in_.fd());
    }
    const std::vector<std::uint8_t> raw =
        !entry.stream_header.empty() ? std::move(entry.stream_header)  // read to plan
                                     : read_header_bytes(in_.fd(), seekable_, run.stop, facts_);
    opened_ = format::authenticate_header(raw.data(), raw.size(), *run.secret, true, run.kek_cache);
    check_chunk_size_fits();
    if (!seekable_) {
        stream_root_ =
            std::make_unique<format::RootHasher>(opened_.header.hash, opened_.header_digest);
    }
    // Before any chunk: a container whose stages this engine lacks fails here, by name.
    if (opened_.stages_recorded) format::resolve_recorded_stages(opened_.stages, *run.stages);
    if (seekable_) {
        footer_ = read_footer(in_.fd(), static_cast<std::uint64_t>(st_.st_size), opened_, facts_);
        // Before any chunk is written: this container is the one its name and its set say.
        check_name();
        check_listed();
    }
    offset_ = opened_.data_offset;
    if (file_.part) plan_part();
}

// A part: the header and the whole index were authenticated above, as for a whole file; its
// chunks are checked against that index like any others. Their plaintext lands at the sum of
// the sizes before them.
void UnpackFile::plan_part() {
    if (!seekable_) throw StatusError(StatusCode::kInvalidArgument, "a part needs a regular file");
    const std::uint64_t first = file_.part->first_chunk;
    const std::uint64_t count = file_.part->chunk_count;
    const std::vector<format::IndexEntry>& entries = footer_->entries;
    if (count == 0 || first >= entries.size() || count > entries.size() - first) {
        throw StatusError(StatusCode::kInvalidArgument,
                          "part [" + std::to_string(first) + ", +" + std::to_string(count) +
                              ") is not within its " + std::to_string(entries.size()) + " chunks");
    }
    next_ = first;
    part_end_ = first + count;
    for (std::uint64_t i = 0; i < first; ++i) write_offset_ += entries[i].raw_size;
    for (std::uint64_t i = first; i < part_end_; ++i) {
        part_bytes_in_ += kRecordHeaderSize + entries[i].stored_size;
    }
}

// The output is the shared temporary (SharedOutput::temp_path()), made by another process: it
// is opened as it is, never created, truncated or renamed here.
void UnpackFile::open_part_output() {
    if (run_.operation != Operation::kUnpack) return;
    out_fd_ = ::open(file_.output.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (out_fd_ < 0) throw_errno("cannot open the shared output " + file_.output, errno);
    part_out_ = FileHandle(out_fd_);
}

// The stored name against the one being restored: the same, or one a path that ends in the
// other (a tree unpacked from a subfolder, a file packed alone then unpacked with its tree). Two
// containers swapped in a tree record names that do not agree.
bool UnpackFile::names_agree(const std::string& stored, const std::string& expected) {
    const auto ends_in = [](const std::string& path, const std::string& tail) {
        return path.size() > tail.size() && path[path.size() - tail.size() - 1] == '/' &&
               path.compare(path.size() - tail.size(), tail.size(), tail) == 0;
    };
    return stored == expected || ends_in(stored, expected) || ends_in(expected, stored);
}

void UnpackFile::check_name() const {
    const std::string& expected = file_.name;
    const std::string& stored = footer_->name;
    if (expected.empty() || stored.empty() || names_agree(stored, expected)) return;
    const std::string what = "the container holds '" + stored + "', not '" + expected + "'";
    if (file_.name_must_match) {
        throw StatusError(StatusCode::kAuthFailed,
                          what + " (containers swapped or renamed inside the tree)");
    }
    // One file renamed is legitimate: say so, and go on. Only this file's claim writes here.
    entry_.result->warnings.push_back(what + " (renamed?)");
}

// The set's manifest records this path with one container: size, header, root and plaintext
// must all be that one's (an older or another container in its place differs in its header,
// which holds a fresh random key and nonce, and so in its header digest).
void UnpackFile::check_listed() const {
    const format::ManifestEntry* listed = entry_.listed;
    if (!listed) return;
    if (listed->container_size != static_cast<std::uint64_t>(st_.st_size) ||
        listed->plaintext_size != footer_->original_size || listed->hash != opened_.header.hash ||
        !format::digests_equal(listed->header_digest, opened_.header_digest) ||
        !format::digests_equal(listed->root, footer_->root)) {
        throw StatusError(StatusCode::kAuthFailed,
                          "not the container the set's manifest lists at " + listed->path +
                              " (another or an older one in its place)");
    }
}

// The engine's buffers were sized before the run from headers nobody had authenticated yet;
// now that this one is, its chunks must fit them. One that does not fails alone.
void UnpackFile::check_chunk_size_fits() const {
    const std::uint32_t chunk_size = opened_.header.chunk_size;
    if (chunk_size <= run_.max_chunk_size) return;
    const std::size_t needed = chunk_buffer_bytes(chunk_size);
    if (needed > run_.memory_limit) {
        throw StatusError(StatusCode::kResourceExhausted,
                          "its " + std::to_string(chunk_size) + "-byte chunks need " +
                              std::to_string(needed) + " bytes of buffers, more than the memory " +
                              "limit of " + std::to_string(run_.memory_limit));
    }
    throw StatusError(StatusCode::kResourceExhausted,
                      "its chunks (" + std::to_string(chunk_size) +
                          " bytes) are larger than this run planned for (the file changed since "
                          "the run began)");
}

void UnpackFile::claim(engine::Chunk& chunk) {
    if (!seekable_) {
        if (!claim_from_stream(chunk)) corrupt("no chunks before the footer");
        return;
    }
    if (next_ >= footer_->entries.size()) corrupt("no chunks before the footer");
    chunk.index = next_;
    const format::IndexEntry& e = footer_->entries[next_++];
    chunk.offset = e.offset;
    chunk.input_size = kRecordHeaderSize + e.stored_size;
    // A part's run ends with its own last chunk; the record's flag is checked by open_chunk.
    chunk.last = part_end_ ? next_ == part_end_ : (e.flags & format::kFlagLast) != 0;
}

void UnpackFile::fill(engine::Chunk& chunk) {
    if (!seekable_) return;  // a stream's record was read by claim()
    if (!inline_reads_) require_blocking_allowed();
    const format::IndexEntry& e = footer_->entries[chunk.index];
    std::uint8_t* buf =
        ensure_size(chunk.input, format::record_buffer_size(e.raw_size, e.stored_size));
    if (pread_full(in_.fd(), buf, chunk.input_size, chunk.offset, facts_) != chunk.input_size) {
        corrupt(chunk_name(chunk.index, chunk.offset) + ": record truncated");
    }
}

void UnpackFile::read_exact(std::uint8_t* buf, std::size_t n, const char* what) {
    if (read_full(in_.fd(), buf, n, run_.stop) != n) {
        corrupt(std::string("truncated: stream ended inside ") + what + " at offset " +
                std::to_string(offset_));
    }
    offset_ += n;
}

// A stream's records come in order, read here under the claim lock (a run with a stream allows
// one read at a time). What each says about itself is checked as far as it can be before the
// footer arrives, and against the footer's index once it does.
bool UnpackFile::claim_from_stream(engine::Chunk& chunk) {
    require_blocking_allowed();  // a pipe's read may wait, and what it consumed cannot be undone
    if (footer_) return false;
    std::uint8_t* buf = ensure_size(chunk.input, kRecordHeaderSize);
    chunk.offset = offset_;
    read_exact(buf, kFooterPrefixSize, "a record header");
    if (format::get_u32(buf) == format::kFooterMagic) {
        read_footer_and_trailer(buf);
        return false;
    }
    read_exact(buf + kFooterPrefixSize, kRecordHeaderSize - kFooterPrefixSize, "a record header");
    const format::RecordHeader record = format::decode_record_header(buf);
    const std::string where = chunk_name(next_, chunk.offset);
    if (saw_last_) corrupt(where + ": data after the last chunk");
    if (record.index != next_) {
        corrupt(where + ": record carries index " + std::to_string(record.index) +
                " (chunks dropped, duplicated or reordered)");
    }
    const format::Header& h = opened_.header;
    if (record.raw_size > h.chunk_size ||
        record.stored_size > format::max_stored_size(h.chunk_size, h.encrypted())) {
        corrupt(where + ": record sizes out of range");
    }
    if (record.raw_size == 0 && (record.flags & format::kFlagLast) == 0) {
        corrupt(where + ": an empty chunk before the last");
    }
    // Sizes are checked: now the buffer can grow to this record (which may move it).
    buf = ensure_size(chunk.input, format::record_buffer_size(record.raw_size, record.stored_size));
    read_exact(buf + kRecordHeaderSize, record.stored_size, "a record");
    seen_.add({chunk.offset, record.raw_size, record.stored_size, record.flags, {}});
    chunk.index = next_++;
    chunk.input_size = kRecordHeaderSize + record.stored_size;
    chunk.last = (record.flags & format::kFlagLast) != 0;
    saw_last_ = chunk.last;
    if (chunk.last) {
        // The footer follows the last record: read and check it now, so the file is complete
        // when its last chunk is (a run finishes a file on its last chunk).
        std::uint8_t prefix[kFooterPrefixSize];
        read_exact(prefix, kFooterPrefixSize, "the footer");
        if (format::get_u32(prefix) != format::kFooterMagic) {
            corrupt("offset " + std::to_string(offset_ - kFooterPrefixSize) +
                    ": data after the last chunk");
        }
        read_footer_and_trailer(prefix);
    }
    return true;
}

void UnpackFile::read_footer_and_trailer(const std::uint8_t* prefix) {
    const std::uint64_t footer_offset = offset_ - kFooterPrefixSize;
    const std::string where = "footer at offset " + std::to_string(footer_offset);
    if (!saw_last_) corrupt(where + ": no final chunk before it (truncated)");
    const std::uint32_t stored_size = format::get_u32(prefix + 4);
    const std::size_t tag = opened_.header.encrypted() ? format::kTagSize : 32;
    if (stored_size >
        tag + format::footer_body_size(next_, format::kMaxNameLength, opened_.header.hash)) {
        corrupt(where + ": size out of range");
    }
    std::vector<std::uint8_t> stored(stored_size);
    read_exact(stored.data(), stored.size(), "the footer");
    std::uint8_t raw_trailer[format::kTrailerSize];
    read_exact(raw_trailer, format::kTrailerSize, "the trailer");
    const format::Trailer trailer = format::decode_trailer(raw_trailer);
    if (trailer.footer_offset != footer_offset || trailer.chunk_count != next_ ||
        trailer.footer_size != kFooterPrefixSize + stored_size) {
        corrupt("trailer does not match the records");
    }
    std::uint8_t extra = 0;
    if (read_full(in_.fd(), &extra, 1, run_.stop) != 0) {
        corrupt("unexpected data after the trailer at offset " + std::to_string(offset_));
    }
    format::FooterBody footer =
        format::open_footer(opened_, stored.data(), stored_size, footer_offset, next_);
    format::IndexFingerprint want;
    for (const format::IndexEntry& e : footer.entries) want.add(e);
    if (!format::digests_equal(seen_.finish(), want.finish())) {
        corrupt(where + ": the records' headers do not match the index (altered in transit)");
    }
    footer_ = std::move(footer);
}

void UnpackFile::transform(engine::Chunk& chunk) {
    // Seekable: the index is known, so each record is checked against it here. A stream's
    // digests are compared with its footer at the end (finish()).
    const format::IndexEntry* expected = seekable_ ? &footer_->entries[chunk.index] : nullptr;
    const format::OpenedChunk opened =
        format::open_chunk(opened_, chunk.index, expected, chunk.input, chunk.input_size,
                           chunk.output, chunk_name(chunk.index, chunk.offset));
    chunk.result = opened.plain;
    chunk.result_size = opened.record.raw_size;
    chunk.meta.index = opened.record.index;
    chunk.meta.raw_size = opened.record.raw_size;
    chunk.meta.digest = opened.digest;
}

void UnpackFile::write(const engine::Chunk& chunk) {
    if (!writer_open_) {
        if (part_end_) {
            open_part_output();
        } else {
            out_ = open_output(run_, entry_, st_, &out_fd_);
            if (!out_ && out_fd_ >= 0) out_kind_ = output_kind(out_fd_, run_.stop);
        }
        writer_open_ = true;
    }
    // Called in chunk order by the engine's ordered writer.
    if (part_end_) {
        if (out_fd_ >= 0) pwrite_full(out_fd_, chunk.result, chunk.result_size, write_offset_);
        write_offset_ += chunk.result_size;
    } else if (out_fd_ >= 0) {
        write_full(out_fd_, chunk.result, chunk.result_size, "output", run_.stop, out_kind_);
    }
    bytes_ += chunk.result_size;
    if (!seekable_) stream_root_->add(chunk.meta.digest);
}

std::unique_ptr<OutputFile> UnpackFile::finish(FileResult& result) {
    if (!seekable_) {
        if (!footer_) corrupt("truncated: the footer is missing");
        check_name();
        // After a streamed run: the digests seen, chained as the root is, must give the
        // footer's root (which the footer's index was checked against). Constant memory; the
        // price is not knowing which chunk differed.
        if (!format::digests_equal(stream_root_->finish(bytes_), footer_->root)) {
            corrupt(std::string("the ") + hash_name(opened_.header.hash) +
                    " of a chunk's plaintext does not match the footer (the stream cannot say "
                    "which: its index came last)");
        }
    }
    // What the footer authenticated, for whoever commits a shared output (a part's).
    result.metadata_recorded =
        footer_->mode != 0 || footer_->mtime_sec != 0 || footer_->mtime_nsec != 0;
    result.mode = footer_->mode;
    result.mtime_sec = footer_->mtime_sec;
    result.mtime_nsec = footer_->mtime_nsec;
    result.plaintext_bytes = bytes_;
    result.bytes_out = run_.operation == Operation::kUnpack ? bytes_ : 0;
    const auto& entries = footer_->entries;
    result.bytes_in = part_end_   ? part_bytes_in_
                      : seekable_ ? static_cast<std::uint64_t>(st_.st_size)
                      : entries.empty()
                          ? 0
                          : entries.back().offset + kRecordHeaderSize + entries.back().stored_size;
    in_.reset();
    if (out_) out_->set_metadata(footer_->mode, footer_->mtime_sec, footer_->mtime_nsec);
    return std::move(out_);
}

}  // namespace tbbpipe::jobs
