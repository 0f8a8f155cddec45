// Child processes for the lab: spawn, wait with wait4 for wall time, CPU time and peak RSS.
//
// The lab measures the programs users run, so every measurement is a separate process. Peak RSS
// comes from wait4's ru_maxrss, which on Linux cannot read below the spawning process's own
// high-water mark (exec carries the old address space's peak into the child): the lab keeps its
// own footprint small for that reason and reports it as the floor (own_peak_rss_kib).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tbbpipe::lab {

/// Where a child's standard streams go, and the folder it starts in ("" keeps ours).
struct ChildIo {
    std::string stdin_path = "/dev/null";
    std::string stdout_path = "/dev/null";
    std::string stderr_path = "/dev/null";
    std::string cwd;
};

/// How a child ended and what it cost.
struct ChildOutcome {
    bool exited = false;  ///< false: killed by a signal
    int exit_code = -1;
    int signal = 0;
    double wall_s = 0;     ///< spawn to reap, steady clock
    double cpu_s = 0;      ///< user + system of the child and every descendant it waited for
    double sys_s = 0;      ///< the system part of cpu_s
    long max_rss_kib = 0;  ///< largest single process in the child's tree (see the file comment)

    bool ok() const { return exited && exit_code == 0; }
    /// "exit 2" or "killed by signal 9".
    std::string describe() const;
};

/// Runs argv[0] (a path, not searched in PATH) and waits for it.
/// Throws std::runtime_error naming the program when it cannot be started.
/// Thread-safety: callable from one thread at a time (children are reaped by pid only).
///
/// @code
///   const auto r = tbbpipe::lab::run_child({"/usr/bin/true"}, {});
///   assert(r.ok());
/// @endcode
ChildOutcome run_child(const std::vector<std::string>& argv, const ChildIo& io);

/// Runs argv and returns what it wrote on stdout (through the file scratch_file, removed after).
/// Throws std::runtime_error when it cannot start or does not exit 0.
std::string capture_child(const std::vector<std::string>& argv, const std::string& scratch_file);

/// The absolute path of an executable called name in $PATH, or nullopt.
std::optional<std::string> find_in_path(const std::string& name);

/// The path of this process's executable (/proc/self/exe). Throws std::runtime_error.
std::string own_exe_path();

/// This process's own peak resident set so far (getrusage RUSAGE_SELF), KiB.
long own_peak_rss_kib();

/// Single-quotes s for bash.
std::string shell_quote(const std::string& s);

/// The last non-empty line of a text file (a child's stderr), at most max_chars long, skipping
/// "Try '... --help'." hints.
std::string last_line_of(const std::string& path, std::size_t max_chars = 300);

}  // namespace tbbpipe::lab
