#include "lab/peer_compare.hpp"

#include <cstdio>
#include <fstream>
#include <map>
#include <stdexcept>

#include "lab/child_process.hpp"
#include "lab/lab_reports.hpp"
#include "lab/lab_setup.hpp"
#include "lab/trial_runner.hpp"

namespace tbbpipe::lab {
namespace {

// A peer pipeline in both directions. Templates name their paths by placeholder; the real
// script gets them as bash positional parameters (so no path is ever re-quoted) and the report
// shows the placeholders' names.
struct PeerRecipe {
    const char* pack_name;
    const char* unpack_name;
    std::vector<const char*> tools;
    bool encrypted;
    const char* pack_template;
    const char* unpack_template;
};

// Level 1 everywhere: each peer's fastest common setting, as lz4 -1 is tbbpipe's default. zstd
// decompresses on one thread whatever -T says; pigz -d mostly so.
const std::vector<PeerRecipe>& peer_recipes() {
    static const std::vector<PeerRecipe> recipes = {
        {"tar | lz4 -1",
         "lz4 -d | tar -x",
         {"lz4"},
         false,
         "{TAR} | lz4 -1 -q -c > {OUT}/archive.tar.lz4",
         "lz4 -d -q -c {PREP}/archive.tar.lz4 | {UNTAR}"},
        {"tar | zstd -1 -T0",
         "zstd -d | tar -x",
         {"zstd"},
         false,
         "{TAR} | zstd -1 -T0 -q -c > {OUT}/archive.tar.zst",
         "zstd -d -q -c {PREP}/archive.tar.zst | {UNTAR}"},
        {"tar | pigz -1",
         "pigz -d | tar -x",
         {"pigz"},
         false,
         "{TAR} | pigz -1 -c > {OUT}/archive.tar.gz",
         "pigz -d -c {PREP}/archive.tar.gz | {UNTAR}"},
        {"tar | zstd -1 -T0 | age",
         "age -d | zstd -d | tar -x",
         {"zstd", "age", "age-keygen"},
         true,
         "{TAR} | zstd -1 -T0 -q -c | age -r {RCPT} > {OUT}/archive.tar.zst.age",
         "age -d -i {ID} {PREP}/archive.tar.zst.age | zstd -d -q -c | {UNTAR}"},
        {"tar | lz4 -1 | age",
         "age -d | lz4 -d | tar -x",
         {"lz4", "age", "age-keygen"},
         true,
         "{TAR} | lz4 -1 -q -c | age -r {RCPT} > {OUT}/archive.tar.lz4.age",
         "age -d -i {ID} {PREP}/archive.tar.lz4.age | lz4 -d -q -c | {UNTAR}"},
    };
    return recipes;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos)) {
        text.replace(pos, from.size(), to);
        pos += to.size();
    }
    return text;
}

// Placeholder -> positional parameter of the real script, and -> the name shown in reports.
const std::vector<std::tuple<std::string, std::string, std::string>>& placeholders() {
    static const std::vector<std::tuple<std::string, std::string, std::string>> table = {
        {"{TAR}", "tar -cf - -C \"$2\" --null -T \"$3\"", "tar -cf - -C DATA --null -T FILELIST"},
        {"{UNTAR}", "tar -xf - -C \"$1\"", "tar -xf - -C SCRATCH"},
        {"{OUT}", "\"$1\"", "SCRATCH"},
        {"{PREP}", "\"$4\"", "PREPARED"},
        {"{ID}", "\"$5\"", "IDENTITY"},
        {"{RCPT}", "\"$6\"", "RECIPIENT"},
    };
    return table;
}

struct PeerPaths {
    std::string bash;
    std::string data_dir;
    std::string list_file;
    std::string identity;
    std::string recipient;
};

std::vector<std::string> peer_argv(const std::string& tmpl, const PeerPaths& p,
                                   const std::string& prep_dir) {
    std::string script = tmpl;
    for (const auto& [mark, real, shown] : placeholders()) script = replace_all(script, mark, real);
    // dash has no pipefail; bash does, so a compressor dying mid-stream cannot pass for a fast
    // success.
    return {p.bash,        "-c",     "set -o pipefail; " + script,
            "tbbpipe-lab", kScratch, p.data_dir,
            p.list_file,   prep_dir, p.identity,
            p.recipient};
}

std::string shown_command(const std::string& tmpl) {
    std::string text = tmpl;
    for (const auto& [mark, real, shown] : placeholders()) text = replace_all(text, mark, shown);
    return text;
}

// Runs a command untimed with its outputs kept in dir (preparation); "" or the error.
std::string run_into(const std::vector<std::string>& argv, const std::string& dir,
                     const std::string& work_dir) {
    make_folder(dir);
    return run_untimed(with_scratch(argv, dir), work_dir);
}

// Which peer tools are installed; a tool that is missing or broken keeps its reason.
class ToolCheck {
public:
    bool have(const std::string& tool) {
        if (missing_.count(tool)) return false;
        if (find_in_path(tool)) return true;
        missing_[tool] = tool + " is not installed";
        return false;
    }
    void mark_broken(const std::string& tool, const std::string& why) { missing_[tool] = why; }
    const std::string& why_missing(const std::string& tool) { return missing_[tool]; }

private:
    std::map<std::string, std::string> missing_;
};

// An age identity and its recipient for the age lines; on failure those lines are skipped with
// the reason.
void make_age_identity(PeerPaths& paths, ToolCheck& tools, const std::string& work_dir) {
    const std::string keygen = *find_in_path("age-keygen");
    paths.identity = work_dir + "/age-identity.txt";
    try {
        const std::string err = run_untimed({keygen, "-o", paths.identity}, work_dir);
        if (!err.empty()) throw std::runtime_error(err);
        std::string r = capture_child({keygen, "-y", paths.identity}, work_dir + "/recipient.txt");
        while (!r.empty() && (r.back() == '\n' || r.back() == '\r')) r.pop_back();
        paths.recipient = r;
    } catch (const std::exception& e) {
        tools.mark_broken("age-keygen", std::string("age-keygen failed: ") + e.what());
    }
}

// Each peer is compared with the tbbpipe line of the same direction and the same encryption.
void set_ratios(CompareResult& result) {
    std::map<std::string, const CompareLine*> tbbpipe_line;
    const auto slot = [](const CompareLine& l) {
        return l.direction + (l.encrypted ? "/key" : "/plain");
    };
    for (const auto& l : result.lines) {
        if (l.is_tbbpipe) tbbpipe_line[slot(l)] = &l;
    }
    for (auto& l : result.lines) {
        if (l.is_tbbpipe) continue;
        const CompareLine* base = tbbpipe_line.at(slot(l));
        l.baseline = base->name;
        if (l.m.ok() && base->m.ok()) l.ratio = l.m.median_s / base->m.median_s;
    }
}

}  // namespace

int run_compare(const LabOptions& o) {
    const std::string tbbpipe = resolve_tbbpipe(o);
    make_folder(o.out_dir);
    const DatasetFolder data = prepare_dataset(o);
    WorkFolder work(base_dir(o));

    CompareResult result;
    result.ctx = make_context(o, tbbpipe, data, work.path());

    // Keys: tbbpipe's from its own keygen, age's from age-keygen (when installed).
    const std::string key = work.path() + "/lab.key";
    if (const std::string err = run_untimed({tbbpipe, "keygen", "-q", "-o", key}, work.path());
        !err.empty()) {
        throw std::runtime_error(tbbpipe + " keygen failed: " + err);
    }
    PeerPaths paths;
    paths.data_dir = data.dir;
    paths.list_file = work.path() + "/files.list";
    {
        // NUL-separated, so any file name survives tar -T.
        std::ofstream list(paths.list_file, std::ios::binary);
        for (const auto& name : data.names) list << name << '\0';
        if (!list.flush()) throw std::runtime_error("cannot write " + paths.list_file);
    }
    ToolCheck tools;
    if (auto bash = find_in_path("bash")) paths.bash = *bash;
    if (tools.have("age-keygen") && tools.have("age")) make_age_identity(paths, tools, work.path());

    std::vector<std::string> inputs;
    for (const auto& name : data.names) inputs.push_back(data.dir + "/" + name);

    // Lines in report order; trials point into them, so the vector is sized up front.
    const std::size_t peers = peer_recipes().size();
    result.lines.resize(2 * (2 + peers));
    std::vector<Trial> trials(result.lines.size());
    std::size_t next = 0;
    const std::vector<std::pair<std::string, bool>> tbbpipe_kinds = {{"AES-256-GCM", true},
                                                                     {"no key", false}};

    // tbbpipe pack lines, then the peers' pack lines; unpack lines mirror them.
    std::vector<std::size_t> pack_index;
    for (const auto& [kind, encrypted] : tbbpipe_kinds) {
        CompareLine& l = result.lines[next];
        Trial& t = trials[next];
        l.name = "tbbpipe pack (" + kind + ")";
        l.direction = "pack";
        l.is_tbbpipe = true;
        l.encrypted = encrypted;
        t.argv = {tbbpipe, "pack", "-q", "--no-fsync"};
        if (encrypted) t.argv.insert(t.argv.end(), {"--key-file", key});
        t.argv.insert(t.argv.end(), {"--output-dir", kScratch});
        t.argv.insert(t.argv.end(), inputs.begin(), inputs.end());
        l.command = "tbbpipe pack -q --no-fsync" + std::string(encrypted ? " --key-file KEY" : "") +
                    " --output-dir SCRATCH FILE...";
        pack_index.push_back(next++);
    }
    for (const auto& recipe : peer_recipes()) {
        CompareLine& l = result.lines[next];
        l.name = recipe.pack_name;
        l.direction = "pack";
        l.encrypted = recipe.encrypted;
        l.command = shown_command(recipe.pack_template);
        trials[next].argv = peer_argv(recipe.pack_template, paths, "");
        if (paths.bash.empty()) l.skipped = "bash is not installed";
        std::vector<std::string> needed = {"tar"};
        needed.insert(needed.end(), recipe.tools.begin(), recipe.tools.end());
        for (const auto& tool : needed) {
            if (l.skipped.empty() && !tools.have(tool)) l.skipped = tools.why_missing(tool);
        }
        pack_index.push_back(next++);
    }
    for (std::size_t k = 0; k < pack_index.size(); ++k) {
        const CompareLine& pack_line = result.lines[pack_index[k]];
        CompareLine& l = result.lines[next];
        Trial& t = trials[next];
        l.direction = "unpack";
        l.encrypted = pack_line.encrypted;
        l.is_tbbpipe = pack_line.is_tbbpipe;
        l.skipped = pack_line.skipped;
        const std::string prep = work.path() + "/prepared-" + std::to_string(k);
        if (pack_line.is_tbbpipe) {
            l.name = "tbbpipe unpack (" + tbbpipe_kinds[k].first + ")";
            t.argv = {tbbpipe, "unpack", "-q", "--no-fsync"};
            if (l.encrypted) t.argv.insert(t.argv.end(), {"--key-file", key});
            t.argv.insert(t.argv.end(), {"--output-dir", kScratch});
            for (const auto& name : data.names) t.argv.push_back(prep + "/" + name + ".tbp");
            l.command = "tbbpipe unpack -q --no-fsync" +
                        std::string(l.encrypted ? " --key-file KEY" : "") +
                        " --output-dir SCRATCH PREPARED/FILE.tbp...";
        } else {
            const PeerRecipe& recipe = peer_recipes()[k - tbbpipe_kinds.size()];
            l.name = recipe.unpack_name;
            l.command = shown_command(recipe.unpack_template);
            t.argv = peer_argv(recipe.unpack_template, paths, prep);
        }
        // The untimed preparation of the pack line writes what this unpack line reads; it is
        // also the pack line's warm-up.
        if (l.skipped.empty()) {
            if (!o.quiet)
                std::fprintf(stderr, "tbbpipe-lab: preparing %s\n", pack_line.name.c_str());
            const std::string err = run_into(trials[pack_index[k]].argv, prep, work.path());
            if (!err.empty()) {
                l.m.error = "preparing its input with `" + pack_line.name + "` failed: " + err;
            }
        }
        t.after_first = [&data](const std::string& scratch) {
            return compare_files(data.dir, data.names, scratch);
        };
        ++next;
    }
    for (const std::size_t i : pack_index) {
        CompareLine* line = &result.lines[i];
        trials[i].after_first = [line](const std::string& scratch) {
            line->stored_bytes = folder_bytes(scratch);
            return std::string();
        };
    }

    std::vector<Trial*> to_run;
    for (std::size_t i = 0; i < result.lines.size(); ++i) {
        const CompareLine& l = result.lines[i];
        trials[i].label = l.name;
        if (l.skipped.empty() && l.m.error.empty()) to_run.push_back(&trials[i]);
    }
    TrialSettings ts;
    ts.repeat = o.repeat;
    ts.work_dir = work.path();
    ts.quiet = o.quiet;
    run_trials(to_run, ts);
    result.ctx.load_end = load_average_now();

    for (std::size_t i = 0; i < result.lines.size(); ++i) {
        CompareLine& l = result.lines[i];
        if (l.skipped.empty() && l.m.error.empty()) l.m = trials[i].result;
        l.mb_s = l.m.ok() ? mb_per_s(data.bytes, l.m.median_s) : 0;
    }
    set_ratios(result);

    write_compare_reports(result, o.out_dir, work.path());
    std::fputs(compare_console(result, o.out_dir).c_str(), stdout);
    for (const auto& l : result.lines) {
        if (l.skipped.empty() && !l.m.ok()) return 1;
    }
    return 0;
}

}  // namespace tbbpipe::lab
