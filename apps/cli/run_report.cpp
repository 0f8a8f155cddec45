#include "run_report.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>

#include "common/text_escape.hpp"
#include "json_report.hpp"

namespace tbbpipe::cli {
namespace {

// A path as a terminal line shows it: standard input by name, control characters escaped.
std::string display_name(const std::string& path) {
    return path == "-" ? "(stdin)" : printable(path);
}

// "in 1.52 s, 640 MB/s": the time, and the rate when it means something. A run too short to
// time (under 10 ms) or a rate under 0.1 MB/s says no rate rather than "0 MB/s"; below 10 MB/s
// it keeps a decimal.
std::string timing(std::uint64_t bytes, double seconds) {
    char text[64];
    const double mb_s = seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0;
    if (seconds < 0.01 || mb_s < 0.1) {
        std::snprintf(text, sizeof text, "in %.2f s", seconds);
    } else {
        std::snprintf(text, sizeof text,
                      mb_s < 10 ? "in %.2f s, %.1f MB/s" : "in %.2f s, %.0f MB/s", seconds, mb_s);
    }
    return text;
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

std::string utc_time(std::int64_t seconds) {
    const auto t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::optional<ChunkSizes> chunk_sizes(const std::vector<ChunkInfo>& chunks) {
    if (chunks.empty()) return std::nullopt;
    std::vector<std::uint32_t> sizes;
    sizes.reserve(chunks.size());
    for (const ChunkInfo& c : chunks) sizes.push_back(c.raw_size);
    std::sort(sizes.begin(), sizes.end());
    return ChunkSizes{sizes.front(), sizes[sizes.size() / 2], sizes.back()};
}

std::string file_line(const CliOptions& o, const FileReport& r) {
    std::ostringstream err;
    const auto& out = r.result;
    const std::string rate = timing(out.plaintext_bytes, out.seconds);
    err << display_name(r.input) << ": ";
    if (o.command == Command::kPack) {
        const double pct = out.bytes_in ? 100.0 * static_cast<double>(out.bytes_out) /
                                              static_cast<double>(out.bytes_in)
                                        : 0;
        char ratio[32];
        std::snprintf(ratio, sizeof ratio, "%.1f%%", pct);
        err << human_bytes(out.bytes_in) << " -> " << human_bytes(out.bytes_out) << " (" << ratio
            << ") " << rate << " -> " << (r.output == "-" ? "(stdout)" : printable(r.output));
    } else if (o.command == Command::kUnpack) {
        err << human_bytes(out.bytes_in) << " -> " << human_bytes(out.bytes_out) << " " << rate
            << " -> " << (r.output == "-" ? "(stdout)" : printable(r.output));
    } else {
        err << "OK (" << human_bytes(out.plaintext_bytes) << ", " << out.chunks
            << " chunks verified) " << rate;
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
    if (o.json) {
        std::cout << json_text(run_document(o, reports, metrics, facts, wall, exit_code)) << '\n';
    } else if (o.says_notes()) {
        if (o.says_details() && facts.job) {
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
        if (o.says_details()) {
            for (const RankFacts& r : facts.ranks) {
                std::cerr << "rank " << r.rank << ": " << r.files << " files in " << r.batches
                          << " batches, " << human_bytes(r.bytes_in) << " in; busy "
                          << r.busy_seconds << " s, waiting " << r.wait_seconds << " s; "
                          << r.messages_sent << " messages; max in flight: chunks "
                          << r.stats.max_chunks_in_flight << ", reads "
                          << r.stats.max_reads_in_flight << ", transforms "
                          << r.stats.max_transforms_in_flight << "; peak RSS "
                          << human_bytes(r.stats.peak_rss_bytes) << '\n';
            }
        }
        if (reports.size() < 2) return;
        char line[200];
        if (o.command == Command::kVerify) {  // writes nothing: no "-> 0 B"
            std::snprintf(line, sizeof line,
                          "%zu files, %zu failed; %s verified (%s of plaintext) %s\n",
                          reports.size(), failed, human_bytes(in).c_str(),
                          human_bytes(plain).c_str(), timing(plain, wall).c_str());
        } else {
            std::snprintf(line, sizeof line, "%zu files, %zu failed; %s -> %s (%.1f%%) %s\n",
                          reports.size(), failed, human_bytes(in).c_str(), human_bytes(out).c_str(),
                          in ? 100.0 * static_cast<double>(out) / static_cast<double>(in) : 0.0,
                          timing(plain, wall).c_str());
        }
        std::cerr << line;
    }
}

}  // namespace tbbpipe::cli
