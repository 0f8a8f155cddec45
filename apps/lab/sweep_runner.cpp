#include "lab/sweep_runner.hpp"

#include <cstdio>
#include <iostream>
#include <map>
#include <stdexcept>

#include "lab/child_process.hpp"
#include "lab/knee.hpp"
#include "lab/lab_reports.hpp"
#include "lab/lab_setup.hpp"
#include "lab/trial_runner.hpp"

namespace tbbpipe::lab {
namespace {

using Settings = std::vector<std::pair<std::string, std::string>>;

std::vector<Settings> make_points(const std::vector<SweepParameter>& params, bool grid) {
    std::vector<Settings> points;
    if (!grid) {
        // One factor at a time: each curve moves one flag, everything else at tbbpipe's default,
        // so a knee is that flag's alone.
        for (const auto& p : params) {
            for (const auto& v : p.values) points.push_back({{p.name, v}});
        }
        return points;
    }
    points.push_back({});
    for (const auto& p : params) {
        std::vector<Settings> next;
        for (const auto& partial : points) {
            for (const auto& v : p.values) {
                Settings s = partial;
                s.emplace_back(p.name, v);
                next.push_back(std::move(s));
            }
        }
        points = std::move(next);
    }
    return points;
}

std::string label_of(const Settings& s) {
    std::string out;
    for (const auto& [name, value] : s) out += (out.empty() ? "" : " ") + name + "=" + value;
    return out;
}

// The flags of settings that belong to the pack that prepares containers (pack_time) or to the
// timed command. In pack mode everything is timed.
std::vector<std::string> flags_of(const Settings& s, const std::string& mode, bool pack_time) {
    std::vector<std::string> out;
    for (const auto& [name, value] : s) {
        const bool goes_to_prepare = mode == "unpack" && is_pack_time_parameter(name);
        if (goes_to_prepare != pack_time) continue;
        out.push_back(flag_for(name));
        out.push_back(value);
    }
    return out;
}

void append(std::vector<std::string>& to, const std::vector<std::string>& more) {
    to.insert(to.end(), more.begin(), more.end());
}

std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
    return out;
}

}  // namespace

void analyse_sweep(SweepResult& result) {
    // Speedup against the 1-thread point with the same other settings (in a one-at-a-time sweep
    // the other settings are simply absent, i.e. tbbpipe's defaults).
    for (const auto& param : result.params) {
        if (!is_thread_parameter(param.name)) continue;
        for (auto& p : result.points) {
            const std::string v = p.value_of(param.name);
            const auto threads = numeric_value(v);
            if (v.empty() || !threads || !p.m.ok()) continue;
            Settings others;
            for (const auto& s : p.settings) {
                if (s.first != param.name) others.push_back(s);
            }
            for (const auto& q : result.points) {
                const auto q_threads = numeric_value(q.value_of(param.name));
                if (!q_threads || *q_threads != 1 || !q.m.ok()) continue;
                Settings q_others;
                for (const auto& s : q.settings) {
                    if (s.first != param.name) q_others.push_back(s);
                }
                if (q_others != others) continue;
                if (const auto sc = scaling_vs_one(q.m.median_s, p.m.median_s, *threads)) {
                    p.speedup = sc->speedup;
                    p.efficiency = sc->efficiency;
                }
                break;
            }
        }
    }
    result.curves.clear();
    for (const auto& param : result.params) {
        SweepCurve c;
        c.parameter = param.name;
        for (const auto& v : param.values) {
            // With --grid several points share this value: the curve shows the fastest of them.
            std::optional<std::size_t> chosen;
            for (std::size_t i = 0; i < result.points.size(); ++i) {
                const auto& p = result.points[i];
                if (p.value_of(param.name) != v) continue;
                if (!chosen || (p.m.ok() && (!result.points[*chosen].m.ok() ||
                                             p.mb_s > result.points[*chosen].mb_s))) {
                    chosen = i;
                }
            }
            c.values.push_back(v);
            c.point_index.push_back(chosen);
            c.mb_s.push_back(chosen && result.points[*chosen].m.ok() ? result.points[*chosen].mb_s
                                                                     : 0.0);
        }
        c.knee = find_knee(c.mb_s);
        c.best = find_best(c.mb_s);
        result.curves.push_back(std::move(c));
    }
}

int run_sweep(const LabOptions& o) {
    const std::string tbbpipe = resolve_tbbpipe(o);
    make_folder(o.out_dir);
    const DatasetFolder data = prepare_dataset(o);
    WorkFolder work(base_dir(o));

    SweepResult result;
    result.ctx = make_context(o, tbbpipe, data, work.path());
    result.mode = o.mode;
    result.grid = o.grid;
    result.encrypted = !o.plain;
    Settings fixed;
    for (const auto& p : o.params) {
        if (p.values.size() == 1) {
            fixed.emplace_back(p.name, p.values[0]);
            continue;
        }
        SweepParameter sp;
        sp.name = p.name;
        sp.values = order_values(p.values, &sp.numeric);
        result.params.push_back(std::move(sp));
    }
    for (const auto& [name, value] : fixed) {
        result.fixed_args.push_back(flag_for(name));
        result.fixed_args.push_back(value);
    }
    append(result.fixed_args, o.extra);

    std::vector<std::string> key_args;
    if (!o.plain) {
        const std::string key = work.path() + "/lab.key";
        const std::string err = run_untimed({tbbpipe, "keygen", "-q", "-o", key}, work.path());
        if (!err.empty()) throw std::runtime_error(tbbpipe + " keygen failed: " + err);
        key_args = {"--key-file", key};
    }

    std::vector<std::string> inputs;
    for (const auto& name : data.names) inputs.push_back(data.dir + "/" + name);

    // Unpack reads containers packed once per distinct set of pack-only flags, untimed.
    std::map<std::string, std::pair<std::string, std::string>> prepared;  // flags -> dir, error
    const auto prepare = [&](const std::vector<std::string>& pack_flags) {
        const std::string id = join(pack_flags);
        if (auto it = prepared.find(id); it != prepared.end()) return it->second;
        const std::string dir = work.path() + "/prepared-" + std::to_string(prepared.size());
        make_folder(dir);
        std::vector<std::string> argv = {tbbpipe, "pack", "-q"};
        append(argv, key_args);
        append(argv, pack_flags);
        append(argv, {"--output-dir", dir});
        append(argv, inputs);
        if (!o.quiet)
            std::fprintf(stderr, "tbbpipe-lab: preparing containers: %s\n", join(argv).c_str());
        std::string err = run_untimed(argv, work.path());
        if (!err.empty()) err = "preparing the containers failed: " + err;
        return prepared[id] = {dir, err};
    };

    const auto settings_list = make_points(result.params, o.grid);
    result.points.resize(settings_list.size());
    std::vector<Trial> trials(settings_list.size());
    std::vector<Trial*> to_run;
    for (std::size_t i = 0; i < settings_list.size(); ++i) {
        SweepPoint& point = result.points[i];
        point.settings = settings_list[i];
        Settings all = fixed;
        for (const auto& s : point.settings) all.push_back(s);
        Trial& trial = trials[i];
        trial.label = label_of(point.settings);
        trial.argv = {tbbpipe, o.mode, "-q"};
        append(trial.argv, key_args);
        append(trial.argv, flags_of(all, o.mode, false));
        append(trial.argv, o.extra);
        append(trial.argv, {"--output-dir", kScratch});
        if (o.mode == "pack") {
            append(trial.argv, inputs);
            SweepPoint* const measured = &point;
            trial.after_first = [&, measured](const std::string& scratch) -> std::string {
                // The round trip is part of the measurement's worth: outputs that do not verify
                // make the time meaningless.
                std::vector<std::string> argv = {tbbpipe, "verify", "-q"};
                append(argv, key_args);
                for (const auto& name : data.names) argv.push_back(scratch + "/" + name + ".tbp");
                const std::string err = run_untimed(argv, work.path());
                if (!err.empty()) return "tbbpipe verify of the outputs failed: " + err;
                measured->stored_bytes = folder_bytes(scratch);
                return {};
            };
        } else {
            const auto [dir, err] = prepare(flags_of(all, o.mode, true));
            if (!err.empty()) {
                point.m.error = err;
                continue;
            }
            for (const auto& name : data.names) trial.argv.push_back(dir + "/" + name + ".tbp");
            trial.after_first = [&](const std::string& scratch) {
                return compare_files(data.dir, data.names, scratch);
            };
        }
        to_run.push_back(&trial);
    }
    if (result.mode == "pack") {
        result.command_shape = "tbbpipe pack -q" + std::string(o.plain ? "" : " --key-file KEY") +
                               " [point flags] --output-dir SCRATCH FILE...";
    } else {
        result.command_shape = "tbbpipe unpack -q" + std::string(o.plain ? "" : " --key-file KEY") +
                               " [point flags] --output-dir SCRATCH FILE.tbp...";
    }
    if (!result.fixed_args.empty()) {
        result.command_shape +=
            " (fixed on every point: " + join(result.fixed_args) +
            (o.mode == "unpack" ? "; pack-only flags shape the containers" : "") + ")";
    }

    TrialSettings ts;
    ts.repeat = o.repeat;
    ts.work_dir = work.path();
    ts.quiet = o.quiet;
    if (!to_run.empty()) {
        // Page cache, binary and libraries warm before the first timed run; not recorded.
        const std::string err = run_once(*to_run.front(), ts);
        if (!o.quiet) {
            std::fprintf(stderr, "tbbpipe-lab: warm-up run (%s)%s%s\n",
                         to_run.front()->label.c_str(), err.empty() ? "" : ": FAILED ",
                         err.c_str());
        }
    }
    run_trials(to_run, ts);
    for (std::size_t i = 0; i < result.points.size(); ++i) {
        SweepPoint& point = result.points[i];
        if (point.m.error.empty()) point.m = trials[i].result;
        point.mb_s = point.m.ok() ? mb_per_s(data.bytes, point.m.median_s) : 0;
    }
    result.ctx.load_end = load_average_now();
    analyse_sweep(result);

    write_sweep_reports(result, o.out_dir, work.path());
    std::fputs(sweep_console(result, o.out_dir).c_str(), stdout);
    for (const auto& p : result.points) {
        if (!p.m.ok()) return 1;
    }
    return 0;
}

}  // namespace tbbpipe::lab
