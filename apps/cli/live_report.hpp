// LiveReport: what a person watching a run sees on stderr (a progress line or a metrics
// dashboard) and the Prometheus textfile, all refreshed from one background thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "tbbpipe/metrics.hpp"

namespace tbbpipe::cli {

struct LiveReportOptions {
    bool progress = false;          ///< one line, redrawn in place
    int dashboard_interval_ms = 0;  ///< >0: the multi-line dashboard instead of the progress line
    std::optional<std::string> metrics_file;
    int file_interval_ms = 1000;
    bool terminal = false;  ///< stderr is a terminal: redraw in place; otherwise append
};

/// How far a run is, as the progress line and the dashboard's first line show it.
struct RunProgress {
    double bytes_done = 0;
    std::uint64_t bytes_total = 0;  ///< 0: unknown (a stream)
    std::uint64_t files_done = 0, files_total = 0;
    double mb_per_s = 0;
    double eta_seconds = -1;  ///< <0: unknown
};

/// The rate an ETA divides by: bytes per second averaged over about `window` seconds, the
/// weights decaying with time rather than with samples, started from the mean so far, so one
/// slow or fast moment moves the ETA a little, not all the way. Value type, one owner.
class EtaRate {
public:
    explicit EtaRate(double window_seconds = 3) : window_(window_seconds) {}
    /// `bytes` done at `seconds` since the start (both growing).
    void add(double seconds, double bytes);
    double bytes_per_second() const { return rate_; }
    /// Seconds until `total` at this rate; <0 when unknown (no rate yet, or nothing left).
    double eta(double bytes, double total) const;

private:
    double window_;
    double rate_ = 0;
    double last_seconds_ = 0, last_bytes_ = 0;
};

/// Thread-safety: emit() may be called from any thread; finish_display() and stop() once each,
/// from the owner.
class LiveReport {
public:
    /// Where the numbers come from (an Engine's metrics()); called on the report's thread.
    using SnapshotFn = std::function<MetricsSnapshot()>;
    LiveReport(const LiveReportOptions& options, SnapshotFn snapshot, std::uint64_t bytes_total,
               std::uint64_t files_total);
    ~LiveReport();
    LiveReport(const LiveReport&) = delete;
    LiveReport& operator=(const LiveReport&) = delete;

    /// Prints text on stderr without garbling what is drawn there: clears the progress line or
    /// dashboard first; the next refresh draws it again below.
    void emit(const std::string& text);
    /// The run's work is over: stops the thread, clears the progress line and draws the
    /// dashboard's final frame, so what is printed next (results, the summary) comes after it.
    void finish_display();
    /// Also writes the metrics file a last time (finishing the display first if need be).
    /// Throws std::runtime_error if the metrics file cannot be written.
    void stop();

    /// The progress line, cut to `columns` (0: no limit) so a redraw never wraps.
    static std::string render_progress(const RunProgress& p, std::size_t columns);
    /// The dashboard text for a snapshot, each line cut to `columns` (0: no limit).
    static std::string render_dashboard(const MetricsSnapshot& snap, const RunProgress& p,
                                        double files_per_s, double chunks_per_s, double cpu_avg,
                                        double reorder_avg, std::size_t columns);

private:
    void loop();
    void tick(bool final);
    void draw(const MetricsSnapshot& snap, double now, bool final);
    std::string clear_drawn();  // needs draw_mutex_
    void stop_thread();
    RunProgress progress(const MetricsSnapshot& snap) const;
    void write_metrics_file(const MetricsSnapshot& snap) const;

    LiveReportOptions options_;
    SnapshotFn snapshot_;
    const std::uint64_t bytes_total_;
    const std::uint64_t files_total_;

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;  // guarded by mutex_

    std::mutex draw_mutex_;        // serialises everything written to stderr during the run
    std::size_t drawn_lines_ = 0;  // guarded by draw_mutex_
    // Reporter-thread state.
    double last_time_ = 0;
    double last_bytes_ = 0, last_chunks_ = 0, last_files_ = 0;
    double rate_mb_ = 0, rate_chunks_ = 0, rate_files_ = 0;
    EtaRate eta_rate_;  // the ETA must not jump with a tick
    double cpu_depth_sum_ = 0, reorder_depth_sum_ = 0;
    std::uint64_t depth_samples_ = 0;
    double next_draw_ = 0, next_file_ = 0;
    bool display_finished_ = false;          // owner thread only
    std::optional<std::string> file_error_;  // the last metrics-file write failed
    std::thread thread_;
};

}  // namespace tbbpipe::cli
