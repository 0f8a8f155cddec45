// FileJob: one file of a batch, and JobWork: how its chunks are claimed, read, transformed and
// written while it shares the graph with every other file of the batch.
//
// A batch source draws chunks from many FileJobs (JobScheduler decides which); each chunk carries
// its job (Chunk::job) and its index within the file (Chunk::index), and the batch stages
// dispatch to the job's JobWork. The sequencer keeps the batch's global order, which is every
// file's own chunk order too.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "engine/chunk.hpp"
#include "nodes/cipher.hpp"
#include "nodes/container_format.hpp"
#include "nodes/file_io.hpp"
#include "nodes/stage_spec.hpp"

namespace tbbpipe::nodes {

class ChunkTuner;
struct FileOutcome;
struct PackSettings;

enum class BatchOp { kPack, kUnpack, kVerify };

/// One input and where its output goes: a path, "-" for stdout, "" for none (verify).
struct BatchFile {
    std::string input;
    std::string output;
    /// >= 0: write the output to this descriptor instead (not owned, never closed; a library
    /// caller's pipe or memory file). output then only names it in messages.
    int output_fd = -1;
    /// The input is not a user's file (a memory file, a pipe): record no name, mode or time.
    bool anonymous = false;
};

/// The pieces of one file's work. Threads: claim() under the engine's claim mutex (one at a
/// time; the first claim also constructs the work, so opening a file serialises readers for that
/// long: an open, a header and, for unpack, the footer index), fill() on I/O threads and
/// transform() on arena threads (concurrently, for distinct chunks), write() and finish() on the
/// writer thread in chunk order. Destroyed when its last chunk is done, on whichever thread that
/// is: the destructor removes an uncommitted output.
class JobWork {
public:
    virtual ~JobWork() = default;
    /// Sets the chunk's index, offset, size and last flag. Throws naming what went wrong.
    virtual void claim(engine::Chunk& chunk) = 0;
    virtual void fill(engine::Chunk& /*chunk*/) {}
    virtual void transform(engine::Chunk& chunk) = 0;
    virtual void write(const engine::Chunk& chunk) = 0;
    /// After the last chunk was written: completes the output and returns it for CommitBatch
    /// (null when there is nothing to rename: stdout, verify). Fills the outcome's byte counts.
    virtual std::unique_ptr<OutputFile> finish(FileOutcome& outcome) = 0;
    /// A failure: drop whatever partial output exists. Must not throw. Runs on the writer thread
    /// possibly while later chunks of the same file are still being claimed, filled or
    /// transformed elsewhere: it may touch only writer-side state (the output).
    virtual void abandon() noexcept = 0;
};

/// What every pack job of a batch shares; read-only during the run.
struct PackPlan {
    const PackSettings* settings = nullptr;
    const StagePlan* stages = nullptr;  ///< what runs, resolved; recorded when it says so
    int level = 1;
    /// Header fields common to the batch: compression, cipher, KDF, salt and cost.
    Header header_template;
    const SecretBytes* kek = nullptr;      ///< null: not encrypted
    std::uint32_t nominal_chunk_size = 0;  ///< the header's chunk size: fixed, or the tuner's max
    ChunkTuner* tuner = nullptr;           ///< null: fixed chunk size
    std::uint64_t small_file_threshold = 0;
    bool overwrite = false;
    bool durable = true;
    const std::atomic<bool>* cancel = nullptr;
};

/// What every unpack/verify job of a batch shares.
struct UnpackPlan {
    const UserSecret* secret = nullptr;
    const StageRegistry* stages = nullptr;  ///< resolves a container's recorded stages
    KekCache* kek_cache = nullptr;
    bool overwrite = false;
    bool durable = true;
    const std::atomic<bool>* cancel = nullptr;
};

/// A file of a batch. The batch owns these for the whole run; stages hold plain pointers.
struct FileJob {
    const BatchFile* file = nullptr;
    FileOutcome* outcome = nullptr;  ///< where the result goes (written by the writer thread)
    std::uint64_t planned_size = 0;  ///< from the listing; 0 for a stream
    bool stream = false;             ///< stdin or a pipe: claims read the data
    /// Set by the planner for a stream unpack: the stream, opened once (a FIFO reopened would wait
    /// for a new writer), and its header, already read to size the engine.
    FileHandle stream_input;
    std::unique_ptr<std::vector<std::uint8_t>> stream_header;  // header and stage list; rare

    std::unique_ptr<JobWork> work;  ///< made at the first claim; destroyed when refs reach 0
    /// One reference for the scheduler until the job is retired, one per chunk in flight.
    std::atomic<int> refs{1};
    /// First failure seen anywhere; the source stops claiming, the transform skips.
    std::atomic<bool> failed{false};
    bool done = false;  ///< writer thread: the outcome is final (or waits in a commit batch)
    std::uint64_t bytes_done = 0;  ///< writer thread: input bytes written so far (progress)
    std::uint64_t chunks = 0;      ///< writer thread: chunks written
    std::chrono::steady_clock::time_point started{};
};

/// Opens a file for packing (at its first claim). Files below the plan's small-file threshold
/// take the fast path: one chunk, opened and read whole in fill(), no descriptor kept.
std::unique_ptr<JobWork> make_pack_work(const PackPlan& plan, const FileJob& job);
/// Opens a container for unpack or verify (at its first claim): header authenticated, and for a
/// seekable file the footer index read and checked before any chunk is.
std::unique_ptr<JobWork> make_unpack_work(const UnpackPlan& plan, FileJob& job, BatchOp op);

/// Refuses an output path that names the input itself (it would be replaced by its own output).
void refuse_same_file(const std::string& output, dev_t input_dev, ino_t input_ino);

}  // namespace tbbpipe::nodes
