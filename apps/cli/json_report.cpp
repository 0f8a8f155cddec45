#include "json_report.hpp"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "exit_codes.hpp"

namespace tbbpipe::cli {
namespace {

// The rule of docs/JSON.md: a ratio is container bytes / original bytes, null when there is no
// original; a throughput is original (plaintext) bytes per second, in MB/s.
Json ratio(std::uint64_t container, std::uint64_t original) {
    return original ? Json(static_cast<double>(container) / static_cast<double>(original))
                    : Json(nullptr);
}

Json throughput(std::uint64_t original, double seconds) {
    return seconds > 0 ? Json(static_cast<double>(original) / seconds / 1e6) : Json(nullptr);
}

// The fields every file entry starts with, whatever the command.
Json file_head(const std::string& path, const Status& status) {
    Json file = Json::object();
    put_name(file, "path", path);
    file["status"] = status.is_ok() ? "ok" : status_code_name(status.code());
    file["exit_code"] = exit_code_for(status.code());
    file["error"] = status.is_ok() ? Json(nullptr) : Json(status.message());
    return file;
}

struct Totals {
    std::uint64_t files = 0, failed = 0, original = 0, container = 0;
    void add(bool ok, std::uint64_t original_bytes, std::uint64_t container_bytes) {
        ++files;
        failed += ok ? 0 : 1;
        original += original_bytes;
        container += container_bytes;
    }
    Json json(double wall, bool run) const {
        return {{"files", files},
                {"ok", files - failed},
                {"failed", failed},
                {"original_bytes", original},
                {"container_bytes", container},
                {"ratio", ratio(container, original)},
                {"seconds", wall},
                {"throughput_mb_s", run ? throughput(original, wall) : Json(nullptr)}};
    }
};

Json document(Command command, int exit_code, Json files, Json totals) {
    return {{"command", command_name(command)},
            {"exit_code", exit_code},
            {"error", nullptr},
            {"files", std::move(files)},
            {"totals", std::move(totals)}};
}

Json run_file(const CliOptions& o, const FileReport& r) {
    const FileResult& out = r.result;
    Json file = file_head(r.input, out.status);
    if (r.output.empty()) {
        file["output"] = nullptr;
    } else {
        put_name(file, "output", r.output);
    }
    const std::uint64_t container = o.command == Command::kPack ? out.bytes_out : out.bytes_in;
    file["original_bytes"] = out.plaintext_bytes;
    file["container_bytes"] = container;
    file["ratio"] = ratio(container, out.plaintext_bytes);
    file["chunks"] = out.chunks;
    file["seconds"] = out.seconds;
    file["throughput_mb_s"] = throughput(out.plaintext_bytes, out.seconds);
    file["finished_after_seconds"] = out.finished_after;
    file["fsyncs"] = out.syncs;
    file["warnings"] = out.warnings;
    return file;
}

Json sets_json(const RunFacts& facts) {
    Json sets = Json::array();
    if (!facts.job) return sets;
    for (const SetReport& set : facts.job->sets) {
        Json s = Json::object();
        put_name(s, "root", set.root);
        s["manifest"] = set.manifest;
        s["status"] = set.status.is_ok() ? "ok" : status_code_name(set.status.code());
        s["error"] = set.status.is_ok() ? Json(nullptr) : Json(set.status.message());
        Json missing = Json::array();
        for (const std::string& path : set.missing) {
            Json m = Json::object();
            put_name(m, "path", path);
            missing.push_back(std::move(m));
        }
        s["missing"] = std::move(missing);
        sets.push_back(std::move(s));
    }
    return sets;
}

// A metric's value: counts and bytes are whole numbers held in doubles; written as integers
// they read as what they are ("12", not "12.0"). Anything else stays a number with a fraction.
Json number(double v) {
    if (v >= 0 && v < 9007199254740992.0 &&
        v == static_cast<double>(static_cast<std::uint64_t>(v))) {
        return static_cast<std::uint64_t>(v);
    }
    return v;
}

Json metrics_json(const MetricsSnapshot& snap) {
    Json metrics = {{"uptime_seconds", snap.uptime_seconds}};
    for (const auto& m : snap.samples) {
        const std::string key = m.labels.empty() ? m.name : m.name + "{" + m.labels + "}";
        if (m.type == MetricType::kHistogram) {
            const auto& h = m.histogram;
            metrics[key] = {{"count", h.count},          {"sum", h.sum},
                            {"p50", h.percentile(0.50)}, {"p95", h.percentile(0.95)},
                            {"p99", h.percentile(0.99)}, {"max", h.max}};
        } else if (m.type == MetricType::kGauge) {
            metrics[key] = {{"value", number(m.value)}, {"max", number(m.max)}};
        } else {
            metrics[key] = number(m.value);
        }
    }
    return metrics;
}

const char* optimize_name(CliOptions::Optimize o) {
    switch (o) {
        case CliOptions::Optimize::kThroughput: return "throughput";
        case CliOptions::Optimize::kLatency: return "latency";
        case CliOptions::Optimize::kResources: return "resources";
        default: return "none";
    }
}

Json storage_json(const IoDepthChoice& storage) {
    Json devices = Json::array();
    std::set<std::string> listed;  // one entry per device, not per folder
    for (const auto& d : storage.probed) {
        if (!listed.insert(d.device.empty() ? d.path : d.device).second) continue;
        Json device = Json::object();
        put_name(device, "path", d.path);
        device["device"] = d.device;
        device["type"] = std::string(storage_type_name(d.type));
        device["nr_requests"] = d.nr_requests;
        devices.push_back(std::move(device));
    }
    return {{"type", std::string(storage_type_name(storage.type))},
            {"reason", storage.reason},
            {"devices", std::move(devices)}};
}

Json engine_json(const CliOptions& o, const RunFacts& f) {
    const RunStats run = f.job ? f.job->stats : RunStats{};
    Json e = {{"cpu_tokens", run.cpu_tokens},
              {"io_tokens", f.config.io_tokens},
              {"io_tokens_from", f.io_tokens_from},
              {"storage", storage_json(f.storage)},
              {"memory_limit_bytes", static_cast<std::uint64_t>(run.memory_limit)},
              {"chunk_tokens", static_cast<std::uint64_t>(run.chunk_tokens)},
              {"arena_threads", run.arena_threads},
              {"io_threads", run.io_threads},
              {"scheduler", scheduler_name(f.config.scheduler)},
              {"optimize", optimize_name(o.optimize)}};
    if (o.command == Command::kPack) {
        const bool adaptive = o.pack.chunk_size == 0;
        e["chunk_size_mode"] = adaptive ? "auto" : "fixed";
        e["chunk_size"] = static_cast<std::uint64_t>(run.chunk_size);
        if (adaptive && f.job) {
            e["chunk_size_final"] = static_cast<std::uint64_t>(run.final_chunk_size);
            e["chunk_size_adjustments"] = run.chunk_size_adjustments;
        }
        e["small_file_threshold"] = f.config.small_file_threshold;
    }
    e["max_chunks_in_flight"] = run.max_chunks_in_flight;
    e["max_reads_in_flight"] = run.max_reads_in_flight;
    e["max_transforms_in_flight"] = run.max_transforms_in_flight;
    e["tokens_outstanding"] = run.tokens_outstanding;
    e["buffer_reuse_rate"] = run.buffer_reuse_rate;
    e["durability_syncs"] = run.syncs;
    e["peak_rss_bytes"] = run.peak_rss_bytes;
    e["reads_inline"] = run.reads_inline;
    e["reads_handed_off"] = run.reads_handed_off;
    e["writes_inline"] = run.writes_inline;
    e["writes_handed_off"] = run.writes_handed_off;
    return e;
}

// tbbpipe-mpi: the ranks, each with its share and its own budgets' observed maxima.
Json distributed_json(const RunFacts& f) {
    Json ranks = Json::array();
    std::uint64_t batches = 0;
    for (const RankFacts& r : f.ranks) {
        batches += r.batches;
        ranks.push_back({{"rank", r.rank},
                         {"files", r.files},
                         {"bytes_in", r.bytes_in},
                         {"bytes_out", r.bytes_out},
                         {"batches", r.batches},
                         {"busy_seconds", r.busy_seconds},
                         {"wait_seconds", r.wait_seconds},
                         {"messages_sent", r.messages_sent},
                         {"message_bytes", r.message_bytes},
                         {"cpu_tokens", r.stats.cpu_tokens},
                         {"io_tokens", r.stats.io_tokens},
                         {"chunk_tokens", static_cast<std::uint64_t>(r.stats.chunk_tokens)},
                         {"memory_limit_bytes", static_cast<std::uint64_t>(r.stats.memory_limit)},
                         {"max_chunks_in_flight", r.stats.max_chunks_in_flight},
                         {"max_reads_in_flight", r.stats.max_reads_in_flight},
                         {"max_transforms_in_flight", r.stats.max_transforms_in_flight},
                         {"tokens_outstanding", r.stats.tokens_outstanding},
                         {"peak_rss_bytes", r.stats.peak_rss_bytes},
                         {"key_derivations", r.stats.key_derivations}});
    }
    return {{"ranks", f.ranks.size()},
            {"batches", batches},
            {"split_files", f.split_files},
            {"per_rank", std::move(ranks)}};
}

Json container_json(const ContainerInfo& info) {
    Json c = {{"format_version", info.format_version},
              {"compression", compression_name(info.compression)},
              {"level", info.level},
              {"cipher", cipher_name(info.cipher)},
              {"key_derivation", key_derivation_name(info.key_derivation)},
              {"scrypt", nullptr},
              {"stages", info.stages},
              {"stages_recorded", info.stages_recorded},
              {"hash", hash_name(info.hash)},
              {"largest_chunk_bytes", info.chunk_size},
              {"header_digest", to_hex(info.header_digest.data(), 32)},
              {"authenticated", info.authenticated}};
    if (info.key_derivation == KeyDerivation::kScrypt) {
        c["scrypt"] = {{"log2_n", info.scrypt.log2_n}, {"r", info.scrypt.r}, {"p", info.scrypt.p}};
    }
    if (!info.authenticated) {
        c["note"] = "encrypted: give the key to read the index";
        return c;
    }
    put_name(c, "name", info.name);
    c["mode"] = info.mode;
    c["mtime"] = utc_time(info.mtime_sec);
    c["root_digest"] = digest_hex(info.hash, info.root_digest);
    if (const auto sizes = chunk_sizes(info.chunks)) {
        c["chunk_sizes"] = {
            {"smallest", sizes->smallest}, {"median", sizes->median}, {"largest", sizes->largest}};
    } else {
        c["chunk_sizes"] = nullptr;
    }
    Json index = Json::array();
    for (std::size_t i = 0; i < info.chunks.size(); ++i) {
        const ChunkInfo& k = info.chunks[i];
        index.push_back({{"index", i},
                         {"offset", k.offset},
                         {"raw_size", k.raw_size},
                         {"stored_size", k.stored_size},
                         {"compressed", k.compressed},
                         {"digest", digest_hex(info.hash, k.digest)}});
    }
    c["index"] = std::move(index);
    return c;
}

}  // namespace

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

Json run_document(const CliOptions& o, const std::vector<FileReport>& reports,
                  const MetricsSnapshot& metrics, const RunFacts& facts, double wall,
                  int exit_code) {
    Totals totals;
    Json files = Json::array();
    for (const FileReport& r : reports) {
        files.push_back(run_file(o, r));
        totals.add(r.result.status.is_ok(), r.result.plaintext_bytes,
                   o.command == Command::kPack ? r.result.bytes_out : r.result.bytes_in);
    }
    Json d = document(o.command, exit_code, std::move(files), totals.json(wall, true));
    d["sets"] = sets_json(facts);
    d["engine"] = engine_json(o, facts);
    d["metrics"] = metrics_json(metrics);
    if (!facts.metrics_url.empty()) d["metrics_url"] = facts.metrics_url;
    if (!facts.ranks.empty()) d["distributed"] = distributed_json(facts);
    return d;
}

Json info_document(const std::vector<InfoReport>& reports, double wall, int exit_code) {
    Totals totals;
    Json files = Json::array();
    for (const InfoReport& r : reports) {
        const bool ok = r.info.ok();
        Json file = file_head(r.input, r.info.status());
        file["output"] = nullptr;
        std::uint64_t original = 0, container = 0;
        if (ok) {
            const ContainerInfo& info = r.info.value();
            container = info.container_bytes;
            original = info.authenticated ? info.original_bytes : 0;
            file["original_bytes"] = info.authenticated ? Json(original) : Json(nullptr);
            file["container_bytes"] = container;
            file["ratio"] = info.authenticated ? ratio(container, original) : Json(nullptr);
            file["chunks"] = info.chunk_count;
            file["warnings"] = Json::array();
            file["container"] = container_json(info);
        } else {
            file["warnings"] = Json::array();
        }
        totals.add(ok, original, container);
        files.push_back(std::move(file));
    }
    return document(Command::kInfo, exit_code, std::move(files), totals.json(wall, false));
}

Json keygen_document(const std::string& path, const Status& status, int exit_code) {
    Json file = file_head(path, status);
    put_name(file, "output", path);
    file["warnings"] = Json::array();
    Totals totals;
    totals.add(status.is_ok(), 0, 0);
    Json files = Json::array();
    files.push_back(std::move(file));
    return document(Command::kKeygen, exit_code, std::move(files), totals.json(0, false));
}

Json error_document(const std::string& command, const std::string& message, int exit_code) {
    Json d = {{"command", command},
              {"exit_code", exit_code},
              {"error", message},
              {"files", Json::array()},
              {"totals", Totals{}.json(0, false)}};
    return d;
}

}  // namespace tbbpipe::cli
