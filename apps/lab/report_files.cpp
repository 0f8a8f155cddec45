// Puts the reports on disk, builds each plot from the results, and the small formatting helpers
// the writers share.
#include <algorithm>
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

std::string size_label(double bytes) {
    static const std::pair<double, const char*> kUnits[] = {
        {1024.0 * 1024 * 1024, "G"}, {1024.0 * 1024, "M"}, {1024.0, "K"}};
    for (const auto& [unit, suffix] : kUnits) {
        if (bytes < unit) continue;
        const double n = bytes / unit;
        // Whole units as they are ("64K"), others with one decimal ("1.5M").
        return (n == static_cast<double>(static_cast<long long>(n)) ? fixed(n, 0) : fixed(n, 1)) +
               suffix;
    }
    return fixed(bytes, 0);
}

std::string machine_label(const RunContext& c) {
    return "host " + (c.hostname.empty() ? std::string("unknown") : c.hostname) + ", " +
           std::to_string(c.cores) + " cores | commit " +
           (c.commit.empty() ? std::string("unknown") : c.commit) + " | " + c.started_utc;
}

namespace {

std::string data_size(const RunContext& c) {
    return fixed(static_cast<double>(c.dataset.bytes) / (1 << 20), 0) + " MiB, " +
           std::to_string(c.dataset.files) + " files, median of " + std::to_string(c.repeat);
}

}  // namespace

PlotSpec sweep_plot_spec(const SweepResult& r, std::size_t curve) {
    const SweepCurve& c = r.curves.at(curve);
    const SweepParameter* param = nullptr;
    for (const auto& p : r.params) {
        if (p.name == c.parameter) param = &p;
    }
    const bool threads = is_thread_parameter(c.parameter);
    const bool numeric = param ? param->numeric : false;
    PlotSpec spec;
    spec.stem = plot_stem(c.parameter);
    spec.title =
        "tbbpipe " + r.mode + ": throughput vs " + c.parameter + " (" + data_size(r.ctx) + ")";
    spec.machine = machine_label(r.ctx);
    spec.labels = c.values;
    spec.knee = c.knee;
    if (threads && numeric) {
        spec.axis = PlotAxis::kLinear;
        spec.xlabel = c.parameter + " (threads)";
    } else if (is_size_parameter(c.parameter, c.values)) {
        spec.axis = PlotAxis::kLogSize;
        spec.xlabel = c.parameter + " (bytes, log scale)";
    } else {
        spec.xlabel = c.parameter;
    }
    const double bytes = static_cast<double>(r.ctx.dataset.bytes);
    for (std::size_t k = 0; k < c.values.size(); ++k) {
        const SweepPoint* pt = c.point_index[k] ? &r.points[*c.point_index[k]] : nullptr;
        const bool ok = pt && pt->m.ok();
        spec.x.push_back(numeric_value(c.values[k]).value_or(static_cast<double>(k)));
        spec.median.push_back(ok ? pt->mb_s : 0);
        // The slowest run gives the low end of throughput, the fastest the high end.
        spec.low.push_back(ok ? bytes / pt->m.max_s / 1e6 : 0);
        spec.high.push_back(ok ? bytes / pt->m.min_s / 1e6 : 0);
        spec.peak_rss_mib.push_back(
            ok ? std::optional<double>(static_cast<double>(pt->m.peak_rss_kib) / 1024)
               : std::nullopt);
        // Stored % does not move with the thread count; the lower panel shows efficiency there.
        if (r.mode == "pack" && !threads) {
            spec.stored_pct.push_back(
                ok && pt->stored_bytes && bytes > 0
                    ? std::optional<double>(100.0 * static_cast<double>(pt->stored_bytes) / bytes)
                    : std::nullopt);
        }
        if (threads) {
            spec.efficiency.push_back(ok ? pt->efficiency : std::nullopt);
            // Perfect scaling from the 1-thread point with the same other settings: its MB/s
            // times the thread count, i.e. this point's MB/s / its efficiency.
            spec.ideal.push_back(ok && pt->efficiency && *pt->efficiency > 0
                                     ? std::optional<double>(pt->mb_s / *pt->efficiency)
                                     : std::nullopt);
        }
    }
    // A series without a single value is left out rather than drawn empty (gnuplot would warn):
    // no 1-thread point means nothing to scale from, an unpack sweep stores nothing.
    for (auto* series : {&spec.ideal, &spec.efficiency, &spec.stored_pct, &spec.peak_rss_mib}) {
        if (std::none_of(series->begin(), series->end(),
                         [](const auto& v) { return v.has_value(); })) {
            series->clear();
        }
    }
    return spec;
}

std::optional<PlotSpec> compare_plot_spec(const CompareResult& r, const std::string& direction) {
    PlotSpec spec;
    spec.stem = "plot-compare-" + direction;
    spec.title = direction + ": tbbpipe and peers (" + data_size(r.ctx) + ")";
    spec.machine = machine_label(r.ctx);
    spec.xlabel =
        "with a key: tbbpipe AES-256-GCM, peers through age. Above a peer: its median time / "
        "tbbpipe's in its group (above 1: tbbpipe is faster)";
    spec.bars = true;
    const double bytes = static_cast<double>(r.ctx.dataset.bytes);
    // Two groups, each tbbpipe's bar first and then the peers measured against it: with a key
    // (AES-256-GCM, the peers through age) and without.
    for (const bool encrypted : {true, false}) {
        for (const bool mine : {true, false}) {
            for (const auto& l : r.lines) {
                if (l.direction != direction || !l.skipped.empty() || l.encrypted != encrypted ||
                    l.is_tbbpipe != mine) {
                    continue;
                }
                const bool ok = l.m.ok();
                spec.labels.push_back(ok ? l.name : l.name + " (failed)");
                spec.median.push_back(ok ? l.mb_s : 0);
                spec.low.push_back(ok ? bytes / l.m.max_s / 1e6 : 0);
                spec.high.push_back(ok ? bytes / l.m.min_s / 1e6 : 0);
                spec.highlight.push_back(l.is_tbbpipe);
                spec.group.push_back(encrypted ? "with a key" : "without a key");
                spec.note.push_back(l.ratio ? fixed(*l.ratio, 2) + "x" : "");
            }
        }
    }
    if (spec.labels.empty()) return std::nullopt;
    return spec;
}

void write_sweep_reports(SweepResult& r, const std::string& out_dir, const std::string& work_dir) {
    for (std::size_t i = 0; i < r.curves.size(); ++i) {
        r.curves[i].plot = write_plot(sweep_plot_spec(r, i), out_dir, r.ctx.plot_format, work_dir);
    }
    write_text_file(out_dir, "results.csv", sweep_csv(r));
    write_text_file(out_dir, "results.json", sweep_json(r));
    write_text_file(out_dir, "summary.md", sweep_markdown(r));
}

void write_compare_reports(CompareResult& r, const std::string& out_dir,
                           const std::string& work_dir) {
    r.plots.clear();
    for (const char* direction : {"pack", "unpack"}) {
        if (const auto spec = compare_plot_spec(r, direction)) {
            r.plots.push_back(write_plot(*spec, out_dir, r.ctx.plot_format, work_dir));
        }
    }
    write_text_file(out_dir, "results.csv", compare_csv(r));
    write_text_file(out_dir, "results.json", compare_json(r));
    write_text_file(out_dir, "summary.md", compare_markdown(r));
}

}  // namespace tbbpipe::lab
