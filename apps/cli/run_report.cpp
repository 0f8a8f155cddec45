#include "run_report.hpp"

#include <cstdio>
#include <iostream>
#include <set>
#include <sstream>

#include "common/json_writer.hpp"
#include "common/text_escape.hpp"

namespace tbbpipe::cli {
namespace {

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

// A path as a terminal line shows it: standard input by name, control characters escaped.
std::string display_name(const std::string& path) {
    return path == "-" ? "(stdin)" : printable(path);
}

void json_outcome(JsonWriter& j, const FileReport& r) {
    const auto& out = r.result;
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
    j.key("fsyncs").value(out.syncs);
    j.key("seconds").value(out.seconds);
    j.key("throughput_mb_s")
        .value(out.seconds > 0 ? static_cast<double>(out.plaintext_bytes) / out.seconds / 1e6
                               : 0.0);
    j.key("finished_after_seconds").value(out.finished_after);
    j.key("warnings").begin_array();
    for (const std::string& w : out.warnings) j.value(w);
    j.end_array();
    j.end_object();
}

void json_sets(JsonWriter& j, const RunFacts& facts) {
    j.key("sets").begin_array();
    if (facts.job) {
        for (const SetReport& set : facts.job->sets) {
            j.begin_object().key("root").value(set.root);
            j.key("manifest").value(set.manifest);
            j.key("error");
            if (set.status.is_ok()) {
                j.null();
            } else {
                j.value(set.status.message());
            }
            j.key("missing").begin_array();
            for (const std::string& path : set.missing) j.value(path);
            j.end_array().end_object();
        }
    }
    j.end_array();
}

void json_metrics(JsonWriter& j, const MetricsSnapshot& snap) {
    j.key("metrics").begin_object();
    j.key("uptime_seconds").value(snap.uptime_seconds);
    for (const auto& m : snap.samples) {
        j.key(m.labels.empty() ? m.name : m.name + "{" + m.labels + "}");
        if (m.type == MetricType::kHistogram) {
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
        } else if (m.type == MetricType::kGauge) {
            j.begin_object().key("value").value(m.value).key("max").value(m.max).end_object();
        } else {
            j.value(m.value);
        }
    }
    j.end_object();
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
    const RunStats run = f.job ? f.job->stats : RunStats{};
    j.key("engine").begin_object();
    j.key("cpu_tokens").value(run.cpu_tokens);
    j.key("io_tokens").value(f.config.io_tokens);
    j.key("io_tokens_from").value(f.io_tokens_from);
    j.key("storage").begin_object().key("type").value(
        std::string(storage_type_name(f.storage.type)));
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
            .value(std::string(storage_type_name(d.type)))
            .key("nr_requests")
            .value(d.nr_requests)
            .end_object();
    }
    j.end_array().end_object();
    j.key("memory_limit_bytes").value(static_cast<std::uint64_t>(run.memory_limit));
    j.key("chunk_tokens").value(static_cast<std::uint64_t>(run.chunk_tokens));
    j.key("arena_threads").value(run.arena_threads);
    j.key("io_threads").value(run.io_threads);
    j.key("scheduler").value(scheduler_name(f.config.scheduler));
    j.key("optimize").value(optimize_name(o.optimize));
    if (o.command == Command::kPack) {
        const bool adaptive = o.pack.chunk_size == 0;
        j.key("chunk_size_mode").value(adaptive ? "auto" : "fixed");
        j.key("chunk_size").value(static_cast<std::uint64_t>(run.chunk_size));
        if (adaptive && f.job) {
            j.key("chunk_size_final")
                .value(static_cast<std::uint64_t>(run.final_chunk_size))
                .key("chunk_size_adjustments")
                .value(run.chunk_size_adjustments);
        }
        j.key("small_file_threshold").value(f.config.small_file_threshold);
    }
    j.key("max_chunks_in_flight").value(run.max_chunks_in_flight);
    j.key("max_reads_in_flight").value(run.max_reads_in_flight);
    j.key("max_transforms_in_flight").value(run.max_transforms_in_flight);
    j.key("tokens_outstanding").value(run.tokens_outstanding);
    j.key("buffer_reuse_rate").value(run.buffer_reuse_rate);
    j.key("durability_syncs").value(run.syncs);
    j.key("peak_rss_bytes").value(run.peak_rss_bytes);
    j.key("reads_inline").value(run.reads_inline);
    j.key("reads_handed_off").value(run.reads_handed_off);
    j.key("writes_inline").value(run.writes_inline);
    j.key("writes_handed_off").value(run.writes_handed_off);
    j.end_object();
}

}  // namespace

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
    const auto& out = r.result;
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
            << ") in " << rate << " -> " << (r.output == "-" ? "(stdout)" : printable(r.output));
    } else if (o.command == Command::kUnpack) {
        err << human_bytes(out.bytes_in) << " -> " << human_bytes(out.bytes_out) << " in " << rate
            << " -> " << (r.output == "-" ? "(stdout)" : printable(r.output));
    } else {
        err << "OK (" << human_bytes(out.plaintext_bytes) << ", " << out.chunks
            << " chunks verified) in " << rate;
    }
    err << '\n';
    if (o.says_details()) {
        err << "  " << out.chunks << " chunks, done " << out.finished_after
            << " s after the start\n";
    }
    return err.str();
}

void print_summary(const CliOptions& o, const std::vector<FileReport>& reports,
                   const MetricsSnapshot& metrics, const RunFacts& facts, double wall,
                   int exit_code) {
    std::uint64_t in = 0, out = 0, plain = 0;
    std::size_t failed = 0;
    for (const auto& r : reports) {
        in += r.result.bytes_in;
        out += r.result.bytes_out;
        plain += r.result.plaintext_bytes;
        failed += r.result.status.is_ok() ? 0 : 1;
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
        json_sets(j, facts);
        json_engine(j, o, facts);
        json_metrics(j, metrics);
        j.key("exit_code").value(exit_code).end_object();
        std::cout << j.str() << '\n';
    } else if (o.says_notes()) {
        if (o.says_files() && facts.job) {
            const RunStats& run = facts.job->stats;
            std::cerr << "engine: cpu tokens " << run.cpu_tokens << ", io tokens " << run.io_tokens
                      << " (" << facts.io_tokens_from << ": " << printable(facts.storage.reason)
                      << "), chunk tokens " << run.chunk_tokens << "; max in flight: chunks "
                      << run.max_chunks_in_flight << ", reads " << run.max_reads_in_flight
                      << ", transforms " << run.max_transforms_in_flight << "; scheduler "
                      << scheduler_name(facts.config.scheduler) << "; peak RSS "
                      << human_bytes(run.peak_rss_bytes) << "; on the CPU threads / handed to "
                      << "I/O threads: reads " << run.reads_inline << "/" << run.reads_handed_off
                      << ", writes " << run.writes_inline << "/" << run.writes_handed_off << '\n';
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

}  // namespace tbbpipe::cli
