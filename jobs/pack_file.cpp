#include "jobs/pack_file.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/buffer.hpp"
#include "core/no_block.hpp"
#include "core/status_error.hpp"
#include "jobs/chunk_tuner.hpp"
#include "jobs/device_speed.hpp"

namespace tbbpipe::jobs {
namespace {

struct stat stat_fd(int fd, const char* what) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        throw StatusError(status_code_from_errno(errno),
                          std::string("cannot stat ") + what + ": " + std::strerror(errno));
    }
    return st;
}

}  // namespace

PackFile::PackFile(const RunContext& run, FileEntry& entry)
    : run_(run),
      entry_(entry),
      file_(*entry.file),
      stream_(entry.stream),
      inline_reads_(entry.inline_reads),
      small_(!entry.stream && !entry.file->part && entry.planned_size < run.small_file_threshold &&
             entry.planned_size <= run.recipe->header.chunk_size),
      plan_(part_plan(*entry.file)) {
    if (plan_) {
        // A part is read at its chunks' offsets: only a regular file of the planned size.
        if (stream_) throw StatusError(StatusCode::kInvalidArgument, "a part needs a regular file");
        part_first_ = file_.part->first_chunk;
        part_end_ = part_first_ + file_.part->chunk_count;
        open_input();
        if (!S_ISREG(st_before_.st_mode) ||
            static_cast<std::uint64_t>(st_before_.st_size) != plan_->input_size) {
            throw StatusError(StatusCode::kIoError, "file changed size since it was planned (" +
                                                        std::to_string(plan_->input_size) +
                                                        " bytes then)");
        }
        seal_header();
    } else if (!small_) {
        // Chunks of one large file are read in parallel: the descriptor, header and keys must
        // exist before the first chunk is claimed.
        open_input();
        seal_header();
    }
}

void PackFile::open_input() {
    if (!inline_reads_) require_blocking_allowed();  // a stream, or a network file system
    if (file_.input_fd >= 0) {
        in_ = FileHandle(file_.input_fd, /*owned=*/false);
        st_before_ = stat_fd(in_.fd(), "the input");
    } else {
        in_ = jobs::open_input(file_.input, !stream_, &st_before_);
    }
    if (S_ISREG(st_before_.st_mode)) {
        facts_.size = static_cast<std::uint64_t>(st_before_.st_size);
        facts_.in_memory = device_speed(st_before_, in_.fd()) == DeviceSpeed::kMemory;
    } else if (stream_) {
        widen_pipe(in_.fd());
    }
}

void PackFile::seal_header() {
    if (!plan_) {
        seal_.emplace(format::seal_header(*run_.recipe));
        return;
    }
    // Every part seals with the plan's header and keys (a copy: FileSeal owns its keys).
    const format::FileSeal& planned = plan_->seal;
    format::FileSeal& seal = seal_.emplace();
    seal.recipe = planned.recipe;
    seal.header_bytes = planned.header_bytes;
    seal.header_digest = planned.header_digest;
    if (planned.keys) seal.keys = std::make_unique<format::FileKeys>(*planned.keys);
}

void PackFile::claim(engine::Chunk& chunk) {
    if (small_) {
        chunk.index = 0;
        chunk.offset = 0;
        chunk.last = true;
        return;
    }
    if (S_ISREG(st_before_.st_mode)) {
        claim_from_file(chunk);
    } else {
        claim_from_stream(chunk);
    }
}

void PackFile::claim_from_file(engine::Chunk& chunk) {
    const auto size = static_cast<std::uint64_t>(st_before_.st_size);
    if (plan_) {
        // Chunk indexes and offsets are the whole file's: a part's records are the bytes one
        // process would write for them. Its last chunk ends the part's run, not the file.
        const std::uint64_t index = part_first_ + claimed_++;
        if (index >= part_end_) throw StatusError(StatusCode::kInternal, "claimed past the part");
        chunk.index = index;
        chunk.offset = index * plan_->chunk_size();
        chunk.input_size = plan_->chunk_bytes(index);
        chunk.last = index + 1 == part_end_;
        return;
    }
    if (claimed_any_ && next_offset_ >= size) {
        throw StatusError(StatusCode::kInternal, "claimed past the last chunk");
    }
    // Adaptive chunks: the size the tuner says now, never above the header's nominal size.
    const std::uint32_t chunk_size =
        run_.tuner ? run_.tuner->current() : run_.recipe->header.chunk_size;
    // An empty file still gets one (empty, last) chunk: every container ends in a last chunk.
    const std::uint64_t length = std::min<std::uint64_t>(chunk_size, size - next_offset_);
    chunk.index = claimed_++;
    chunk.offset = next_offset_;
    chunk.input_size = static_cast<std::size_t>(length);
    next_offset_ += length;
    chunk.last = next_offset_ >= size;
    claimed_any_ = true;
}

// A pipe is read here, under the claim lock (its reads are serial anyway: the run allows one
// read at a time when an input is a stream); a one-byte look-ahead tells the last chunk.
void PackFile::claim_from_stream(engine::Chunk& chunk) {
    require_blocking_allowed();  // a pipe's read may wait; and the look-ahead cannot be undone
    const std::uint32_t chunk_size = run_.recipe->header.chunk_size;
    std::uint8_t* buf = ensure_size(chunk.input, chunk_size);
    std::size_t have = 0;
    if (lookahead_) {
        buf[0] = *lookahead_;
        lookahead_.reset();
        have = 1;
    }
    have += read_full(in_.fd(), buf + have, chunk_size - have, run_.stop);
    chunk.index = claimed_++;
    chunk.offset = next_offset_;
    chunk.input_size = have;
    next_offset_ += have;
    if (have == chunk_size) {
        // A full chunk may or may not be the last: peek one byte to know.
        std::uint8_t next = 0;
        if (read_full(in_.fd(), &next, 1, run_.stop) == 1) lookahead_ = next;
    }
    chunk.last = !lookahead_;
}

void PackFile::fill(engine::Chunk& chunk) {
    if (!small_) {
        if (!S_ISREG(st_before_.st_mode)) return;  // a stream was read by claim()
        if (!inline_reads_) require_blocking_allowed();
        // Sized to the chunk, not the nominal chunk size: a small file costs small buffers.
        std::uint8_t* buf = ensure_size(chunk.input, chunk.input_size);
        if (pread_full(in_.fd(), buf, chunk.input_size, chunk.offset, facts_) != chunk.input_size) {
            throw StatusError(
                StatusCode::kIoError,
                "file shrank while being read (" + chunk_name(chunk.index, chunk.offset) + ")");
        }
        return;
    }
    // The fast path: open, read the whole file in one go, close; the header and keys are made
    // here too (in parallel), not under the claim lock. Tried inline first (NonBlocking): each
    // step either goes through or throws WouldBlock, and the I/O thread starts over.
    open_input();
    if (!S_ISREG(st_before_.st_mode)) {
        throw StatusError(StatusCode::kInvalidArgument, "not a regular file");
    }
    const auto size = static_cast<std::uint64_t>(st_before_.st_size);
    if (size >= run_.small_file_threshold || size > run_.recipe->header.chunk_size) {
        throw StatusError(StatusCode::kIoError, "file changed size while being read");
    }
    // One byte more than expected: a file that grew shows itself here.
    std::uint8_t* buf = ensure_size(chunk.input, static_cast<std::size_t>(size) + 1);
    const std::size_t got =
        pread_full(in_.fd(), buf, static_cast<std::size_t>(size) + 1, 0, facts_);
    if (got != size) throw StatusError(StatusCode::kIoError, "file changed size while being read");
    chunk.input_size = got;
    in_.reset();
    seal_header();
}

void PackFile::transform(engine::Chunk& chunk) {
    // The record's last flag is the file's (a part's last chunk is not, unless it ends it).
    const bool last = plan_ ? chunk.index + 1 == plan_->chunk_count() : chunk.last;
    const format::SealedChunk sealed =
        format::seal_chunk(*seal_, chunk.index, last, {chunk.input.data(), chunk.input_size},
                           chunk.output, chunk_name(chunk.index, chunk.offset));
    chunk.meta.index = sealed.record.index;
    chunk.meta.raw_size = sealed.record.raw_size;
    chunk.meta.stored_size = sealed.record.stored_size;
    chunk.meta.flags = sealed.record.flags;
    chunk.meta.digest = sealed.digest;
    chunk.result = sealed.payload;
    chunk.result_size = sealed.record.stored_size;
}

// Called in chunk order by the engine's ordered writer: offsets and the root depend on it. One
// writev per chunk: the first also carries the header, the last the footer and trailer (so a
// small file is one write).
void PackFile::write(const engine::Chunk& chunk) {
    iovec iov[4];
    int count = 0;
    if (!index_) {
        out_ = open_output(run_, entry_, st_before_, &out_fd_);
        out_kind_ = out_ ? OutputKind::kFile : output_kind(out_fd_, run_.stop);
        // A part holds records only: the header and tail come from SplitPlan::finish.
        if (!plan_) iov[count++] = {seal_->header_bytes.data(), seal_->header_bytes.size()};
        index_.emplace(*seal_);
    }
    format::RecordHeader record;
    record.flags = chunk.meta.flags;
    record.index = chunk.meta.index;
    record.raw_size = chunk.meta.raw_size;
    record.stored_size = chunk.meta.stored_size;
    std::uint8_t header[format::kRecordHeaderSize];
    format::encode_record_header(record, header);
    iov[count++] = {header, format::kRecordHeaderSize};
    iov[count++] = {const_cast<std::uint8_t*>(chunk.result), chunk.result_size};
    index_->add(record, chunk.meta.digest);
    if (plan_) part_records_.push_back({record, chunk.meta.digest});
    std::vector<std::uint8_t> tail;
    if (chunk.last) {
        tail = finish_index();
        if (!tail.empty()) iov[count++] = {tail.data(), tail.size()};
    }
    writev_full(out_fd_, iov, count, "output", run_.stop, out_kind_);
}

std::vector<std::uint8_t> PackFile::finish_index() {
    if (!small_ && S_ISREG(st_before_.st_mode)) {
        const struct stat st_after = stat_fd(in_.fd(), "the input");
        if (st_after.st_size != st_before_.st_size) {
            throw StatusError(StatusCode::kIoError, "file changed size while being read");
        }
    }
    if (plan_) return {};  // a part ends with its last record
    return index_->finish(recorded_metadata(file_, st_before_));
}

format::FileMetadata recorded_metadata(const Job::File& file, const struct stat& st) {
    format::FileMetadata metadata;
    if (file.store_metadata) {
        metadata.name = file.name.empty() ? base_name(file.input) : file.name;
        metadata.mode = static_cast<std::uint32_t>(st.st_mode & 07777);
        metadata.mtime_sec = st.st_mtim.tv_sec;
        metadata.mtime_nsec = static_cast<std::uint32_t>(st.st_mtim.tv_nsec);
    }
    return metadata;
}

std::unique_ptr<OutputFile> PackFile::finish(FileResult& result) {
    result.plaintext_bytes = result.bytes_in = index_->plaintext_bytes();
    if (plan_) {
        // A part: its records, and what SplitPlan::finish needs of them; no manifest entry.
        result.bytes_out = 0;
        for (const PartRecord& r : part_records_) {
            result.bytes_out += format::kRecordHeaderSize + r.record.stored_size;
        }
        result.part_index = encode_part_index(*plan_, part_first_, part_records_);
        in_.reset();
        return std::move(out_);
    }
    result.bytes_out = index_->container_size();
    // What a set's manifest records of this container (its path is the runner's to fill).
    format::ManifestEntry& packed = entry_.packed;
    packed.container_size = index_->container_size();
    packed.plaintext_size = index_->plaintext_bytes();
    packed.hash = run_.recipe->header.hash;
    packed.header_digest = seal_->header_digest;
    packed.root = index_->root();
    in_.reset();
    if (out_ && S_ISREG(st_before_.st_mode)) {
        out_->set_metadata(static_cast<std::uint32_t>(st_before_.st_mode & 0777), 0, 0);
    }
    return std::move(out_);
}

}  // namespace tbbpipe::jobs
