#include "jobs/job_runner.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <oneapi/tbb/parallel_for_each.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>

#include "core/status_error.hpp"
#include "format/codec.hpp"
#include "format/record.hpp"
#include "format/stage_spec.hpp"
#include "jobs/chunk_tuner.hpp"
#include "jobs/commit_batch.hpp"
#include "jobs/container_file.hpp"
#include "jobs/device_speed.hpp"
#include "jobs/job_scheduler.hpp"
#include "jobs/job_steps.hpp"
#include "jobs/pack_file.hpp"
#include "jobs/run_plan.hpp"
#include "jobs/set_manifest.hpp"
#include "jobs/split_plan.hpp"
#include "jobs/unpack_file.hpp"

namespace tbbpipe::jobs {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t peak_rss_bytes() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace

JobRunner::JobRunner(const EngineConfig& config, engine::MetricsRegistry* metrics,
                     FileEvents* events)
    : config_(config),
      memory_limit_(config.memory_limit ? config.memory_limit : default_memory_limit()),
      metrics_(metrics),
      events_(events) {
    if (metrics) {
        pipeline_metrics_ = std::make_unique<engine::PipelineMetrics>(*metrics);
        pipeline_metrics_->memory_limit_bytes.set(static_cast<std::int64_t>(memory_limit_));
        files_ok_ = &metrics->counter("tbbpipe_files_total", "Files processed", "status=\"ok\"");
        files_failed_ =
            &metrics->counter("tbbpipe_files_total", "Files processed", "status=\"failed\"");
    }
}

JobRunner::~JobRunner() = default;

engine::Pipeline& JobRunner::pipeline_for(std::uint32_t chunk_size) {
    if (!pipeline_ || pipeline_chunk_size_ != chunk_size) {
        pipeline_.reset();  // free the old buffers before the new engine can allocate any
        const std::size_t per_chunk = chunk_buffer_bytes(chunk_size);
        if (memory_limit_ < per_chunk) {
            throw StatusError(StatusCode::kResourceExhausted,
                              "memory limit of " + std::to_string(memory_limit_) +
                                  " bytes is below one chunk's buffers (" +
                                  std::to_string(per_chunk) + " bytes for " +
                                  std::to_string(chunk_size) + "-byte chunks)");
        }
        engine::PipelineConfig config;
        config.cpu_tokens = config_.cpu_tokens;
        config.io_tokens = config_.io_tokens;
        config.metrics = pipeline_metrics_.get();
        config.isolate_failures = true;  // one file's failure is that file's alone
        config.chunk_tokens = engine::chunk_tokens_for_budget(
            memory_limit_, per_chunk, config_.cpu_tokens, config_.io_tokens);
        pipeline_ = std::make_unique<engine::Pipeline>(config);
        pipeline_chunk_size_ = chunk_size;
    }
    return *pipeline_;
}

// The largest adaptive chunk size that still lets the memory limit afford every slot the engine
// can keep busy: adaptive chunking never trades parallelism for chunk size.
std::uint32_t JobRunner::auto_chunk_ceiling() const {
    const std::size_t useful =
        engine::chunk_tokens_for_budget(SIZE_MAX, 1, config_.cpu_tokens, config_.io_tokens);
    std::uint32_t size = ChunkTunerConfig{}.max;
    while (size > ChunkTuner::kAlign && memory_limit_ / chunk_buffer_bytes(size) < useful) {
        size -= ChunkTuner::kAlign;
    }
    return size;
}

// One salt and KEK per secret for passphrase packing (one derivation, not one per file or per
// run of the same secret); each file still gets its own random file key. A different secret or
// cost derives anew.
const format::SecretBytes* JobRunner::pack_kek(const Job& job, format::Header& header) {
    const Secret& secret = job.secret;
    if (!secret.present()) return nullptr;
    const bool passphrase = secret.kind() == KeyDerivation::kScrypt;
    format::ScryptParams cost{};
    if (passphrase) cost.log2_n = job.pack.scrypt_log2_n;
    const auto& bytes = SecretAccess::bytes(secret);
    const auto& cached = SecretAccess::bytes(pack_secret_);
    const bool same =
        pack_kdf_ && pack_secret_.kind() == secret.kind() && cached == bytes &&
        pack_kdf_->scrypt.log2_n == cost.log2_n && pack_kdf_->scrypt.r == cost.r &&
        pack_kdf_->scrypt.p == cost.p &&
        (!passphrase || !job.pack.scrypt_salt || *job.pack.scrypt_salt == pack_kdf_->salt);
    if (!same) {
        format::Header kdf;
        kdf.kdf = secret.kind();
        if (passphrase) {
            kdf.scrypt = cost;
            if (job.pack.scrypt_salt) {
                kdf.salt = *job.pack.scrypt_salt;
            } else {
                format::random_bytes(kdf.salt.data(), kdf.salt.size());
            }
        } else {
            kdf.scrypt = {};
        }
        // Through the cache: a split plan made with the same salt, and the containers this
        // engine later unpacks, derive nothing more.
        pack_kek_ = kek_cache_.get(secret, kdf);
        pack_kdf_ = kdf;
        pack_secret_ = secret;
    }
    header.kdf = secret.kind();
    header.scrypt = pack_kdf_->scrypt;
    header.salt = pack_kdf_->salt;
    header.key_id = format::key_id_for(pack_kek_);
    return &pack_kek_;
}

JobResult JobRunner::run(const Job& job, const std::stop_token& stop) {
    try {
        return run_files(job, stop);
    } catch (...) {
        // Nothing may escape (a planning step that throws fails the whole job).
        JobResult result;
        result.status = status_from_current_exception();
        for (const Job::File& f : job.files) {
            FileResult failed;
            failed.input = f.input;
            failed.output = f.output;
            failed.status = result.status;
            result.files.push_back(std::move(failed));
        }
        return result;
    }
}

// What every container of a pack shares: the stages, the header's fields, the key.
std::uint32_t JobRunner::prepare_pack(const Job& job, PackSetup& setup) {
    std::uint32_t sizing = job.pack.chunk_size ? job.pack.chunk_size : kDefaultChunkSize;
    if (job.pack.chunk_size == 0) {  // adaptive
        ChunkTunerConfig tuning;
        tuning.max = auto_chunk_ceiling();
        tuning.initial = std::min(kDefaultChunkSize, tuning.max);
        setup.tuner = std::make_unique<ChunkTuner>(tuning);
        sizing = tuning.max;
    }
    setup.stages = format::plan_for_pack(job.pack, job.secret.present(), config_.stages);
    format::Header& h = setup.recipe.header;
    h.compression = setup.stages.compression;
    h.hash = setup.stages.hash;
    h.chunk_size = sizing;
    if (setup.stages.recorded()) h.flags |= format::kHeaderFlagStageList;
    const int level = job.pack.level ? job.pack.level : level_range(h.compression).fallback;
    h.level = level;
    h.scrypt = {};
    setup.recipe.kek = pack_kek(job, h);
    if (setup.recipe.kek) h.cipher = setup.stages.cipher;
    setup.recipe.stages = &setup.stages;
    setup.recipe.level = level;
    return sizing;
}

// Every passphrase key the run will need, derived before it starts, in parallel on the engine's
// own threads: a derivation takes up to seconds (a hostile header: the reader's cap), and made at
// a file's first claim it would hold the claim lock, stopping every other file meanwhile. One
// per distinct salt and cost; a header that lied costs one derivation and fails later, alone.
void JobRunner::derive_keys(const Secret& secret, const std::vector<format::Header>& headers,
                            std::uint32_t sizing) {
    if (secret.kind() != KeyDerivation::kScrypt) return;
    std::vector<const format::Header*> distinct;
    for (const format::Header& h : headers) {
        if (h.kdf != KeyDerivation::kScrypt) continue;
        const auto same = [&h](const format::Header* d) {
            return d->salt == h.salt && d->scrypt.log2_n == h.scrypt.log2_n &&
                   d->scrypt.r == h.scrypt.r && d->scrypt.p == h.scrypt.p;
        };
        if (std::none_of(distinct.begin(), distinct.end(), same)) distinct.push_back(&h);
    }
    if (distinct.empty()) return;
    try {
        pipeline_for(sizing).execute([&] {
            tbb::parallel_for_each(distinct.begin(), distinct.end(), [&](const format::Header* h) {
                (void)kek_cache_.get(secret, *h);  // cached; a failure shows at the file's open
            });
        });
    } catch (...) {
        // Nothing lost: each file derives what is missing when it is opened.
    }
}

// Files that failed while planning are reported now; the rest wait in the scheduler.
void JobRunner::queue(std::vector<FileEntry>& files, JobScheduler& scheduler) {
    for (std::uint32_t i = 0; i < files.size(); ++i) {
        FileEntry& entry = files[i];
        if (!entry.done) {
            scheduler.add(i, entry.planned_size);
            continue;
        }
        if (events_) {
            events_->post({FileEvent::Kind::kStarted, entry.file->input, 0, 0, {}});
            events_->post(
                {FileEvent::Kind::kFailed, entry.file->input, 0, 0, entry.result->status});
        }
        if (files_failed_) files_failed_->add();
    }
}

// One graph over every queued file; then what completed is committed and what did not is
// failed (removing any partial output).
template <class Work>
engine::RunReport JobRunner::run_graph(const RunContext& run, std::vector<FileEntry>& files,
                                       JobScheduler& scheduler, CommitBatch& commits,
                                       bool any_stream, std::uint32_t sizing) {
    JobSteps<Work> steps(run, files, scheduler, commits, {events_, files_ok_, files_failed_},
                         any_stream);
    engine::RunReport report;
    if (!scheduler.empty()) {
        try {
            report = pipeline_for(sizing).run(steps, run.stop);
        } catch (const StatusError& e) {
            report.status = e.status();
        }
        steps.flush_commits();  // whatever completed waits for its rename
    }
    steps.finish_unfinished(report.status);
    return report;
}

// Unpack, verify of the run's sets alone (RunPart::kSets): each file against its set's
// manifest, and what the manifests list that no file of the run is. No file is opened.
JobResult JobRunner::check_run_sets(const Job& job) {
    JobResult result;
    result.files.resize(job.files.size());
    std::vector<FileEntry> files(job.files.size());
    for (std::size_t i = 0; i < files.size(); ++i) {
        files[i].file = &job.files[i];
        files[i].result = &result.files[i];
        result.files[i].input = job.files[i].input;
        result.files[i].output = job.files[i].output;
    }
    Manifests manifests;
    result.sets = check_sets(files, job.secret, &kek_cache_, manifests);
    return result;
}

// What a set's manifest will record of each container packed (RunPart::kShare hands these to
// the run's kSets job).
void JobRunner::record_containers(const std::vector<FileEntry>& files) {
    for (const FileEntry& entry : files) {
        if (!entry.done || !entry.result->status.is_ok()) continue;
        ContainerFacts& facts = entry.result->container;
        facts.recorded = true;
        facts.container_size = entry.packed.container_size;
        facts.plaintext_size = entry.packed.plaintext_size;
        facts.hash = entry.packed.hash;
        facts.header_digest = entry.packed.header_digest;
        facts.root_digest = entry.packed.root;
    }
}

JobResult JobRunner::run_files(const Job& job, const std::stop_token& stop) {
    const auto start = Clock::now();
    JobResult result;
    if (job.run_part == RunPart::kSets && job.operation != Operation::kPack) {
        result = check_run_sets(job);
        result.status = overall_status(result);
        result.stats = stats(engine::RunReport{}, CommitBatch(config_.commit), nullptr);
        result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        return result;
    }
    result.files.resize(job.files.size());
    std::vector<FileEntry> files(job.files.size());
    const RunPlan plan = plan_run(job, files, result, stop, memory_limit_);
    std::uint32_t sizing = plan.sizing;

    RunContext run;
    run.stop = stop;
    run.operation = job.operation;
    run.overwrite = job.overwrite;
    run.durable = config_.commit.durable;
    run.start = start;
    PackSetup pack;
    Manifests manifests;  // unpack, verify: what files' FileEntry::listed point into
    if (job.operation == Operation::kPack) {
        // Parts of a split container seal with their plan's recipe (header, keys, fixed chunk
        // size), not a fresh one: that is what makes them one container.
        const format::ContainerRecipe* split = split_recipe(job);
        sizing = split ? split->header.chunk_size : prepare_pack(job, pack);
        run.recipe = split ? split : &pack.recipe;
        run.small_file_threshold = config_.small_file_threshold;
        run.tuner = pack.tuner.get();
    } else {
        run.secret = &job.secret;
        run.stages = &config_.stages;
        run.kek_cache = &kek_cache_;
        run.max_chunk_size = sizing;
        run.memory_limit = memory_limit_;
        derive_keys(job.secret, plan.headers, sizing);
        result.sets = check_sets(files, job.secret, &kek_cache_, manifests);
        // A share cannot tell what is missing: other jobs of the run hold the rest.
        if (job.run_part == RunPart::kShare) {
            for (SetReport& set : result.sets) set.missing.clear();
        }
    }
    JobScheduler scheduler(config_.scheduler, config_.large_file_threshold);
    queue(files, scheduler);
    CommitBatch commits(config_.commit);
    const engine::RunReport report =
        job.operation == Operation::kPack
            ? run_graph<PackFile>(run, files, scheduler, commits, plan.any_stream, sizing)
            : run_graph<UnpackFile>(run, files, scheduler, commits, plan.any_stream, sizing);
    if (job.operation == Operation::kPack) {
        record_containers(files);
        if (job.run_part != RunPart::kShare) {
            result.sets = write_sets(files, plan, pack.recipe, job.secret, &kek_cache_, run.durable,
                                     job.set_members);
        }
    }

    result.status = overall_status(result);
    if (result.status.is_ok() && !report.status.is_ok()) result.status = report.status;
    if (job.files.size() == 1) result.files.front().syncs = commits.syncs();
    last_report_ = report;
    result.stats = stats(report, commits, pack.tuner.get());
    result.stats.chunk_size = job.operation == Operation::kPack ? sizing : 0;
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

Status JobRunner::overall_status(const JobResult& result) {
    for (const FileResult& file : result.files) {
        if (!file.status.is_ok()) return file.status;
    }
    for (const SetReport& set : result.sets) {
        if (!set.status.is_ok()) return set.status;
        if (!set.missing.empty()) {
            return {StatusCode::kAuthFailed, std::to_string(set.missing.size()) +
                                                 " container(s) the set's manifest lists are "
                                                 "missing"};
        }
    }
    return Status::ok();
}

RunStats JobRunner::stats(const engine::RunReport& report, const CommitBatch& commits,
                          const ChunkTuner* tuner) {
    RunStats stats;
    stats.cpu_tokens = report.cpu_tokens;
    stats.io_tokens = report.io_tokens;
    stats.chunk_tokens = report.chunk_tokens;
    stats.memory_limit = memory_limit_;
    stats.arena_threads = report.arena_threads;
    stats.io_threads = report.io_threads;
    stats.max_chunks_in_flight = report.max_chunks_in_flight;
    stats.max_reads_in_flight = report.max_reads_in_flight;
    stats.max_transforms_in_flight = report.max_transforms_in_flight;
    stats.tokens_outstanding = report.tokens_outstanding;
    stats.buffer_reuse_rate = pipeline_ ? pipeline_->buffer_reuse_rate() : 0;
    stats.syncs = commits.syncs();
    stats.reads_inline = report.reads_inline;
    stats.reads_handed_off = report.reads_handed_off;
    stats.writes_inline = report.writes_inline;
    stats.writes_handed_off = report.writes_handed_off;
    if (tuner) {
        stats.final_chunk_size = tuner->current();
        stats.chunk_size_adjustments = tuner->adjustments();
    }
    stats.peak_rss_bytes = peak_rss_bytes();
    stats.key_derivations = kek_cache_.derivations();
    if (metrics_) {
        metrics_
            ->gauge("tbbpipe_peak_rss_bytes",
                    "Peak resident set size of the process so far (VmHWM)")
            .set(static_cast<std::int64_t>(stats.peak_rss_bytes));
    }
    return stats;
}

}  // namespace tbbpipe::jobs
