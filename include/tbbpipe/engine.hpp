// tbbpipe::Engine: the pipeline as a library. Jobs (pack, unpack or verify of one or many files)
// are submitted from any thread and run one after another on the engine's own task_arena, each
// as one flow graph over all its files, so two engines in one process each keep their own CPU,
// I/O and memory budgets.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tbbpipe/events.hpp"
#include "tbbpipe/metrics.hpp"
#include "tbbpipe/options.hpp"
#include "tbbpipe/result.hpp"
#include "tbbpipe/secret.hpp"
#include "tbbpipe/status.hpp"

namespace tbbpipe {

class SplitPlan;  // tbbpipe/split.hpp

/// What a set's manifest records of one container (docs/SECURITY.md, "Sets"). Value type.
struct ContainerFacts {
    bool recorded = false;  ///< filled (a pack that succeeded)
    std::uint64_t container_size = 0;
    std::uint64_t plaintext_size = 0;
    Hash hash = Hash::kXxh3;
    std::array<std::uint8_t, 32> header_digest{};
    std::array<std::uint8_t, 32> root_digest{};
};

/// A container packed by one job of a run, for the manifest another job writes
/// (Job::set_members). Value type.
struct SetMember {
    std::string set_root;  ///< Job::File::set_root of the file packed
    std::string output;    ///< the container's path (below set_root)
    ContainerFacts container;
};

/// How much of a run a job is.
enum class RunPart {
    /// The whole run: pack writes each set's manifest; unpack and verify check every file
    /// against its set's manifest and report what the job lacks (SetReport::missing).
    kWhole,
    /// One share of a larger run: pack writes no manifest (FileResult::container says what the
    /// kSets job must list); unpack and verify check each file against its set's manifest (a
    /// file it does not list fails) but leave the search for missing containers to the kSets
    /// job (SetReport::missing stays empty).
    kShare,
    /// The run's sets alone, no file is processed. Pack: writes the manifest of every set that
    /// Job::set_members names (the job has no files: a file is refused). Unpack, verify: checks
    /// each file
    /// against its set's manifest (FileResult::status fails for a file it does not list, is ok
    /// otherwise) and reports the set's missing containers, as a kWhole job would.
    kSets,
};

/// One unit of work: an operation on a list of files, every file through one graph.
/// Value type; the engine keeps its own copy until the job ran (the secret is dropped then).
/// @code
///   tbbpipe::Job job;                                   // pack is the default
///   job.files = {{"data/a.log", "backup/a.log.tbp"}};
///   job.secret = tbbpipe::Secret::key_file("my.key").value();
///   auto handle = engine.submit(std::move(job));
/// @endcode
struct Job {
    Operation operation = Operation::kPack;
    /// An input and where its output goes. A FIFO given as an input is read as a stream;
    /// opening it waits for its writer, and that wait is not interruptible by cancel().
    struct File {
        File() = default;
        /// An input and its output path ("" for verify).
        File(std::string input_path, std::string output_path)
            : input(std::move(input_path)), output(std::move(output_path)) {}

        std::string input;   ///< the input's path; with input_fd, only its name in messages
        std::string output;  ///< pack and unpack: the output path; verify: unused
        /// >= 0: read the input from this open descriptor (not owned, never closed; standard
        /// input, a pipe, a memory file) instead of opening `input`. A regular file is read in
        /// parallel (pread), anything else in order as a stream. "-" as a path is refused
        /// without it: it would be the process's standard input.
        int input_fd = -1;
        /// When set, `output` lies below this folder: the folders between are created, and
        /// refused if one is a symbolic link or not a folder (a planted link cannot redirect an
        /// output out of the tree). Empty: the output's folder must exist.
        std::string output_root;
        /// >= 0: write the output to this open descriptor (not owned, never closed; standard
        /// output, a pipe, a socket, a memory file) instead of a path; `output` then only names
        /// it in messages.
        int output_fd = -1;
        /// Pack: record the input's name, mode and modification time in the container.
        bool store_metadata = true;
        /// The name the container records (pack) or should record (unpack, verify); the
        /// container authenticates it (docs/SECURITY.md, "Names"). Pack: empty records the
        /// input's base name; plan_files sets a recursive run's path below the folder walked
        /// ("docs/a.txt"). Unpack and verify: empty checks nothing; otherwise a container that
        /// records another name fails (kAuthFailed, naming both) when name_must_match, and gets
        /// a FileResult warning when not (renaming one file is legitimate).
        std::string name;
        bool name_must_match = false;
        /// The root folder of the set this file belongs to (docs/SECURITY.md, "Sets"): pack
        /// lists the container in the manifest there; unpack and verify check the container
        /// against it. Empty: no set. plan_files sets it for trees and output folders.
        std::string set_root;
        /// Part of a container shared by several processes (tbbpipe/split.hpp): only chunks
        /// [first_chunk, first_chunk + chunk_count) are handled. A job with parts has nothing
        /// else (every file a part; a pack's all of one plan); no streams; no descriptor but a
        /// pack's output_fd; a set (set_root) only for unpack and verify in a RunPart::kShare job.
        /// Pack (plan set; job.pack and job.secret are unused: the plan has them): reads those
        /// chunks of `input` and writes only their records to `output` (a part file, committed
        /// like any output), or to output_fd from its current position (the container itself,
        /// for the part whose offset is known before packing: the first); FileResult::part_index
        /// then holds what SplitPlan::finish needs. Unpack (plan unused): `output` must already
        /// exist (a SharedOutput's temp_path()); each chunk's plaintext is written at its offset in
        /// it, which is neither truncated, renamed nor given metadata here. Verify: checks those
        /// chunks. Both authenticate the header and the whole index first, as for a whole file, and
        /// check the name likewise.
        struct Part {
            std::shared_ptr<const SplitPlan> plan;
            std::uint64_t first_chunk = 0;
            std::uint64_t chunk_count = 0;
        };
        std::optional<Part> part;
    };
    std::vector<File> files;
    /// How much of a run this job is (RunPart). kShare and kSets let one run be spread over
    /// many jobs, in many processes (tbbpipe-mpi), with each set's manifest written or checked
    /// once for the whole run.
    RunPart run_part = RunPart::kWhole;
    /// Pack, kSets: every container the run packed (FileResult::container of the kShare jobs'
    /// files) with the set it belongs to; the manifests list them.
    std::vector<SetMember> set_members;
    PackOptions pack;  ///< pack only
    Secret secret;
    bool overwrite = false;  ///< replace outputs that exist
};

/// What happened to one file of a job. Value type.
struct FileResult {
    std::string input;
    std::string output;
    Status status;  ///< its message names the file (and for bad data the chunk and offset)
    std::uint64_t bytes_in = 0;         ///< bytes read from the input
    std::uint64_t bytes_out = 0;        ///< bytes written to the output (0 for verify)
    std::uint64_t plaintext_bytes = 0;  ///< the file's plaintext (packed or restored)
    std::uint64_t chunks = 0;
    int syncs = 0;              ///< durability flushes made for this file alone (0 when batched)
    double seconds = 0;         ///< from the file's first chunk to its completion
    double finished_after = 0;  ///< from the start of the job to the file's completion
    /// What is worth saying of a file that did not fail: it records another name than the one it
    /// is restored as, say. Each names the file.
    std::vector<std::string> warnings;
    /// Pack: what the container's set manifest records of it (Job::set_members).
    ContainerFacts container;
    /// Pack of a Job::File::Part: its records' headers and digests, for SplitPlan::finish.
    std::vector<std::uint8_t> part_index;
    /// Unpack and verify (a part too): the metadata the footer authenticates, so the process
    /// that commits a SharedOutput can apply it. Not recorded: packed without store_metadata.
    bool metadata_recorded = false;
    std::uint32_t mode = 0;
    std::int64_t mtime_sec = 0;
    std::uint32_t mtime_nsec = 0;
};

/// What a job found of one set (Job::File::set_root). Value type.
struct SetReport {
    std::string root;
    /// Pack: the manifest was written. Unpack, verify: one was found (without one, the tree is
    /// older than manifests, or was not packed as a set: its files are checked one by one).
    bool manifest = false;
    /// Not ok: the manifest could not be written (pack), or is damaged, forged or sealed with
    /// another key (unpack, verify: kAuthFailed / kCorruptData); the files were still checked
    /// one by one.
    Status status;
    /// Unpack, verify: containers the manifest lists that are not among the job's files (paths
    /// below root). Each is an integrity failure of the set.
    std::vector<std::string> missing;
};

/// What the engine used and observed while it ran a job: the budgets and the most that was ever
/// in flight against each, so a program (or a test) can check them. Value type.
struct RunStats {
    int cpu_tokens = 0;            ///< transforms allowed at once
    int io_tokens = 0;             ///< reads allowed at once (1 when an input is a stream)
    std::size_t chunk_tokens = 0;  ///< chunks in flight (buffer slots) the memory limit affords
    std::size_t memory_limit = 0;  ///< bytes
    int arena_threads = 0;         ///< threads of the engine's task_arena
    int io_threads = 0;            ///< dedicated threads for blocking reads
    std::int64_t max_chunks_in_flight = 0;
    std::int64_t max_reads_in_flight = 0;
    std::int64_t max_transforms_in_flight = 0;
    std::int64_t tokens_outstanding = 0;  ///< always 0 after a job: the engine's own check
    double buffer_reuse_rate = 0;         ///< chunk-buffer acquisitions that reused a buffer
    int syncs = 0;                        ///< durability flushes for the whole job
    std::uint32_t chunk_size = 0;         ///< pack: the containers' (maximum) chunk size
    std::uint32_t final_chunk_size = 0;   ///< pack, adaptive: where the size ended
    int chunk_size_adjustments = 0;       ///< pack, adaptive: how often it changed
    std::uint64_t peak_rss_bytes = 0;     ///< the process's peak resident set size so far
    /// Passphrase derivations (scrypt) the engine has made so far, over all its jobs: one per
    /// passphrase and salt (docs/SECURITY.md).
    std::uint64_t key_derivations = 0;
    /// Where the chunks' I/O ran: on the engine's CPU threads (a read from the page cache, a
    /// write that cannot stall), or handed to its I/O threads (a read that would wait for the
    /// device, a pipe, anything on a network file system; a write to a disk or a pipe).
    std::uint64_t reads_inline = 0;
    std::uint64_t reads_handed_off = 0;
    std::uint64_t writes_inline = 0;
    std::uint64_t writes_handed_off = 0;
};

/// Value type.
struct JobResult {
    Status status;                  ///< ok, or the first failure (kCancelled when cancelled)
    std::vector<FileResult> files;  ///< one per file, in the job's order
    std::vector<SetReport> sets;    ///< one per distinct Job::File::set_root
    RunStats stats;
    double seconds = 0;
};

/// A submitted job. Copyable; all copies refer to the same job.
/// Thread-safety: every method may be called from any thread.
class JobHandle {
public:
    JobHandle() = default;
    /// Blocks until the job ran (or was cancelled before it ran) and returns a copy of its
    /// result. An empty (default-constructed) handle answers kInvalidArgument at once.
    JobResult wait() const;
    /// false: still queued or running after the timeout.
    bool wait_for(std::chrono::milliseconds timeout) const;
    /// Whether wait() would return at once.
    bool done() const;
    /// Asks the job to stop: a queued job never runs, a running one stops admitting chunks,
    /// drains and removes its partial outputs. The result then says kCancelled.
    void cancel() const;

private:
    friend class Engine;
    struct State;
    std::shared_ptr<State> state_;
};

/// What shutdown() did.
struct ShutdownReport {
    std::size_t completed = 0;  ///< jobs that finished (ok or failed) during the shutdown
    std::size_t cancelled = 0;  ///< jobs cancelled because the timeout passed
    bool timed_out = false;
};

/// Runs jobs, one at a time, in submission order, each on the engine's own task_arena, I/O
/// threads and chunk buffers (reused from job to job).
///
/// Ownership: the engine owns its threads and buffers; handles may outlive it (cancel() then does
/// nothing). The destructor is shutdown(0): what is still queued or running is cancelled.
/// Thread-safety: every method may be called from any thread, shutdown included (concurrent
/// calls: the first does the work, the others return an empty report). Listeners run on the
/// engine's event thread and must not block long (never wait() on a job there); no lock is held
/// while they run. The engine keeps derived keys (one KDF per passphrase) until it is destroyed.
/// @code
///   tbbpipe::EngineConfig config;
///   config.cpu_tokens = 4;
///   tbbpipe::Engine engine(config);
///   auto handle = engine.submit(job);
///   if (!handle.ok()) return fail(handle.status());
///   const tbbpipe::JobResult result = handle.value().wait();
/// @endcode
class Engine {
public:
    /// Starts the engine's threads. A config that does not pass validate() makes every submit()
    /// fail with its message (the constructor itself never fails).
    explicit Engine(const EngineConfig& config = {});
    /// shutdown(0): cancels what is queued or running, then joins every thread.
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    /// Queues a job, waiting while the queue is full. Fails at once for a job that cannot run
    /// (kInvalidArgument: no files, a bad option, a bad config; see validate()) and after
    /// shutdown (kCancelled).
    Result<JobHandle> submit(Job job);
    /// Never blocks: a full queue gives kResourceExhausted naming the capacity.
    Result<JobHandle> try_submit(Job job);
    /// Stops admitting, lets queued and running jobs finish for up to timeout, then cancels
    /// what is left and waits for it to stop.
    ShutdownReport shutdown(std::chrono::milliseconds timeout);

    /// Every metric the engine records (docs/METRICS.md), as of now.
    MetricsSnapshot metrics() const;
    /// Per-file started / progress / finished / failed events of every job.
    void add_listener(FileListener listener);
    /// The configuration the engine was made with.
    const EngineConfig& config() const;

    struct Impl;

private:
    friend struct EngineAccess;  // the library's own parts (SplitPlan) share its derived keys
    std::shared_ptr<Impl> impl_;
};

}  // namespace tbbpipe
