// results.json: everything the CSV has, plus the run's context and every repetition's time,
// written with the tbbpipe CLI's own small JSON emitter (apps/json_writer).
#include "common/json_writer.hpp"
#include "lab/knee.hpp"
#include "lab/lab_reports.hpp"

namespace tbbpipe::lab {
namespace {

using cli::JsonWriter;

void optional_number(JsonWriter& j, const char* name, const std::optional<double>& v) {
    j.key(name);
    if (v) {
        j.value(*v);
    } else {
        j.null();
    }
}

void write_context(JsonWriter& j, const RunContext& c) {
    j.key("started").value(c.started_utc);
    j.key("command_line").value(c.command_line);
    j.key("tbbpipe").value(c.tbbpipe_path);
    j.key("tbbpipe_version").value(c.tbbpipe_version);
    j.key("dataset").begin_object();
    j.key("source").value(c.dataset.source);
    j.key("spec").value(c.dataset.spec);
    j.key("dir").value(c.dataset.dir);
    j.key("files").value(static_cast<std::uint64_t>(c.dataset.files));
    j.key("bytes").value(c.dataset.bytes);
    j.end_object();
    j.key("repeat").value(c.repeat);
    j.key("cores").value(static_cast<std::uint64_t>(c.cores));
    j.key("load_average_start").value(c.load_start);
    j.key("load_average_end").value(c.load_end);
    j.key("rss_floor_kib").value(static_cast<std::int64_t>(c.rss_floor_kib));
}

void write_measurement(JsonWriter& j, const Measurement& m) {
    j.key("status").value(m.ok() ? "ok" : "failed");
    j.key("error");
    if (m.error.empty()) {
        j.null();
    } else {
        j.value(m.error);
    }
    j.key("wall_s").begin_object();
    j.key("median").value(m.median_s);
    j.key("min").value(m.min_s);
    j.key("max").value(m.max_s);
    j.key("samples").begin_array();
    for (const double s : m.wall_s) j.value(s);
    j.end_array();
    j.end_object();
    j.key("cpu_s").value(m.median_cpu_s);
    j.key("sys_s").value(m.median_sys_s);
    j.key("peak_rss_kib").value(static_cast<std::int64_t>(m.peak_rss_kib));
}

void write_plot_files(JsonWriter& j, const PlotFiles& p) {
    j.begin_object();
    j.key("script").value(p.script);
    j.key("data").value(p.data);
    j.key("image").value(p.image);
    j.key("note").value(p.note);
    j.end_object();
}

}  // namespace

std::string sweep_json(const SweepResult& r) {
    JsonWriter j;
    j.begin_object();
    j.key("tool").value("tbbpipe-lab");
    j.key("command").value("sweep");
    j.key("mode").value(r.mode);
    j.key("grid").value(r.grid);
    j.key("encrypted").value(r.encrypted);
    j.key("command_shape").value(r.command_shape);
    j.key("fixed_args").begin_array();
    for (const auto& a : r.fixed_args) j.value(a);
    j.end_array();
    write_context(j, r.ctx);
    j.key("knee_rule").value(kKneeRule);
    j.key("parameters").begin_array();
    for (std::size_t i = 0; i < r.params.size(); ++i) {
        const auto& p = r.params[i];
        j.begin_object();
        j.key("name").value(p.name);
        j.key("flag").value((p.name.size() == 1 ? "-" : "--") + p.name);
        j.key("order").value(p.numeric ? "ascending" : "as given");
        j.key("values").begin_array();
        for (const auto& v : p.values) j.value(v);
        j.end_array();
        if (i < r.curves.size()) {
            const SweepCurve& c = r.curves[i];
            j.key("knee");
            if (c.knee) {
                j.value(c.values[*c.knee]);
            } else {
                j.null();
            }
            j.key("best");
            if (c.best) {
                j.value(c.values[*c.best]);
            } else {
                j.null();
            }
            j.key("best_mb_s").value(c.best ? c.mb_s[*c.best] : 0.0);
            j.key("curve").begin_array();
            for (std::size_t k = 0; k < c.values.size(); ++k) {
                j.begin_object();
                j.key("value").value(c.values[k]);
                j.key("mb_s").value(c.mb_s[k]);
                j.key("point");
                if (c.point_index[k]) {
                    j.value(static_cast<std::uint64_t>(*c.point_index[k]));
                } else {
                    j.null();
                }
                j.end_object();
            }
            j.end_array();
            j.key("plot");
            write_plot_files(j, c.plot);
        }
        j.end_object();
    }
    j.end_array();
    j.key("points").begin_array();
    for (const auto& pt : r.points) {
        j.begin_object();
        j.key("settings").begin_object();
        for (const auto& [name, value] : pt.settings) j.key(name).value(value);
        j.end_object();
        write_measurement(j, pt.m);
        j.key("mb_s").value(pt.mb_s);
        j.key("stored_bytes").value(pt.stored_bytes);
        optional_number(j, "speedup", pt.speedup);
        optional_number(j, "efficiency", pt.efficiency);
        j.end_object();
    }
    j.end_array();
    j.end_object();
    return j.str() + "\n";
}

std::string compare_json(const CompareResult& r) {
    JsonWriter j;
    j.begin_object();
    j.key("tool").value("tbbpipe-lab");
    j.key("command").value("compare");
    write_context(j, r.ctx);
    j.key("ratio_rule")
        .value("peer median wall time / tbbpipe median wall time (above 1: tbbpipe is faster)");
    j.key("lines").begin_array();
    for (const auto& l : r.lines) {
        j.begin_object();
        j.key("name").value(l.name);
        j.key("direction").value(l.direction);
        j.key("command").value(l.command);
        j.key("tbbpipe").value(l.is_tbbpipe);
        j.key("encrypted").value(l.encrypted);
        j.key("skipped");
        if (l.skipped.empty()) {
            j.null();
        } else {
            j.value(l.skipped);
        }
        if (l.skipped.empty()) {
            write_measurement(j, l.m);
            j.key("mb_s").value(l.mb_s);
            j.key("stored_bytes").value(l.stored_bytes);
        }
        j.key("baseline").value(l.baseline);
        optional_number(j, "ratio", l.ratio);
        j.end_object();
    }
    j.end_array();
    j.key("plots").begin_array();
    for (const auto& p : r.plots) write_plot_files(j, p);
    j.end_array();
    j.end_object();
    return j.str() + "\n";
}

}  // namespace tbbpipe::lab
