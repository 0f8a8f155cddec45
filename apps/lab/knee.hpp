// Knee detection and thread scaling: the two numbers a sweep's summary leads with.
//
// Pure functions over measured medians, so the rules are unit-tested apart from any timing.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace tbbpipe::lab {

/// Share of the best throughput a value must reach to count as the knee.
inline constexpr double kKneeShare = 0.90;

/// The rule, worded for the summary so readers know exactly what "knee" means here.
inline constexpr const char* kKneeRule =
    "the knee is the smallest swept value (the first in the order shown: ascending for sizes and "
    "counts, as given otherwise) whose median throughput is at least 90% of the best median "
    "throughput of that parameter's sweep";

/// Index of the knee in throughput (ordered as swept), or nullopt when no value succeeded.
/// Entries that are not finite or not positive (failed points) are skipped.
///
/// @code
///   find_knee({400, 780, 800, 810}) == 1   // 780 >= 0.9 * 810
/// @endcode
std::optional<std::size_t> find_knee(const std::vector<double>& throughput,
                                     double share = kKneeShare);

/// Index of the highest throughput, or nullopt when none succeeded.
std::optional<std::size_t> find_best(const std::vector<double>& throughput);

/// Speedup and parallel efficiency of an N-thread run against the 1-thread run, from median wall
/// times: speedup = wall(1) / wall(N), efficiency = speedup / N.
struct Scaling {
    double speedup = 0;
    double efficiency = 0;
};

/// Nullopt when either time is not positive or threads < 1.
std::optional<Scaling> scaling_vs_one(double wall_one_s, double wall_n_s, double threads);

/// True for the parameters that set the number of compute threads (cpu-tokens and its alias).
bool is_thread_parameter(const std::string& name);

/// True for parameters whose values are byte sizes, plotted on a log size axis: a name ending in
/// "size", "limit" or "threshold" (chunk-size, memory-limit, small-file-threshold), or any value
/// with a unit ("256K"). Every value must parse as a positive number.
bool is_size_parameter(const std::string& name, const std::vector<std::string>& values);

/// Parses a swept value as a number for ordering: "4", "256K", "1MiB", "2G"; nullopt otherwise.
std::optional<double> numeric_value(const std::string& text);

/// Puts values in sweep order: ascending when every value is numeric (then *numeric is set),
/// as given otherwise.
std::vector<std::string> order_values(std::vector<std::string> values, bool* numeric);

}  // namespace tbbpipe::lab
