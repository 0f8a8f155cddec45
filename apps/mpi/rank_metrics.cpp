#include "rank_metrics.hpp"

#include <iostream>
#include <stdexcept>

#include "common/text_escape.hpp"
#include "exit_codes.hpp"
#include "transfer_steps.hpp"

namespace tbbpipe::mpi {
namespace {

void add_to(MetricsSnapshot& snap, const char* name, const char* labels, double value) {
    for (MetricSample& s : snap.samples) {
        if (s.name == name && s.labels == labels) s.value += value;
    }
}

}  // namespace

std::string rank_file_name(const std::string& path, int rank) {
    const std::string tag = ".rank" + std::to_string(rank);
    const auto slash = path.rfind('/');
    const auto dot = path.rfind('.');
    const bool has_ext =
        dot != std::string::npos && dot > 0 && (slash == std::string::npos || dot > slash + 1);
    return has_ext ? path.substr(0, dot) + tag + path.substr(dot) : path + tag;
}

std::string rank_listen_address(const std::string& address, int rank) {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) return address;
    const int port = std::stoi(address.substr(colon + 1));
    if (port == 0) return address;
    if (port + rank > 65535) {
        throw cli::UsageError("--metrics-listen " + address + ": no port left for rank " +
                              std::to_string(rank));
    }
    return address.substr(0, colon + 1) + std::to_string(port + rank);
}

MetricsSnapshot with_rank(MetricsSnapshot snapshot, int rank) {
    const std::string label = "rank=\"" + std::to_string(rank) + "\"";
    for (MetricSample& s : snapshot.samples) {
        s.labels = s.labels.empty() ? label : s.labels + "," + label;
    }
    return snapshot;
}

RankMetrics::RankMetrics(const cli::CliOptions& o, const Comm& comm, Engine& engine,
                         const std::atomic<std::uint64_t>& remote_bytes,
                         const std::atomic<std::uint64_t>& remote_ok,
                         const std::atomic<std::uint64_t>& remote_failed, std::uint64_t bytes_total,
                         std::uint64_t files_total)
    : o_(o), rank_(comm.rank()) {
    const int rank = rank_;
    const auto labelled = [&engine, rank] {
        return to_prometheus_text(with_rank(engine.metrics(), rank));
    };
    cli::CliOptions mine = o;
    if (o.metrics_listen) mine.metrics_listen = rank_listen_address(*o.metrics_listen, rank);
    http_ = cli::serve_metrics(mine, labelled);

    // The display: rank 0 shows the whole run (its own engine plus what the others finished).
    cli::LiveReportOptions shown = cli::live_options(o);
    shown.metrics_file.reset();
    if (!comm.root()) shown = {};
    display_ = std::make_unique<cli::LiveReport>(
        shown,
        [&engine, &remote_bytes, &remote_ok, &remote_failed] {
            MetricsSnapshot snap = engine.metrics();
            add_to(snap, "tbbpipe_input_bytes_total", "",
                   static_cast<double>(remote_bytes.load(std::memory_order_relaxed)));
            add_to(snap, "tbbpipe_files_total", "status=\"ok\"",
                   static_cast<double>(remote_ok.load(std::memory_order_relaxed)));
            add_to(snap, "tbbpipe_files_total", "status=\"failed\"",
                   static_cast<double>(remote_failed.load(std::memory_order_relaxed)));
            return snap;
        },
        bytes_total, files_total);
    if (o.metrics_file) {
        cli::LiveReportOptions file;
        file.metrics_file = rank_file_name(*o.metrics_file, rank);
        file_ = std::make_unique<cli::LiveReport>(
            file, [&engine, rank] { return with_rank(engine.metrics(), rank); }, 0, 0);
    }
    push_ = cli::push_metrics(o, labelled, *display_, std::to_string(rank));
}

RankMetrics::~RankMetrics() {
    if (!stopped_) {
        try {
            stop();
        } catch (...) {
        }
    }
}

std::string RankMetrics::url() const {
    return http_ ? http_->url() : "";
}

int RankMetrics::stop() {
    stopped_ = true;
    int exit_code = cli::kExitOk;
    try {
        display_->stop();
        if (file_) file_->stop();
    } catch (const std::runtime_error& e) {
        std::cerr << cli::printable_line("tbbpipe: " + rank_file_name(*o_.metrics_file, rank_) +
                                         ": " + e.what());
        exit_code = cli::kExitFailed;
    }
    if (push_) push_->finish();
    return exit_code;
}

}  // namespace tbbpipe::mpi
