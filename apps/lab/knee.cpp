#include "lab/knee.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>

#include "datagen/dataset.hpp"

namespace tbbpipe::lab {
namespace {

bool usable(double v) {
    return std::isfinite(v) && v > 0;
}

}  // namespace

std::optional<std::size_t> find_best(const std::vector<double>& throughput) {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < throughput.size(); ++i) {
        if (usable(throughput[i]) && (!best || throughput[i] > throughput[*best])) best = i;
    }
    return best;
}

std::optional<std::size_t> find_knee(const std::vector<double>& throughput, double share) {
    const auto best = find_best(throughput);
    if (!best) return std::nullopt;
    const double bar = share * throughput[*best];
    for (std::size_t i = 0; i < throughput.size(); ++i) {
        if (usable(throughput[i]) && throughput[i] >= bar) return i;
    }
    return best;  // unreachable: the best itself clears the bar
}

std::optional<Scaling> scaling_vs_one(double wall_one_s, double wall_n_s, double threads) {
    if (!(wall_one_s > 0) || !(wall_n_s > 0) || !(threads >= 1)) return std::nullopt;
    Scaling s;
    s.speedup = wall_one_s / wall_n_s;
    s.efficiency = s.speedup / threads;
    return s;
}

bool is_thread_parameter(const std::string& name) {
    return name == "cpu-tokens" || name == "threads" || name == "T";
}

bool is_size_parameter(const std::string& name, const std::vector<std::string>& values) {
    const auto ends_with = [&name](const std::string& tail) {
        return name.size() >= tail.size() &&
               name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
    };
    bool has_unit = false;
    for (const auto& v : values) {
        const auto n = numeric_value(v);
        if (!n || !(*n > 0)) return false;
        has_unit = has_unit || std::any_of(v.begin(), v.end(), [](char c) {
                       return std::isalpha(static_cast<unsigned char>(c)) != 0;
                   });
    }
    return !values.empty() &&
           (has_unit || ends_with("size") || ends_with("limit") || ends_with("threshold"));
}

std::optional<double> numeric_value(const std::string& text) {
    try {
        return static_cast<double>(datagen::parse_byte_size(text));
    } catch (const std::invalid_argument&) {
        return std::nullopt;
    }
}

std::vector<std::string> order_values(std::vector<std::string> values, bool* numeric) {
    const bool all_numeric = std::all_of(values.begin(), values.end(), [](const std::string& v) {
        return numeric_value(v).has_value();
    });
    if (all_numeric) {
        std::stable_sort(values.begin(), values.end(),
                         [](const std::string& a, const std::string& b) {
                             return *numeric_value(a) < *numeric_value(b);
                         });
    }
    if (numeric) *numeric = all_numeric;
    return values;
}

}  // namespace tbbpipe::lab
