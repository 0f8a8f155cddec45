// TrialRunner: times commands N times each, round-robin, one scratch folder per run.
//
// Repetitions are interleaved (every command once, then every command again, in a shuffled
// order after the first pass) so a busy minute on a shared machine spreads over all points
// instead of landing on one. Each run gets an empty
// scratch folder that is deleted right after, so disk usage stays at one run's outputs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lab/lab_results.hpp"

namespace tbbpipe::lab {

/// One command to time. The placeholder kScratch in argv (or inside a bash -c script) is
/// replaced by the run's scratch folder.
struct Trial {
    std::string label;  ///< shown in progress lines and errors
    std::vector<std::string> argv;
    /// Runs once, after the first timed repetition, while its outputs are still in the scratch
    /// folder: the place to check a round trip and to measure output sizes. Returns an error
    /// message, or "" when all is well.
    std::function<std::string(const std::string& scratch)> after_first;
    Measurement result;
};

inline constexpr const char* kScratch = "@SCRATCH@";

struct TrialSettings {
    int repeat = 1;
    std::string work_dir;  ///< scratch folder and child stderr live here
    bool quiet = false;    ///< no progress lines on stderr
};

/// Runs each trial settings.repeat times and fills trial.result. A trial whose run fails (or
/// whose after_first check fails) gets result.error and is not run again; the others go on.
/// Throws std::runtime_error only when a child cannot be started at all.
void run_trials(std::vector<Trial*>& trials, const TrialSettings& settings);

/// argv with every kScratch replaced by dir.
std::vector<std::string> with_scratch(const std::vector<std::string>& argv, const std::string& dir);

/// Runs a command once, untimed, outside any scratch folder (keygen, preparation, verify);
/// returns "" or what went wrong ("exit 2: <its last stderr line>").
std::string run_untimed(const std::vector<std::string>& argv, const std::string& work_dir);

/// Runs a trial once, untimed (warm-up or preparation); returns "" or an error message.
std::string run_once(const Trial& trial, const TrialSettings& settings);

/// Compares dir_actual/NAME with dir_expected/NAME byte for byte for every name; returns "" or
/// the first difference ("file-0001.bin: differs at byte 4096").
std::string compare_files(const std::string& dir_expected, const std::vector<std::string>& names,
                          const std::string& dir_actual);

/// Sum of the sizes of the regular files under dir (recursive).
std::uint64_t folder_bytes(const std::string& dir);

/// Median of the values (mean of the middle two for an even count); 0 for none.
double median_of(std::vector<double> values);

}  // namespace tbbpipe::lab
