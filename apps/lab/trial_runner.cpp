#include "lab/trial_runner.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <stdexcept>

#include "lab/child_process.hpp"

namespace tbbpipe::lab {
namespace fs = std::filesystem;
namespace {

// An empty folder for one run's outputs, deleted with them when the run is over (also when a
// check throws), so a sweep never holds more than one run's outputs on disk.
class ScratchFolder {
public:
    explicit ScratchFolder(std::string path) : path_(std::move(path)) {
        std::error_code ec;
        fs::remove_all(path_, ec);
        fs::create_directories(path_, ec);
        if (ec) throw std::runtime_error("cannot create " + path_ + ": " + ec.message());
    }
    ~ScratchFolder() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    ScratchFolder(const ScratchFolder&) = delete;
    ScratchFolder& operator=(const ScratchFolder&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace

std::vector<std::string> with_scratch(const std::vector<std::string>& argv,
                                      const std::string& scratch) {
    std::vector<std::string> out = argv;
    const std::string mark = kScratch;
    for (auto& arg : out) {
        for (auto pos = arg.find(mark); pos != std::string::npos; pos = arg.find(mark, pos)) {
            arg.replace(pos, mark.size(), scratch);
            pos += scratch.size();
        }
    }
    return out;
}

namespace {

std::string failure_text(const ChildOutcome& r, const std::string& stderr_path) {
    const std::string said = last_line_of(stderr_path);
    return r.describe() + (said.empty() ? "" : ": " + said);
}

void summarize(Measurement& m, const std::vector<double>& cpu, const std::vector<double>& sys,
               const std::vector<long>& rss) {
    if (m.wall_s.empty()) return;
    m.median_s = median_of(m.wall_s);
    m.min_s = *std::min_element(m.wall_s.begin(), m.wall_s.end());
    m.max_s = *std::max_element(m.wall_s.begin(), m.wall_s.end());
    m.median_cpu_s = median_of(cpu);
    m.median_sys_s = median_of(sys);
    m.peak_rss_kib = *std::max_element(rss.begin(), rss.end());
}

}  // namespace

double median_of(std::vector<double> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::string run_untimed(const std::vector<std::string>& argv, const std::string& work_dir) {
    ChildIo io;
    io.stderr_path = work_dir + "/untimed-stderr.txt";
    const ChildOutcome r = run_child(argv, io);
    return r.ok() ? std::string() : failure_text(r, io.stderr_path);
}

std::string run_once(const Trial& trial, const TrialSettings& settings) {
    ScratchFolder scratch(settings.work_dir + "/scratch");
    ChildIo io;
    io.stderr_path = settings.work_dir + "/child-stderr.txt";
    const ChildOutcome r = run_child(with_scratch(trial.argv, scratch.path()), io);
    return r.ok() ? std::string() : failure_text(r, io.stderr_path);
}

void run_trials(std::vector<Trial*>& trials, const TrialSettings& settings) {
    struct Samples {
        std::vector<double> cpu;
        std::vector<double> sys;
        std::vector<long> rss;
    };
    std::vector<Samples> samples(trials.size());
    std::vector<std::size_t> order(trials.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (int rep = 0; rep < settings.repeat; ++rep) {
        // The first pass keeps the given order (progress is easy to follow); later passes are
        // shuffled, seeded by the pass, because on a VM a run can pay for what the run before it
        // left behind (freed page cache costs the next writer system time): a fixed order would
        // always charge the same neighbour.
        if (rep > 0) {
            std::mt19937 rng(static_cast<std::mt19937::result_type>(rep));
            std::shuffle(order.begin(), order.end(), rng);
        }
        for (const std::size_t t : order) {
            Trial& trial = *trials[t];
            if (!trial.result.error.empty()) continue;
            ScratchFolder scratch(settings.work_dir + "/scratch");
            ChildIo io;
            io.stderr_path = settings.work_dir + "/child-stderr.txt";
            const ChildOutcome r = run_child(with_scratch(trial.argv, scratch.path()), io);
            if (!r.ok()) {
                trial.result.error = failure_text(r, io.stderr_path);
            } else if (rep == 0 && trial.after_first) {
                trial.result.error = trial.after_first(scratch.path());
            }
            if (trial.result.error.empty()) {
                trial.result.wall_s.push_back(r.wall_s);
                samples[t].cpu.push_back(r.cpu_s);
                samples[t].sys.push_back(r.sys_s);
                samples[t].rss.push_back(r.max_rss_kib);
            }
            if (!settings.quiet) {
                std::fprintf(stderr, "tbbpipe-lab: [%d/%d] %s: ", rep + 1, settings.repeat,
                             trial.label.c_str());
                if (trial.result.error.empty()) {
                    std::fprintf(stderr, "%.3f s\n", r.wall_s);
                } else {
                    std::fprintf(stderr, "FAILED (%s)\n", trial.result.error.c_str());
                }
            }
        }
    }
    for (std::size_t t = 0; t < trials.size(); ++t) {
        Measurement& m = trials[t]->result;
        if (!m.error.empty()) {
            m.wall_s.clear();  // a failed point has no timing worth reporting
            continue;
        }
        summarize(m, samples[t].cpu, samples[t].sys, samples[t].rss);
    }
}

std::string compare_files(const std::string& dir_expected, const std::vector<std::string>& names,
                          const std::string& dir_actual) {
    std::vector<char> a(1 << 16);
    std::vector<char> b(1 << 16);
    for (const auto& name : names) {
        std::ifstream want(dir_expected + "/" + name, std::ios::binary);
        std::ifstream got(dir_actual + "/" + name, std::ios::binary);
        if (!want) return dir_expected + "/" + name + ": cannot read";
        if (!got) return name + ": missing from the restored output";
        std::uint64_t offset = 0;
        while (true) {
            want.read(a.data(), static_cast<std::streamsize>(a.size()));
            got.read(b.data(), static_cast<std::streamsize>(b.size()));
            const auto n_want = static_cast<std::size_t>(want.gcount());
            const auto n_got = static_cast<std::size_t>(got.gcount());
            const auto n = std::min(n_want, n_got);
            const auto diff = std::mismatch(a.begin(), a.begin() + static_cast<long>(n), b.begin());
            if (diff.first != a.begin() + static_cast<long>(n) || n_want != n_got) {
                const auto at = offset + static_cast<std::uint64_t>(diff.first - a.begin());
                return name + ": restored bytes differ from the original at byte " +
                       std::to_string(at);
            }
            offset += n;
            if (n_want == 0) break;
        }
    }
    return {};
}

std::uint64_t folder_bytes(const std::string& dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
        if (entry.is_regular_file(ec)) total += entry.file_size(ec);
    }
    return total;
}

}  // namespace tbbpipe::lab
