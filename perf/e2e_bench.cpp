// tbbpipe_e2e_bench: whole-file pack and unpack against the tools people use today and against a
// hand-written tbb::parallel_pipeline doing the same kernels (the ceiling).
//
// Every line reads the same cached mixed dataset (~1 GiB, page cache warm after the first run)
// and sends its output to /dev/null. Each repetition is one full pass (Iterations(1)); the table
// printed at the end uses the medians. Environment: TBBPIPE_BENCH_DIR, TBBPIPE_BENCH_BYTES,
// TBBPIPE_BENCH_REPS, TBBPIPE_BENCH_SEED, TBBPIPE_BENCH_MIX (docs/PERFORMANCE.md).
//
//   TBBPIPE_BENCH_BYTES=256M TBBPIPE_BENCH_REPS=3 ./tbbpipe_e2e_bench   # a quick look
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <oneapi/tbb/info.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "jobs/file_io.hpp"
#include "perf/e2e_support.hpp"
#include "perf/plain_pipeline.hpp"
#include "tbbpipe/engine.hpp"

namespace {

using tbbpipe::jobs::FileHandle;
using tbbpipe::perf::BenchFiles;
using tbbpipe::perf::shell_quote;

// The targets docs/PERFORMANCE.md reports against.
constexpr double kPackSpeedupTarget = 1.4;    // vs zstd -1 -T0 | age
constexpr double kUnpackSpeedupTarget = 1.6;  // vs age -d | zstd -d
constexpr double kCeilingShareTarget = 0.9;   // of the plain parallel_pipeline
constexpr double kRssTargetMib = 64;

// ---- Shared, lazily prepared state --------------------------------------------------------------
// Preparing costs seconds to minutes, so it happens on first use by a benchmark that needs it:
// --benchmark_list_tests and a filtered run pay only for what they touch.

tbbpipe::perf::BenchEnv g_env;

struct Prepared {
    std::optional<BenchFiles> files;
    std::string error;
};

const Prepared& prepared() {
    static const Prepared p = [] {
        Prepared out;
        try {
            out.files = tbbpipe::perf::prepare_bench_files(g_env);
        } catch (const std::exception& e) {
            out.error = e.what();
        }
        return out;
    }();
    return p;
}

// Returns the files, or reports why there are none and returns nullptr.
const BenchFiles* files_or_skip(benchmark::State& state) {
    const Prepared& p = prepared();
    if (!p.files) {
        state.SkipWithError(("cannot prepare the benchmark files: " + p.error).c_str());
        return nullptr;
    }
    return &*p.files;
}

// The key file's bytes, for the plain pipeline's own AES-256-GCM.
tbbpipe::format::SecretBytes read_key(const BenchFiles& files) {
    std::ifstream in(files.key_file, std::ios::binary);
    tbbpipe::format::SecretBytes key(32);
    if (!in.read(reinterpret_cast<char*>(key.data()), 32)) {
        throw std::runtime_error("cannot read " + files.key_file);
    }
    return key;
}

tbbpipe::Secret key_secret(const BenchFiles& files) {
    tbbpipe::Result<tbbpipe::Secret> key = tbbpipe::Secret::key_file(files.key_file);
    if (!key.ok()) throw std::runtime_error(key.status().message());
    return key.value();
}

// One job on a fresh engine (like one CLI invocation, it builds its engine and buffers from
// nothing): lz4 level 1, AES-256-GCM, 1 MiB chunks. output "-" is standard output.
tbbpipe::FileResult run_job(tbbpipe::Operation op, const std::string& input,
                            const std::string& output, const tbbpipe::Secret& secret) {
    tbbpipe::Job job;
    job.operation = op;
    tbbpipe::Job::File file{input, output};
    if (output == "-") file.output_fd = STDOUT_FILENO;
    job.files.push_back(file);
    job.pack.chunk_size = tbbpipe::kDefaultChunkSize;
    job.secret = secret;
    job.overwrite = true;
    tbbpipe::Engine engine;
    tbbpipe::Result<tbbpipe::JobHandle> handle = engine.submit(std::move(job));
    if (!handle.ok()) {
        tbbpipe::FileResult failed;
        failed.input = input;
        failed.output = output;
        failed.status = handle.status();
        return failed;
    }
    return handle.value().wait().files.front();
}

std::string container_path(const BenchFiles& files) {
    return files.dataset + ".tbp";
}

// Packs the dataset to a real container once per process (the code under test may have changed
// since the last run, so it is never reused) and verifies it; unpack reads it back.
// Returns an error message, empty on success.
const std::string& ensure_container() {
    static const std::string error = []() -> std::string {
        const Prepared& p = prepared();
        if (!p.files) return p.error;
        const BenchFiles& files = *p.files;
        try {
            const auto secret = key_secret(files);
            const auto packed =
                run_job(tbbpipe::Operation::kPack, files.dataset, container_path(files), secret);
            if (!packed.status.is_ok()) return "pack failed: " + packed.status.message();
            const auto verified =
                run_job(tbbpipe::Operation::kVerify, container_path(files), "", secret);
            if (!verified.status.is_ok()) return "verify failed: " + verified.status.message();
            if (verified.plaintext_bytes != files.env.bytes) return "verify saw the wrong size";
        } catch (const std::exception& e) {
            return e.what();
        }
        return {};
    }();
    return error;
}

void set_common_counters(benchmark::State& state, const BenchFiles& files) {
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(files.env.bytes));
}

// ---- tbbpipe ------------------------------------------------------------------------------------

void tbbpipe_pack(benchmark::State& state) {
    const BenchFiles* files = files_or_skip(state);
    if (!files) return;
    if (!ensure_container().empty()) {
        state.SkipWithError(("round trip before timing failed: " + ensure_container()).c_str());
        return;
    }
    const auto secret = key_secret(*files);
    std::string error;
    std::uint64_t container_bytes = 0;
    {
        tbbpipe::perf::StdoutToDevNull to_null;  // pack writes "-" = fd 1
        for (auto _ : state) {
            const auto outcome = run_job(tbbpipe::Operation::kPack, files->dataset, "-", secret);
            if (!outcome.status.is_ok() || outcome.plaintext_bytes != files->env.bytes) {
                error = "pack failed: " + outcome.status.message();
                break;
            }
            container_bytes = outcome.bytes_out;
        }
    }
    if (!error.empty()) {
        state.SkipWithError(error.c_str());
        return;
    }
    set_common_counters(state, *files);
    state.counters["ratio"] =
        static_cast<double>(container_bytes) / static_cast<double>(files->env.bytes);
}

void tbbpipe_unpack(benchmark::State& state) {
    const BenchFiles* files = files_or_skip(state);
    if (!files) return;
    if (!ensure_container().empty()) {
        state.SkipWithError(("round trip before timing failed: " + ensure_container()).c_str());
        return;
    }
    const auto secret = key_secret(*files);
    std::string error;
    {
        tbbpipe::perf::StdoutToDevNull to_null;
        for (auto _ : state) {
            const auto outcome =
                run_job(tbbpipe::Operation::kUnpack, container_path(*files), "-", secret);
            if (!outcome.status.is_ok() || outcome.bytes_out != files->env.bytes) {
                error = "unpack failed: " + outcome.status.message();
                break;
            }
        }
    }
    if (!error.empty()) {
        state.SkipWithError(error.c_str());
        return;
    }
    set_common_counters(state, *files);
}

// ---- the plain parallel_pipeline ceiling --------------------------------------------------------

FileHandle open_or_throw(const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + path);
    return FileHandle(fd);
}

struct SealedData {
    std::string path;
    std::vector<tbbpipe::perf::SealedEntry> index;
    std::string error;
};

// The ceiling's own sealed file: plain_pack's output, written once per process, then read back
// once by plain_unpack, which checks every tag and digest (the ceiling's round trip).
const SealedData& sealed_data() {
    static const SealedData sealed = [] {
        SealedData out;
        const Prepared& p = prepared();
        if (!p.files) {
            out.error = p.error;
            return out;
        }
        try {
            tbbpipe::perf::PlainPipelineConfig config;
            config.key = read_key(*p.files);
            out.path = p.files->dataset + ".sealed";
            FileHandle in = open_or_throw(p.files->dataset, O_RDONLY);
            {
                FileHandle sink = open_or_throw(out.path, O_WRONLY | O_CREAT | O_TRUNC);
                tbbpipe::perf::plain_pack(config, in.fd(), p.files->env.bytes, sink.fd(),
                                          &out.index);
            }
            FileHandle sealed_in = open_or_throw(out.path, O_RDONLY);
            FileHandle null_out = open_or_throw("/dev/null", O_WRONLY);
            const auto run =
                tbbpipe::perf::plain_unpack(config, sealed_in.fd(), out.index, null_out.fd());
            if (run.plaintext_bytes != p.files->env.bytes) out.error = "round trip lost bytes";
        } catch (const std::exception& e) {
            out.error = e.what();
        }
        return out;
    }();
    return sealed;
}

void plain_pipeline_pack(benchmark::State& state) {
    const BenchFiles* files = files_or_skip(state);
    if (!files) return;
    if (!sealed_data().error.empty()) {
        state.SkipWithError(("ceiling round trip failed: " + sealed_data().error).c_str());
        return;
    }
    tbbpipe::perf::PlainPipelineConfig config;
    config.key = read_key(*files);
    FileHandle in = open_or_throw(files->dataset, O_RDONLY);
    FileHandle null_out = open_or_throw("/dev/null", O_WRONLY);
    std::string error;
    std::uint64_t stored = 0;
    for (auto _ : state) {
        try {
            const auto run = tbbpipe::perf::plain_pack(config, in.fd(), files->env.bytes,
                                                       null_out.fd(), nullptr);
            if (run.plaintext_bytes != files->env.bytes) error = "plain pack lost bytes";
            stored = run.stored_bytes;
        } catch (const std::exception& e) {
            error = e.what();
        }
        if (!error.empty()) break;
    }
    if (!error.empty()) {
        state.SkipWithError(error.c_str());
        return;
    }
    set_common_counters(state, *files);
    state.counters["ratio"] = static_cast<double>(stored) / static_cast<double>(files->env.bytes);
}

void plain_pipeline_unpack(benchmark::State& state) {
    const BenchFiles* files = files_or_skip(state);
    if (!files) return;
    const SealedData& sealed = sealed_data();
    if (!sealed.error.empty()) {
        state.SkipWithError(("ceiling round trip failed: " + sealed.error).c_str());
        return;
    }
    tbbpipe::perf::PlainPipelineConfig config;
    config.key = read_key(*files);
    FileHandle in = open_or_throw(sealed.path, O_RDONLY);
    FileHandle null_out = open_or_throw("/dev/null", O_WRONLY);
    std::string error;
    for (auto _ : state) {
        try {
            // Each pass checks every chunk's tag and SHA-256: a verified round trip every time.
            const auto run =
                tbbpipe::perf::plain_unpack(config, in.fd(), sealed.index, null_out.fd());
            if (run.plaintext_bytes != files->env.bytes) error = "plain unpack lost bytes";
        } catch (const std::exception& e) {
            error = e.what();
        }
        if (!error.empty()) break;
    }
    if (!error.empty()) {
        state.SkipWithError(error.c_str());
        return;
    }
    set_common_counters(state, *files);
}

// ---- peers: compressor | age --------------------------------------------------------------------

struct PeerTool {
    const char* name;        // "zstd"
    const char* compress;    // reads the dataset path appended to it, writes stdout
    const char* decompress;  // stdin to stdout
    const char* suffix;      // of the prepared encrypted file
};

constexpr PeerTool kZstd{"zstd", "zstd -1 -T0 -q -c", "zstd -d -q -c", ".zst.age"};
constexpr PeerTool kLz4{"lz4", "lz4 -1 -q -c", "lz4 -d -q -c", ".lz4.age"};

std::string peer_pack_command(const PeerTool& tool, const BenchFiles& files) {
    return std::string(tool.compress) + " " + shell_quote(files.dataset);
}

std::string age_encrypt(const BenchFiles& files) {
    return "age -r " + shell_quote(files.recipient);
}

std::string age_decrypt(const BenchFiles& files, const std::string& input) {
    return "age -d -i " + shell_quote(files.identity) + " " + shell_quote(input);
}

// Runs `first | second > output`. /bin/sh (dash) has no pipefail, so the first stage's exit
// status is written to a file: a compressor that died early would otherwise look like a fast
// success once age had encrypted the truncated stream.
std::string run_pipeline(const BenchFiles& files, const std::string& first,
                         const std::string& second, const std::string& output) {
    const std::string status_file = files.env.dir + "/first-stage.status";
    ::unlink(status_file.c_str());
    const auto result =
        tbbpipe::perf::run_shell("{ " + first + "; echo $? > " + shell_quote(status_file) +
                                 "; } | " + second + " > " + shell_quote(output));
    std::ifstream status(status_file);
    int first_code = -1;
    status >> first_code;
    if (first_code != 0) return "'" + first + "' failed (exit " + std::to_string(first_code) + ")";
    if (!result.ok()) {
        return "'" + second + "' failed (exit " + std::to_string(result.exit_code) + ")";
    }
    return {};
}

// The peer's encrypted file for its unpack line, made with the very pipeline its pack line runs
// (so decrypting it back to the dataset checks both directions). Cached across processes while
// newer than the dataset and the identity; checked with cmp once per process.
// Returns an error message, empty on success.
std::string ensure_peer_file(const PeerTool& tool, const BenchFiles& files) {
    static std::map<std::string, std::string> checked;  // tool name -> error ("" = good)
    const auto it = checked.find(tool.name);
    if (it != checked.end()) return it->second;
    std::string& error = checked[tool.name];
    const std::string path = files.dataset + tool.suffix;
    const std::int64_t made = tbbpipe::perf::mtime_ns(path);
    if (made == 0 || made < tbbpipe::perf::mtime_ns(files.dataset) ||
        made < tbbpipe::perf::mtime_ns(files.identity)) {
        const std::string partial = path + ".partial";
        error = run_pipeline(files, peer_pack_command(tool, files), age_encrypt(files), partial);
        if (error.empty() && ::rename(partial.c_str(), path.c_str()) != 0) {
            error = "cannot rename " + partial;
        }
        if (!error.empty()) return error;
    }
    const auto check = tbbpipe::perf::run_shell(age_decrypt(files, path) + " | " + tool.decompress +
                                                " | cmp -s - " + shell_quote(files.dataset));
    if (!check.ok()) error = std::string(tool.name) + " | age round trip does not match";
    return error;
}

void peer_pack(benchmark::State& state, const PeerTool& tool) {
    const BenchFiles* files = files_or_skip(state);
    if (!files) return;
    const std::string ready = ensure_peer_file(tool, *files);
    if (!ready.empty()) {
        state.SkipWithError(ready.c_str());
        return;
    }
    std::string error;
    for (auto _ : state) {
        error =
            run_pipeline(*files, peer_pack_command(tool, *files), age_encrypt(*files), "/dev/null");
        if (!error.empty()) break;
    }
    if (!error.empty()) {
        state.SkipWithError(error.c_str());
        return;
    }
    set_common_counters(state, *files);
    state.counters["ratio"] =
        static_cast<double>(tbbpipe::perf::file_size(files->dataset + tool.suffix)) /
        static_cast<double>(files->env.bytes);
}

void peer_unpack(benchmark::State& state, const PeerTool& tool) {
    const BenchFiles* files = files_or_skip(state);
    if (!files) return;
    const std::string ready = ensure_peer_file(tool, *files);
    if (!ready.empty()) {
        state.SkipWithError(ready.c_str());
        return;
    }
    std::string error;
    for (auto _ : state) {
        error = run_pipeline(*files, age_decrypt(*files, files->dataset + tool.suffix),
                             tool.decompress, "/dev/null");
        if (!error.empty()) break;
    }
    if (!error.empty()) {
        state.SkipWithError(error.c_str());
        return;
    }
    set_common_counters(state, *files);
}

// ---- reporting ----------------------------------------------------------------------------------

struct Median {
    double seconds = 0;
    double mb_per_s = 0;
    double cv = -1;  ///< stddev / mean of the wall times; < 0 when there was one run
};

// Prints like the console reporter and keeps each benchmark's median (or its only run when
// there is a single repetition) for the summary, with the coefficient of variation: on a noisy
// machine a high cv is the sign that a run was disturbed and its ratios should not be trusted.
class MedianCapture : public benchmark::ConsoleReporter {
public:
    // Colour only on a terminal: the output is often saved into a file for docs/PERFORMANCE.md.
    MedianCapture()
        : benchmark::ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        benchmark::ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            if (run.error_occurred) continue;
            if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "cv") {
                // A percentage aggregate keeps its value, a fraction, unscaled in this field.
                cvs_[run.run_name.function_name] = run.real_accumulated_time;
                continue;
            }
            const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
            const bool only = run.run_type == Run::RT_Iteration && run.repetitions <= 1;
            if (!median && !only) continue;
            Median m;
            m.seconds = run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
            m.mb_per_s = m.seconds > 0 ? static_cast<double>(g_env.bytes) / m.seconds / 1e6 : 0;
            medians_[run.run_name.function_name] = m;
        }
    }
    std::map<std::string, Median> medians() const {
        std::map<std::string, Median> out = medians_;
        for (auto& [name, m] : out) {
            const auto cv = cvs_.find(name);
            if (cv != cvs_.end()) m.cv = cv->second;
        }
        return out;
    }

private:
    std::map<std::string, Median> medians_;
    std::map<std::string, double> cvs_;
};

struct Line {
    const char* key;
    const char* label;
};

constexpr Line kLines[] = {
    {"tbbpipe_pack", "tbbpipe pack (lz4-1, aes-256-gcm, 1 MiB)"},
    {"plain_pipeline_pack", "plain parallel_pipeline pack (ceiling)"},
    {"zstd_age_pack", "zstd -1 -T0 | age -r"},
    {"lz4_age_pack", "lz4 -1 | age -r"},
    {"tbbpipe_unpack", "tbbpipe unpack"},
    {"plain_pipeline_unpack", "plain parallel_pipeline unpack (ceiling)"},
    {"age_zstd_unpack", "age -d | zstd -d"},
    {"age_lz4_unpack", "age -d | lz4 -d"},
};

void print_ratio(const std::map<std::string, Median>& m, const char* label, const char* ours,
                 const char* theirs, bool as_share, double target) {
    const auto a = m.find(ours);
    const auto b = m.find(theirs);
    if (a == m.end() || b == m.end()) {
        std::printf("  %-44s  n/a (not run)\n", label);
        return;
    }
    const double ratio = b->second.seconds / a->second.seconds;  // >1: tbbpipe is faster
    const bool met = ratio >= target;
    if (as_share) {
        std::printf("  %-44s  %6.1f%% of ceiling   target >= %.0f%%   %s\n", label, 100 * ratio,
                    100 * target, met ? "MET" : "MISSED");
    } else {
        std::printf("  %-44s  %6.2fx faster      target >= %.1fx   %s\n", label, ratio, target,
                    met ? "MET" : "MISSED");
    }
}

void print_rss(const char* label, const tbbpipe::perf::PeakRss& r, bool has_target) {
    const double mib = static_cast<double>(r.kib) / 1024.0;
    std::printf("  %-44s  %7.1f MiB  (wall %.2f s%s)", label, mib, r.child.seconds,
                r.child.ok() ? "" : ", FAILED");
    if (has_target) {
        std::printf("   target < %.0f MiB   %s", kRssTargetMib,
                    mib < kRssTargetMib ? "MET" : "MISSED");
    }
    std::printf("\n");
}

// Peak RSS of the real CLI and of the peers, each run as a child with its output on /dev/null.
// tbbpipe runs three times and keeps its worst: a bound should hold every time.
void measure_rss(const std::map<std::string, Median>& m) {
    const Prepared& p = prepared();
    if (!p.files) return;
    const BenchFiles& f = *p.files;
    std::printf("\nPeak RSS (ru_maxrss via tbbpipe_rss_probe; output to /dev/null):\n");
    const std::string probe = TBBPIPE_RSS_PROBE_PATH;
    const auto measure = [&](const std::vector<std::string>& argv, int runs) {
        tbbpipe::perf::PeakRss worst;
        for (int i = 0; i < runs; ++i) {
            const auto r = tbbpipe::perf::measure_peak_rss(probe, f.env.dir, argv);
            if (i == 0 || !r.child.ok() || r.kib > worst.kib) worst = r;
            if (!r.child.ok()) break;
        }
        return worst;
    };
    try {
        const std::string cli = TBBPIPE_CLI_PATH;
        if (m.count("tbbpipe_pack")) {
            print_rss("tbbpipe pack -c (CLI, worst of 3)",
                      measure({cli, "pack", "-q", "--key-file", f.key_file, "-c", f.dataset}, 3),
                      true);
        }
        if (m.count("tbbpipe_unpack") && ensure_container().empty()) {
            print_rss(
                "tbbpipe unpack -c (CLI, worst of 3)",
                measure({cli, "unpack", "-q", "--key-file", f.key_file, "-c", container_path(f)},
                        3),
                true);
        }
        // Under a shell the probe sees the largest single process of the pipeline, not the sum.
        if (m.count("zstd_age_pack")) {
            print_rss(
                "zstd -1 -T0 | age (largest process)",
                measure({"/bin/sh", "-c", peer_pack_command(kZstd, f) + " | " + age_encrypt(f)}, 1),
                false);
        }
        if (m.count("age_zstd_unpack")) {
            print_rss("age -d | zstd -d (largest process)",
                      measure({"/bin/sh", "-c",
                               age_decrypt(f, f.dataset + kZstd.suffix) + " | " + kZstd.decompress},
                              1),
                      false);
        }
    } catch (const std::exception& e) {
        std::printf("  peak RSS not measured: %s\n", e.what());
    }
}

void print_summary(const std::map<std::string, Median>& m) {
    if (m.empty()) return;
    std::printf("\ntbbpipe e2e summary: %llu bytes of mixed data, %d cores, median of %d run(s)\n",
                static_cast<unsigned long long>(g_env.bytes), tbb::info::default_concurrency(),
                g_env.repetitions);
    std::printf("  %-44s  %9s  %9s  %7s\n", "command", "wall s", "MB/s", "cv");
    for (const Line& line : kLines) {
        const auto it = m.find(line.key);
        if (it == m.end()) continue;
        const Median& med = it->second;
        if (med.cv >= 0) {
            std::printf("  %-44s  %9.3f  %9.1f  %6.1f%%\n", line.label, med.seconds, med.mb_per_s,
                        100 * med.cv);
        } else {
            std::printf("  %-44s  %9.3f  %9.1f  %7s\n", line.label, med.seconds, med.mb_per_s, "-");
        }
    }
    std::printf("\nRatios (medians):\n");
    print_ratio(m, "tbbpipe pack vs zstd -1 -T0 | age", "tbbpipe_pack", "zstd_age_pack", false,
                kPackSpeedupTarget);
    print_ratio(m, "tbbpipe unpack vs age -d | zstd -d", "tbbpipe_unpack", "age_zstd_unpack", false,
                kUnpackSpeedupTarget);
    print_ratio(m, "tbbpipe pack vs plain parallel_pipeline", "tbbpipe_pack", "plain_pipeline_pack",
                true, kCeilingShareTarget);
    print_ratio(m, "tbbpipe unpack vs plain parallel_pipeline", "tbbpipe_unpack",
                "plain_pipeline_unpack", true, kCeilingShareTarget);
    print_ratio(m, "tbbpipe pack vs lz4 -1 | age (extra)", "tbbpipe_pack", "lz4_age_pack", false,
                1.0);
    print_ratio(m, "tbbpipe unpack vs age -d | lz4 -d (extra)", "tbbpipe_unpack", "age_lz4_unpack",
                false, 1.0);
    measure_rss(m);
    std::fflush(stdout);
}

void register_benchmarks() {
    const auto add = [](const char* name, auto fn) {
        // An unexpected exception (an unreadable key file, a vanished dataset) becomes a skipped
        // benchmark with its message instead of std::terminate.
        const auto guarded = [fn](benchmark::State& state) {
            try {
                fn(state);
            } catch (const std::exception& e) {
                state.SkipWithError(e.what());
            }
        };
        benchmark::RegisterBenchmark(name, guarded)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->Iterations(1)  // one pass over the dataset per repetition
            ->Repetitions(g_env.repetitions)
            ->ReportAggregatesOnly(true);
    };
    add("tbbpipe_pack", tbbpipe_pack);
    add("plain_pipeline_pack", plain_pipeline_pack);
    add("zstd_age_pack", [](benchmark::State& s) { peer_pack(s, kZstd); });
    add("lz4_age_pack", [](benchmark::State& s) { peer_pack(s, kLz4); });
    add("tbbpipe_unpack", tbbpipe_unpack);
    add("plain_pipeline_unpack", plain_pipeline_unpack);
    add("age_zstd_unpack", [](benchmark::State& s) { peer_unpack(s, kZstd); });
    add("age_lz4_unpack", [](benchmark::State& s) { peer_unpack(s, kLz4); });
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    try {
        g_env = tbbpipe::perf::read_bench_env();
    } catch (const std::exception& e) {
        std::cerr << "tbbpipe_e2e_bench: " << e.what() << '\n';
        return 2;
    }
    register_benchmarks();
    MedianCapture reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    print_summary(reporter.medians());
    benchmark::Shutdown();
    return 0;
}
