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
#include "jobs/unpack_file.hpp"

namespace tbbpipe::jobs {
namespace {

using Clock = std::chrono::steady_clock;

// What planning learns of an input: its size and whether it is a stream (read in order).
void stat_input(const Job::File& file, FileEntry& entry) {
    struct stat st {};
    const bool known = file.input_fd >= 0 ? ::fstat(file.input_fd, &st) == 0
                                          : ::stat(file.input.c_str(), &st) == 0;
    if (!known) return;  // the first claim reports why, in order
    entry.planned_size = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
    entry.stream = !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
    entry.inline_reads =
        S_ISREG(st.st_mode) && reads_may_run_inline(device_speed(st, file.input_fd, file.input));
}

// A container's header as planning reads it, unauthenticated: it only proposes a size for the
// engine's buffers and says which keys to derive before the run; every real check happens when
// the file is opened. nullopt when unreadable or malformed (the file fails then, in order).
std::optional<format::Header> peek_header(const Job::File& file, const FileEntry& entry) {
    try {
        if (!entry.stream_header.empty()) {
            return format::decode_header(entry.stream_header.data(), entry.stream_header.size());
        }
        FileHandle fd = file.input_fd >= 0
                            ? FileHandle(file.input_fd, false)
                            : FileHandle(::open(file.input.c_str(), O_RDONLY | O_CLOEXEC));
        std::uint8_t raw[format::kHeaderSize];
        if (!fd.valid() ||
            pread_full(fd.fd(), raw, format::kHeaderSize, 0) != format::kHeaderSize) {
            return std::nullopt;
        }
        return format::decode_header(raw, format::kHeaderSize);
    } catch (const StatusError&) {
        return std::nullopt;
    }
}

// The folders between a file's output root and its output, created now (a file whose folders
// cannot be made fails alone, before the run); `made` remembers what this job made already, so
// many files in one folder cost one check.
void make_output_folders(const Job::File& file, std::set<std::string>& made) {
    if (file.output_root.empty() || file.output_fd >= 0) return;
    const std::string& root = file.output_root;
    std::string relative;
    if (file.output.size() > root.size() + 1 && file.output.compare(0, root.size(), root) == 0) {
        relative = file.output.substr(root.size() + (root.back() == '/' ? 0 : 1));
        const auto slash = relative.rfind('/');
        relative = slash == std::string::npos ? "" : relative.substr(0, slash);
    }
    std::string key = root;
    key.append(1, '\0').append(relative);  // NUL cannot be in a path: the pair is unambiguous
    if (made.count(key)) return;
    make_folders(root, relative);
    made.insert(std::move(key));
}

// Whether a file's output may be written on an arena thread: verify writes nothing, a
// descriptor is judged by what it is, a path by its folder's device (one probe per folder).
bool writes_cannot_stall(Operation op, const Job::File& file,
                         std::map<std::string, DeviceSpeed>& folders) {
    if (op == Operation::kVerify) return true;
    if (file.output_fd >= 0) return writes_may_run_inline(device_speed_of_fd(file.output_fd));
    const auto slash = file.output.rfind('/');
    const std::string folder = slash == std::string::npos ? "."
                               : slash == 0               ? "/"
                                                          : file.output.substr(0, slash);
    auto it = folders.find(folder);
    if (it == folders.end()) it = folders.emplace(folder, device_speed_of_path(folder)).first;
    return writes_may_run_inline(it->second);
}

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
    const bool same = pack_kdf_ && pack_secret_.kind() == secret.kind() && cached == bytes &&
                      pack_kdf_->scrypt.log2_n == cost.log2_n && pack_kdf_->scrypt.r == cost.r &&
                      pack_kdf_->scrypt.p == cost.p;
    if (!same) {
        format::Header kdf;
        kdf.kdf = secret.kind();
        if (passphrase) {
            kdf.scrypt = cost;
            format::random_bytes(kdf.salt.data(), kdf.salt.size());
        } else {
            kdf.scrypt = {};
        }
        pack_kek_ = format::derive_kek(secret, kdf);
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
            result.files.push_back({f.input, f.output, result.status, 0, 0, 0, 0, 0, 0, 0});
        }
        return result;
    }
}

// Planning: what each file is (size, stream or not), its output folders, and for unpack its
// header's chunk size (a stream's header is read now and kept for the file). A file that fails
// here is done before the run. Returns the chunk size the engine's buffers must hold.
std::uint32_t JobRunner::plan(const Job& job, std::vector<FileEntry>& files, JobResult& result,
                              const std::stop_token& stop, bool* any_stream,
                              std::vector<format::Header>* headers) {
    std::uint32_t sizing = 0;
    std::map<std::string, DeviceSpeed> folder_speeds;
    std::set<std::string> folders_made;
    for (std::size_t i = 0; i < files.size(); ++i) {
        const Job::File& f = job.files[i];
        FileEntry& entry = files[i];
        entry.file = &f;
        entry.result = &result.files[i];
        entry.result->input = f.input;
        entry.result->output = job.operation == Operation::kVerify ? "" : f.output;
        stat_input(f, entry);
        *any_stream = *any_stream || entry.stream;
        try {
            if (job.operation != Operation::kVerify) make_output_folders(f, folders_made);
            entry.inline_writes = writes_cannot_stall(job.operation, f, folder_speeds);
            if (job.operation == Operation::kPack) continue;
            if (entry.stream) {
                // A stream cannot be peeked: read its header now and hand it to the file.
                entry.stream_input =
                    f.input_fd >= 0 ? FileHandle(f.input_fd, false) : open_input(f.input);
                entry.stream_header = read_header_bytes(entry.stream_input.fd(), false, stop);
            }
            if (std::optional<format::Header> h = peek_header(f, entry)) {
                // A claim the memory limit cannot afford sizes nothing: that file fails alone,
                // once its header is authenticated (UnpackFile), and the others run.
                if (chunk_buffer_bytes(h->chunk_size) <= memory_limit_) {
                    sizing = std::max(sizing, h->chunk_size);
                }
                headers->push_back(*h);
            }
        } catch (const StatusError& e) {
            entry.result->status = e.status();
            entry.done = true;
        }
    }
    if (job.operation == Operation::kPack) return 0;
    return sizing < kMinChunkSize ? kDefaultChunkSize : sizing;  // nothing readable: any will do
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

JobResult JobRunner::run_files(const Job& job, const std::stop_token& stop) {
    const auto start = Clock::now();
    JobResult result;
    result.files.resize(job.files.size());
    std::vector<FileEntry> files(job.files.size());
    bool any_stream = false;
    std::vector<format::Header> headers;  // unpack and verify: what planning peeked
    std::uint32_t sizing = plan(job, files, result, stop, &any_stream, &headers);

    RunContext run;
    run.stop = stop;
    run.operation = job.operation;
    run.overwrite = job.overwrite;
    run.durable = config_.commit.durable;
    run.start = start;
    PackSetup pack;
    if (job.operation == Operation::kPack) {
        sizing = prepare_pack(job, pack);
        run.recipe = &pack.recipe;
        run.small_file_threshold = config_.small_file_threshold;
        run.tuner = pack.tuner.get();
    } else {
        run.secret = &job.secret;
        run.stages = &config_.stages;
        run.kek_cache = &kek_cache_;
        run.max_chunk_size = sizing;
        run.memory_limit = memory_limit_;
        derive_keys(job.secret, headers, sizing);
    }
    JobScheduler scheduler(config_.scheduler, config_.large_file_threshold);
    queue(files, scheduler);
    CommitBatch commits(config_.commit);
    const engine::RunReport report =
        job.operation == Operation::kPack
            ? run_graph<PackFile>(run, files, scheduler, commits, any_stream, sizing)
            : run_graph<UnpackFile>(run, files, scheduler, commits, any_stream, sizing);

    for (const FileResult& file : result.files) {
        if (!file.status.is_ok() && result.status.is_ok()) result.status = file.status;
    }
    if (result.status.is_ok() && !report.status.is_ok()) result.status = report.status;
    if (job.files.size() == 1) result.files.front().syncs = commits.syncs();
    last_report_ = report;
    result.stats = stats(report, commits, pack.tuner.get());
    result.stats.chunk_size = job.operation == Operation::kPack ? sizing : 0;
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
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
    if (metrics_) {
        metrics_
            ->gauge("tbbpipe_peak_rss_bytes",
                    "Peak resident set size of the process so far (VmHWM)")
            .set(static_cast<std::int64_t>(stats.peak_rss_bytes));
    }
    return stats;
}

}  // namespace tbbpipe::jobs
