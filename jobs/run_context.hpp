// RunContext and FileEntry: what every file of one run shares, and what the run knows of each
// file. A run is one job going through the engine's graph: all its files at once.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "format/cipher.hpp"
#include "format/manifest.hpp"
#include "format/seal.hpp"
#include "jobs/file_io.hpp"
#include "jobs/output_file.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe::jobs {

class ChunkTuner;

/// Shared by every file of a run. Read-only while the run goes, except through the pointers to
/// thread-safe objects (tuner, kek_cache).
struct RunContext {
    std::stop_token stop;  ///< a stop request cancels the run (JobHandle::cancel, shutdown)
    Operation operation = Operation::kPack;
    bool overwrite = false;
    bool durable = true;
    std::chrono::steady_clock::time_point start;

    // Pack.
    const format::ContainerRecipe* recipe = nullptr;
    std::uint64_t small_file_threshold = 0;
    ChunkTuner* tuner = nullptr;  ///< null: a fixed chunk size

    // Unpack and verify.
    const Secret* secret = nullptr;
    /// The largest chunk size the engine's buffers were planned for, and the limit they must
    /// fit: a container with larger chunks fails alone once its header is authenticated.
    std::uint32_t max_chunk_size = 0;
    std::size_t memory_limit = 0;
    const StageRegistry* stages = nullptr;  ///< resolves a container's recorded stages
    format::KekCache* kek_cache = nullptr;
};

/// One file of a run. The run owns these for its whole length; the claim lock, the writer
/// thread and the reference count govern who touches what (comments per member).
struct FileEntry {
    const Job::File* file = nullptr;
    FileResult* result = nullptr;    ///< where the outcome goes (written by the writer thread)
    std::uint64_t planned_size = 0;  ///< from the plan; 0 for a stream
    bool stream = false;             ///< a pipe: claims read the data
    /// Its input is on a local or memory file system (jobs/device_speed.hpp): opens and reads
    /// may be tried on an arena thread. Not on a network or FUSE file system, where even the
    /// open or a stat may wait, and never for a stream.
    bool inline_reads = false;
    /// Its output cannot stall (memory, an SSD, /dev/null), so the engine may write it on an
    /// arena thread.
    bool inline_writes = false;
    /// Its output lies below this run's output root (held open: jobs/output_file.hpp), at
    /// output_relative; null: the output path is taken as given.
    const OutputRoot* output_root = nullptr;
    std::string output_relative;
    /// Pack: what its set's manifest will record of it (writer side, at its last chunk).
    format::ManifestEntry packed;
    /// Unpack, verify: what its set's manifest records of it; null: no set, or no manifest.
    const format::ManifestEntry* listed = nullptr;
    /// A stream to unpack is opened, and its header read, while planning (to size the engine's
    /// buffers; a FIFO reopened would wait for a new writer): handed to the work at its first
    /// claim.
    FileHandle stream_input;
    std::vector<std::uint8_t> stream_header;

    /// One reference for the scheduler until the file is retired, one per chunk in flight; the
    /// last one destroys the file's work (closing its files, removing an uncommitted output).
    std::atomic<int> refs{1};
    /// First failure seen anywhere; claims stop, transforms skip. A hint only (relaxed): what
    /// keeps the work alive is the reference count.
    std::atomic<bool> failed{false};
    bool done = false;             ///< writer thread: the outcome is final (or awaits commit)
    std::uint64_t bytes_done = 0;  ///< writer thread: input bytes written so far (progress)
    std::uint64_t chunks = 0;      ///< writer thread: chunks written
    std::chrono::steady_clock::time_point started{};  ///< set at the first claim
};

/// Bytes of buffers one chunk in flight holds: an input and an output buffer of up to the largest
/// record of that chunk size (what the memory limit is counted in).
std::size_t chunk_buffer_bytes(std::uint32_t chunk_size);

/// "chunk 3 at offset 3145728": how messages name a chunk.
std::string chunk_name(std::uint64_t index, std::uint64_t offset);

/// Where a file's output goes: the job's descriptor, standard output ("-"), or a new OutputFile
/// (returned; null when the output is not a path) whose descriptor *fd receives. An output that
/// would replace the input itself (`input`, as fstat saw it) is refused.
std::unique_ptr<OutputFile> open_output(const RunContext& run, const FileEntry& entry,
                                        const struct stat& input, int* fd);

}  // namespace tbbpipe::jobs
