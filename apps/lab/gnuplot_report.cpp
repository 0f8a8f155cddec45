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

std::string make_data(const PlotSpec& s) {
    std::ostringstream out;
    out << "# label median_mb_s low_mb_s high_mb_s" << (s.efficiency.empty() ? "" : " efficiency")
        << "  ('?' marks a failed point)\n";
    for (std::size_t i = 0; i < s.labels.size(); ++i) {
        const bool ok = s.median[i] > 0;
        out << dat_label(s.labels[i]) << ' ' << dat_number(s.median[i]) << ' '
            << dat_number(ok ? s.low[i] : 0) << ' ' << dat_number(ok ? s.high[i] : 0);
        if (!s.efficiency.empty()) {
            out << ' ' << (s.efficiency[i] && ok ? fixed(*s.efficiency[i], 4) : std::string("?"));
        }
        out << '\n';
    }
    return out.str();
}

std::string make_script(const PlotSpec& s, const std::string& format) {
    const std::string image = s.stem + "." + (format == "svg" ? "svg" : "png");
    const std::string dat = gp_quote(s.stem + ".dat");
    std::ostringstream gp;
    gp << "# Written by tbbpipe-lab. Redraw with: gnuplot " << s.stem << ".gp\n";
    if (format == "svg") {
        gp << "set terminal svg size 900,540 dynamic noenhanced background rgb 'white'\n";
    } else {
        gp << "set terminal pngcairo size 900,540 noenhanced\n";
    }
    gp << "set output " << gp_quote(image) << "\n"
       << "set datafile missing '?'\n"
       << "set title " << gp_quote(s.title) << "\n"
       << "set xlabel " << gp_quote(s.xlabel) << "\n"
       << "set ylabel 'MB/s (median; bars: slowest..fastest run)'\n"
       << "set yrange [0:*]\n"
       << "set grid ytics\n"
       << "set key below center horizontal\n"
       << "set offsets 0.4, 0.4, 0, 0\n";
    if (s.bars) {
        gp << "set boxwidth 0.6\n"
           << "set style fill solid 0.5 border -1\n"
           << "set xtics rotate by -25\n"
           << "plot " << dat
           << " using 0:2:xticlabels(1) with boxes lc rgb '#4682b4' title 'MB/s', \\\n"
           << "     '' using 0:2:3:4 with yerrorbars lc rgb 'black' pt -1 notitle\n";
        return gp.str();
    }
    if (!s.efficiency.empty()) {
        gp << "set y2label 'parallel efficiency (speedup / threads)'\n"
           << "set y2range [0:1.25]\n"
           << "set y2tics 0.25\n"
           << "set ytics nomirror\n";
    }
    if (s.knee) {
        gp << "set arrow from " << *s.knee << ", graph 0 to " << *s.knee
           << ", graph 1 nohead dashtype 2 lc rgb 'gray40'\n"
           << "set label 'knee' at " << *s.knee << ", graph 0.95 offset 1,0\n";
    }
    gp << "plot " << dat
       << " using 0:2:3:4:xticlabels(1) with yerrorlines lw 2 pt 7 lc rgb '#4682b4' title 'MB/s'";
    if (!s.efficiency.empty()) {
        gp << ", \\\n     '' using 0:5 axes x1y2 with linespoints lw 2 pt 5 dashtype 3 "
              "lc rgb '#b22222' title 'parallel efficiency'";
    }
    gp << '\n';
    return gp.str();
}

}  // namespace

PlotFiles write_plot(const PlotSpec& spec, const std::string& out_dir, const std::string& format,
                     const std::string& work_dir) {
    PlotFiles files;
    files.script = spec.stem + ".gp";
    files.data = spec.stem + ".dat";
    write_text_file(out_dir, files.data, make_data(spec));
    write_text_file(out_dir, files.script, make_script(spec, format));
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
