#include "apps/file_walk.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_set>
#include <utility>

#include "apps/cli_options.hpp"
#include "nodes/file_io.hpp"

namespace tbbpipe::cli {
namespace {

constexpr const char* kSuffix = ".tbp";

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() > suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string strip_slashes(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return path;
}

std::string join(const std::string& a, const std::string& b) {
    if (a.empty()) return b;
    if (b.empty()) return a;
    return a.back() == '/' ? a + b : a + "/" + b;
}

// Output for a file found at `relative` (to its walk root) inside a folder walk.
std::string mapped_output(const CliOptions& o, const std::string& input,
                          const std::string& relative) {
    if (o.command == Command::kVerify) return "";
    const std::string base = o.output_dir ? join(*o.output_dir, relative) : input;
    if (o.command == Command::kPack) return base + kSuffix;
    return base.substr(0, base.size() - std::string(kSuffix).size());
}

std::string folder_part(const std::string& relative) {
    const auto slash = relative.rfind('/');
    return slash == std::string::npos ? "" : relative.substr(0, slash);
}

struct DirId {
    dev_t dev;
    ino_t ino;
    bool operator<(const DirId& other) const {
        return dev != other.dev ? dev < other.dev : ino < other.ino;
    }
};

class Walker {
public:
    Walker(const CliOptions& o, WalkResult& result) : o_(o), result_(result) {}

    void walk(const std::string& root, const std::string& folder, const std::string& relative) {
        struct stat st {};
        if (::stat(folder.c_str(), &st) == 0 && !visited_.insert({st.st_dev, st.st_ino}).second) {
            result_.warnings.push_back(folder + ": folder already walked (link loop?), skipped");
            return;
        }
        DIR* dir = ::opendir(folder.c_str());
        if (!dir) {
            result_.errors.push_back(
                {folder, std::string("cannot open folder: ") + std::strerror(errno)});
            return;
        }
        std::vector<std::string> names;
        while (const dirent* entry = ::readdir(dir)) {
            const std::string name = entry->d_name;
            if (name != "." && name != "..") names.push_back(name);
        }
        ::closedir(dir);
        std::sort(names.begin(), names.end());  // deterministic order, run after run
        for (const std::string& name : names) {
            const std::string path = join(folder, name);
            const std::string rel = join(relative, name);
            struct stat lst {};
            if (::lstat(path.c_str(), &lst) != 0) {
                result_.errors.push_back({path, std::strerror(errno)});
                continue;
            }
            struct stat target = lst;
            if (S_ISLNK(lst.st_mode)) {
                if (!o_.follow_symlinks) {
                    result_.warnings.push_back(path +
                                               ": symbolic link skipped (use --follow-symlinks)");
                    continue;
                }
                if (::stat(path.c_str(), &target) != 0) {
                    result_.warnings.push_back(path + ": dangling symbolic link skipped");
                    continue;
                }
            }
            if (S_ISDIR(target.st_mode)) {
                walk(root, path, rel);
            } else if (S_ISREG(target.st_mode)) {
                add(path, rel);
            } else {
                result_.warnings.push_back(path + ": special file skipped");
            }
        }
    }

    void add(const std::string& path, const std::string& relative) {
        if (o_.command != Command::kPack && !ends_with(path, kSuffix)) return;  // not a container
        // Temporary outputs of an interrupted run are never inputs.
        const std::string base = nodes::base_name(path);
        if (base.size() > 1 && base[0] == '.' && base.find(".tbbpipe-") != std::string::npos) {
            return;
        }
        PlannedFile f;
        f.input = path;
        f.output = mapped_output(o_, path, relative);
        if (o_.output_dir) {
            f.output_root = *o_.output_dir;
            f.relative_folder = folder_part(relative);
        }
        result_.files.push_back(std::move(f));
    }

private:
    const CliOptions& o_;
    WalkResult& result_;
    std::set<DirId> visited_;
};

}  // namespace

std::string output_path_for(const CliOptions& o, const std::string& input) {
    if (input == "-") {
        if (o.output_dir) throw UsageError("standard input needs -o or -c, not --output-dir");
        return o.output.value_or("-");
    }
    if (o.to_stdout) return "-";
    if (o.output) return *o.output;
    const std::string base = o.output_dir ? join(*o.output_dir, nodes::base_name(input)) : input;
    if (o.command == Command::kPack) return base + kSuffix;
    if (!ends_with(base, kSuffix)) {
        throw UsageError("unknown suffix (expected .tbp); use -o to name the output");
    }
    return base.substr(0, base.size() - std::string(kSuffix).size());
}

WalkResult plan_files(const CliOptions& o) {
    WalkResult result;
    Walker walker(o, result);
    for (const std::string& input : o.inputs) {
        struct stat st {};
        if (input != "-" && ::stat(input.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            if (!o.recursive) {
                result.errors.push_back({input, "is a folder (use -r to take its files)"});
                continue;
            }
            const std::string root = strip_slashes(input);
            walker.walk(root, root, "");
            continue;
        }
        // Named explicitly: taken as given (a missing file fails in its own outcome, in order).
        PlannedFile f;
        f.input = input;
        if (o.command != Command::kVerify) {
            try {
                f.output = output_path_for(o, input);
            } catch (const UsageError& e) {
                result.errors.push_back({input == "-" ? "(stdin)" : input, e.what(), true});
                continue;
            }
            if (o.output_dir) f.output_root = *o.output_dir;
        }
        result.files.push_back(std::move(f));
    }
    std::unordered_set<std::string> outputs;
    for (const auto& f : result.files) {
        if (f.output.empty() || f.output == "-") continue;
        if (!outputs.insert(f.output).second) {
            throw UsageError("two inputs would both write " + f.output);
        }
    }
    return result;
}

}  // namespace tbbpipe::cli
