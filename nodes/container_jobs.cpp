#include "nodes/container_jobs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>

#include "engine/status.hpp"
#include "nodes/batch_stages.hpp"
#include "nodes/chunk_tuner.hpp"
#include "nodes/codec.hpp"
#include "nodes/file_io.hpp"
#include "nodes/pack_stages.hpp"
#include "nodes/unpack_stages.hpp"

namespace tbbpipe::nodes {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

struct stat stat_fd(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        throw PipelineError(status_code_from_errno(errno),
                            std::string("cannot stat: ") + std::strerror(errno));
    }
    return st;
}

bool is_stream(const std::string& path, std::uint64_t* size) {
    if (path == "-") return true;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;  // the claim reports why, in order
    *size = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
    return !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

// The chunk size a container declares, read without authentication: it only sizes the engine's
// buffers (every real check happens when the job opens it). 0 when unreadable.
std::uint32_t peek_chunk_size(const std::string& path) {
    FileHandle fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::uint8_t raw[kHeaderSize];
    if (!fd.valid() || pread_full(fd.fd(), raw, kHeaderSize, 0) != kHeaderSize) return 0;
    try {
        return decode_header(raw, kHeaderSize).chunk_size;
    } catch (const PipelineError&) {
        return 0;
    }
}

}  // namespace

// A spec is checked against the secret both ways: a cipher without a key could not run, a key
// without a cipher would silently store plaintext.
StagePlan pack_stage_plan(const PackSettings& pack, const UserSecret& secret,
                          const StageRegistry& registry) {
    if (pack.stages.empty()) {
        return parse_stage_spec(
            implied_stage_spec(pack.compression, secret.present() ? pack.cipher : CipherId::kNone),
            &registry, SpecSource::kUser);
    }
    StagePlan plan = parse_stage_spec(pack.stages, &registry, SpecSource::kUser);
    if (plan.cipher != CipherId::kNone && !secret.present()) {
        throw PipelineError(
            StatusCode::kInvalidArgument,
            std::string("stage ") + cipher_name(plan.cipher) + " needs a key file or a passphrase");
    }
    if (plan.cipher == CipherId::kNone && secret.present()) {
        throw PipelineError(StatusCode::kInvalidArgument,
                            "a key or passphrase was given but the stages '" + plan.spec +
                                "' encrypt nothing: add aes-256-gcm or chacha20-poly1305");
    }
    return plan;
}

namespace {

std::size_t buffers_per_chunk(std::uint32_t chunk_size) {
    // A chunk in flight holds an input and an output buffer of up to the largest record.
    return 2 * (kRecordHeaderSize + max_stored_size(chunk_size, true));
}

}  // namespace

std::size_t default_memory_limit() {
    const auto cores = static_cast<std::size_t>(std::max(1u, std::thread::hardware_concurrency()));
    return std::max<std::size_t>(std::size_t{64} << 20, (std::size_t{8} << 20) * cores);
}

ContainerJobs::ContainerJobs(const EngineSettings& settings, const std::atomic<bool>* cancel)
    : settings_(settings), cancel_(cancel) {
    if (settings.metrics) {
        pipeline_metrics_ = std::make_unique<engine::PipelineMetrics>(*settings.metrics);
        pipeline_metrics_->memory_limit_bytes.set(
            static_cast<std::int64_t>(settings.memory_budget));
        files_ok_ =
            &settings.metrics->counter("tbbpipe_files_total", "Files processed", "status=\"ok\"");
        files_failed_ = &settings.metrics->counter("tbbpipe_files_total", "Files processed",
                                                   "status=\"failed\"");
    }
}

ContainerJobs::~ContainerJobs() = default;

engine::Pipeline& ContainerJobs::pipeline_for(std::uint32_t chunk_size) {
    if (!pipeline_ || pipeline_chunk_size_ != chunk_size) {
        pipeline_.reset();  // free the old buffers before the new engine can allocate any
        const std::size_t per_chunk = buffers_per_chunk(chunk_size);
        if (settings_.memory_budget < per_chunk) {
            throw PipelineError(StatusCode::kResourceExhausted,
                                "memory limit of " + std::to_string(settings_.memory_budget) +
                                    " bytes is below one chunk's buffers (" +
                                    std::to_string(per_chunk) + " bytes for " +
                                    std::to_string(chunk_size) + "-byte chunks)");
        }
        engine::PipelineConfig config;
        config.cpu_tokens = settings_.cpu_tokens;
        config.io_tokens = settings_.io_tokens;
        config.metrics = pipeline_metrics_.get();
        config.isolate_failures = true;  // one file's failure is that file's alone
        config.chunk_tokens = engine::chunk_tokens_for_budget(
            settings_.memory_budget, per_chunk, settings_.cpu_tokens, settings_.io_tokens);
        pipeline_ = std::make_unique<engine::Pipeline>(config);
        pipeline_chunk_size_ = chunk_size;
    }
    last_pipeline_ = pipeline_.get();
    return *pipeline_;
}

// The largest auto chunk size that still lets the memory limit afford every slot the engine can
// keep busy: adaptive chunking never trades parallelism for chunk size.
std::uint32_t ContainerJobs::auto_chunk_ceiling() const {
    const std::size_t useful =
        engine::chunk_tokens_for_budget(SIZE_MAX, 1, settings_.cpu_tokens, settings_.io_tokens);
    std::uint32_t size = ChunkTunerConfig{}.max;
    while (size > ChunkTuner::kAlign &&
           settings_.memory_budget / buffers_per_chunk(size) < useful) {
        size -= ChunkTuner::kAlign;
    }
    return size;
}

// One salt and KEK per secret for passphrase packing (one derivation, not one per file or per
// run of the same secret); each file still gets its own random file key. A different secret or
// cost derives anew: the cache is keyed by all of them.
void ContainerJobs::prepare_pack_keys(const PackSettings& settings, const UserSecret& secret) {
    if (!secret.present()) return;
    const ScryptParams cost = secret.kind == KdfId::kScrypt ? settings.scrypt : ScryptParams{};
    const bool same = pack_kdf_ && pack_secret_.kind == secret.kind &&
                      pack_secret_.bytes == secret.bytes &&
                      pack_kdf_->scrypt.log2_n == cost.log2_n && pack_kdf_->scrypt.r == cost.r &&
                      pack_kdf_->scrypt.p == cost.p;
    if (same) return;
    Header kdf;
    kdf.kdf = secret.kind;
    if (secret.kind == KdfId::kScrypt) {
        kdf.scrypt = cost;
        random_bytes(kdf.salt.data(), kdf.salt.size());
    } else {
        kdf.scrypt = {};
    }
    pack_kek_ = derive_kek(secret, kdf);
    pack_kdf_ = kdf;
    pack_secret_ = secret;
}

BatchResult ContainerJobs::run_batch(BatchOp op, const std::vector<BatchFile>& files,
                                     const PackSettings& pack, const UserSecret& secret,
                                     bool overwrite) {
    const auto start = Clock::now();
    BatchResult result;
    result.files.resize(files.size());
    std::vector<FileJob> jobs(files.size());
    bool any_stream = false;
    std::uint32_t sizing = 0;  // the chunk size the engine's buffers are sized for

    // Plan: what each file is, and how large the engine's chunks must be.
    for (std::size_t i = 0; i < files.size(); ++i) {
        FileJob& job = jobs[i];
        job.file = &files[i];
        job.outcome = &result.files[i];
        job.stream = is_stream(files[i].input, &job.planned_size);
        any_stream = any_stream || job.stream;
        if (op != BatchOp::kPack) {
            if (job.stream) {
                // A stream cannot be peeked: read its header now and hand it to the job.
                try {
                    job.stream_input = open_input(files[i].input);
                    job.stream_header = std::make_unique<std::vector<std::uint8_t>>(
                        read_header_bytes(job.stream_input.fd(), false, cancel_));
                    sizing = std::max(
                        sizing, decode_header(job.stream_header->data(), kHeaderSize).chunk_size);
                } catch (const PipelineError& e) {
                    job.outcome->status = e.status();
                    job.done = true;
                }
            } else {
                sizing = std::max(sizing, peek_chunk_size(files[i].input));
            }
        }
    }
    std::unique_ptr<ChunkTuner> tuner;
    StagePlan stage_plan;
    PackPlan pack_plan;
    UnpackPlan unpack_plan;
    if (op == BatchOp::kPack) {
        sizing = pack.chunk_size;
        if (pack.adaptive_chunk_size) {
            ChunkTunerConfig tuning;
            tuning.max = auto_chunk_ceiling();
            tuning.initial = std::min(pack.chunk_size, tuning.max);
            tuner = std::make_unique<ChunkTuner>(tuning);
            sizing = tuning.max;
        }
        stage_plan = pack_stage_plan(pack, secret, *settings_.stages);
        prepare_pack_keys(pack, secret);
        Header& h = pack_plan.header_template;
        h.compression = stage_plan.compression;
        if (stage_plan.recorded()) h.flags |= kHeaderFlagStageList;
        const int level = pack.level ? pack.level : level_range(h.compression).fallback;
        h.level = static_cast<std::int8_t>(std::min(level, 127));  // informational only
        h.scrypt = {};
        if (secret.present()) {
            h.cipher = stage_plan.cipher;
            h.kdf = secret.kind;
            h.scrypt = pack_kdf_->scrypt;
            h.salt = pack_kdf_->salt;
            h.key_id = key_id_for(pack_kek_);
            pack_plan.kek = &pack_kek_;
        }
        pack_plan.settings = &pack;
        pack_plan.stages = &stage_plan;
        pack_plan.level = level;
        pack_plan.nominal_chunk_size = sizing;
        pack_plan.tuner = tuner.get();
        pack_plan.small_file_threshold = settings_.small_file_threshold;
        pack_plan.overwrite = overwrite;
        pack_plan.durable = settings_.durable;
        pack_plan.cancel = cancel_;
        result.chunk_size = sizing;
    } else {
        unpack_plan.secret = &secret;
        unpack_plan.stages = settings_.stages.get();
        unpack_plan.kek_cache = &kek_cache_;
        unpack_plan.overwrite = overwrite;
        unpack_plan.durable = settings_.durable;
        unpack_plan.cancel = cancel_;
        if (sizing < kMinChunkSize) sizing = 1024 * 1024;  // nothing readable: any size will do
    }

    using Kind = engine::FileEvent::Kind;
    JobScheduler scheduler(settings_.scheduler, settings_.large_file_threshold,
                           settings_.small_per_large);
    for (FileJob& job : jobs) {
        if (job.done) {  // failed while planning
            if (settings_.events) {
                settings_.events->post({Kind::kStarted, job.file->input, 0, 0, {}});
                settings_.events->post({Kind::kFailed, job.file->input, 0, 0, job.outcome->status});
            }
            if (files_failed_) files_failed_->add();
            continue;
        }
        scheduler.add(&job, job.planned_size);
    }
    BatchSource::Opener opener = [&](FileJob& job) {
        return op == BatchOp::kPack ? make_pack_work(pack_plan, job)
                                    : make_unpack_work(unpack_plan, job, op);
    };
    auto on_start = [this](FileJob& job) {
        if (settings_.events) {
            settings_.events->post({Kind::kStarted, job.file->input, 0, job.planned_size, {}});
        }
    };
    BatchSource source(scheduler, opener, any_stream, on_start);
    BatchTransform transform(tuner.get());
    CommitBatch commits(settings_.durable);
    BatchSink sink(commits, {settings_.events, files_ok_, files_failed_}, start);

    if (!scheduler.empty()) {
        engine::Pipeline* pipeline = nullptr;
        try {
            pipeline = &pipeline_for(sizing);
        } catch (const PipelineError& e) {
            result.run.status = e.status();
        }
        if (pipeline) result.run = pipeline->run(source, transform, sink, cancel_);
        sink.flush_commits();  // whatever completed waits for its rename
    }

    // Files the run never finished: cancelled, or the run itself failed. Their work goes now
    // (nothing runs any more), which removes any partial output.
    for (FileJob& job : jobs) {
        if (!job.done) {
            job.done = true;
            Status status = result.run.status;
            if (status.is_ok()) status = {StatusCode::kInternal, "file was not completed"};
            job.outcome->status = status;
            job.outcome->bytes_out = 0;
            if (settings_.events) {
                settings_.events->post(
                    {Kind::kFailed, job.file->input, 0, job.planned_size, status});
            }
            if (files_failed_) files_failed_->add();
        }
        job.work.reset();
    }
    // Each outcome carries the run only when it is the only file: a copy per file would cost
    // ~150 bytes a file for what BatchResult::run already says.
    if (files.size() == 1) result.files.front().run = result.run;
    if (files.size() == 1) result.files.front().fsyncs = commits.syncs();
    result.syncs = commits.syncs();
    if (tuner) {
        result.final_chunk_size = tuner->current();
        result.chunk_size_adjustments = tuner->adjustments();
    }
    result.seconds = seconds_since(start);
    return result;
}

FileOutcome ContainerJobs::pack(const std::string& input, const std::string& output,
                                const PackSettings& settings, const UserSecret& secret,
                                bool overwrite) {
    return run_batch(BatchOp::kPack, {{input, output}}, settings, secret, overwrite).files.front();
}

FileOutcome ContainerJobs::unpack(const std::string& input, const std::string& output,
                                  const UserSecret& secret, bool overwrite) {
    return run_batch(BatchOp::kUnpack, {{input, output}}, {}, secret, overwrite).files.front();
}

FileOutcome ContainerJobs::verify(const std::string& input, const UserSecret& secret) {
    return run_batch(BatchOp::kVerify, {{input, ""}}, {}, secret, false).files.front();
}

ContainerInfo ContainerJobs::inspect(const std::string& input, const UserSecret& secret) {
    FileHandle in = open_input(input);
    const struct stat st = stat_fd(in.fd());
    if (!S_ISREG(st.st_mode)) {
        throw PipelineError(StatusCode::kInvalidArgument,
                            "info needs a regular file, not a stream");
    }
    const std::vector<std::uint8_t> raw_header = read_header_bytes(in.fd(), true, cancel_);
    ContainerInfo info{
        authenticate_header(raw_header.data(), raw_header.size(), &secret, false, &kek_cache_),
        static_cast<std::uint64_t>(st.st_size),
        {},
        {}};
    if (info.container_size < info.opened.data_offset + kTrailerSize) {
        throw PipelineError(StatusCode::kCorruptData, "truncated: no trailer");
    }
    std::uint8_t raw_trailer[kTrailerSize];
    if (pread_full(in.fd(), raw_trailer, kTrailerSize, info.container_size - kTrailerSize) !=
        kTrailerSize) {
        throw PipelineError(StatusCode::kIoError, "file shrank while being read");
    }
    info.trailer = decode_trailer(raw_trailer);
    if (!info.opened.header.encrypted() || info.opened.keys) {
        info.footer = read_footer(in.fd(), info.container_size, info.opened);
    }
    return info;
}

}  // namespace tbbpipe::nodes
