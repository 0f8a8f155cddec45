#include "lab/lab_setup.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "lab/child_process.hpp"
#include "lab/lab_commit.hpp"

namespace tbbpipe::lab {
namespace fs = std::filesystem;

std::string resolve_tbbpipe(const LabOptions& o) {
    std::string path;
    if (o.tbbpipe) {
        path = *o.tbbpipe;
    } else {
        path = (fs::path(own_exe_path()).parent_path() / "tbbpipe").string();
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        ::access(path.c_str(), X_OK) != 0) {
        throw LabUsageError(
            path + ": no tbbpipe executable here" +
            (o.tbbpipe ? std::string() : " (next to tbbpipe-lab); give --tbbpipe PATH"));
    }
    return fs::absolute(path).lexically_normal().string();
}

std::string base_dir(const LabOptions& o) {
    return o.work_dir.value_or(o.out_dir);
}

DatasetFolder prepare_dataset(const LabOptions& o) {
    if (o.input) return list_input_folder(*o.input);
    const std::string dir = base_dir(o) + "/data";
    make_folder(base_dir(o));
    ChildIo io;
    const std::string err_file = base_dir(o) + "/generate-stderr.txt";
    io.stderr_path = err_file;
    const ChildOutcome r =
        run_child({own_exe_path(), "generate", "--data", o.data->to_string(), "--out", dir}, io);
    const std::string said = last_line_of(err_file);
    std::error_code ignored;
    fs::remove(err_file, ignored);
    if (!r.ok()) {
        throw std::runtime_error("generating the dataset failed (" + r.describe() + ")" +
                                 (said.empty() ? "" : ": " + said));
    }
    DatasetFolder folder = open_generated_dataset(dir);
    if (!o.quiet) {
        std::fprintf(stderr, "tbbpipe-lab: dataset %s: %zu files, %llu bytes\n", folder.dir.c_str(),
                     folder.names.size(), static_cast<unsigned long long>(folder.bytes));
    }
    return folder;
}

std::string flag_for(const std::string& name) {
    return name.size() == 1 ? "-" + name : "--" + name;
}

WorkFolder::WorkFolder(const std::string& parent) {
    make_folder(parent);
    // A fresh name, never an existing folder: --out may be a folder the user keeps things in.
    std::string pattern = parent + "/.tbbpipe-lab-work-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("cannot create a work folder in " + parent + ": " +
                                 std::strerror(errno));
    }
    path_ = pattern;
}

WorkFolder::~WorkFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
}

std::string host_name() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "unknown";
    return name;
}

double load_average_now() {
    double load[1] = {-1};
    return ::getloadavg(load, 1) == 1 ? load[0] : -1;
}

RunContext make_context(const LabOptions& o, const std::string& tbbpipe, const DatasetFolder& data,
                        const std::string& work_dir) {
    RunContext ctx;
    ctx.command_line = o.command_line;
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S UTC", &utc);
    ctx.started_utc = stamp;
    ctx.tbbpipe_path = tbbpipe;
    try {
        std::string v = capture_child({tbbpipe, "--version"}, work_dir + "/version.txt");
        while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
        ctx.tbbpipe_version = v;
    } catch (const std::exception&) {
        ctx.tbbpipe_version = "unknown (--version failed)";
    }
    ctx.dataset.source = o.input ? "input" : "generated";
    ctx.dataset.spec = o.data ? o.data->to_string() : "";
    ctx.dataset.dir = data.dir;
    ctx.dataset.files = data.names.size();
    ctx.dataset.bytes = data.bytes;
    ctx.repeat = o.repeat;
    ctx.cores = std::thread::hardware_concurrency();
    ctx.hostname = host_name();
    ctx.commit = TBBPIPE_LAB_COMMIT;
    ctx.load_start = load_average_now();
    ctx.rss_floor_kib = own_peak_rss_kib();
    ctx.plot_format = o.plot;
    return ctx;
}

void make_folder(const std::string& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw std::runtime_error("cannot create " + dir + ": " + ec.message());
}

void write_text_file(const std::string& dir, const std::string& name, const std::string& text) {
    const std::string path = dir + "/" + name;
    const std::string temp = path + ".partial";
    {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out.flush()) throw std::runtime_error("cannot write " + temp);
    }
    std::error_code ec;
    fs::rename(temp, path, ec);
    if (ec) throw std::runtime_error("cannot rename " + temp + " to " + path + ": " + ec.message());
}

}  // namespace tbbpipe::lab
