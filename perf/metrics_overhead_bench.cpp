// What recording metrics costs: tbbpipe pack (lz4 + AES-256-GCM, 1 MiB chunks, all cores) of the
// cached mixed dataset to /dev/null, with metrics off and on (registry + pipeline instrumentation
// + a thread taking a snapshot every 100 ms, as the CLI's dashboard and --metrics-file do).
// Repetitions interleave randomly; the end prints the median cost of "on" relative to "off".
// The bound: under 2% of pack throughput.
#include <benchmark/benchmark.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "engine/metrics.hpp"
#include "jobs/job_runner.hpp"
#include "perf/e2e_support.hpp"

namespace {

using tbbpipe::perf::BenchFiles;

BenchFiles& files() {
    static BenchFiles f = [] {
        tbbpipe::perf::BenchEnv env = tbbpipe::perf::read_bench_env();
        if (!std::getenv("TBBPIPE_BENCH_BYTES")) env.bytes = 256ull << 20;
        return tbbpipe::perf::prepare_bench_files(env);
    }();
    return f;
}

tbbpipe::Secret key() {
    return tbbpipe::Secret::key_file(files().key_file).value();
}

void BM_Pack(benchmark::State& state) {
    const bool metrics = state.range(0) != 0;
    const auto secret = key();
    for (auto _ : state) {
        tbbpipe::engine::MetricsRegistry registry;
        tbbpipe::EngineConfig settings;
        std::mutex mutex;
        std::condition_variable wake;
        bool done = false;
        std::thread sampler;
        if (metrics) {
            // Woken at once when the run ends, like the CLI's reporter, so no sleep is timed.
            sampler = std::thread([&] {
                std::unique_lock lock(mutex);
                while (!wake.wait_for(lock, std::chrono::milliseconds(100), [&] { return done; })) {
                    benchmark::DoNotOptimize(tbbpipe::to_prometheus_text(registry.snapshot()));
                }
            });
        }
        tbbpipe::jobs::JobRunner runner(settings, metrics ? &registry : nullptr, nullptr);
        tbbpipe::FileResult out;
        {
            tbbpipe::perf::StdoutToDevNull quiet;
            tbbpipe::Job job;
            tbbpipe::Job::File file{files().dataset, "(stdout)"};
            file.output_fd = STDOUT_FILENO;
            job.files.push_back(file);
            job.pack.chunk_size = tbbpipe::kDefaultChunkSize;
            job.secret = secret;
            out = runner.run(job).files.front();
        }
        {
            std::lock_guard lock(mutex);
            done = true;
        }
        wake.notify_all();
        if (sampler.joinable()) sampler.join();
        if (!out.status.is_ok()) {
            state.SkipWithError(out.status.message().c_str());
            return;
        }
        if (metrics) {
            const auto* chunks = registry.snapshot().find("tbbpipe_chunks_total");
            if (!chunks || chunks->value != static_cast<double>(out.chunks)) {
                state.SkipWithError("metrics disagree with the run");
                return;
            }
        }
        state.SetBytesProcessed(state.bytes_processed() +
                                static_cast<std::int64_t>(out.plaintext_bytes));
    }
}
BENCHMARK(BM_Pack)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("metrics")
    ->Iterations(1)
    ->Repetitions(9)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->ReportAggregatesOnly(true);

// Keeps the medians so main() can print the ratio.
class MedianReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& run : runs) {
            if (run.aggregate_name == "median")
                medians[run.run_name.str()] = run.GetAdjustedRealTime();
        }
        ConsoleReporter::ReportRuns(runs);
    }
    std::map<std::string, double> medians;
};

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    MedianReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    const auto off = reporter.medians.find("BM_Pack/metrics:0/iterations:1/repeats:9/real_time");
    const auto on = reporter.medians.find("BM_Pack/metrics:1/iterations:1/repeats:9/real_time");
    if (off != reporter.medians.end() && on != reporter.medians.end()) {
        std::printf(
            "\nmetrics overhead: median pack %.1f ms with metrics vs %.1f ms without: %+.2f%%\n",
            on->second, off->second, 100.0 * (on->second / off->second - 1.0));
    }
    benchmark::Shutdown();
    return 0;
}
