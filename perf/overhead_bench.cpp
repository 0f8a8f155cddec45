// tbbpipe_overhead_bench: what the engine costs beyond the kernels.
//
// * graph_per_chunk vs parallel_pipeline_per_chunk: the same number of empty chunks through the
//   engine's flow graph (limiters, sequencer, ordered writer) and through a plain
//   tbb::parallel_pipeline (serial in-order source, parallel body, serial in-order sink) with the
//   same number of tokens in flight; the difference is the engine's per-chunk overhead. The
//   second argument says where the I/O steps run: 1, on the arena threads (inline I/O, what a
//   read from the page cache and a write that cannot stall get); 0, handed to the I/O threads
//   and the writer thread (what a read from a pipe or a slow disk gets).
// * memory_pack_unpack: the public API end to end in memory (pack_bytes then unpack_bytes of
//   mixed data), the round trip checked inside the loop. The second argument 1 adds a registered
//   stage that copies its input ("copy,lz4,aes-256-gcm"): the price of the registered-stage path
//   (a staged buffer per step, one more copy) against the built-in one.
//
//   build-rel/perf/tbbpipe_overhead_bench --benchmark_repetitions=5
//   (add --benchmark_report_aggregates_only=true for the medians only)
#include <benchmark/benchmark.h>

#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>

#include <cstdint>
#include <vector>

#include "datagen/dataset.hpp"
#include "engine/pipeline.hpp"
#include "tbbpipe/tbbpipe.hpp"

namespace {

constexpr int kCpuTokens = 2;
constexpr std::size_t kInFlight = 8;

// Chunks that carry nothing: what is left to time is the engine moving them.
class EmptySteps final : public tbbpipe::engine::ChunkSteps {
public:
    EmptySteps(std::uint64_t chunks, bool inline_io) : chunks_(chunks), inline_io_(inline_io) {}
    bool inline_io() const override { return inline_io_; }
    bool write_inline_ok(const tbbpipe::engine::Chunk& /*chunk*/) const override { return true; }
    bool claim(tbbpipe::engine::Chunk& chunk) override {
        if (next_ == chunks_) return false;
        chunk.last = ++next_ == chunks_;
        chunk.input_size = 0;
        return true;
    }
    void fill(tbbpipe::engine::Chunk& /*chunk*/) override {}
    void transform(tbbpipe::engine::Chunk& chunk) override {
        chunk.result_size = 0;
        benchmark::DoNotOptimize(chunk.seq);
    }
    void write(const tbbpipe::engine::Chunk& chunk) override { sum += chunk.seq; }
    std::uint64_t sum = 0;

private:
    std::uint64_t chunks_;
    bool inline_io_;
    std::uint64_t next_ = 0;
};

void graph_per_chunk(benchmark::State& state) {
    const auto chunks = static_cast<std::uint64_t>(state.range(0));
    tbbpipe::engine::PipelineConfig config;
    config.cpu_tokens = kCpuTokens;
    config.io_tokens = 2;
    config.chunk_tokens = kInFlight;
    tbbpipe::engine::Pipeline pipeline(config);
    for (auto _ : state) {
        EmptySteps steps(chunks, state.range(1) != 0);
        const auto report = pipeline.run(steps);
        if (!report.status.is_ok() || steps.sum != chunks * (chunks - 1) / 2) {
            state.SkipWithError("chunks lost or out of order");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(chunks));
    state.counters["ns_per_chunk"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(chunks),
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void parallel_pipeline_per_chunk(benchmark::State& state) {
    const auto chunks = static_cast<std::uint64_t>(state.range(0));
    tbb::task_arena arena(kCpuTokens);
    for (auto _ : state) {
        std::uint64_t next = 0;
        std::uint64_t sum = 0;
        arena.execute([&] {
            tbb::parallel_pipeline(
                kInFlight,
                tbb::make_filter<void, std::uint64_t>(tbb::filter_mode::serial_in_order,
                                                      [&](tbb::flow_control& fc) -> std::uint64_t {
                                                          if (next == chunks) {
                                                              fc.stop();
                                                              return 0;
                                                          }
                                                          return next++;
                                                      }) &
                    tbb::make_filter<std::uint64_t, std::uint64_t>(tbb::filter_mode::parallel,
                                                                   [](std::uint64_t seq) {
                                                                       benchmark::DoNotOptimize(
                                                                           seq);
                                                                       return seq;
                                                                   }) &
                    tbb::make_filter<std::uint64_t, void>(tbb::filter_mode::serial_in_order,
                                                          [&](std::uint64_t seq) { sum += seq; }));
        });
        if (sum != chunks * (chunks - 1) / 2) {
            state.SkipWithError("items lost");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(chunks));
    state.counters["ns_per_chunk"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(chunks),
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Does nothing but copy: what is left is the registered-stage path's own cost.
class CopyStage final : public tbbpipe::Stage {
public:
    void encode(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) const override {
        out.assign(in.begin(), in.end());
    }
    bool decode(std::span<const std::uint8_t> in, std::size_t limit,
                std::vector<std::uint8_t>& out) const override {
        if (in.size() > limit) return false;
        out.assign(in.begin(), in.end());
        return true;
    }
};

void memory_pack_unpack(benchmark::State& state) {
    const auto size = static_cast<std::size_t>(state.range(0));
    const std::vector<std::uint8_t> data =
        tbbpipe::datagen::make_mixed_data(size, 1, tbbpipe::datagen::DataMix{});
    const tbbpipe::Secret key = tbbpipe::Secret::key(std::vector<std::uint8_t>(32, 1));
    tbbpipe::EngineConfig config;
    tbbpipe::PackOptions options;
    if (state.range(1) != 0) {
        (void)config.stages.add("copy", std::make_shared<CopyStage>());
        options.stages = "copy,lz4,aes-256-gcm";
    }
    for (auto _ : state) {
        auto packed = tbbpipe::pack_bytes(data, options, key, config);
        if (!packed.ok()) {
            state.SkipWithError(packed.status().message().c_str());
            break;
        }
        auto back = tbbpipe::unpack_bytes(packed.value(), key, config);
        if (!back.ok() || back.value() != data) {
            state.SkipWithError("round trip failed");
            break;
        }
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

}  // namespace

BENCHMARK(graph_per_chunk)
    ->Args({20000, 1})
    ->Args({20000, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(parallel_pipeline_per_chunk)->Arg(20000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(memory_pack_unpack)
    ->Args({64 << 20, 0})
    ->Args({64 << 20, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_MAIN();
