// E2E support: the files the end-to-end benchmark works on, and the child processes it runs.
//
// Everything lives in one cache folder ($TBBPIPE_BENCH_DIR, default /tmp/tbbpipe-bench) so a
// second run reuses the 1 GiB dataset, the key and the age identity instead of paying for them
// again. Outputs under test always go to /dev/null, for tbbpipe and its peers alike.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "datagen/dataset.hpp"

namespace tbbpipe::perf {

using datagen::DataMix;

/// What the environment asks for (read once; see docs/PERFORMANCE.md).
struct BenchEnv {
    std::string dir;          ///< $TBBPIPE_BENCH_DIR or /tmp/tbbpipe-bench
    std::uint64_t bytes = 0;  ///< $TBBPIPE_BENCH_BYTES (K/M/G), default 1 GiB
    int repetitions = 5;      ///< $TBBPIPE_BENCH_REPS
    std::uint64_t seed = 1;   ///< $TBBPIPE_BENCH_SEED
    DataMix mix;              ///< $TBBPIPE_BENCH_MIX, default text:50,random:25,binary:25
};

/// Throws std::runtime_error when a variable is set but malformed.
BenchEnv read_bench_env();

/// The cached inputs. Paths are absolute or relative to the working folder as given.
struct BenchFiles {
    BenchEnv env;
    std::string dataset;    ///< env.bytes of mixed data
    std::string key_file;   ///< 32 random bytes (tbbpipe --key-file)
    std::string identity;   ///< age identity file
    std::string recipient;  ///< its public key, "age1..."
};

/// Creates what is missing (dataset, key, identity) and reuses what is there.
/// Throws std::runtime_error naming the step that failed.
BenchFiles prepare_bench_files(const BenchEnv& env);

/// Single-quotes s for /bin/sh.
std::string shell_quote(const std::string& s);

/// How a child ended.
struct ChildResult {
    bool exited = false;
    int exit_code = -1;
    double seconds = 0;

    bool ok() const { return exited && exit_code == 0; }
};

/// Runs `/bin/sh -c command` and waits. Throws std::runtime_error if it cannot start.
ChildResult run_shell(const std::string& command);

/// Runs argv[0] directly, with standard output sent to stdout_path. Throws std::runtime_error if
/// it cannot start.
ChildResult run_program(const std::vector<std::string>& argv, const std::string& stdout_path);

/// Peak resident set of a command and of every descendant it waited for (a shell pipeline
/// reports its largest process, not the sum).
struct PeakRss {
    ChildResult child;
    long kib = 0;
};

/// Runs argv through tbbpipe_rss_probe (probe_path), standard output to /dev/null. Not through
/// wait4 here: a child of this big process would inherit its high-water mark as a floor.
/// Throws std::runtime_error if the probe cannot run or reports nothing.
PeakRss measure_peak_rss(const std::string& probe_path, const std::string& scratch_dir,
                         const std::vector<std::string>& argv);

/// Runs a shell command and returns what it printed on stdout; throws if it fails.
std::string capture_shell(const std::string& command);

/// Modification time in nanoseconds; 0 if the file does not exist.
std::int64_t mtime_ns(const std::string& path);
/// Size in bytes; -1 if the file does not exist.
std::int64_t file_size(const std::string& path);

/// Points file descriptor 1 at /dev/null for its lifetime, after flushing what the C and C++
/// streams still buffer (or the reporter's text would vanish into /dev/null). Restores the
/// original descriptor on destruction.
/// Thread-safety: process-wide; one at a time, from the thread that runs the benchmarks.
class StdoutToDevNull {
public:
    StdoutToDevNull();
    ~StdoutToDevNull();
    StdoutToDevNull(const StdoutToDevNull&) = delete;
    StdoutToDevNull& operator=(const StdoutToDevNull&) = delete;

private:
    int saved_ = -1;
};

}  // namespace tbbpipe::perf
