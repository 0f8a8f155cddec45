// Metrics snapshots: what an Engine has recorded (every metric named in docs/METRICS.md), as
// plain values a program can read, print or expose to Prometheus.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tbbpipe {

/// What a histogram of durations held at one moment.
/// Thread-safety: a value type (as are the other snapshot types here).
struct HistogramSnapshot {
    /// Upper bounds of the exposition buckets (seconds), ascending; +Inf is implied.
    std::vector<double> bounds;
    /// Cumulative counts per bound (Prometheus `le` semantics), then the total for +Inf.
    std::vector<std::uint64_t> cumulative;
    std::uint64_t count = 0;
    double sum = 0;
    double max = 0;
    /// The q-quantile (0 < q <= 1) estimated from the fine internal buckets, within one fine
    /// bucket (at most 1/16 = 6.25% relative error) and never above `max`; 0 when empty.
    double percentile(double q) const;
    /// Internal fine buckets (for percentile): lower edges and counts. Bucket i holds values in
    /// (fine_edges[i], fine_edges[i + 1]], upper-inclusive like `le`.
    std::vector<double> fine_edges;
    std::vector<std::uint64_t> fine_counts;
};

/// Prometheus metric types.
enum class MetricType { kCounter, kGauge, kHistogram };

/// One metric in a snapshot. `labels` is a Prometheus label set without braces, e.g.
/// `kind="cpu"`, or empty.
struct MetricSample {
    std::string name;  ///< family name, e.g. tbbpipe_chunks_total
    std::string help;
    std::string labels;
    MetricType type = MetricType::kCounter;
    double value = 0;             ///< counters and gauges
    double max = 0;               ///< gauges: the largest value held
    HistogramSnapshot histogram;  ///< histograms
};

/// Every metric an Engine recorded, as of the moment Engine::metrics() was called.
/// @code
///   const tbbpipe::MetricsSnapshot snap = engine.metrics();
///   if (const auto* chunks = snap.find("tbbpipe_chunks_total")) std::cout << chunks->value;
///   std::cout << tbbpipe::to_prometheus_text(snap);  // for a textfile collector or /metrics
/// @endcode
struct MetricsSnapshot {
    double uptime_seconds = 0;          ///< since the registry was created
    std::vector<MetricSample> samples;  ///< in registration order
    /// The first sample with this name and labels, or nullptr.
    const MetricSample* find(const std::string& name, const std::string& labels = "") const;
};

/// Prometheus text exposition format 0.0.4 of a snapshot: # HELP and # TYPE once per family,
/// histograms as _bucket{le=...}, _sum, _count. Gauges also expose `<name>_max`.
std::string to_prometheus_text(const MetricsSnapshot& snapshot);

}  // namespace tbbpipe
