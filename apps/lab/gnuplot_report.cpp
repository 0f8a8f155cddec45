// Plots through gnuplot (Debian's gnuplot-nox is enough): the lab writes a self-contained .gp
// script beside a .dat file and runs it, so a reader can restyle a plot by editing the script.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "lab/child_process.hpp"
#include "lab/lab_reports.hpp"
#include "lab/lab_setup.hpp"

namespace tbbpipe::lab {
namespace {

// Colours: tbbpipe in orange, everything else in blues and greys, so tbbpipe's bars are the
// ones the eye finds first.
constexpr const char* kTbbpipeColour = "#d95f02";
constexpr const char* kPeerColour = "#8fb3d9";
constexpr const char* kLineColour = "#1f77b4";
constexpr const char* kEfficiencyColour = "#b22222";

// Headroom above the highest data (error bars and the ideal line included): the knee label and
// the bar groups' names sit in it, never on the data.
constexpr double kHeadroom = 1.35;
constexpr double kKneeLabelAt = 1.18;
constexpr double kKneeArrowFrom = 1.15;

// gnuplot strings in single quotes take everything literally except the quote itself.
std::string gp_quote(const std::string& text) {
    std::string out = "'";
    for (const char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

// Data-file strings are double-quoted; a label never needs a double quote, so drop any.
std::string dat_label(const std::string& text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c != '"') out += c;
    }
    return out + "\"";
}

std::string dat_number(double v) {
    return v > 0 ? fixed(v, 3) : "?";
}

std::string dat_optional(const std::optional<double>& v, bool ok, int decimals) {
    return v && ok ? fixed(*v, decimals) : std::string("?");
}

// A coordinate in the script: enough digits for byte sizes and fractions alike.
std::string coord(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
}

// The x position of value i: its index on a category axis, its number otherwise.
double x_of(const PlotSpec& s, std::size_t i) {
    return s.axis == PlotAxis::kCategory || i >= s.x.size() ? static_cast<double>(i) : s.x[i];
}

// Bars: one slot per bar, groups one slot apart.
std::vector<double> bar_positions(const PlotSpec& s) {
    std::vector<double> x;
    double next = 0;
    for (std::size_t i = 0; i < s.labels.size(); ++i) {
        if (i > 0 && i < s.group.size() && s.group[i] != s.group[i - 1]) next += 1;
        x.push_back(next);
        next += 1;
    }
    return x;
}

// Columns of STEM.dat, so the script names them by meaning and the two files cannot disagree.
struct Columns {
    std::vector<std::string> names;
    int add(const std::string& name) {
        names.push_back(name);
        return static_cast<int>(names.size());
    }
    int at(const std::string& name) const {
        const auto it = std::find(names.begin(), names.end(), name);
        return it == names.end() ? 0 : static_cast<int>(it - names.begin()) + 1;
    }
};

Columns columns_of(const PlotSpec& s) {
    Columns c;
    for (const char* name : {"label", "x", "median_mb_s", "low_mb_s", "high_mb_s"}) c.add(name);
    if (s.bars) {
        c.add("tbbpipe");
        c.add("note");
        return c;
    }
    if (!s.efficiency.empty()) c.add("efficiency");
    if (!s.ideal.empty()) c.add("ideal_mb_s");
    if (!s.peak_rss_mib.empty()) c.add("peak_rss_mib");
    if (!s.stored_pct.empty()) c.add("stored_pct");
    return c;
}

double top_of_data(const PlotSpec& s) {
    double top = 0;
    for (std::size_t i = 0; i < s.median.size(); ++i) {
        if (!(s.median[i] > 0)) continue;
        top = std::max({top, s.median[i], s.high[i]});
        if (i < s.ideal.size() && s.ideal[i]) top = std::max(top, *s.ideal[i]);
    }
    return top > 0 ? top : 1;
}

void terminal(std::ostringstream& gp, const PlotSpec& s, const std::string& format, int height) {
    const std::string image = s.stem + "." + (format == "svg" ? "svg" : "png");
    if (format == "svg") {
        gp << "set terminal svg size 960," << height
           << " dynamic noenhanced font 'DejaVu Sans,11' background rgb 'white'\n";
    } else {
        gp << "set terminal pngcairo size 960," << height << " noenhanced font 'DejaVu Sans,10'\n";
    }
    gp << "set output " << gp_quote(image) << "\n"
       << "set datafile missing '?'\n";
}

// The title and, under it in smaller type, the machine, commit and date: screen labels, so they
// stay put whatever the panels below do.
void heading(std::ostringstream& gp, const PlotSpec& s) {
    gp << "# Title and machine line (host, cores, commit, date)\n"
       << "set label 101 " << gp_quote(s.title) << " at screen 0.5, screen 0.972 center front\n"
       << "set label 102 " << gp_quote(s.machine)
       << " at screen 0.5, screen 0.938 center front font ',9' textcolor rgb 'gray30'\n";
}

void x_axis(std::ostringstream& gp, const PlotSpec& s, bool with_label) {
    std::vector<std::string> tics;
    double lo = 0;
    double hi = 0;
    for (std::size_t i = 0; i < s.labels.size(); ++i) {
        const double x = x_of(s, i);
        const std::string label = s.axis == PlotAxis::kLogSize ? size_label(x) : s.labels[i];
        tics.push_back(gp_quote(label) + " " + coord(x));
        lo = i == 0 ? x : std::min(lo, x);
        hi = i == 0 ? x : std::max(hi, x);
    }
    if (s.axis == PlotAxis::kLogSize) {
        gp << "set logscale x 2\n"
           << "set xrange [" << coord(lo / 1.5) << ":" << coord(hi * 1.5) << "]\n";
    } else if (s.axis == PlotAxis::kLinear) {
        const double pad = 0.5 + 0.04 * (hi - lo);
        gp << "set xrange [" << coord(std::max(0.0, lo - pad)) << ":" << coord(hi + pad) << "]\n";
    } else {
        gp << "set xrange [-0.5:" << coord(hi + 0.5) << "]\n";
    }
    gp << "set xtics (";
    for (std::size_t i = 0; i < tics.size(); ++i) gp << (i ? ", " : "") << tics[i];
    gp << ")\n";
    if (with_label && !s.xlabel.empty()) {
        gp << "set xlabel " << gp_quote(s.xlabel) << "\n";
    } else {
        gp << "unset xlabel\n";
    }
}

// The knee: its label above every point, an arrow from the label down to the top of the
// knee's error bar, the text to the right of the arrow (to its left at the last value, where
// there is no room on the right).
void knee_marker(std::ostringstream& gp, const PlotSpec& s, double top) {
    if (!s.knee || *s.knee >= s.labels.size() || !(s.median[*s.knee] > 0)) return;
    const std::size_t k = *s.knee;
    const double x = x_of(s, k);
    const bool last = k + 1 == s.labels.size();
    const std::string text = "knee: " + s.labels[k] + " (" + fixed(s.median[k], 1) + " MB/s)";
    gp << "# Knee: label in the headroom above the data, arrow down to the knee point\n"
       << "set label 1 " << gp_quote(text) << " at " << coord(x) << ", "
       << coord(top * kKneeLabelAt) << (last ? " right offset -0.6,0.3" : " left offset 0.6,0.3")
       << " front textcolor rgb 'gray20'\n"
       << "set arrow 1 from " << coord(x) << ", " << coord(top * kKneeArrowFrom) << " to "
       << coord(x) << ", " << coord(s.high[k] + 0.02 * top)
       << " head filled size screen 0.012,20 lw 1.5 lc rgb 'gray20' front\n";
}

// The highest value of an optional series, or 0.
double top_of(const std::vector<std::optional<double>>& series) {
    double top = 0;
    for (const auto& v : series) {
        if (v) top = std::max(top, *v);
    }
    return top;
}

std::string line_script(const PlotSpec& s, const std::string& format) {
    const Columns c = columns_of(s);
    const bool panel = !s.peak_rss_mib.empty() || !s.efficiency.empty() || !s.stored_pct.empty();
    const double top = top_of_data(s);
    const std::string dat = gp_quote(s.stem + ".dat");
    const auto col = [&c](const char* name) { return std::to_string(c.at(name)); };
    std::ostringstream gp;
    gp << "# Written by tbbpipe-lab. Redraw with: gnuplot " << s.stem << ".gp\n";
    terminal(gp, s, format, panel ? 780 : 560);
    if (panel) gp << "set multiplot\n";
    heading(gp, s);
    // Fixed side margins, so the panels' x axes line up.
    gp << "set lmargin 11\nset rmargin 11\nset tmargin 5\n";
    if (panel) gp << "set origin 0, 0.38\nset size 1, 0.62\n";
    x_axis(gp, s, !panel);
    gp << "set ylabel 'MB/s (median; bars: slowest..fastest run)'\n"
       << "set yrange [0:" << coord(top * kHeadroom) << "]\n"
       << "set grid ytics\n"
       << "set key below center horizontal\n";
    knee_marker(gp, s, top);
    gp << "plot " << dat << " using " << col("x") << ":" << col("median_mb_s") << ":"
       << col("low_mb_s") << ":" << col("high_mb_s") << " with yerrorlines lw 2 pt 7 lc rgb '"
       << kLineColour << "' title 'MB/s'";
    if (!s.ideal.empty()) {
        gp << ", \\\n     '' using " << col("x") << ":" << col("ideal_mb_s")
           << " with linespoints lw 1.5 pt 6 dashtype 2 lc rgb 'gray40' "
              "title 'ideal speedup (MB/s at 1 thread x threads)'";
    }
    gp << '\n';
    if (!panel) return gp.str();

    // Lower panel, on the same x axis: what the throughput costs in memory (left axis) and, on
    // the right, how well the threads are used or how much the output weighs.
    const bool efficiency = !s.efficiency.empty();
    const bool stored = !efficiency && !s.stored_pct.empty();
    gp << "\n# Lower panel: peak RSS" << (efficiency ? " and parallel efficiency" : "")
       << (stored ? " and stored %" : "") << " on the same x axis\n"
       << "unset label\nunset arrow\n"
       << "set origin 0, 0\nset size 1, 0.38\nset tmargin 1\n";
    x_axis(gp, s, true);
    gp << "set ylabel 'peak RSS, MiB (worst run)'\n"
       << "set yrange [0:" << coord(std::max(1.0, top_of(s.peak_rss_mib) * 1.25)) << "]\n"
       << "set ytics nomirror\n";
    if (efficiency) {
        gp << "set y2label 'parallel efficiency'\n"
           << "set y2range [0:" << coord(std::max(1.25, top_of(s.efficiency) * 1.15)) << "]\n"
           << "set y2tics 0.25\n";
    } else if (stored) {
        gp << "set y2label 'stored, % of the data'\n"
           << "set y2range [0:" << coord(std::max(100.0, top_of(s.stored_pct) * 1.1)) << "]\n"
           << "set y2tics 25\n";
    }
    gp << "plot ";
    if (!s.peak_rss_mib.empty()) {
        gp << dat << " using " << col("x") << ":" << col("peak_rss_mib")
           << " with linespoints lw 2 pt 9 lc rgb '#2ca02c' title 'peak RSS (MiB)'";
    }
    if (efficiency || stored) {
        gp << (s.peak_rss_mib.empty() ? dat : ", \\\n     ''");
        if (efficiency) {
            gp << " using " << col("x") << ":" << col("efficiency")
               << " axes x1y2 with linespoints lw 2 pt 5 dashtype 3 lc rgb '" << kEfficiencyColour
               << "' title 'parallel efficiency (speedup / threads)'";
        } else {
            gp << " using " << col("x") << ":" << col("stored_pct")
               << " axes x1y2 with linespoints lw 2 pt 13 dashtype 4 lc rgb '#9467bd' "
                  "title 'stored % (container bytes / data bytes)'";
        }
    }
    gp << "\nunset multiplot\n";
    return gp.str();
}

std::string bar_script(const PlotSpec& s, const std::string& format) {
    const Columns c = columns_of(s);
    const double top = top_of_data(s);
    const std::vector<double> x = bar_positions(s);
    const std::string dat = gp_quote(s.stem + ".dat");
    const auto col = [&c](const char* name) { return std::to_string(c.at(name)); };
    std::ostringstream gp;
    gp << "# Written by tbbpipe-lab. Redraw with: gnuplot " << s.stem << ".gp\n";
    terminal(gp, s, format, 600);
    heading(gp, s);
    gp << "set lmargin 11\nset rmargin 4\nset tmargin 5\n"
       << "set xrange [-0.7:" << coord(x.empty() ? 0 : x.back() + 0.7) << "]\n"
       << "set xtics rotate by -25 nomirror (";
    for (std::size_t i = 0; i < s.labels.size(); ++i) {
        gp << (i ? ", " : "") << gp_quote(s.labels[i]) << " " << coord(x[i]);
    }
    gp << ")\n";
    if (!s.xlabel.empty()) gp << "set xlabel " << gp_quote(s.xlabel) << " offset 0,-1\n";
    gp << "set ylabel 'MB/s (median; bars: slowest..fastest run)'\n"
       << "set yrange [0:" << coord(top * kHeadroom) << "]\n"
       << "set grid ytics\n"
       << "set key below center horizontal\n"
       << "set boxwidth 0.7\n"
       << "set style fill solid 0.85 border rgb 'gray20'\n";
    // Groups: the name centred above its bars, a dotted line between groups.
    std::size_t first = 0;
    int tag = 10;
    for (std::size_t i = 1; i <= s.labels.size(); ++i) {
        if (i < s.labels.size() && i < s.group.size() && s.group[i] == s.group[first]) continue;
        if (first < s.group.size() && !s.group[first].empty()) {
            gp << "set label " << tag++ << " " << gp_quote(s.group[first]) << " at "
               << coord((x[first] + x[i - 1]) / 2) << ", " << coord(top * 1.25)
               << " center front font ',11'\n";
        }
        if (i < s.labels.size()) {
            gp << "set arrow " << tag++ << " from " << coord(x[i] - 1) << ", graph 0 to "
               << coord(x[i] - 1) << ", graph 1 nohead dashtype 3 lc rgb 'gray50'\n";
        }
        first = i;
    }
    gp << "plot " << dat << " using " << col("x") << ":($" << col("tbbpipe") << " == 1 ? $"
       << col("median_mb_s") << " : 1/0) with boxes lc rgb '" << kTbbpipeColour
       << "' title 'tbbpipe', \\\n"
       << "     '' using " << col("x") << ":($" << col("tbbpipe") << " == 0 ? $"
       << col("median_mb_s") << " : 1/0) with boxes lc rgb '" << kPeerColour
       << "' title 'peers', \\\n"
       // Error bars as capped vectors: gnuplot 5.4's yerrorbars leave a gap at the median.
       << "     '' using " << col("x") << ":" << col("low_mb_s") << ":(0):($" << col("high_mb_s")
       << " - $" << col("low_mb_s")
       << ") with vectors heads size screen 0.006,90 lc rgb 'black' notitle, \\\n"
       << "     '' using " << col("x") << ":" << col("high_mb_s") << ":" << col("note")
       << " with labels offset 0,0.8 font ',9' notitle\n";
    return gp.str();
}

}  // namespace

std::string plot_data(const PlotSpec& s) {
    const Columns c = columns_of(s);
    const std::vector<double> bar_x = s.bars ? bar_positions(s) : std::vector<double>{};
    std::ostringstream out;
    out << "#";
    for (const auto& name : c.names) out << ' ' << name;
    out << "  ('?' marks a failed point)\n";
    for (std::size_t i = 0; i < s.labels.size(); ++i) {
        const bool ok = s.median[i] > 0;
        out << dat_label(s.labels[i]) << ' ' << coord(s.bars ? bar_x[i] : x_of(s, i)) << ' '
            << dat_number(s.median[i]) << ' ' << dat_number(ok ? s.low[i] : 0) << ' '
            << dat_number(ok ? s.high[i] : 0);
        if (s.bars) {
            const bool mine = i < s.highlight.size() && s.highlight[i];
            out << ' ' << (mine ? 1 : 0) << ' '
                << dat_label(i < s.note.size() && ok ? s.note[i] : "");
        } else {
            if (!s.efficiency.empty()) out << ' ' << dat_optional(s.efficiency[i], ok, 4);
            if (!s.ideal.empty()) out << ' ' << dat_optional(s.ideal[i], ok, 3);
            if (!s.peak_rss_mib.empty()) out << ' ' << dat_optional(s.peak_rss_mib[i], ok, 2);
            if (!s.stored_pct.empty()) out << ' ' << dat_optional(s.stored_pct[i], ok, 2);
        }
        out << '\n';
    }
    return out.str();
}

std::string plot_script(const PlotSpec& spec, const std::string& format) {
    return spec.bars ? bar_script(spec, format) : line_script(spec, format);
}

PlotFiles write_plot(const PlotSpec& spec, const std::string& out_dir, const std::string& format,
                     const std::string& work_dir) {
    PlotFiles files;
    files.script = spec.stem + ".gp";
    files.data = spec.stem + ".dat";
    write_text_file(out_dir, files.data, plot_data(spec));
    write_text_file(out_dir, files.script, plot_script(spec, format));
    if (std::none_of(spec.median.begin(), spec.median.end(), [](double v) { return v > 0; })) {
        files.note = "no successful point to plot";
        return files;
    }
    if (format == "none") {
        files.note = "--plot none: run `gnuplot " + files.script + "` in the output folder";
        return files;
    }
    const auto gnuplot = find_in_path("gnuplot");
    if (!gnuplot) {
        files.note = "gnuplot is not installed (Debian: apt-get install gnuplot-nox); " +
                     files.script + " and " + files.data + " are written, run `gnuplot " +
                     files.script + "` in the output folder to draw it";
        return files;
    }
    const std::string image = spec.stem + "." + format;
    std::error_code ec;
    std::filesystem::remove(out_dir + "/" + image, ec);
    ChildIo io;
    io.cwd = out_dir;
    io.stderr_path = work_dir + "/gnuplot-stderr.txt";
    try {
        const ChildOutcome r = run_child({*gnuplot, files.script}, io);
        const auto size = std::filesystem::file_size(out_dir + "/" + image, ec);
        if (r.ok() && !ec && size > 0) {
            files.image = image;
        } else {
            std::filesystem::remove(out_dir + "/" + image, ec);  // gnuplot opens it before failing
            const std::string said = last_line_of(io.stderr_path);
            files.note = "gnuplot failed on " + files.script + " (" + r.describe() + ")" +
                         (said.empty() ? "" : ": " + said);
        }
    } catch (const std::exception& e) {
        files.note = std::string("gnuplot could not run: ") + e.what();
    }
    return files;
}

}  // namespace tbbpipe::lab
