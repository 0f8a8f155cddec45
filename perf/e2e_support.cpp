#include "perf/e2e_support.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "format/cipher.hpp"

extern char** environ;

namespace tbbpipe::perf {

using datagen::mix_to_string;
using datagen::parse_byte_size;
using datagen::parse_mix;
using datagen::write_mixed_file;
namespace {

std::string env_or(const char* name, const std::string& fallback) {
    const char* value = std::getenv(name);
    return value && *value ? std::string(value) : fallback;
}

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

// Owns a posix_spawn_file_actions_t so an exception between init and destroy cannot leak it.
class SpawnActions {
public:
    SpawnActions() { posix_spawn_file_actions_init(&actions_); }
    ~SpawnActions() { posix_spawn_file_actions_destroy(&actions_); }
    SpawnActions(const SpawnActions&) = delete;
    SpawnActions& operator=(const SpawnActions&) = delete;
    posix_spawn_file_actions_t* get() { return &actions_; }

private:
    posix_spawn_file_actions_t actions_;
};

ChildResult spawn_and_wait(const std::string& path, const std::vector<std::string>& args,
                           posix_spawn_file_actions_t* actions) {
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const auto start = std::chrono::steady_clock::now();
    pid_t pid = 0;
    const int err = ::posix_spawn(&pid, path.c_str(), actions, nullptr, argv.data(), environ);
    if (err != 0) throw std::runtime_error("cannot start " + path + ": " + std::strerror(err));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) fail_errno("waitpid for " + path);
    }
    ChildResult result;
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.exited = WIFEXITED(status);
    result.exit_code = result.exited ? WEXITSTATUS(status) : -1;
    return result;
}

void write_key_file(const std::string& path) {
    std::uint8_t key[32];
    format::random_bytes(key, sizeof key);
    const std::string temp = path + ".partial";
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) fail_errno("cannot create " + temp);
    const bool written = ::write(fd, key, sizeof key) == static_cast<ssize_t>(sizeof key);
    const bool closed = ::close(fd) == 0;
    if (!written || !closed || ::rename(temp.c_str(), path.c_str()) != 0) {
        fail_errno("cannot write " + path);
    }
}

}  // namespace

BenchEnv read_bench_env() {
    BenchEnv env;
    env.dir = env_or("TBBPIPE_BENCH_DIR", "/tmp/tbbpipe-bench");
    try {
        env.bytes = parse_byte_size(env_or("TBBPIPE_BENCH_BYTES", "1G"));
        env.mix = parse_mix(env_or("TBBPIPE_BENCH_MIX", mix_to_string(DataMix{})));
        const std::string reps = env_or("TBBPIPE_BENCH_REPS", "5");
        env.repetitions = std::stoi(reps);
        env.seed = std::stoull(env_or("TBBPIPE_BENCH_SEED", "1"));
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("bad TBBPIPE_BENCH_* variable: ") + e.what());
    }
    if (env.bytes == 0) throw std::runtime_error("TBBPIPE_BENCH_BYTES must be above 0");
    if (env.repetitions < 1 || env.repetitions > 1000) {
        throw std::runtime_error("TBBPIPE_BENCH_REPS must be 1..1000");
    }
    return env;
}

BenchFiles prepare_bench_files(const BenchEnv& env) {
    BenchFiles files;
    files.env = env;
    std::error_code ec;
    std::filesystem::create_directories(env.dir, ec);
    if (ec) throw std::runtime_error("cannot create " + env.dir + ": " + ec.message());

    // The name carries everything the bytes depend on, so a cached file is right by construction
    // once its size matches (write_mixed_file renames only complete files into place).
    const DataMix& m = env.mix;
    files.dataset = env.dir + "/mixed-" + std::to_string(env.bytes) + "-seed" +
                    std::to_string(env.seed) + "-t" + std::to_string(m.text) + "r" +
                    std::to_string(m.random) + "b" + std::to_string(m.binary) + ".dat";
    if (file_size(files.dataset) != static_cast<std::int64_t>(env.bytes)) {
        std::cerr << "tbbpipe_e2e_bench: writing " << env.bytes << " bytes of mixed data to "
                  << files.dataset << '\n';
        write_mixed_file(files.dataset, env.bytes, env.seed, env.mix);
    }

    files.key_file = env.dir + "/key.bin";
    if (file_size(files.key_file) != 32) write_key_file(files.key_file);

    files.identity = env.dir + "/age-identity.txt";
    if (file_size(files.identity) <= 0) {
        ::unlink(files.identity.c_str());  // age-keygen refuses to overwrite, even an empty file
        const ChildResult r =
            run_shell("age-keygen -o " + shell_quote(files.identity) + " 2>/dev/null");
        if (!r.ok()) throw std::runtime_error("age-keygen failed (is age installed?)");
    }
    files.recipient = capture_shell("age-keygen -y " + shell_quote(files.identity));
    while (!files.recipient.empty() &&
           std::isspace(static_cast<unsigned char>(files.recipient.back()))) {
        files.recipient.pop_back();
    }
    if (files.recipient.rfind("age1", 0) != 0) {
        throw std::runtime_error("age-keygen -y gave no age1 recipient");
    }
    return files;
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (const char c : s) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

ChildResult run_shell(const std::string& command) {
    return spawn_and_wait("/bin/sh", {"sh", "-c", command}, nullptr);
}

ChildResult run_program(const std::vector<std::string>& argv, const std::string& stdout_path) {
    SpawnActions actions;
    posix_spawn_file_actions_addopen(actions.get(), STDOUT_FILENO, stdout_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    return spawn_and_wait(argv.at(0), argv, actions.get());
}

PeakRss measure_peak_rss(const std::string& probe_path, const std::string& scratch_dir,
                         const std::vector<std::string>& argv) {
    const std::string result_file = scratch_dir + "/rss-probe.result";
    ::unlink(result_file.c_str());
    std::vector<std::string> probe_argv = {probe_path, result_file};
    probe_argv.insert(probe_argv.end(), argv.begin(), argv.end());
    PeakRss peak;
    peak.child = run_program(probe_argv, "/dev/null");
    std::FILE* in = std::fopen(result_file.c_str(), "r");
    int code = -1;
    const bool read = in && std::fscanf(in, "%ld %d", &peak.kib, &code) == 2;
    if (in) std::fclose(in);
    if (!read) throw std::runtime_error(probe_path + " reported nothing for " + argv.at(0));
    peak.child.exit_code = code;  // the command's, not the probe's
    peak.child.exited = true;
    return peak;
}

std::string capture_shell(const std::string& command) {
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) fail_errno("cannot run: " + command);
    std::string out;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
    const int status = ::pclose(pipe);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error("command failed: " + command);
    }
    return out;
}

std::int64_t mtime_ns(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0;
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::int64_t file_size(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return -1;
    return static_cast<std::int64_t>(st.st_size);
}

StdoutToDevNull::StdoutToDevNull() {
    std::cout.flush();
    std::fflush(stdout);
    // Close-on-exec: the peers' children must not inherit a second handle on the real stdout.
    saved_ = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
    if (saved_ < 0) fail_errno("dup(stdout)");
    const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_fd < 0 || ::dup2(null_fd, STDOUT_FILENO) < 0) {
        const int err = errno;
        if (null_fd >= 0) ::close(null_fd);
        ::close(saved_);
        errno = err;
        fail_errno("cannot point stdout at /dev/null");
    }
    ::close(null_fd);
}

StdoutToDevNull::~StdoutToDevNull() {
    std::cout.flush();
    std::fflush(stdout);
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
}

}  // namespace tbbpipe::perf
