// Metrics: lock-free counters, gauges and histograms, a registry that names them, and snapshots.
//
// Recording is on the hot path (several times per chunk from every worker), so it never takes a
// lock and never allocates: counters and gauges are single atomics, histograms spread their
// bucket counts over shards picked per thread and merge them only when a snapshot is read.
// Registration (naming a metric) happens once, before a run, and does lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tbbpipe::engine {

/// A monotonically increasing count. Thread-safety: all members may be called concurrently.
class Counter {
public:
    // relaxed: a counter orders nothing; readers only need each increment to land once, and a
    // snapshot taken after a run is ordered by the run's own join (wait_for_all).
    void add(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down, with the largest value it ever held.
/// Thread-safety: all members may be called concurrently.
class Gauge {
public:
    void set(std::int64_t v) noexcept;
    void add(std::int64_t delta) noexcept;
    std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }
    std::int64_t max() const noexcept { return max_.load(std::memory_order_relaxed); }

private:
    void raise_max(std::int64_t v) noexcept;
    // relaxed: like Counter, a gauge is an observation, not a synchronisation point.
    std::atomic<std::int64_t> value_{0};
    std::atomic<std::int64_t> max_{0};
};

/// What a histogram held at one moment: merged over shards.
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

/// Durations in seconds, from 100 ns to about 100 s (values outside are clamped into the first or
/// last bucket; sum and max stay exact). Thread-safety: record() may be called concurrently from
/// any number of threads without locks; snapshot() may run concurrently with record().
class Histogram {
public:
    Histogram();
    ~Histogram();
    Histogram(const Histogram&) = delete;
    Histogram& operator=(const Histogram&) = delete;

    void record(double seconds) noexcept;
    HistogramSnapshot snapshot() const;

private:
    struct Shards;
    std::unique_ptr<Shards> shards_;
};

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

struct MetricsSnapshot {
    double uptime_seconds = 0;          ///< since the registry was created
    std::vector<MetricSample> samples;  ///< in registration order
    /// The first sample with this name and labels, or nullptr.
    const MetricSample* find(const std::string& name, const std::string& labels = "") const;
};

/// Owns named metrics. Thread-safety: registration and snapshot() lock; the returned references
/// stay valid for the registry's lifetime and are recorded into without locks.
class MetricsRegistry {
public:
    MetricsRegistry();
    ~MetricsRegistry();
    MetricsRegistry(const MetricsRegistry&) = delete;
    MetricsRegistry& operator=(const MetricsRegistry&) = delete;

    /// Returns the existing metric if (name, labels) was registered before with the same type.
    Counter& counter(const std::string& name, const std::string& help,
                     const std::string& labels = "");
    Gauge& gauge(const std::string& name, const std::string& help, const std::string& labels = "");
    Histogram& histogram(const std::string& name, const std::string& help,
                         const std::string& labels = "");

    MetricsSnapshot snapshot() const;

private:
    struct Entry;
    template <class M>
    M& find_or_add(const std::string& name, const std::string& help, const std::string& labels);
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Entry>> entries_;  // guarded by mutex_; entries never move
    const std::int64_t created_ns_;
};

/// Prometheus text exposition format 0.0.4 of a snapshot: # HELP and # TYPE once per family,
/// histograms as _bucket{le=...}, _sum, _count. Gauges also expose `<name>_max`.
std::string to_prometheus_text(const MetricsSnapshot& snapshot);

}  // namespace tbbpipe::engine
