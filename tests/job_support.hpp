// The job runner as the jobs-level suites drive it: one call per pack, unpack, verify or batch,
// with the run's statistics and the graph's own report at hand.
#pragma once

#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "jobs/job_runner.hpp"
#include "tbbpipe/container.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe::testing {

/// Pack options with a fixed 1 MiB chunk unless a test says otherwise (chunk offsets in the
/// tests are computed from it); chunk_size = 0 asks for adaptive chunks.
struct TestPack : PackOptions {
    TestPack() { chunk_size = kDefaultChunkSize; }
};

/// One file's result and the run's statistics.
struct Outcome : FileResult {
    RunStats run;
};

/// A whole run: every file's result, the statistics (the pack's chunk sizes and the durability
/// flushes repeated at the top, where the suites read them), and the graph's report.
struct BatchRun {
    std::vector<FileResult> files;
    RunStats stats;
    engine::RunReport run;
    std::uint32_t chunk_size = 0;
    std::uint32_t final_chunk_size = 0;
    int chunk_size_adjustments = 0;
    int syncs = 0;
};

/// Budgets the suites use unless they say otherwise: two of each, nothing flushed (the durable
/// path has its own tests; a shared disk makes syncfs slow).
inline EngineConfig test_config(int cpu_tokens = 2) {
    EngineConfig c;
    c.cpu_tokens = cpu_tokens;
    c.io_tokens = 2;
    c.commit.durable = false;
    return c;
}

/// Thread-safety: one thread; `stop` may be requested from any thread to cancel the next run.
class Jobs {
public:
    explicit Jobs(const EngineConfig& config = test_config(), jobs::FileEvents* events = nullptr,
                  engine::MetricsRegistry* metrics = nullptr)
        : runner_(config, metrics, events) {}

    BatchRun run_batch(Operation op, std::vector<Job::File> files, const TestPack& pack = {},
                       const Secret& secret = {}, bool overwrite = false) {
        Job job;
        job.operation = op;
        job.files = std::move(files);
        job.pack = pack;
        job.secret = secret;
        job.overwrite = overwrite;
        JobResult r = runner_.run(job, stop.get_token());
        const RunStats& st = r.stats;
        return {std::move(r.files),
                st,
                runner_.last_report(),
                st.chunk_size,
                st.final_chunk_size,
                st.chunk_size_adjustments,
                st.syncs};
    }
    Outcome pack(const std::string& in, const std::string& out, const TestPack& pack = {},
                 const Secret& secret = {}, bool overwrite = false) {
        return one(run_batch(Operation::kPack, {{in, out}}, pack, secret, overwrite));
    }
    Outcome unpack(const std::string& in, const std::string& out, const Secret& secret = {},
                   bool overwrite = false) {
        return one(run_batch(Operation::kUnpack, {{in, out}}, {}, secret, overwrite));
    }
    Outcome verify(const std::string& in, const Secret& secret = {}) {
        return one(run_batch(Operation::kVerify, {{in, ""}}, {}, secret, false));
    }
    const engine::Pipeline* last_pipeline() const { return runner_.last_pipeline(); }
    /// inspect_container, failing the test's expectations loudly when it cannot.
    static ContainerInfo inspect(const std::string& path, const Secret& secret = {}) {
        Result<ContainerInfo> info = inspect_container(path, secret);
        return info.ok() ? std::move(info).value() : ContainerInfo{};
    }

    std::stop_source stop;

private:
    static Outcome one(BatchRun r) {
        Outcome o;
        static_cast<FileResult&>(o) = std::move(r.files.front());
        o.run = r.stats;
        return o;
    }
    jobs::JobRunner runner_;
};

}  // namespace tbbpipe::testing
