// What sweep and compare print on stdout when they finish: a table a person reads at a glance,
// each row with median +- sigma and the spread, as hyperfine shows them, and a warning under any
// row too noisy to trust. The same spread rule as summary.md's Noise section (kNoisySpread).
#include <algorithm>
#include <sstream>

#include "lab/knee.hpp"
#include "lab/lab_reports.hpp"

namespace tbbpipe::lab {
namespace {

// Characters on the screen, not bytes: "±" and "σ" are two bytes each in UTF-8.
std::size_t width_of(const std::string& text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

std::string pad(const std::string& text, std::size_t width, bool right_align = false) {
    const std::size_t w = width_of(text);
    const std::string fill(w < width ? width - w : 0, ' ');
    return right_align ? fill + text : text + fill;
}

// A table: rows of cells (numbers right-aligned, the columns named in left_aligned to the left)
// and, between rows, full lines (failures, warnings) that are not aligned.
class ConsoleTable {
public:
    explicit ConsoleTable(std::vector<std::size_t> left_aligned) : left_(std::move(left_aligned)) {}
    void row(std::vector<std::string> cells) { lines_.push_back({std::move(cells), {}}); }
    void line(std::string text) { lines_.push_back({{}, std::move(text)}); }

    std::string render() const {
        std::vector<std::size_t> widths;
        for (const auto& l : lines_) {
            for (std::size_t i = 0; i < l.cells.size(); ++i) {
                if (widths.size() <= i) widths.push_back(0);
                widths[i] = std::max(widths[i], width_of(l.cells[i]));
            }
        }
        std::string out;
        for (const auto& l : lines_) {
            if (l.cells.empty()) {
                out += l.text + "\n";
                continue;
            }
            std::string text;
            for (std::size_t i = 0; i < l.cells.size(); ++i) {
                const bool left = std::find(left_.begin(), left_.end(), i) != left_.end();
                text += (i ? "  " : "") + pad(l.cells[i], widths[i], !left);
            }
            while (!text.empty() && text.back() == ' ') text.pop_back();
            out += text + "\n";
        }
        return out;
    }

private:
    struct Line {
        std::vector<std::string> cells;
        std::string text;
    };
    std::vector<std::size_t> left_;
    std::vector<Line> lines_;
};

// "0.527 s ± 0.006 s"; one run has no sigma.
std::string time_cell(const Measurement& m) {
    std::string cell = fixed(m.median_s, 3) + " s";
    if (m.wall_s.size() > 1) cell += " ± " + fixed(m.stddev(), 3) + " s";
    return cell;
}

std::string spread_cell(const Measurement& m) {
    return m.wall_s.size() > 1 ? fixed(100 * m.spread(), 1) + "%" : "-";
}

std::string mib_cell(long kib) {
    return fixed(static_cast<double>(kib) / 1024, 1) + " MiB";
}

std::string percent_cell(std::uint64_t part, std::uint64_t whole) {
    return part && whole
               ? fixed(100.0 * static_cast<double>(part) / static_cast<double>(whole), 1) + "%"
               : "";
}

// The line under a noisy row, as hyperfine puts its warning under the benchmark it concerns.
std::string noise_warning(const Measurement& m) {
    return "  Warning: noisy figures: spread " + fixed(100 * m.spread(), 1) + "% is above " +
           fixed(100 * kNoisySpread, 0) + "% (fastest " + fixed(m.min_s, 3) + " s, slowest " +
           fixed(m.max_s, 3) + " s). Rerun with more --repeat or on a quieter machine.";
}

// After the table, when a row was noisy: how many, and how busy the machine was.
std::string noise_summary(std::size_t noisy, std::size_t rows, const RunContext& c) {
    if (noisy == 0) return "";
    std::string text = std::to_string(noisy) + " of " + std::to_string(rows) +
                       (rows == 1 ? " row is" : " rows are") + " noisy (--repeat " +
                       std::to_string(c.repeat) + ")";
    if (c.load_start >= 0) {
        text += "; 1-minute load average " + fixed(c.load_start, 2) + " at the start, " +
                fixed(c.load_end, 2) + " at the end, on " + std::to_string(c.cores) + " cores";
    }
    return text + ".\n";
}

std::string legend(const RunContext& c, const char* per) {
    std::string text = fixed(static_cast<double>(c.dataset.bytes) / (1 << 20), 1) + " MiB in " +
                       std::to_string(c.dataset.files) + " files, " + std::to_string(c.repeat) +
                       (c.repeat == 1 ? " run " : " runs ") + per + "; wall time median";
    if (c.repeat > 1) {
        text += " ± σ (standard deviation); spread = (slowest - fastest) / median, above " +
                fixed(100 * kNoisySpread, 0) + "% is noisy";
    }
    return text;
}

std::string one_run_note(const char* per) {
    return std::string("Note: one run ") + per +
           ", so no spread to judge the noise by; use --repeat 3 or more "
           "before trusting small differences.";
}

std::string reports_line(const std::string& out_dir) {
    return "reports: " + out_dir + "/summary.md, results.csv, results.json\n";
}

}  // namespace

std::string sweep_console(const SweepResult& r, const std::string& out_dir) {
    const bool pack = r.mode == "pack";
    std::string out = "tbbpipe " + r.mode + ": " + legend(r.ctx, "per point") + "\n";
    ConsoleTable table({0});
    std::vector<std::string> header = {"point",
                                       "median" + std::string(r.ctx.repeat > 1 ? " ± σ" : ""),
                                       "spread", "MB/s", "peak RSS"};
    if (pack) header.push_back("stored");
    table.row(header);
    std::size_t rows = 0;
    std::size_t noisy = 0;
    for (const auto& pt : r.points) {
        std::string label;
        for (const auto& [name, value] : pt.settings) {
            label += (label.empty() ? "" : " ") + name + "=" + value;
        }
        if (label.empty()) label = "(defaults)";
        if (!pt.m.ok()) {
            table.line(label + "  FAILED: " + pt.m.error);
            continue;
        }
        std::vector<std::string> cells = {label, time_cell(pt.m), spread_cell(pt.m),
                                          fixed(pt.mb_s, 1), mib_cell(pt.m.peak_rss_kib)};
        if (pack) cells.push_back(percent_cell(pt.stored_bytes, r.ctx.dataset.bytes));
        table.row(cells);
        ++rows;
        if (pt.m.noisy()) {
            table.line(noise_warning(pt.m));
            ++noisy;
        }
    }
    out += table.render() + noise_summary(noisy, rows, r.ctx);
    if (r.ctx.repeat < 2) out += one_run_note("per point") + "\n";
    for (const auto& c : r.curves) {
        out += c.parameter + ": ";
        if (!c.knee) {
            out += "no successful point\n";
            continue;
        }
        out += "knee " + c.values[*c.knee] + " (" + fixed(c.mb_s[*c.knee], 1) + " MB/s); best " +
               c.values[*c.best] + " (" + fixed(c.mb_s[*c.best], 1) + " MB/s)\n";
    }
    return out + reports_line(out_dir);
}

std::string compare_console(const CompareResult& r, const std::string& out_dir) {
    std::string out = "compare: " + legend(r.ctx, "per line") +
                      "; compression = data bytes / stored bytes (stored %)\n";
    // Both directions in one table, so their columns line up; unpack has no compression.
    ConsoleTable table({0, 5});
    std::size_t rows = 0;
    std::size_t noisy = 0;
    for (const char* direction : {"pack", "unpack"}) {
        const bool pack = std::string(direction) == "pack";
        std::vector<std::string> header = {
            direction, "median" + std::string(r.ctx.repeat > 1 ? " ± σ" : ""), "spread", "MB/s"};
        header.push_back(pack ? "compression" : "");
        header.push_back("vs tbbpipe");
        table.row(header);
        for (const auto& l : r.lines) {
            if (l.direction != direction) continue;
            if (!l.skipped.empty()) {
                table.line(l.name + "  skipped: " + l.skipped);
                continue;
            }
            if (!l.m.ok()) {
                table.line(l.name + "  FAILED: " + l.m.error);
                continue;
            }
            std::vector<std::string> cells = {l.name, time_cell(l.m), spread_cell(l.m),
                                              fixed(l.mb_s, 1)};
            {
                const bool stored = pack && l.stored_bytes && r.ctx.dataset.bytes;
                cells.push_back(stored ? fixed(static_cast<double>(r.ctx.dataset.bytes) /
                                                   static_cast<double>(l.stored_bytes),
                                               2) +
                                             ":1 (" +
                                             percent_cell(l.stored_bytes, r.ctx.dataset.bytes) + ")"
                                       : "");
            }
            cells.push_back(l.ratio ? fixed(*l.ratio, 2) + "x tbbpipe's time (" +
                                          (l.encrypted ? "with a key" : "no key") + ")"
                                    : "");
            table.row(cells);
            ++rows;
            if (l.m.noisy()) {
                table.line(noise_warning(l.m));
                ++noisy;
            }
        }
        if (pack) table.line("");
    }
    out += table.render() + noise_summary(noisy, rows, r.ctx);
    if (r.ctx.repeat < 2) out += one_run_note("per line") + "\n";
    return out + reports_line(out_dir);
}

}  // namespace tbbpipe::lab
