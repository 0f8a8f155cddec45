// What a lab run measured: the data the report writers (CSV, JSON, markdown, gnuplot) render.
// Plain values, filled by the sweep and compare runners; no behaviour beyond derived numbers.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tbbpipe::lab {

/// Relative spread above which a row's times are called noisy, on the console and in
/// summary.md alike.
inline constexpr double kNoisySpread = 0.10;

/// N repetitions of one command. Times are wall seconds, spawn to reap.
struct Measurement {
    std::vector<double> wall_s;  ///< one per successful repetition, in run order
    double median_s = 0;
    double min_s = 0;
    double max_s = 0;
    double median_cpu_s = 0;  ///< user + system, median over repetitions
    /// System part, median: when wall times split into fast and slow runs, a slow run's extra
    /// system time points at the machine (page faults, a VM's memory) rather than the tool.
    double median_sys_s = 0;
    long peak_rss_kib = 0;  ///< worst repetition
    std::string error;      ///< empty: every repetition succeeded

    bool ok() const { return error.empty() && !wall_s.empty(); }
    /// (max - min) / median: above kNoisySpread the machine was busy, rerun.
    double spread() const { return median_s > 0 ? (max_s - min_s) / median_s : 0; }
    /// Sample standard deviation of the wall times (hyperfine's sigma); 0 below two runs.
    double stddev() const {
        if (wall_s.size() < 2) return 0;
        double mean = 0;
        for (const double s : wall_s) mean += s;
        mean /= static_cast<double>(wall_s.size());
        double sum = 0;
        for (const double s : wall_s) sum += (s - mean) * (s - mean);
        return std::sqrt(sum / static_cast<double>(wall_s.size() - 1));
    }
    /// Whether the spread says the figures are noisy (needs two runs or more to say so).
    bool noisy() const { return ok() && wall_s.size() > 1 && spread() > kNoisySpread; }
};

/// MB/s (10^6 bytes per second) of plaintext for a wall time; 0 when the time is not positive.
inline double mb_per_s(std::uint64_t bytes, double seconds) {
    return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0;
}

/// The data measured.
struct DatasetInfo {
    std::string source;  ///< "generated" or "input"
    std::string spec;    ///< canonical --data spec; empty for --input
    std::string dir;
    std::size_t files = 0;
    std::uint64_t bytes = 0;
};

/// Facts about the run every report repeats.
struct RunContext {
    std::string command_line;
    std::string started_utc;
    std::string tbbpipe_path;
    std::string tbbpipe_version;
    DatasetInfo dataset;
    int repeat = 1;
    unsigned cores = 0;
    std::string hostname;  ///< the machine, named on every plot
    /// The source commit tbbpipe-lab was built from ("git rev-parse", "-dirty" with uncommitted
    /// changes; "unknown" without git): the tbbpipe beside it is built from the same tree.
    std::string commit;
    double load_start = 0;  ///< 1-minute load average: the machine may be shared
    double load_end = 0;
    long rss_floor_kib = 0;   ///< the lab's own peak RSS: no child can report less
    std::string plot_format;  ///< png | svg | none
};

/// A plot the gnuplot writer produced (or only prepared).
struct PlotFiles {
    std::string script;  ///< .gp, relative to the output folder
    std::string data;    ///< .dat
    std::string image;   ///< .png/.svg when drawn, else empty
    std::string note;    ///< why there is no image
};

// ---- sweep ----------------------------------------------------------------------------------

struct SweepParameter {
    std::string name;                 ///< NAME of --param NAME=...; the tbbpipe flag is --NAME
    std::vector<std::string> values;  ///< in sweep order (see order_values)
    bool numeric = false;
};

struct SweepPoint {
    std::vector<std::pair<std::string, std::string>> settings;  ///< swept name -> value
    Measurement m;
    double mb_s = 0;
    std::uint64_t stored_bytes = 0;    ///< pack: container bytes; 0 for unpack
    std::optional<double> speedup;     ///< thread parameter only, vs 1 thread, same other settings
    std::optional<double> efficiency;  ///< speedup / threads

    /// The value of a swept parameter at this point, or "" (tbbpipe's default).
    std::string value_of(const std::string& name) const {
        for (const auto& [n, v] : settings) {
            if (n == name) return v;
        }
        return {};
    }
};

/// One parameter's curve: the point used for each of its values.
struct SweepCurve {
    std::string parameter;
    std::vector<std::string> values;
    std::vector<std::optional<std::size_t>> point_index;  ///< into SweepResult::points
    std::vector<double> mb_s;                             ///< 0 where the point failed
    std::optional<std::size_t> knee;
    std::optional<std::size_t> best;
    PlotFiles plot;
};

struct SweepResult {
    RunContext ctx;
    std::string mode;  ///< pack | unpack
    bool grid = false;
    bool encrypted = true;
    std::vector<std::string> fixed_args;  ///< flags on every command (single-value params, --extra)
    std::string command_shape;            ///< the timed command, for the summary
    std::vector<SweepParameter> params;   ///< swept ones (two or more values)
    std::vector<SweepPoint> points;
    std::vector<SweepCurve> curves;
};

// ---- compare --------------------------------------------------------------------------------

struct CompareLine {
    std::string name;       ///< "tar | zstd -1 -T0 | age"
    std::string direction;  ///< pack | unpack
    std::string command;    ///< what runs, for the reader
    bool is_tbbpipe = false;
    bool encrypted = false;
    std::string skipped;  ///< non-empty: not run, and why
    Measurement m;
    double mb_s = 0;
    std::uint64_t stored_bytes = 0;  ///< pack lines
    std::string baseline;            ///< name of the tbbpipe line a peer is compared to
    std::optional<double> ratio;     ///< peer median wall / baseline median wall
};

struct CompareResult {
    RunContext ctx;
    std::vector<CompareLine> lines;
    std::vector<PlotFiles> plots;
};

}  // namespace tbbpipe::lab
