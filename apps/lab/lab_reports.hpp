// Report writers: results.csv, results.json, summary.md and the gnuplot plots of a sweep or a
// comparison. Each writer renders text from the results; write_*_reports puts them on disk.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lab/lab_results.hpp"

namespace tbbpipe::lab {

/// Draws (or only scripts) every plot, then writes results.csv, results.json and summary.md
/// into out_dir, each atomically. work_dir holds gnuplot's stderr. Throws std::runtime_error
/// naming the file that could not be written.
void write_sweep_reports(SweepResult& result, const std::string& out_dir,
                         const std::string& work_dir);
void write_compare_reports(CompareResult& result, const std::string& out_dir,
                           const std::string& work_dir);

std::string sweep_csv(const SweepResult& result);
std::string sweep_json(const SweepResult& result);
std::string sweep_markdown(const SweepResult& result);
std::string compare_csv(const CompareResult& result);
std::string compare_json(const CompareResult& result);
std::string compare_markdown(const CompareResult& result);

/// Where a line plot puts its values along x.
enum class PlotAxis {
    kCategory,  ///< evenly spaced, labelled as given (values that are not all numbers)
    kLinear,    ///< at their value: thread counts, so the ideal-speedup line is straight
    kLogSize,   ///< sizes on a log2 axis, tics in K/M/G units (64K 256K 1M 16M)
};

/// One plot. A line plot shows MB/s over the swept values with slowest..fastest error bars, the
/// knee's label in the headroom above the data with an arrow down to the knee point, and for
/// the thread parameter the ideal-speedup line; under it, on the same x axis, a panel of peak
/// RSS with parallel efficiency (threads) or stored % (pack) on the right axis. A bar plot shows
/// one bar per line of a comparison in groups (with a key, without), tbbpipe's bar first in each
/// and in its own colour, each peer's time ratio above its bar. Every plot carries the machine
/// line (host, cores, commit, date) under its title.
struct PlotSpec {
    std::string stem;  ///< file names: STEM.gp, STEM.dat, STEM.png|svg
    std::string title;
    std::string machine;  ///< host, cores, commit and date (machine_label)
    std::string xlabel;
    bool bars = false;
    PlotAxis axis = PlotAxis::kCategory;  ///< line plots
    std::vector<std::string> labels;
    std::vector<double> x;       ///< positions for kLinear and kLogSize; ignored otherwise
    std::vector<double> median;  ///< MB/s; <= 0 means failed: left out of the plot
    std::vector<double> low;
    std::vector<double> high;
    std::vector<std::optional<double>> efficiency;  ///< lower panel, right axis; empty: none
    std::vector<std::optional<double>> ideal;  ///< MB/s at perfect scaling; empty: no ideal line
    std::vector<std::optional<double>> peak_rss_mib;  ///< lower panel, left axis; empty: none
    std::vector<std::optional<double>> stored_pct;  ///< lower panel, right axis, unless efficiency
    std::optional<std::size_t> knee;
    std::vector<bool> highlight;     ///< bars: tbbpipe's, drawn in their own colour
    std::vector<std::string> group;  ///< bars: consecutive bars of one group sit under its name
    std::vector<std::string> note;   ///< bars: text above the bar ("1.96x"), may be empty
};

/// Writes STEM.dat and STEM.gp into out_dir and, unless format is "none" or gnuplot is not
/// installed, runs gnuplot there to draw STEM.png or STEM.svg. Never throws for a missing or
/// failing gnuplot: the returned note says what happened.
PlotFiles write_plot(const PlotSpec& spec, const std::string& out_dir, const std::string& format,
                     const std::string& work_dir);

/// The contents of STEM.dat and STEM.gp (format: png or svg; "none" scripts a png).
std::string plot_data(const PlotSpec& spec);
std::string plot_script(const PlotSpec& spec, const std::string& format);

/// The plot of the sweep's curve'th parameter (an index into result.curves).
PlotSpec sweep_plot_spec(const SweepResult& result, std::size_t curve);
/// The bar plot of one direction of a comparison; nullopt when no line of it ran.
std::optional<PlotSpec> compare_plot_spec(const CompareResult& result,
                                          const std::string& direction);

/// "host build-vm, 2 cores | commit 42a62a4c1f0e | 2026-11-29 11:40:00 UTC": what every plot
/// names, so an image passed around still says where and when it was measured.
std::string machine_label(const RunContext& ctx);

// ---- the console -------------------------------------------------------------------------------

/// What `sweep` prints on stdout: one row per point (median +- sigma, spread, MB/s, peak RSS,
/// stored %), a warning line under every row whose spread is above kNoisySpread, the knees,
/// and where the reports are.
std::string sweep_console(const SweepResult& result, const std::string& out_dir);
/// What `compare` prints: per direction, one row per line with median +- sigma, spread, MB/s,
/// compression ratio (pack) and the time against tbbpipe, with the same noise warnings.
std::string compare_console(const CompareResult& result, const std::string& out_dir);

// ---- formatting shared by the writers ---------------------------------------------------------

/// printf("%.*f") into a string.
std::string fixed(double value, int decimals);
/// A CSV field, quoted when it holds a comma, quote or newline (RFC 4180).
std::string csv_field(const std::string& text);
/// "plot-chunk-size": a file-name-safe stem.
std::string plot_stem(const std::string& name);
/// The text of a markdown table cell ('|' escaped).
std::string md_cell(const std::string& text);
/// A size with a binary unit, as tbbpipe's flags take it: 65536 -> "64K", 1048576 -> "1M",
/// 1572864 -> "1.5M", 1000 -> "1000".
std::string size_label(double bytes);

}  // namespace tbbpipe::lab
