#include "apps/commands.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/exit_codes.hpp"
#include "apps/file_walk.hpp"
#include "apps/json_writer.hpp"
#include "apps/live_report.hpp"
#include "apps/metrics_http.hpp"
#include "apps/secrets.hpp"
#include "apps/signals.hpp"
#include "nodes/container_jobs.hpp"
#include "nodes/file_io.hpp"
#include "nodes/storage_probe.hpp"

namespace tbbpipe::cli {
namespace {

struct FileReport {
    std::string input;
    std::string output;  // "" for verify
    nodes::FileOutcome outcome;
};

const char* command_name(Command c) {
    switch (c) {
        case Command::kPack: return "pack";
        case Command::kUnpack: return "unpack";
        case Command::kVerify: return "verify";
        case Command::kInfo: return "info";
        case Command::kKeygen: return "keygen";
        default: return "tbbpipe";
    }
}

std::string display_name(const std::string& path) {
    return path == "-" ? "(stdin)" : path;
}

void print_error(const std::string& file, const std::string& message) {
    std::cerr << "tbbpipe: " << file << ": " << message << '\n';
}

std::string human_bytes(std::uint64_t n) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(n);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

std::string file_line(const CliOptions& o, const FileReport& r) {
    std::ostringstream err;
    const auto& out = r.outcome;
    const double mb_s =
        out.seconds > 0 ? static_cast<double>(out.plaintext_bytes) / out.seconds / 1e6 : 0;
    char rate[64];
    std::snprintf(rate, sizeof rate, "%.2f s, %.0f MB/s", out.seconds, mb_s);
    err << display_name(r.input) << ": ";
    if (o.command == Command::kPack) {
        const double pct = out.bytes_in ? 100.0 * static_cast<double>(out.bytes_out) /
                                              static_cast<double>(out.bytes_in)
                                        : 0;
        char ratio[32];
        std::snprintf(ratio, sizeof ratio, "%.1f%%", pct);
        err << human_bytes(out.bytes_in) << " -> " << human_bytes(out.bytes_out) << " (" << ratio
            << ") in " << rate << " -> " << (r.output == "-" ? "(stdout)" : r.output);
    } else if (o.command == Command::kUnpack) {
        err << human_bytes(out.bytes_in) << " -> " << human_bytes(out.bytes_out) << " in " << rate
            << " -> " << (r.output == "-" ? "(stdout)" : r.output);
    } else {
        err << "OK (" << human_bytes(out.plaintext_bytes) << ", " << out.chunks
            << " chunks verified) in " << rate;
    }
    err << '\n';
    if (o.verbosity >= 2) {
        err << "  " << out.chunks << " chunks, done " << out.finished_after
            << " s after the start\n";
    }
    return err.str();
}

void json_outcome(JsonWriter& j, const FileReport& r) {
    const auto& out = r.outcome;
    j.begin_object().key("input").value(r.input);
    if (!r.output.empty()) j.key("output").value(r.output);
    j.key("status").value(out.status.is_ok() ? "ok" : status_code_name(out.status.code()));
    j.key("error");
    if (out.status.is_ok())
        j.null();
    else
        j.value(out.status.message());
    j.key("bytes_in").value(out.bytes_in).key("bytes_out").value(out.bytes_out);
    j.key("plaintext_bytes").value(out.plaintext_bytes).key("chunks").value(out.chunks);
    j.key("fsyncs").value(out.fsyncs);
    j.key("seconds").value(out.seconds);
    j.key("throughput_mb_s")
        .value(out.seconds > 0 ? static_cast<double>(out.plaintext_bytes) / out.seconds / 1e6
                               : 0.0);
    j.key("finished_after_seconds").value(out.finished_after);
    j.end_object();
}

void json_metrics(JsonWriter& j, const engine::MetricsSnapshot& snap) {
    j.key("metrics").begin_object();
    j.key("uptime_seconds").value(snap.uptime_seconds);
    for (const auto& m : snap.samples) {
        j.key(m.labels.empty() ? m.name : m.name + "{" + m.labels + "}");
        if (m.type == engine::MetricType::kHistogram) {
            const auto& h = m.histogram;
            j.begin_object()
                .key("count")
                .value(h.count)
                .key("sum_seconds")
                .value(h.sum)
                .key("p50")
                .value(h.percentile(0.50))
                .key("p95")
                .value(h.percentile(0.95))
                .key("p99")
                .value(h.percentile(0.99))
                .key("max")
                .value(h.max)
                .end_object();
        } else if (m.type == engine::MetricType::kGauge) {
            j.begin_object().key("value").value(m.value).key("max").value(m.max).end_object();
        } else {
            j.value(m.value);
        }
    }
    j.end_object();
}

std::uint64_t total_input_bytes(const std::vector<std::string>& inputs) {
    std::uint64_t total = 0;
    for (const auto& input : inputs) {
        struct stat st {};
        if (input != "-" && ::stat(input.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            total += static_cast<std::uint64_t>(st.st_size);
        }
    }
    return total;
}

// What the run as a whole used and observed, for --json and -v.
struct RunFacts {
    const nodes::BatchResult* batch = nullptr;
    nodes::EngineSettings engine;
    std::string io_tokens_from;  // "flag", "preset" or "device"
    nodes::IoDepthChoice storage;
    std::uint64_t peak_rss_bytes = 0;
    double buffer_reuse_rate = 0;
};

std::uint64_t peak_rss_bytes() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

const char* optimize_name(CliOptions::Optimize o) {
    switch (o) {
        case CliOptions::Optimize::kThroughput: return "throughput";
        case CliOptions::Optimize::kLatency: return "latency";
        case CliOptions::Optimize::kResources: return "resources";
        default: return "none";
    }
}

void json_engine(JsonWriter& j, const CliOptions& o, const RunFacts& f) {
    const auto& run = f.batch ? f.batch->run : engine::RunReport{};
    j.key("engine").begin_object();
    j.key("cpu_tokens").value(run.cpu_tokens);
    j.key("io_tokens").value(f.engine.io_tokens);
    j.key("io_tokens_from").value(f.io_tokens_from);
    j.key("storage").begin_object().key("type").value(
        std::string(nodes::storage_type_name(f.storage.type)));
    j.key("reason").value(f.storage.reason);
    j.key("devices").begin_array();
    std::set<std::string> listed;  // one entry per device, not per folder
    for (const auto& d : f.storage.probed) {
        if (!listed.insert(d.device.empty() ? d.path : d.device).second) continue;
        j.begin_object()
            .key("path")
            .value(d.path)
            .key("device")
            .value(d.device)
            .key("type")
            .value(std::string(nodes::storage_type_name(d.type)))
            .key("nr_requests")
            .value(d.nr_requests)
            .end_object();
    }
    j.end_array().end_object();
    j.key("memory_limit_bytes").value(static_cast<std::uint64_t>(f.engine.memory_budget));
    j.key("chunk_tokens").value(static_cast<std::uint64_t>(run.chunk_tokens));
    j.key("arena_threads").value(run.arena_threads);
    j.key("io_threads").value(run.io_threads);
    j.key("scheduler").value(std::string(nodes::scheduler_name(f.engine.scheduler)));
    j.key("optimize").value(optimize_name(o.optimize));
    if (o.command == Command::kPack) {
        j.key("chunk_size_mode").value(o.chunk_auto ? "auto" : "fixed");
        j.key("chunk_size").value(static_cast<std::uint64_t>(f.batch ? f.batch->chunk_size : 0));
        if (o.chunk_auto && f.batch) {
            j.key("chunk_size_final")
                .value(static_cast<std::uint64_t>(f.batch->final_chunk_size))
                .key("chunk_size_adjustments")
                .value(f.batch->chunk_size_adjustments);
        }
        j.key("small_file_threshold").value(f.engine.small_file_threshold);
    }
    j.key("max_chunks_in_flight").value(run.max_chunks_in_flight);
    j.key("max_reads_in_flight").value(run.max_reads_in_flight);
    j.key("max_transforms_in_flight").value(run.max_transforms_in_flight);
    j.key("tokens_outstanding").value(run.tokens_outstanding);
    j.key("buffer_reuse_rate").value(f.buffer_reuse_rate);
    j.key("durability_syncs").value(f.batch ? f.batch->syncs : 0);
    j.key("peak_rss_bytes").value(f.peak_rss_bytes);
    j.end_object();
}

// The end of a run: one JSON document on stdout (--json), or a totals line for several files.
void print_summary(const CliOptions& o, const std::vector<FileReport>& reports,
                   const engine::MetricsSnapshot& metrics, const RunFacts& facts, double wall,
                   int exit_code) {
    std::uint64_t in = 0, out = 0, plain = 0;
    std::size_t failed = 0;
    for (const auto& r : reports) {
        in += r.outcome.bytes_in;
        out += r.outcome.bytes_out;
        plain += r.outcome.plaintext_bytes;
        failed += r.outcome.status.is_ok() ? 0 : 1;
    }
    const double rate = wall > 0 ? static_cast<double>(plain) / wall / 1e6 : 0.0;
    if (o.json) {
        JsonWriter j;
        j.begin_object().key("command").value(command_name(o.command));
        j.key("files").begin_array();
        for (const auto& r : reports) json_outcome(j, r);
        j.end_array();
        j.key("totals")
            .begin_object()
            .key("files")
            .value(static_cast<std::uint64_t>(reports.size()))
            .key("failed")
            .value(static_cast<std::uint64_t>(failed))
            .key("bytes_in")
            .value(in)
            .key("bytes_out")
            .value(out)
            .key("seconds")
            .value(wall)
            .key("ratio")
            .value(in ? static_cast<double>(out) / static_cast<double>(in) : 0.0)
            .key("throughput_mb_s")
            .value(rate)
            .end_object();
        json_engine(j, o, facts);
        json_metrics(j, metrics);
        j.key("exit_code").value(exit_code).end_object();
        std::cout << j.str() << '\n';
    } else if (o.verbosity > 0) {
        if (o.verbosity >= 2 && facts.batch) {
            const auto& run = facts.batch->run;
            std::cerr << "engine: cpu tokens " << run.cpu_tokens << ", io tokens " << run.io_tokens
                      << " (" << facts.io_tokens_from << ": " << facts.storage.reason
                      << "), chunk tokens " << run.chunk_tokens << "; max in flight: chunks "
                      << run.max_chunks_in_flight << ", reads " << run.max_reads_in_flight
                      << ", transforms " << run.max_transforms_in_flight << "; scheduler "
                      << nodes::scheduler_name(facts.engine.scheduler) << "; peak RSS "
                      << human_bytes(facts.peak_rss_bytes) << '\n';
        }
        if (reports.size() < 2) return;
        char line[200];
        if (o.command == Command::kVerify) {  // writes nothing: no "-> 0 B"
            std::snprintf(line, sizeof line,
                          "%zu files, %zu failed; %s verified (%s of plaintext) in %.2f s, %.0f "
                          "MB/s\n",
                          reports.size(), failed, human_bytes(in).c_str(),
                          human_bytes(plain).c_str(), wall, rate);
        } else {
            std::snprintf(line, sizeof line,
                          "%zu files, %zu failed; %s -> %s (%.1f%%) in %.2f s, %.0f MB/s\n",
                          reports.size(), failed, human_bytes(in).c_str(), human_bytes(out).c_str(),
                          in ? 100.0 * static_cast<double>(out) / static_cast<double>(in) : 0.0,
                          wall, rate);
        }
        std::cerr << line;
    }
}

// The folders a run reads and writes, for the device probe: one path per distinct folder.
std::vector<std::string> probe_paths(const std::vector<nodes::BatchFile>& files) {
    std::set<std::string> folders;
    auto folder_of = [](const std::string& path) {
        const auto slash = path.rfind('/');
        return slash == std::string::npos ? std::string(".") : path.substr(0, slash + 1);
    };
    for (const auto& f : files) {
        if (f.input != "-") folders.insert(folder_of(f.input));
        if (!f.output.empty() && f.output != "-") folders.insert(folder_of(f.output));
    }
    return {folders.begin(), folders.end()};
}

nodes::PackSettings pack_settings(const CliOptions& o) {
    nodes::PackSettings settings;
    settings.compression = o.compression;
    settings.level = o.level;
    settings.cipher = o.cipher;
    settings.stages = o.stages;
    settings.chunk_size = o.chunk_size;
    settings.adaptive_chunk_size = o.chunk_auto;
    settings.scrypt.log2_n = o.scrypt_log2_n;
    return settings;
}

// pack, unpack, verify: every file of the run through one graph.
int run_transfer(const CliOptions& o, const std::atomic<bool>* cancel) {
    const auto wall_start = std::chrono::steady_clock::now();
    const bool packing = o.command == Command::kPack;
    std::string warning;
    const nodes::UserSecret secret = load_secret(o, packing, &warning);
    if (packing) {
        try {  // a spec's cipher and the secret must agree: known only now
            (void)nodes::pack_stage_plan(pack_settings(o), secret, *o.stage_registry);
        } catch (const PipelineError& e) {
            throw UsageError(std::string("--stages: ") + e.what());
        }
    }
    if (!warning.empty() && o.verbosity > 0) std::cerr << "tbbpipe: warning: " << warning << '\n';

    WalkResult walk = plan_files(o);
    if (o.verbosity > 0) {
        for (const auto& w : walk.warnings) std::cerr << "tbbpipe: warning: " << w << '\n';
    }
    std::vector<FileReport> reports;
    int exit_code = kExitOk;
    for (const auto& error : walk.errors) {  // reported with the files' outcomes below
        FileReport r{error.path, "", {}};
        r.outcome.status = {
            error.usage ? StatusCode::kInvalidArgument : StatusCode::kFailedPrecondition,
            error.message};
        reports.push_back(std::move(r));
    }

    // Terminal checks and output folders, per file: a file that cannot start fails alone.
    std::vector<nodes::BatchFile> batch;
    std::vector<std::size_t> batch_report;  // batch index -> reports index
    for (const PlannedFile& f : walk.files) {
        FileReport report{f.input, f.output, {}};
        try {
            if (f.input == "-" && ::isatty(STDIN_FILENO)) {
                throw UsageError("refusing to read from a terminal (give a file or a pipe)");
            }
            if (packing && f.output == "-" && ::isatty(STDOUT_FILENO)) {
                throw UsageError("refusing to write binary data to a terminal (use -o or a pipe)");
            }
            if (!f.output_root.empty()) nodes::make_folders(f.output_root, f.relative_folder);
        } catch (const UsageError& e) {
            report.outcome.status = {StatusCode::kInvalidArgument, e.what()};
        } catch (const PipelineError& e) {
            report.outcome.status = e.status();
        }
        if (report.outcome.status.is_ok()) {
            batch_report.push_back(reports.size());
            batch.push_back({f.input, f.output});
        }
        reports.push_back(std::move(report));
    }
    std::vector<PlannedFile>().swap(walk.files);  // the batch has what it needs: ~200 B a file

    engine::MetricsRegistry registry;
    RunFacts facts;
    nodes::EngineSettings& engine = facts.engine;
    engine.cpu_tokens = o.threads;
    if (o.io_tokens > 0) {
        engine.io_tokens = o.io_tokens;
        facts.io_tokens_from = o.optimize == CliOptions::Optimize::kResources ? "preset" : "flag";
        facts.storage.type = o.storage_type;
        facts.storage.reason = "--io-tokens given";
    } else {
        // TBBPIPE_SYSFS_ROOT points the device probe at a fake /sys (the tests' fake devices).
        const char* sysfs = std::getenv("TBBPIPE_SYSFS_ROOT");
        facts.storage = nodes::choose_io_depth(probe_paths(batch), o.storage_type,
                                               sysfs && *sysfs ? sysfs : "/sys");
        engine.io_tokens = facts.storage.io_tokens;
        facts.io_tokens_from = o.storage_type == nodes::StorageType::kAuto ? "device" : "flag";
    }
    engine.memory_budget = o.memory_limit ? o.memory_limit : nodes::default_memory_limit();
    engine.durable = o.fsync;
    engine.scheduler = o.scheduler;
    engine.small_file_threshold = o.small_file_threshold;
    engine.metrics = &registry;
    engine.stages = o.stage_registry;
    nodes::ContainerJobs jobs(engine, cancel);

    // Started before any file, stopped after the last: the endpoint lives exactly as long as the
    // run.
    std::unique_ptr<MetricsHttpServer> http;
    if (o.metrics_listen) {
        try {
            http = std::make_unique<MetricsHttpServer>(
                *o.metrics_listen, o.metrics_listen_any,
                [&registry] { return engine::to_prometheus_text(registry.snapshot()); });
        } catch (const std::runtime_error& e) {
            if (dynamic_cast<const UsageError*>(&e)) throw;
            std::cerr << "tbbpipe: " << e.what() << '\n';
            return kExitFailed;
        }
        if (o.verbosity > 0) {
            std::cerr << "tbbpipe: serving metrics on http://"
                      << o.metrics_listen->substr(0, o.metrics_listen->rfind(':')) << ':'
                      << http->port() << "/metrics\n";
        }
    }
    LiveReportOptions live_options;
    live_options.terminal = ::isatty(STDERR_FILENO) != 0;
    live_options.progress = o.progress == CliOptions::Progress::kOn ||
                            (o.progress == CliOptions::Progress::kAuto && live_options.terminal);
    live_options.dashboard_interval_ms = o.metrics_interval_ms;
    live_options.metrics_file = o.metrics_file;
    std::vector<std::string> inputs;
    inputs.reserve(batch.size());
    for (const auto& f : batch) inputs.push_back(f.input);
    LiveReport live(live_options, registry, total_input_bytes(inputs), batch.size());
    const nodes::PackSettings settings = pack_settings(o);

    const nodes::BatchOp op = packing                         ? nodes::BatchOp::kPack
                              : o.command == Command::kUnpack ? nodes::BatchOp::kUnpack
                                                              : nodes::BatchOp::kVerify;
    nodes::BatchResult result;
    if (!batch.empty()) result = jobs.run_batch(op, batch, settings, secret, o.force);
    facts.batch = &result;
    if (jobs.last_pipeline()) facts.buffer_reuse_rate = jobs.last_pipeline()->buffer_reuse_rate();

    // --rm: unpack verified every chunk before its rename; pack re-reads what it wrote first.
    std::vector<std::size_t> removable;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (result.files[i].status.is_ok() && o.remove_input && batch[i].input != "-") {
            removable.push_back(i);
        }
    }
    if (!removable.empty() && !interrupted()) {
        std::vector<nodes::BatchFile> checks;
        checks.reserve(removable.size());
        for (std::size_t i : removable) checks.push_back({batch[i].output, ""});
        const nodes::BatchResult verified =
            packing ? jobs.run_batch(nodes::BatchOp::kVerify, checks, settings, secret, false)
                    : nodes::BatchResult{};
        for (std::size_t k = 0; k < removable.size(); ++k) {
            nodes::FileOutcome& outcome = result.files[removable[k]];
            const Status check = packing ? verified.files[k].status : Status::ok();
            if (!check.is_ok()) {
                outcome.status = {check.code(),
                                  "output failed verification, input kept: " + check.message()};
            } else if (::unlink(batch[removable[k]].input.c_str()) != 0) {
                outcome.status = {StatusCode::kIoError,
                                  std::string("cannot remove input: ") + std::strerror(errno)};
            }
        }
    }

    for (std::size_t i = 0; i < batch.size(); ++i) {
        FileReport& report = reports[batch_report[i]];
        report.outcome = std::move(result.files[i]);
    }
    for (const FileReport& report : reports) {
        const Status& status = report.outcome.status;
        if (!status.is_ok()) {
            live.emit("tbbpipe: " + display_name(report.input) + ": " + status.message() + "\n");
            exit_code = worst_exit(exit_code, exit_code_for(status.code()));
        } else if (o.verbosity > 0 && !o.json) {
            live.emit(file_line(o, report));
        }
        live.file_done();
    }
    facts.peak_rss_bytes = peak_rss_bytes();
    registry.gauge("tbbpipe_peak_rss_bytes", "Peak resident set size of the process so far (VmHWM)")
        .set(static_cast<std::int64_t>(facts.peak_rss_bytes));
    try {
        live.stop();  // writes the final metrics file, peak RSS included
    } catch (const PipelineError& e) {
        print_error(*o.metrics_file, e.what());
        exit_code = worst_exit(exit_code, kExitFailed);
    }
    http.reset();
    if (interrupted()) exit_code = kExitInterrupted;

    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    print_summary(o, reports, registry.snapshot(), facts, wall, exit_code);
    return exit_code;
}

std::string format_time(std::int64_t sec) {
    const std::time_t t = static_cast<std::time_t>(sec);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int run_info(const CliOptions& o, const std::atomic<bool>* cancel) {
    std::string warning;
    const nodes::UserSecret secret = load_secret(o, false, &warning);
    if (!warning.empty() && o.verbosity > 0) std::cerr << "tbbpipe: warning: " << warning << '\n';
    nodes::ContainerJobs jobs({}, cancel);
    int exit_code = kExitOk;
    JsonWriter j;
    if (o.json) j.begin_array();
    for (const std::string& input : o.inputs) {
        nodes::ContainerInfo info;
        try {
            info = jobs.inspect(input, secret);
        } catch (const PipelineError& e) {
            print_error(display_name(input), e.what());
            exit_code = worst_exit(exit_code, exit_code_for(e.code()));
            continue;
        }
        const nodes::Header& h = info.opened.header;
        const auto* f = info.footer ? &*info.footer : nullptr;
        const double ratio = f && f->original_size ? static_cast<double>(info.container_size) /
                                                         static_cast<double>(f->original_size)
                                                   : 0.0;
        if (o.json) {
            j.begin_object().key("path").value(input).key("format_version").value(1);
            j.key("container_bytes").value(info.container_size);
            j.key("compression").value(nodes::compression_name(h.compression));
            j.key("level").value(static_cast<int>(h.level));
            j.key("cipher").value(nodes::cipher_name(h.cipher));
            j.key("stages").value(info.opened.stages.spec);
            j.key("stages_recorded").value(info.opened.stages_recorded);
            j.key("hash").value("sha-256");
            j.key("kdf").value(nodes::kdf_name(h.kdf));
            if (h.kdf == nodes::KdfId::kScrypt) {
                j.key("scrypt")
                    .begin_object()
                    .key("log2_n")
                    .value(static_cast<int>(h.scrypt.log2_n))
                    .key("r")
                    .value(static_cast<int>(h.scrypt.r))
                    .key("p")
                    .value(static_cast<int>(h.scrypt.p))
                    .end_object();
            }
            j.key("chunk_size").value(static_cast<std::uint64_t>(h.chunk_size));
            j.key("chunk_count").value(info.trailer.chunk_count);
            j.key("header_digest").value(nodes::to_hex(info.opened.header_digest.data(), 32));
            j.key("authenticated").value(f != nullptr);
            if (f) {
                j.key("original_bytes").value(f->original_size).key("ratio").value(ratio);
                j.key("name").value(f->name).key("mode").value(static_cast<std::uint64_t>(f->mode));
                j.key("mtime").value(format_time(f->mtime_sec));
                j.key("root_digest").value(nodes::to_hex(f->root.data(), 32));
                j.key("chunks").begin_array();
                for (std::size_t i = 0; i < f->entries.size(); ++i) {
                    const auto& e = f->entries[i];
                    j.begin_object()
                        .key("index")
                        .value(static_cast<std::uint64_t>(i))
                        .key("offset")
                        .value(e.offset)
                        .key("raw_size")
                        .value(static_cast<std::uint64_t>(e.raw_size))
                        .key("stored_size")
                        .value(static_cast<std::uint64_t>(e.stored_size))
                        .key("compressed")
                        .value((e.flags & nodes::kFlagCompressed) != 0)
                        .key("sha256")
                        .value(nodes::to_hex(e.digest.data(), 32))
                        .end_object();
                }
                j.end_array();
            } else {
                j.key("note").value("encrypted: give the key to read the index");
            }
            j.end_object();
            continue;
        }
        std::cout << input << ":\n"
                  << "  format:        tbbpipe v1, " << info.container_size << " bytes\n"
                  << "  compression:   " << nodes::compression_name(h.compression) << " (level "
                  << int(h.level) << ")\n"
                  << "  cipher:        " << nodes::cipher_name(h.cipher)
                  << " (key: " << nodes::kdf_name(h.kdf) << ")\n"
                  << "  stages:        " << info.opened.stages.spec
                  << (info.opened.stages_recorded ? " (recorded)" : "") << "\n"
                  << "  chunk size:    " << h.chunk_size << " bytes, " << info.trailer.chunk_count
                  << " chunks\n";
        if (f) {
            char r[32];
            std::snprintf(r, sizeof r, "%.3f", ratio);
            std::cout << "  original:      " << f->original_size << " bytes (" << f->name
                      << ", mode " << std::oct << f->mode << std::dec << ", mtime "
                      << format_time(f->mtime_sec) << ")\n"
                      << "  ratio:         " << r << " (container / original)\n"
                      << "  root digest:   " << nodes::to_hex(f->root.data(), 32) << '\n';
            if (o.verbosity >= 2) {
                for (std::size_t i = 0; i < f->entries.size(); ++i) {
                    const auto& e = f->entries[i];
                    std::cout << "  chunk " << i << ": offset " << e.offset << ", raw "
                              << e.raw_size << ", stored " << e.stored_size
                              << ((e.flags & nodes::kFlagCompressed) ? ", lz4" : ", raw")
                              << ", sha256 " << nodes::to_hex(e.digest.data(), 32) << '\n';
                }
            }
        } else {
            std::cout << "  index:         encrypted (give the key to read it)\n";
        }
    }
    if (o.json) {
        j.end_array();
        std::cout << j.str() << '\n';
    }
    return exit_code;
}

}  // namespace

int run_command(const CliOptions& o, const std::atomic<bool>* cancel) {
    switch (o.command) {
        case Command::kPack:
        case Command::kUnpack:
        case Command::kVerify: return run_transfer(o, cancel);
        case Command::kInfo: return run_info(o, cancel);
        case Command::kKeygen: {
            const std::string path = o.to_stdout ? "-" : o.output.value_or("-");
            try {
                write_new_key(path, o.force);
            } catch (const PipelineError& e) {
                print_error(path, e.what());
                return exit_code_for(e.code()) == kExitUsage ? kExitUsage : kExitFailed;
            }
            if (path != "-" && o.verbosity > 0)
                std::cerr << "tbbpipe: wrote a new key to " << path << '\n';
            return kExitOk;
        }
        default: return kExitUsage;
    }
}

}  // namespace tbbpipe::cli
