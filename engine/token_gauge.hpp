// TokenGauge: counts tokens held right now and the most ever held at once.
//
// The limiter_nodes enforce the budgets; the gauges observe them, so tests can assert that the
// observed maximum never exceeds a budget and that every token came back after a run.
#pragma once

#include <atomic>
#include <cstdint>

namespace tbbpipe::engine {

/// Thread-safety: all members may be called concurrently.
class TokenGauge {
public:
    void take() {
        // acq_rel: the increment must be ordered with the max update below and with the matching
        // give(); relaxed would still count correctly, but a reader of max_held() after a run joins
        // through wait_for_all(), so the stronger order only costs a few cycles per chunk.
        const std::int64_t now = held_.fetch_add(1, std::memory_order_acq_rel) + 1;
        std::int64_t seen = max_.load(std::memory_order_relaxed);
        while (now > seen && !max_.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
        }
    }
    void give() { held_.fetch_sub(1, std::memory_order_acq_rel); }

    std::int64_t held() const { return held_.load(std::memory_order_acquire); }
    std::int64_t max_held() const { return max_.load(std::memory_order_acquire); }

private:
    std::atomic<std::int64_t> held_{0};
    std::atomic<std::int64_t> max_{0};
};

/// RAII: holds one token of a gauge for a scope.
class GaugeHold {
public:
    explicit GaugeHold(TokenGauge& gauge) : gauge_(gauge) { gauge_.take(); }
    ~GaugeHold() { gauge_.give(); }
    GaugeHold(const GaugeHold&) = delete;
    GaugeHold& operator=(const GaugeHold&) = delete;

private:
    TokenGauge& gauge_;
};

}  // namespace tbbpipe::engine
