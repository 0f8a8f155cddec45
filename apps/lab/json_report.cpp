// results.json: everything the CSV has, plus the run's context and every repetition's time,
// built with nlohmann::json and written by the CLI's rule (common/json_output.hpp).
#include "common/json_output.hpp"
#include "lab/knee.hpp"
#include "lab/lab_reports.hpp"

namespace tbbpipe::lab {
namespace {

using cli::Json;

Json optional_number(const std::optional<double>& v) {
    return v ? Json(*v) : Json(nullptr);
}

void write_context(Json& j, const RunContext& c) {
    j["started"] = c.started_utc;
    j["command_line"] = c.command_line;
    j["tbbpipe"] = c.tbbpipe_path;
    j["tbbpipe_version"] = c.tbbpipe_version;
    j["hostname"] = c.hostname;
    j["commit"] = c.commit;
    j["dataset"] = {{"source", c.dataset.source},
                    {"spec", c.dataset.spec},
                    {"dir", c.dataset.dir},
                    {"files", static_cast<std::uint64_t>(c.dataset.files)},
                    {"bytes", c.dataset.bytes}};
    j["repeat"] = c.repeat;
    j["cores"] = static_cast<std::uint64_t>(c.cores);
    j["load_average_start"] = c.load_start;
    j["load_average_end"] = c.load_end;
    j["rss_floor_kib"] = static_cast<std::int64_t>(c.rss_floor_kib);
}

void write_measurement(Json& j, const Measurement& m) {
    j["status"] = m.ok() ? "ok" : "failed";
    j["error"] = m.error.empty() ? Json(nullptr) : Json(m.error);
    j["wall_s"] = {
        {"median", m.median_s}, {"min", m.min_s}, {"max", m.max_s}, {"samples", m.wall_s}};
    j["cpu_s"] = m.median_cpu_s;
    j["sys_s"] = m.median_sys_s;
    j["peak_rss_kib"] = static_cast<std::int64_t>(m.peak_rss_kib);
}

Json plot_files(const PlotFiles& p) {
    return {{"script", p.script}, {"data", p.data}, {"image", p.image}, {"note", p.note}};
}

Json curve_json(const SweepCurve& c, Json parameter) {
    parameter["knee"] = c.knee ? Json(c.values[*c.knee]) : Json(nullptr);
    parameter["best"] = c.best ? Json(c.values[*c.best]) : Json(nullptr);
    parameter["best_mb_s"] = c.best ? c.mb_s[*c.best] : 0.0;
    Json curve = Json::array();
    for (std::size_t k = 0; k < c.values.size(); ++k) {
        curve.push_back(
            {{"value", c.values[k]},
             {"mb_s", c.mb_s[k]},
             {"point", c.point_index[k] ? Json(static_cast<std::uint64_t>(*c.point_index[k]))
                                        : Json(nullptr)}});
    }
    parameter["curve"] = std::move(curve);
    parameter["plot"] = plot_files(c.plot);
    return parameter;
}

}  // namespace

std::string sweep_json(const SweepResult& r) {
    Json j = {{"tool", "tbbpipe-lab"},
              {"command", "sweep"},
              {"mode", r.mode},
              {"grid", r.grid},
              {"encrypted", r.encrypted},
              {"command_shape", r.command_shape},
              {"fixed_args", r.fixed_args}};
    write_context(j, r.ctx);
    j["knee_rule"] = kKneeRule;
    Json parameters = Json::array();
    for (std::size_t i = 0; i < r.params.size(); ++i) {
        const auto& p = r.params[i];
        Json parameter = {{"name", p.name},
                          {"flag", (p.name.size() == 1 ? "-" : "--") + p.name},
                          {"order", p.numeric ? "ascending" : "as given"},
                          {"values", p.values}};
        parameters.push_back(i < r.curves.size() ? curve_json(r.curves[i], std::move(parameter))
                                                 : std::move(parameter));
    }
    j["parameters"] = std::move(parameters);
    Json points = Json::array();
    for (const auto& pt : r.points) {
        Json point;
        point["settings"] = Json::object();
        for (const auto& [name, value] : pt.settings) point["settings"][name] = value;
        write_measurement(point, pt.m);
        point["mb_s"] = pt.mb_s;
        point["stored_bytes"] = pt.stored_bytes;
        point["speedup"] = optional_number(pt.speedup);
        point["efficiency"] = optional_number(pt.efficiency);
        points.push_back(std::move(point));
    }
    j["points"] = std::move(points);
    return cli::json_text(j) + "\n";
}

std::string compare_json(const CompareResult& r) {
    Json j = {{"tool", "tbbpipe-lab"}, {"command", "compare"}};
    write_context(j, r.ctx);
    j["ratio_rule"] =
        "peer median wall time / tbbpipe median wall time (above 1: tbbpipe is faster)";
    Json lines = Json::array();
    for (const auto& l : r.lines) {
        Json line = {{"name", l.name},
                     {"direction", l.direction},
                     {"command", l.command},
                     {"tbbpipe", l.is_tbbpipe},
                     {"encrypted", l.encrypted},
                     {"skipped", l.skipped.empty() ? Json(nullptr) : Json(l.skipped)}};
        if (l.skipped.empty()) {
            write_measurement(line, l.m);
            line["mb_s"] = l.mb_s;
            line["stored_bytes"] = l.stored_bytes;
        }
        line["baseline"] = l.baseline;
        line["ratio"] = optional_number(l.ratio);
        lines.push_back(std::move(line));
    }
    j["lines"] = std::move(lines);
    j["plots"] = Json::array();
    for (const auto& p : r.plots) j["plots"].push_back(plot_files(p));
    return cli::json_text(j) + "\n";
}

}  // namespace tbbpipe::lab
