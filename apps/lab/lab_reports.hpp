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

/// One plot: a line over the swept values (with min..max error bars and, for the thread
/// parameter, parallel efficiency on the right axis) or bars for a comparison.
struct PlotSpec {
    std::string stem;  ///< file names: STEM.gp, STEM.dat, STEM.png|svg
    std::string title;
    std::string xlabel;
    bool bars = false;
    std::vector<std::string> labels;
    std::vector<double> median;  ///< MB/s; <= 0 means failed: left out of the plot
    std::vector<double> low;
    std::vector<double> high;
    std::vector<std::optional<double>> efficiency;  ///< empty: no right axis
    std::optional<std::size_t> knee;
};

/// Writes STEM.dat and STEM.gp into out_dir and, unless format is "none" or gnuplot is not
/// installed, runs gnuplot there to draw STEM.png or STEM.svg. Never throws for a missing or
/// failing gnuplot: the returned note says what happened.
PlotFiles write_plot(const PlotSpec& spec, const std::string& out_dir, const std::string& format,
                     const std::string& work_dir);

// ---- formatting shared by the writers ---------------------------------------------------------

/// printf("%.*f") into a string.
std::string fixed(double value, int decimals);
/// A CSV field, quoted when it holds a comma, quote or newline (RFC 4180).
std::string csv_field(const std::string& text);
/// "plot-chunk-size": a file-name-safe stem.
std::string plot_stem(const std::string& name);
/// The text of a markdown table cell ('|' escaped).
std::string md_cell(const std::string& text);

}  // namespace tbbpipe::lab
