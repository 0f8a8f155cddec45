// Each rank's metrics (--metrics-file with the rank in the name, --metrics-listen on the port
// plus the rank, --metrics-push grouped by rank, every sample labelled rank="N"), and rank 0's
// progress line or dashboard for the whole run.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "cli_options.hpp"
#include "comm.hpp"
#include "live_report.hpp"
#include "metrics_http.hpp"
#include "metrics_push.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe::mpi {

/// "m.prom" -> "m.rank2.prom"; "metrics" -> "metrics.rank2".
std::string rank_file_name(const std::string& path, int rank);
/// "127.0.0.1:9100" -> "127.0.0.1:9102" for rank 2 (port 0 stays 0: each rank gets its own).
std::string rank_listen_address(const std::string& address, int rank);
/// Every sample with rank="N" added to its labels.
MetricsSnapshot with_rank(MetricsSnapshot snapshot, int rank);

/// Thread-safety: the main thread; the reports' threads read the engine and the atomics.
class RankMetrics {
public:
    /// `remote_*`: what the other ranks finished (rank 0's progress counts them too).
    RankMetrics(const cli::CliOptions& o, const Comm& comm, Engine& engine,
                const std::atomic<std::uint64_t>& remote_bytes,
                const std::atomic<std::uint64_t>& remote_ok,
                const std::atomic<std::uint64_t>& remote_failed, std::uint64_t bytes_total,
                std::uint64_t files_total);
    ~RankMetrics();
    cli::LiveReport& live() { return *display_; }
    std::string url() const;
    void finish_display() { display_->finish_display(); }
    /// Writes the last figures; returns kExitFailed if the metrics file could not be written.
    int stop();

private:
    const cli::CliOptions& o_;
    int rank_;
    std::unique_ptr<cli::MetricsHttpServer> http_;
    std::unique_ptr<cli::LiveReport> display_;
    std::unique_ptr<cli::LiveReport> file_;
    std::unique_ptr<cli::MetricsPusher> push_;
    bool stopped_ = false;
};

}  // namespace tbbpipe::mpi
