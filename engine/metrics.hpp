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

#include "tbbpipe/metrics.hpp"

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

}  // namespace tbbpipe::engine
