#include "lab/child_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace tbbpipe::lab {
namespace {

// Owns the spawn file actions so an exception between init and destroy cannot leak them.
class SpawnActions {
public:
    SpawnActions() { ::posix_spawn_file_actions_init(&actions_); }
    ~SpawnActions() { ::posix_spawn_file_actions_destroy(&actions_); }
    SpawnActions(const SpawnActions&) = delete;
    SpawnActions& operator=(const SpawnActions&) = delete;
    posix_spawn_file_actions_t* get() { return &actions_; }

private:
    posix_spawn_file_actions_t actions_;
};

double seconds_of(const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

}  // namespace

std::string ChildOutcome::describe() const {
    if (exited) return "exit " + std::to_string(exit_code);
    return "killed by signal " + std::to_string(signal);
}

ChildOutcome run_child(const std::vector<std::string>& argv, const ChildIo& io) {
    if (argv.empty()) throw std::runtime_error("run_child: empty command");
    SpawnActions actions;
    ::posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, io.stdin_path.c_str(), O_RDONLY,
                                       0);
    ::posix_spawn_file_actions_addopen(actions.get(), STDOUT_FILENO, io.stdout_path.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::posix_spawn_file_actions_addopen(actions.get(), STDERR_FILENO, io.stderr_path.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!io.cwd.empty()) ::posix_spawn_file_actions_addchdir_np(actions.get(), io.cwd.c_str());

    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    const auto start = std::chrono::steady_clock::now();
    pid_t pid = 0;
    const int err =
        ::posix_spawn(&pid, argv[0].c_str(), actions.get(), nullptr, args.data(), environ);
    if (err != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(err));
    int status = 0;
    rusage usage{};
    while (::wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            throw std::runtime_error("wait4 for " + argv[0] + ": " + std::strerror(errno));
        }
    }
    ChildOutcome out;
    out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out.exited = WIFEXITED(status);
    out.exit_code = out.exited ? WEXITSTATUS(status) : -1;
    out.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    out.sys_s = seconds_of(usage.ru_stime);
    out.cpu_s = seconds_of(usage.ru_utime) + out.sys_s;
    out.max_rss_kib = usage.ru_maxrss;
    return out;
}

std::string capture_child(const std::vector<std::string>& argv, const std::string& scratch_file) {
    ChildIo io;
    io.stdout_path = scratch_file;
    const ChildOutcome r = run_child(argv, io);
    std::ifstream in(scratch_file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::filesystem::remove(scratch_file);
    if (!r.ok()) throw std::runtime_error(argv[0] + " failed (" + r.describe() + ")");
    return text.str();
}

std::optional<std::string> find_in_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        const std::size_t colon = std::min(dirs.find(':', start), dirs.size());
        const std::string dir = dirs.substr(start, colon - start);
        start = colon + 1;
        if (dir.empty()) continue;
        const std::string candidate = dir + "/" + name;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            ::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    return std::nullopt;
}

std::string own_exe_path() {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw std::runtime_error("cannot read /proc/self/exe: " + ec.message());
    return exe.string();
}

long own_peak_rss_kib() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string last_line_of(const std::string& path, std::size_t max_chars) {
    std::ifstream in(path);
    std::string line;
    std::string last;
    while (std::getline(in, line)) {
        // "Try 'tbbpipe --help'." follows every usage error and says nothing about it.
        if (line.rfind("Try '", 0) == 0) continue;
        if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
    }
    if (last.size() > max_chars) last = last.substr(0, max_chars) + "...";
    return last;
}

}  // namespace tbbpipe::lab
