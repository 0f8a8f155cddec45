// Puts the reports on disk, and the small formatting helpers the writers share.
#include <cctype>
#include <cstdio>

#include "lab/knee.hpp"
#include "lab/lab_reports.hpp"
#include "lab/lab_setup.hpp"

namespace tbbpipe::lab {

std::string fixed(double value, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    return buf;
}

std::string csv_field(const std::string& text) {
    if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
    std::string out = "\"";
    for (const char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

std::string plot_stem(const std::string& name) {
    std::string out = "plot-";
    for (const char c : name) {
        out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
    }
    return out;
}

std::string md_cell(const std::string& text) {
    std::string out;
    for (const char c : text) {
        if (c == '|') {
            out += "\\|";
        } else if (c == '\n' || c == '\r') {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

void write_sweep_reports(SweepResult& r, const std::string& out_dir, const std::string& work_dir) {
    for (std::size_t i = 0; i < r.params.size() && i < r.curves.size(); ++i) {
        const SweepParameter& p = r.params[i];
        SweepCurve& c = r.curves[i];
        PlotSpec spec;
        spec.stem = plot_stem(p.name);
        spec.title = "tbbpipe " + r.mode + ": throughput vs " + p.name + " (" +
                     fixed(static_cast<double>(r.ctx.dataset.bytes) / (1 << 20), 0) + " MiB, " +
                     std::to_string(r.ctx.dataset.files) + " files, median of " +
                     std::to_string(r.ctx.repeat) + ")";
        spec.xlabel = p.name;
        spec.labels = c.values;
        spec.knee = c.knee;
        for (std::size_t k = 0; k < c.values.size(); ++k) {
            const SweepPoint* pt = c.point_index[k] ? &r.points[*c.point_index[k]] : nullptr;
            const bool ok = pt && pt->m.ok();
            const double bytes = static_cast<double>(r.ctx.dataset.bytes);
            spec.median.push_back(ok ? pt->mb_s : 0);
            // The slowest run gives the low end of throughput, the fastest the high end.
            spec.low.push_back(ok ? bytes / pt->m.max_s / 1e6 : 0);
            spec.high.push_back(ok ? bytes / pt->m.min_s / 1e6 : 0);
            if (is_thread_parameter(p.name)) {
                spec.efficiency.push_back(ok ? pt->efficiency : std::nullopt);
            }
        }
        c.plot = write_plot(spec, out_dir, r.ctx.plot_format, work_dir);
    }
    write_text_file(out_dir, "results.csv", sweep_csv(r));
    write_text_file(out_dir, "results.json", sweep_json(r));
    write_text_file(out_dir, "summary.md", sweep_markdown(r));
}

void write_compare_reports(CompareResult& r, const std::string& out_dir,
                           const std::string& work_dir) {
    r.plots.clear();
    for (const char* direction : {"pack", "unpack"}) {
        PlotSpec spec;
        spec.stem = std::string("plot-compare-") + direction;
        spec.title = std::string(direction) + ": tbbpipe and peers (" +
                     fixed(static_cast<double>(r.ctx.dataset.bytes) / (1 << 20), 0) + " MiB, " +
                     std::to_string(r.ctx.dataset.files) + " files, median of " +
                     std::to_string(r.ctx.repeat) + ")";
        spec.xlabel = "";
        spec.bars = true;
        const double bytes = static_cast<double>(r.ctx.dataset.bytes);
        for (const auto& l : r.lines) {
            if (l.direction != direction || !l.skipped.empty()) continue;
            const bool ok = l.m.ok();
            spec.labels.push_back(l.name);
            spec.median.push_back(ok ? l.mb_s : 0);
            spec.low.push_back(ok ? bytes / l.m.max_s / 1e6 : 0);
            spec.high.push_back(ok ? bytes / l.m.min_s / 1e6 : 0);
        }
        if (spec.labels.empty()) continue;
        r.plots.push_back(write_plot(spec, out_dir, r.ctx.plot_format, work_dir));
    }
    write_text_file(out_dir, "results.csv", compare_csv(r));
    write_text_file(out_dir, "results.json", compare_json(r));
    write_text_file(out_dir, "summary.md", compare_markdown(r));
}

}  // namespace tbbpipe::lab
