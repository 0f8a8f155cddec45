// plan_files (tbbpipe/plan.hpp): names into files and outputs, folder trees walked and mirrored.

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_set>
#include <utility>

#include "core/status_error.hpp"
#include "jobs/file_io.hpp"
#include "tbbpipe/plan.hpp"

namespace tbbpipe {
namespace {

using jobs::base_name;

const std::string kSuffix = kContainerSuffix;

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
std::string mapped_output(const PlanRequest& r, const std::string& input,
                          const std::string& relative) {
    if (r.operation == Operation::kVerify) return "";
    const std::string base = !r.output_dir.empty() ? join(r.output_dir, relative) : input;
    if (r.operation == Operation::kPack) return base + kSuffix;
    return base.substr(0, base.size() - kSuffix.size());
}

// The output for a name given explicitly; throws kInvalidArgument when it cannot be derived.
std::string output_for(const PlanRequest& r, const std::string& input) {
    if (input == "-") {
        if (!r.output_dir.empty()) {
            throw StatusError(StatusCode::kInvalidArgument,
                              "standard input needs an output path or standard output, not an "
                              "output folder");
        }
        return r.output.empty() ? "-" : r.output;
    }
    if (r.to_stdout) return "-";
    if (!r.output.empty()) return r.output;
    const std::string base = !r.output_dir.empty() ? join(r.output_dir, base_name(input)) : input;
    if (r.operation == Operation::kPack) return base + kSuffix;
    if (!ends_with(base, kSuffix)) {
        throw StatusError(StatusCode::kInvalidArgument, "unknown suffix (expected .tbp)");
    }
    return base.substr(0, base.size() - kSuffix.size());
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
    Walker(const PlanRequest& r, FilePlan& result) : r_(r), result_(result) {}

    void walk(const std::string& root, const std::string& folder, const std::string& relative) {
        struct stat st {};
        if (::stat(folder.c_str(), &st) == 0 && !visited_.insert({st.st_dev, st.st_ino}).second) {
            warn(folder, PlanWarning::Reason::kWalkedBefore,
                 "folder already walked (link loop?), skipped");
            return;
        }
        DIR* dir = ::opendir(folder.c_str());
        if (!dir) {
            result_.errors.push_back(
                {folder,
                 PlanError::Reason::kUnreadable,
                 {status_code_from_errno(errno),
                  std::string("cannot open folder: ") + std::strerror(errno)}});
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
                result_.errors.push_back({path,
                                          PlanError::Reason::kUnreadable,
                                          {status_code_from_errno(errno), std::strerror(errno)}});
                continue;
            }
            struct stat target = lst;
            if (S_ISLNK(lst.st_mode)) {
                if (!r_.follow_symlinks) {
                    warn(path, PlanWarning::Reason::kSymbolicLink, "symbolic link skipped");
                    continue;
                }
                if (::stat(path.c_str(), &target) != 0) {
                    warn(path, PlanWarning::Reason::kDanglingLink,
                         "dangling symbolic link skipped");
                    continue;
                }
            }
            if (S_ISDIR(target.st_mode)) {
                walk(root, path, rel);
            } else if (S_ISREG(target.st_mode)) {
                add(root, path, rel);
            } else {
                warn(path, PlanWarning::Reason::kSpecialFile, "special file skipped");
            }
        }
    }

    void add(const std::string& root, const std::string& path, const std::string& relative) {
        if (r_.operation != Operation::kPack && !ends_with(path, kSuffix)) return;  // not one
        // Temporary outputs of an interrupted run are never inputs.
        const std::string base = base_name(path);
        if (base.size() > 1 && base[0] == '.' && base.find(".tbbpipe-") != std::string::npos) {
            return;
        }
        Job::File f;
        f.input = path;
        f.output = mapped_output(r_, path, relative);
        if (!r_.output_dir.empty()) f.output_root = r_.output_dir;
        // Names: a container records its path in the tree, and a tree's containers must record
        // theirs; the tree is a set, checked against its manifest.
        if (r_.operation == Operation::kPack) {
            f.name = relative;
        } else {
            f.name = relative.substr(0, relative.size() - kSuffix.size());
            f.name_must_match = true;
            f.set_root = root;
        }
        result_.files.push_back(std::move(f));
    }

private:
    void warn(const std::string& path, PlanWarning::Reason reason, const std::string& what) {
        result_.warnings.push_back({path, reason, path + ": " + what});
    }

    const PlanRequest& r_;
    FilePlan& result_;
    std::set<DirId> visited_;
};

}  // namespace

namespace {

FilePlan plan(const PlanRequest& r) {
    if (std::count(r.inputs.begin(), r.inputs.end(), "-") > 1) {
        throw StatusError(StatusCode::kInvalidArgument, "standard input (-) is named twice");
    }
    FilePlan result;
    Walker walker(r, result);
    for (const std::string& input : r.inputs) {
        struct stat st {};
        const bool known = input != "-" && ::stat(input.c_str(), &st) == 0;
        if (known && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && !r.read_devices) {
            // /dev/zero would be read until killed; a disk, byte by byte of it.
            result.errors.push_back(
                {input,
                 PlanError::Reason::kDevice,
                 {StatusCode::kFailedPrecondition, "is a device, not a regular file (not read)"}});
            continue;
        }
        if (known && S_ISDIR(st.st_mode)) {
            if (!r.recursive) {
                result.errors.push_back({input,
                                         PlanError::Reason::kFolder,
                                         {StatusCode::kFailedPrecondition, "is a folder"}});
                continue;
            }
            const std::string root = strip_slashes(input);
            walker.walk(root, root, "");
            continue;
        }
        // Named explicitly: taken as given (a missing file fails in its own outcome, in order).
        Job::File f;
        f.input = input;
        if (r.operation != Operation::kPack && input != "-" && ends_with(input, kSuffix)) {
            // One container, maybe renamed: a differing name is worth a warning, no more.
            const std::string base = base_name(input);
            f.name = base.substr(0, base.size() - kSuffix.size());
        }
        if (r.operation != Operation::kVerify) {
            try {
                f.output = output_for(r, input);
            } catch (const StatusError& e) {
                result.errors.push_back({input, PlanError::Reason::kNoOutputName, e.status()});
                continue;
            }
            if (!r.output_dir.empty()) f.output_root = r.output_dir;
        }
        result.files.push_back(std::move(f));
    }
    // Several files packed into one output folder (or any tree) make a set: its manifest lists
    // them all.
    if (r.operation == Operation::kPack && !r.output_dir.empty() &&
        (r.recursive || result.files.size() > 1)) {
        for (Job::File& f : result.files) f.set_root = r.output_dir;
    }
    std::unordered_set<std::string> outputs;
    for (const auto& f : result.files) {
        if (f.output.empty() || f.output == "-") continue;
        if (!outputs.insert(f.output).second) {
            throw StatusError(StatusCode::kInvalidArgument,
                              "two inputs would both write " + f.output);
        }
    }
    return result;
}

}  // namespace

Result<FilePlan> plan_files(const PlanRequest& request) {
    try {
        return plan(request);
    } catch (...) {
        return status_from_current_exception();
    }
}

}  // namespace tbbpipe
