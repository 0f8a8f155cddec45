// JobRunner: runs one job at a time, every file of it through one graph. What the public Engine
// runs on its dispatcher thread, and what the memory and stream calls run directly.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>

#include "engine/metrics.hpp"
#include "engine/pipeline.hpp"
#include "engine/pipeline_metrics.hpp"
#include "format/cipher.hpp"
#include "format/header.hpp"
#include "format/seal.hpp"
#include "format/stage_spec.hpp"
#include "jobs/chunk_tuner.hpp"
#include "jobs/commit_batch.hpp"
#include "jobs/file_events.hpp"
#include "jobs/job_scheduler.hpp"
#include "jobs/run_context.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe::jobs {

/// Thread-safety: run() from one thread at a time (a run uses the whole engine).
class JobRunner {
    /// What every container of one pack shares (prepare_pack makes it).
    struct PackSetup {
        format::StagePlan stages;
        format::ContainerRecipe recipe;
        std::unique_ptr<ChunkTuner> tuner;  ///< adaptive chunk sizes; null: fixed
    };

public:
    /// `config` must be valid (tbbpipe::validate). metrics and events may be null; not owned,
    /// they must outlive the runner.
    JobRunner(const EngineConfig& config, engine::MetricsRegistry* metrics, FileEvents* events);
    ~JobRunner();
    JobRunner(const JobRunner&) = delete;
    JobRunner& operator=(const JobRunner&) = delete;

    /// Runs a job (which must pass the public checks) until its files are done or a stop is
    /// requested. Never throws: every outcome is in the result. Messages do not name the file
    /// (the caller adds it).
    JobResult run(const Job& job, const std::stop_token& stop = {});

    /// The engine of the last run, and what its graph reported (tests read its buffer
    /// statistics and chunk counts); null / empty before any.
    const engine::Pipeline* last_pipeline() const { return pipeline_.get(); }
    const engine::RunReport& last_report() const { return last_report_; }
    /// The keys derived from passphrases, by salt and cost: shared with what else of the
    /// library packs with this engine's keys (a split plan). Thread-safe.
    format::KekCache& kek_cache() { return kek_cache_; }

private:
    JobResult run_files(const Job& job, const std::stop_token& stop);
    JobResult check_run_sets(const Job& job);
    static void record_containers(const std::vector<FileEntry>& files);
    // The first failure of a file or a set, in that order; ok when there is none.
    static Status overall_status(const JobResult& result);
    void derive_keys(const Secret& secret, const std::vector<format::Header>& headers,
                     std::uint32_t sizing);
    std::uint32_t prepare_pack(const Job& job, PackSetup& setup);
    void queue(std::vector<FileEntry>& files, JobScheduler& scheduler);
    template <class Work>
    engine::RunReport run_graph(const RunContext& run, std::vector<FileEntry>& files,
                                JobScheduler& scheduler, CommitBatch& commits, bool any_stream,
                                std::uint32_t sizing);
    RunStats stats(const engine::RunReport& report, const CommitBatch& commits,
                   const ChunkTuner* tuner);
    engine::Pipeline& pipeline_for(std::uint32_t chunk_size);
    const format::SecretBytes* pack_kek(const Job& job, format::Header& header);
    std::uint32_t auto_chunk_ceiling() const;

    EngineConfig config_;
    std::size_t memory_limit_;
    engine::MetricsRegistry* metrics_;
    FileEvents* events_;
    // One engine at a time: replaced when a run's chunk size differs, so the memory limit holds
    // for the run, not per chunk size.
    std::unique_ptr<engine::Pipeline> pipeline_;
    std::uint32_t pipeline_chunk_size_ = 0;
    std::unique_ptr<engine::PipelineMetrics> pipeline_metrics_;
    engine::Counter* files_ok_ = nullptr;
    engine::Counter* files_failed_ = nullptr;
    engine::RunReport last_report_;
    format::KekCache kek_cache_;
    // Passphrase packing: one salt and KEK per secret and cost (each file still gets its own
    // file key), kept from run to run.
    std::optional<format::Header> pack_kdf_;
    format::SecretBytes pack_kek_;
    Secret pack_secret_;  // what pack_kek_ was derived from
};

}  // namespace tbbpipe::jobs
