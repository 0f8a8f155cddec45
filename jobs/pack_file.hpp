// PackFile: one file being packed inside a run: its input, its header and keys, chunk reads,
// seals, and the ordered writes of its records, footer and trailer.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "engine/chunk.hpp"
#include "format/seal.hpp"
#include "jobs/file_io.hpp"
#include "jobs/run_context.hpp"
#include "jobs/split_plan.hpp"

namespace tbbpipe::jobs {

/// Threads (engine/chunk_steps.hpp): made at the file's first claim (under the claim lock);
/// claim() under the claim lock, fill() on I/O threads and transform() on arena threads (at once,
/// for distinct chunks), write(), finish() and abandon() on the writer thread in chunk order.
/// Files below the run's small-file threshold take the fast path: one chunk, opened and read
/// whole in fill() (in parallel, off the claim lock), no descriptor kept.
class PackFile {
public:
    PackFile(const RunContext& run, FileEntry& entry);

    /// Sets the chunk's index, offset, size and last flag (a stream: reads it too).
    void claim(engine::Chunk& chunk);
    void fill(engine::Chunk& chunk);
    void transform(engine::Chunk& chunk);
    void write(const engine::Chunk& chunk);
    /// After the last chunk was written (with the footer and trailer): fills the result's byte
    /// counts, and returns the output for the commit batch (null when there is nothing to rename:
    /// a descriptor or stdout).
    std::unique_ptr<OutputFile> finish(FileResult& result);
    /// A failure: drops whatever partial output exists. Runs on the writer thread possibly while
    /// later chunks of the same file are still claimed, filled or transformed elsewhere: it
    /// touches only writer-side state (the output).
    void abandon() noexcept { out_.reset(); }

private:
    void open_input();
    void seal_header();
    void claim_from_file(engine::Chunk& chunk);
    void claim_from_stream(engine::Chunk& chunk);
    // The footer and trailer, once the last record is in the index (checks the input kept its
    // size).
    std::vector<std::uint8_t> finish_index();

    const RunContext& run_;
    FileEntry& entry_;  // its writer-side fields: `packed`
    const Job::File& file_;
    const bool stream_;        // listed as a stream (a FIFO named explicitly)
    const bool inline_reads_;  // FileEntry::inline_reads
    const bool small_;
    // A part of a split container (Job::File::Part): its plan's header and keys, only chunks
    // [part_first_, part_end_), and no header, footer or trailer; null: a whole file.
    const SplitPlan::State* const plan_;
    std::uint64_t part_first_ = 0;
    std::uint64_t part_end_ = 0;
    FileHandle in_;
    struct stat st_before_ {};
    InputFacts facts_;  // size and device of a regular input, for pread_full

    // Claims (under the claim lock): where the next chunk starts.
    std::uint64_t next_offset_ = 0;
    std::uint64_t claimed_ = 0;
    bool claimed_any_ = false;
    std::optional<std::uint8_t> lookahead_;  // a stream: one byte read past a full chunk

    std::optional<format::FileSeal> seal_;  // header, digest and keys; read-only once made

    // Writer thread.
    std::unique_ptr<OutputFile> out_;
    int out_fd_ = -1;
    OutputKind out_kind_ = OutputKind::kFile;
    std::optional<format::IndexBuilder> index_;
    std::vector<PartRecord> part_records_;  // a part: what its index lists
};

/// What a container's footer records of its input (name, mode, mtime), from the stat its pack
/// made: one function, so a split container (jobs/split_tail.cpp) records what one process would.
format::FileMetadata recorded_metadata(const Job::File& file, const struct stat& st);

}  // namespace tbbpipe::jobs
