// ContainerJobs: pack, unpack and verify batches of files through one graph, and inspect one.
//
// The library face of nodes/: it never prints and never exits; every outcome is a Status whose
// message names the chunk and offset for bad data (the caller adds the file name).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/file_events.hpp"
#include "engine/metrics.hpp"
#include "engine/pipeline.hpp"
#include "engine/pipeline_metrics.hpp"
#include "nodes/cipher.hpp"
#include "nodes/container_format.hpp"
#include "nodes/container_reader.hpp"
#include "nodes/file_job.hpp"
#include "nodes/job_scheduler.hpp"

namespace tbbpipe::nodes {

struct PackSettings {
    Compression compression = Compression::kLz4;
    int level = 0;                           ///< 0: the compression's default
    CipherId cipher = CipherId::kAes256Gcm;  ///< used only when a secret is given
    /// A stage spec ("deflate,aes-256-gcm,sha256"); when set it replaces compression and cipher,
    /// and a cipher in it needs a secret (and a secret needs one).
    std::string stages;
    std::uint32_t chunk_size = 1024 * 1024;  ///< fixed size, or where auto starts
    bool adaptive_chunk_size = false;        ///< --chunk-size auto (ChunkTuner)
    ScryptParams scrypt;
};

struct EngineSettings {
    int cpu_tokens = 0;  ///< 0: all cores
    int io_tokens = 4;
    std::size_t memory_budget =
        64u * 1024 * 1024;  ///< bytes of chunk buffers in flight (--memory-limit)
    bool durable = true;    ///< flush outputs before their rename and folders after (--no-fsync)
    SchedulerPolicy scheduler = SchedulerPolicy::kFair;
    /// Pack: files below this are one chunk, read whole (the small-file fast path).
    std::uint64_t small_file_threshold = 256 * 1024;
    /// Fair scheduling: files of this size or more wait in the large queue.
    std::uint64_t large_file_threshold = 8ull * 1024 * 1024;
    int small_per_large = 3;  ///< fair scheduling: small chunks drawn per large one
    engine::MetricsRegistry* metrics = nullptr;  ///< where to record; not owned; may be null
    engine::FileEvents* events = nullptr;        ///< per-file events; not owned; may be null
    /// The stages pack specs may name and unpack can reverse; shared, read-only.
    std::shared_ptr<const StageRegistry> stages = std::make_shared<const StageRegistry>();
};

/// What a pack runs: `pack.stages` when set (a cipher in it needs the secret and the secret
/// needs one), else the compression and, with a secret, the cipher. Throws kInvalidArgument.
StagePlan pack_stage_plan(const PackSettings& pack, const UserSecret& secret,
                          const StageRegistry& registry);

/// The default chunk-buffer budget (--memory-limit): the larger of 64 MiB and 8 MiB per core.
std::size_t default_memory_limit();

/// What happened to one file.
struct FileOutcome {
    Status status;
    std::uint64_t bytes_in = 0;   ///< bytes read from the input
    std::uint64_t bytes_out = 0;  ///< bytes written to the output (0 for verify)
    std::uint64_t plaintext_bytes = 0;
    std::uint64_t chunks = 0;
    int fsyncs = 0;             ///< durability flushes made for this file alone (0 when batched)
    double seconds = 0;         ///< from the file's first claim to its completion
    double finished_after = 0;  ///< from the start of the run to the file's completion
    engine::RunReport run;      ///< the run, for a one-file call (batches: BatchResult::run)
};

/// What a batch did: one outcome per file, in the order given, and the run's totals.
struct BatchResult {
    std::vector<FileOutcome> files;
    engine::RunReport run;
    double seconds = 0;
    int syncs = 0;                 ///< durability flushes for the whole batch
    std::uint32_t chunk_size = 0;  ///< pack: the nominal (maximum) chunk size of the containers
    std::uint32_t final_chunk_size = 0;  ///< pack with auto: where the tuner ended
    int chunk_size_adjustments = 0;
};

/// What `info` shows. Without the key an encrypted container shows its header and trailer only.
struct ContainerInfo {
    OpenedHeader opened;
    std::uint64_t container_size = 0;
    Trailer trailer;
    std::optional<FooterBody> footer;  ///< authenticated index, when it could be opened
};

/// Thread-safety: one thread at a time per object (each run uses the whole engine).
class ContainerJobs {
public:
    ContainerJobs(const EngineSettings& settings, const std::atomic<bool>* cancel);
    ~ContainerJobs();

    /// Runs every file through one graph: chunks of all files in flight together, each file
    /// written in its own chunk order, a failed file reported in its outcome while the others
    /// complete. Outputs appear only when complete (batched durability, CommitBatch).
    BatchResult run_batch(BatchOp op, const std::vector<BatchFile>& files, const PackSettings& pack,
                          const UserSecret& secret, bool overwrite);

    /// input "-" = stdin; output "-" = stdout, else a path written atomically.
    FileOutcome pack(const std::string& input, const std::string& output,
                     const PackSettings& settings, const UserSecret& secret, bool overwrite);
    FileOutcome unpack(const std::string& input, const std::string& output,
                       const UserSecret& secret, bool overwrite);
    /// Authenticates and checks every chunk; writes nothing.
    FileOutcome verify(const std::string& input, const UserSecret& secret);
    /// Throws PipelineError on failure.
    ContainerInfo inspect(const std::string& input, const UserSecret& secret);

    /// The engine of the last run (tests read its buffer statistics).
    const engine::Pipeline* last_pipeline() const { return last_pipeline_; }

private:
    engine::Pipeline& pipeline_for(std::uint32_t chunk_size);
    void prepare_pack_keys(const PackSettings& settings, const UserSecret& secret);
    std::uint32_t auto_chunk_ceiling() const;

    EngineSettings settings_;
    const std::atomic<bool>* cancel_;
    // One engine at a time: replaced when a container's chunk size differs, so the memory limit
    // holds for the run, not per chunk size.
    std::unique_ptr<engine::Pipeline> pipeline_;
    std::uint32_t pipeline_chunk_size_ = 0;
    engine::Pipeline* last_pipeline_ = nullptr;
    KekCache kek_cache_;
    std::unique_ptr<engine::PipelineMetrics> pipeline_metrics_;
    engine::Counter* files_ok_ = nullptr;
    engine::Counter* files_failed_ = nullptr;
    // One salt and KEK per run for passphrase packing: each file still gets its own file key.
    std::optional<Header> pack_kdf_;
    SecretBytes pack_kek_;
    UserSecret pack_secret_;  // what pack_kek_ was derived from
};

}  // namespace tbbpipe::nodes
