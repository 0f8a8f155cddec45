#include "live_report.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "atomic_file.hpp"

namespace tbbpipe::cli {
namespace {

constexpr int kTickMs = 100;  // sampling period for rates and queue averages

double value_of(const MetricsSnapshot& s, const char* name, const char* labels = "") {
    const auto* m = s.find(name, labels);
    return m ? m->value : 0;
}

std::string fmt(const char* format, double a, double b = 0, double c = 0) {
    char buf[128];
    std::snprintf(buf, sizeof buf, format, a, b, c);
    return buf;
}

std::string human(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        ++u;
    }
    return fmt(u ? "%.1f " : "%.0f ", bytes) + units[u];
}

std::string duration(double seconds) {
    if (seconds < 1e-3) return fmt("%.0fus", seconds * 1e6);
    if (seconds < 1) return fmt("%.2fms", seconds * 1e3);
    return fmt("%.2fs", seconds);
}

// The terminal's width for stderr, asked at each redraw (a resize takes effect at the next one);
// 0 off a terminal or when it does not say.
std::size_t terminal_columns() {
    winsize size{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) != 0) return 0;
    return size.ws_col;
}

// A line that fits `columns` without touching the last column (some terminals wrap there).
// The text is ASCII (names never appear here), so a byte is a column.
std::string cut(std::string line, std::size_t columns) {
    if (columns > 1 && line.size() > columns - 1) line.resize(columns - 1);
    return line;
}

std::string eta_text(double seconds) {
    if (seconds < 0) return "";
    const long s = std::lround(seconds);
    char buf[32];
    if (s >= 3600) {
        std::snprintf(buf, sizeof buf, "ETA %ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    } else {
        std::snprintf(buf, sizeof buf, "ETA %ld:%02ld", s / 60, s % 60);
    }
    return buf;
}

void write_stderr(const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;  // a signal must not cut an escape sequence
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
    }
}

}  // namespace

void EtaRate::add(double seconds, double bytes) {
    const double dt = seconds - last_seconds_;
    if (dt <= 0) return;
    if (rate_ == 0) {
        rate_ = bytes / seconds;  // the mean so far: the first tick of a run is not typical
    } else {
        const double instant = (bytes - last_bytes_) / dt;
        rate_ += (1 - std::exp(-dt / window_)) * (instant - rate_);
    }
    last_seconds_ = seconds;
    last_bytes_ = bytes;
}

double EtaRate::eta(double bytes, double total) const {
    if (rate_ <= 1 || bytes >= total) return -1;
    return (total - bytes) / rate_;
}

LiveReport::LiveReport(const LiveReportOptions& options, SnapshotFn snapshot,
                       std::uint64_t bytes_total, std::uint64_t files_total)
    : options_(options),
      snapshot_(std::move(snapshot)),
      bytes_total_(bytes_total),
      files_total_(files_total) {
    if (options_.dashboard_interval_ms > 0) options_.progress = false;
    if (options_.dashboard_interval_ms > 0)
        options_.file_interval_ms = options_.dashboard_interval_ms;
    // Progress appears only for runs long enough to need it.
    next_draw_ = options_.dashboard_interval_ms > 0 ? options_.dashboard_interval_ms / 1000.0 : 0.5;
    next_file_ = options_.file_interval_ms / 1000.0;
    if (options_.progress || options_.dashboard_interval_ms > 0 || options_.metrics_file) {
        thread_ = std::thread([this] { loop(); });
    }
}

LiveReport::~LiveReport() {
    stop_thread();
    // Unwinding without stop(): leave the terminal clean for whatever is printed next.
    std::lock_guard draw(draw_mutex_);
    write_stderr(clear_drawn());
}

void LiveReport::stop_thread() {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void LiveReport::finish_display() {
    if (display_finished_) return;
    stop_thread();
    const MetricsSnapshot snap = snapshot_();
    draw(snap, snap.uptime_seconds, true);
    display_finished_ = true;
}

void LiveReport::stop() {
    stop_thread();
    tick(true);
}

void LiveReport::loop() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(kTickMs), [&] { return stopping_; })) {
        lock.unlock();
        tick(false);
        lock.lock();
    }
}

void LiveReport::tick(bool final) {
    const MetricsSnapshot snap = snapshot_();
    const double now = snap.uptime_seconds;
    // Rates over the last sampling period, smoothed so the line does not flicker.
    const double bytes = value_of(snap, "tbbpipe_input_bytes_total");
    const double chunks = value_of(snap, "tbbpipe_chunks_total");
    const double files = static_cast<double>(progress(snap).files_done);
    const double dt = now - last_time_;
    if (dt > 0) {
        const double alpha = last_time_ == 0 ? 1.0 : 0.3;
        rate_mb_ += alpha * ((bytes - last_bytes_) / dt / 1e6 - rate_mb_);
        rate_chunks_ += alpha * ((chunks - last_chunks_) / dt - rate_chunks_);
        rate_files_ += alpha * ((files - last_files_) / dt - rate_files_);
        eta_rate_.add(now, bytes);
    }
    last_time_ = now;
    last_bytes_ = bytes;
    last_chunks_ = chunks;
    last_files_ = files;
    cpu_depth_sum_ += value_of(snap, "tbbpipe_queue_depth", "queue=\"cpu\"");
    reorder_depth_sum_ += value_of(snap, "tbbpipe_queue_depth", "queue=\"reorder\"");
    ++depth_samples_;

    if (!display_finished_) draw(snap, now, final);
    if (options_.metrics_file && (final || now >= next_file_)) {
        next_file_ = now + options_.file_interval_ms / 1000.0;
        try {
            write_metrics_file(snap);
            file_error_.reset();
        } catch (const std::exception& e) {
            // Keep drawing; stop() reports the failure (the final write decides).
            file_error_ = e.what();
        }
    }
    if (final && file_error_) throw std::runtime_error(*file_error_);
}

void LiveReport::draw(const MetricsSnapshot& snap, double now, bool final) {
    std::lock_guard lock(draw_mutex_);
    std::string text;
    const bool dashboard = options_.dashboard_interval_ms > 0;
    if (dashboard && (final || now >= next_draw_)) {
        next_draw_ = now + options_.dashboard_interval_ms / 1000.0;
        const double samples = static_cast<double>(std::max<std::uint64_t>(depth_samples_, 1));
        text = render_dashboard(snap, progress(snap), rate_files_, rate_chunks_,
                                cpu_depth_sum_ / samples, reorder_depth_sum_ / samples,
                                options_.terminal ? terminal_columns() : 0);
    } else if (!dashboard && options_.progress && (final || now >= next_draw_)) {
        if (final && drawn_lines_ == 0) return;
        // Off a terminal each refresh is a new line: once a second is plenty.
        next_draw_ = now + (options_.terminal ? kTickMs / 1000.0 : 1.0);
        text = final ? std::string()
                     : render_progress(progress(snap), options_.terminal ? terminal_columns() : 0);
    } else {
        return;
    }
    std::string out = clear_drawn();
    if (!dashboard) {
        out += text;
        if (!options_.terminal && !text.empty()) out += '\n';
        drawn_lines_ = options_.terminal && !text.empty() ? 1 : 0;
    } else {
        out += text;
        if (options_.terminal && !final) {
            out.pop_back();  // keep the cursor on the last line so the next redraw overwrites it
            drawn_lines_ = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
        }
    }
    write_stderr(out);
}

std::string LiveReport::clear_drawn() {
    std::string out;
    if (options_.terminal && drawn_lines_ > 0) {
        // Back to the start of what we drew last time, and clear it.
        out += "\r";
        for (std::size_t i = 1; i < drawn_lines_; ++i) out += "\x1b[1A";
        out += "\x1b[J";
    }
    drawn_lines_ = 0;
    return out;
}

void LiveReport::emit(const std::string& text) {
    std::lock_guard draw(draw_mutex_);
    write_stderr(clear_drawn() + text);
}

RunProgress LiveReport::progress(const MetricsSnapshot& snap) const {
    RunProgress p;
    p.bytes_done = value_of(snap, "tbbpipe_input_bytes_total");
    p.bytes_total = bytes_total_;
    p.files_done =
        static_cast<std::uint64_t>(value_of(snap, "tbbpipe_files_total", "status=\"ok\"") +
                                   value_of(snap, "tbbpipe_files_total", "status=\"failed\""));
    p.files_total = files_total_;
    p.mb_per_s = rate_mb_;
    if (bytes_total_ > 0)
        p.eta_seconds = eta_rate_.eta(p.bytes_done, static_cast<double>(bytes_total_));
    return p;
}

std::string LiveReport::render_progress(const RunProgress& p, std::size_t columns) {
    const std::string files =
        "files " + std::to_string(p.files_done) + "/" + std::to_string(p.files_total);
    const std::string rate = fmt("%.0f MB/s", p.mb_per_s);
    const std::string eta = eta_text(p.eta_seconds);
    std::string done = human(p.bytes_done);
    std::string percent;
    if (p.bytes_total > 0) {
        percent = fmt("%.1f%%", 100.0 * p.bytes_done / static_cast<double>(p.bytes_total));
        done += " / " + human(static_cast<double>(p.bytes_total)) + " (" + percent + ")";
    } else {
        percent = done;
    }
    const auto join = [](std::initializer_list<std::string> parts) {
        std::string line;
        for (const std::string& part : parts) {
            if (part.empty()) continue;
            if (!line.empty()) line += "  ";
            line += part;
        }
        return line;
    };
    // Widest first; a narrower terminal drops what matters least: the totals, then the files.
    for (const std::string& line :
         {join({done, rate, eta, files}), join({percent, rate, eta, files}),
          join({percent, rate, eta}), join({percent, eta})}) {
        if (columns == 0 || line.size() < columns) return line;
    }
    return cut(join({percent, eta}), columns);
}

std::string LiveReport::render_dashboard(const MetricsSnapshot& snap, const RunProgress& p,
                                         double files_per_s, double chunks_per_s, double cpu_avg,
                                         double reorder_avg, std::size_t columns) {
    const double mb_per_s = p.mb_per_s;
    const auto gauge = [&](const char* name, const char* labels) -> const MetricSample* {
        return snap.find(name, labels);
    };
    const auto value = [&](const char* name, const char* labels) {
        const auto* m = gauge(name, labels);
        return m ? m->value : 0.0;
    };
    const auto max = [&](const char* name, const char* labels) {
        const auto* m = gauge(name, labels);
        return m ? m->max : 0.0;
    };
    std::ostringstream out;
    out << fmt("== tbbpipe PIPELINE METRICS  t=%.1fs ", snap.uptime_seconds)
        << "==================================\n";
    out << "progress    " << human(p.bytes_done);
    if (p.bytes_total > 0) {
        out << " / " << human(static_cast<double>(p.bytes_total))
            << fmt(" (%.1f%%)", 100.0 * p.bytes_done / static_cast<double>(p.bytes_total));
    }
    if (p.eta_seconds >= 0) out << "   " << eta_text(p.eta_seconds);
    out << "   files " << p.files_done << '/' << p.files_total << '\n';
    out << fmt("throughput  files/s %8.1f   MB/s %8.1f", files_per_s, mb_per_s)
        << fmt("   chunks/s %8.1f\n", chunks_per_s);
    out << "tokens free";
    for (const char* kind : {"cpu", "io", "chunk"}) {
        const std::string labels = std::string("kind=\"") + kind + "\"";
        const double total = value("tbbpipe_tokens", labels.c_str());
        const double used = value("tbbpipe_tokens_in_use", labels.c_str());
        out << "  " << kind << ' ' << fmt("%.0f/%.0f", total - used, total);
    }
    out << '\n';
    out << fmt("queues      cpu avg %.1f max %.0f", cpu_avg,
               max("tbbpipe_queue_depth", "queue=\"cpu\""))
        << fmt("   reorder avg %.1f max %.0f\n", reorder_avg,
               max("tbbpipe_queue_depth", "queue=\"reorder\""));
    out << "memory      " << human(value("tbbpipe_memory_bytes", "")) << " of "
        << human(value("tbbpipe_memory_limit_bytes", "")) << " (max "
        << human(max("tbbpipe_memory_bytes", "")) << ")\n";
    const double acquired = value("tbbpipe_buffer_acquisitions_total", "");
    out << fmt("buffer pool reuse %.1f%%\n",
               acquired > 0 ? 100.0 * value("tbbpipe_buffer_reuse_total", "") / acquired : 0.0);
    out << "latency            P50       P95       P99\n";
    const struct {
        const char* title;
        const char* name;
        const char* labels;
    } rows[] = {{"chunk cpu  ", "tbbpipe_chunk_transform_seconds", ""},
                {"queue wait ", "tbbpipe_reorder_wait_seconds", ""},
                {"token wait ", "tbbpipe_cpu_token_wait_seconds", ""},
                {"io read    ", "tbbpipe_io_seconds", "op=\"read\""},
                {"io write   ", "tbbpipe_io_seconds", "op=\"write\""}};
    for (const auto& row : rows) {
        const auto* m = snap.find(row.name, row.labels);
        out << "  " << row.title;
        for (const double q : {0.50, 0.95, 0.99}) {
            char cell[16];
            std::snprintf(cell, sizeof cell, "%10s",
                          m ? duration(m->histogram.percentile(q)).c_str() : "-");
            out << cell;
        }
        out << '\n';
    }
    if (columns == 0) return out.str();
    // Each line cut to the terminal: a wrapped line would break the count of lines to redraw.
    std::istringstream lines(out.str());
    std::string fitted, line;
    while (std::getline(lines, line)) fitted += cut(line, columns) + '\n';
    return fitted;
}

void LiveReport::write_metrics_file(const MetricsSnapshot& snap) const {
    // node_exporter's textfile convention: write elsewhere, rename into place atomically.
    write_file_atomically(*options_.metrics_file, to_prometheus_text(snap));
}

}  // namespace tbbpipe::cli
