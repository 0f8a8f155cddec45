// UnpackFile: one container being unpacked or verified inside a run: its header authenticated,
// its index read (seekable) or its records followed (a stream), each record opened, and the
// plaintext written in order (or only counted and checked, for verify).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "engine/chunk.hpp"
#include "format/footer.hpp"
#include "format/open.hpp"
#include "jobs/file_io.hpp"
#include "jobs/run_context.hpp"

namespace tbbpipe::jobs {

/// Threads as for PackFile (jobs/pack_file.hpp). Made at the file's first claim: the header is
/// authenticated then, and for a seekable container the footer index read and checked before any
/// chunk is; a container whose recorded stages this engine lacks fails there, by name.
class UnpackFile {
public:
    UnpackFile(const RunContext& run, FileEntry& entry);

    void claim(engine::Chunk& chunk);
    void fill(engine::Chunk& chunk);
    void transform(engine::Chunk& chunk);
    void write(const engine::Chunk& chunk);
    /// After the last chunk: a stream's digests are checked against its footer; fills the
    /// result's byte counts and returns the output for the commit batch (null: nothing to
    /// rename).
    std::unique_ptr<OutputFile> finish(FileResult& result);
    void abandon() noexcept { out_.reset(); }

    /// Whether a stored name and the name a file is restored as agree (equal, or one a path
    /// ending in the other).
    static bool names_agree(const std::string& stored, const std::string& expected);

private:
    void check_chunk_size_fits() const;
    void check_name() const;
    void check_listed() const;
    void plan_part();
    void open_part_output();
    bool claim_from_stream(engine::Chunk& chunk);
    void read_exact(std::uint8_t* buf, std::size_t n, const char* what);
    void read_footer_and_trailer(const std::uint8_t* prefix);

    const RunContext& run_;
    const FileEntry& entry_;
    const Job::File& file_;
    const bool inline_reads_;  // FileEntry::inline_reads
    FileHandle in_;
    struct stat st_ {};
    bool seekable_ = false;
    InputFacts facts_;  // a seekable input's size and device, for pread_full
    format::OpenedHeader opened_;
    std::optional<format::FooterBody> footer_;  // seekable: from the start; a stream: at its end

    // A part of a split container (Job::File::Part): chunks [next_, part_end_) only, written
    // at their offsets into an output that already exists. part_end_ 0: the whole file.
    std::uint64_t part_end_ = 0;
    std::uint64_t part_bytes_in_ = 0;  // the part's records

    // Claims (under the claim lock).
    std::uint64_t next_ = 0;    // the next chunk's index
    std::uint64_t offset_ = 0;  // a stream: where the next record starts
    bool saw_last_ = false;     // a stream: the last record went by
    // What each streamed record said about itself, checked against the footer's index at the
    // end (the seekable path checks the same thing up front), in constant memory.
    format::IndexFingerprint seen_;

    // Writer thread.
    bool writer_open_ = false;
    std::unique_ptr<OutputFile> out_;
    int out_fd_ = -1;      // -1: verify (nothing written)
    FileHandle part_out_;  // a part's shared output, owned
    OutputKind out_kind_ = OutputKind::kFile;
    std::uint64_t bytes_ = 0;
    std::uint64_t write_offset_ = 0;  // a part: where the next chunk's plaintext goes
    // A stream: its chunks' digests, chained as the footer's root is (checked at the end).
    std::unique_ptr<format::RootHasher> stream_root_;
};

}  // namespace tbbpipe::jobs
