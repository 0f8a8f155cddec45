#include "lab/dataset_spec.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace tbbpipe::lab {
namespace fs = std::filesystem;
namespace {

constexpr std::uint32_t kMaxFiles = 100000;
constexpr std::uint64_t kMaxTotal = 1ull << 40;
constexpr const char* kManifestMagic = "tbbpipe-lab dataset v1";

// splitmix64: the sizes need a few well-mixed draws, and a hand-written generator (unlike
// std::normal_distribution) gives the same plan with every standard library.
std::uint64_t next_draw(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// In (0, 1]: never 0, so log() below is finite.
double unit_draw(std::uint64_t& state) {
    return static_cast<double>((next_draw(state) >> 11) + 1) * 0x1.0p-53;
}

std::string trim(const std::string& s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

double parse_real(const std::string& key, const std::string& text) {
    std::size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != text.size() || !std::isfinite(v)) {
        throw std::invalid_argument(key + "='" + text + "' is not a number");
    }
    return v;
}

std::uint64_t parse_count(const std::string& key, const std::string& text, std::uint64_t max) {
    if (text.empty() || text.size() > 19 ||
        text.find_first_not_of("0123456789") != std::string::npos) {
        throw std::invalid_argument(key + "='" + text + "' is not a whole number");
    }
    const std::uint64_t v = std::stoull(text);
    if (v > max) throw std::invalid_argument(key + "=" + text + " is above " + std::to_string(max));
    return v;
}

const char* dist_name(SizeDistribution d) {
    switch (d) {
        case SizeDistribution::kFixed: return "fixed";
        case SizeDistribution::kUniform: return "uniform";
        case SizeDistribution::kLognormal: return "lognormal";
    }
    return "?";
}

std::string format_real(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

// Each file is its own stream, so its bytes do not depend on the sizes of the files before it.
std::uint64_t file_seed(std::uint64_t seed, std::uint32_t index) {
    std::uint64_t state = seed ^ (0xd1b54a32d192ed03ull * (index + 1ull));
    return next_draw(state);
}

struct Manifest {
    bool complete = false;
    std::string spec;
    std::vector<std::pair<std::string, std::uint64_t>> files;
};

std::optional<Manifest> read_manifest(const std::string& dir) {
    std::ifstream in(dir + "/" + kManifestName);
    if (!in) return std::nullopt;
    Manifest m;
    std::string line;
    if (!std::getline(in, line) || line != kManifestMagic) return std::nullopt;
    while (std::getline(in, line)) {
        if (line.rfind("state=", 0) == 0) {
            m.complete = line == "state=complete";
        } else if (line.rfind("spec=", 0) == 0) {
            m.spec = line.substr(5);
        } else if (line.rfind("file ", 0) == 0) {
            std::istringstream fields(line.substr(5));
            std::string name;
            std::uint64_t size = 0;
            if (fields >> name >> size) m.files.emplace_back(name, size);
        }
    }
    return m;
}

// Written before the files (state=partial) and again after them (state=complete), each time by
// rename, so a run interrupted half-way is recognised as ours and regenerated, not refused.
void write_manifest(const std::string& dir, const Manifest& m) {
    const std::string path = dir + "/" + kManifestName;
    const std::string temp = path + ".partial";
    {
        std::ofstream out(temp, std::ios::trunc);
        out << kManifestMagic << "\nstate=" << (m.complete ? "complete" : "partial")
            << "\nspec=" << m.spec << '\n';
        for (const auto& [name, size] : m.files) out << "file " << name << ' ' << size << '\n';
        if (!out.flush()) throw std::runtime_error("cannot write " + temp);
    }
    std::error_code ec;
    fs::rename(temp, path, ec);
    if (ec) throw std::runtime_error("cannot rename " + temp + ": " + ec.message());
}

bool manifest_matches_disk(const std::string& dir, const Manifest& m) {
    for (const auto& [name, size] : m.files) {
        std::error_code ec;
        const auto on_disk = fs::file_size(dir + "/" + name, ec);
        if (ec || on_disk != size) return false;
    }
    return true;
}

}  // namespace

std::string DatasetSpec::to_string() const {
    std::string s = "total=" + std::to_string(total) + ",files=" + std::to_string(files) +
                    ",dist=" + dist_name(dist);
    if (dist == SizeDistribution::kLognormal) s += ",sigma=" + format_real(sigma);
    return s + ",compress=" + format_real(compress) + ",seed=" + std::to_string(seed);
}

datagen::DataMix DatasetSpec::mix() const {
    // Weights in thousandths; perf's generator needs only their ratios.
    const auto compressible = static_cast<unsigned>(std::lround(compress * 1000));
    const auto text = static_cast<unsigned>(std::lround(compress * 1000 * 2 / 3));
    return datagen::DataMix{text, 1000 - compressible, compressible - text};
}

DatasetSpec parse_dataset_spec(const std::string& text) {
    DatasetSpec spec;
    std::map<std::string, std::string> items;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string item = trim(text.substr(start, comma - start));
        start = comma + 1;
        if (item.empty()) throw std::invalid_argument("empty item (two commas, or a stray one)");
        const auto eq = item.find('=');
        if (eq == std::string::npos) {
            throw std::invalid_argument("'" + item + "' is not key=value");
        }
        const std::string key = trim(item.substr(0, eq));
        if (!items.emplace(key, trim(item.substr(eq + 1))).second) {
            throw std::invalid_argument("'" + key + "' is given twice");
        }
    }
    bool have_total = false;
    for (const auto& [key, value] : items) {
        if (key == "total") {
            spec.total = datagen::parse_byte_size(value);
            have_total = true;
        } else if (key == "files") {
            spec.files = static_cast<std::uint32_t>(parse_count(key, value, kMaxFiles));
        } else if (key == "dist") {
            if (value == "fixed")
                spec.dist = SizeDistribution::kFixed;
            else if (value == "uniform")
                spec.dist = SizeDistribution::kUniform;
            else if (value == "lognormal")
                spec.dist = SizeDistribution::kLognormal;
            else {
                throw std::invalid_argument("dist='" + value +
                                            "' is not fixed, uniform or lognormal");
            }
        } else if (key == "sigma") {
            spec.sigma = parse_real(key, value);
        } else if (key == "compress") {
            spec.compress = parse_real(key, value);
        } else if (key == "seed") {
            spec.seed = parse_count(key, value, UINT64_MAX);
        } else {
            throw std::invalid_argument("unknown key '" + key +
                                        "' (total, files, dist, sigma, compress, seed)");
        }
    }
    if (!have_total) throw std::invalid_argument("total=SIZE is required (e.g. total=64MiB)");
    if (spec.total == 0 || spec.total > kMaxTotal) {
        throw std::invalid_argument("total must be 1 byte .. 1 TiB");
    }
    if (spec.files == 0) throw std::invalid_argument("files must be at least 1");
    if (spec.files > spec.total) throw std::invalid_argument("files must not exceed total bytes");
    if (!(spec.sigma > 0 && spec.sigma <= 4))
        throw std::invalid_argument("sigma must be in (0, 4]");
    if (!(spec.compress >= 0 && spec.compress <= 1)) {
        throw std::invalid_argument("compress must be 0..1 (share of compressible bytes)");
    }
    if (items.count("sigma") && spec.dist != SizeDistribution::kLognormal) {
        throw std::invalid_argument("sigma applies to dist=lognormal only");
    }
    return spec;
}

std::vector<std::uint64_t> plan_file_sizes(const DatasetSpec& spec) {
    std::vector<double> weights(spec.files, 1.0);
    std::uint64_t state = spec.seed;
    for (auto& w : weights) {
        switch (spec.dist) {
            case SizeDistribution::kFixed: break;
            case SizeDistribution::kUniform: w = 2 * unit_draw(state); break;
            case SizeDistribution::kLognormal: {
                // Box-Muller: one standard normal from two uniform draws.
                const double u1 = unit_draw(state);
                const double u2 = unit_draw(state);
                const double z = std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
                w = std::exp(spec.sigma * z);
                break;
            }
        }
    }
    double sum = 0;
    for (const double w : weights) sum += w;
    std::vector<std::uint64_t> sizes(spec.files);
    std::uint64_t assigned = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        sizes[i] = static_cast<std::uint64_t>(
            std::floor(static_cast<double>(spec.total) * (weights[i] / sum)));
        sizes[i] = std::min(sizes[i], spec.total - assigned);
        assigned += sizes[i];
    }
    // Flooring leaves a few bytes over (fewer than files); one each to the first files makes the
    // sum exact without moving any size noticeably.
    for (std::size_t i = 0; assigned < spec.total; i = (i + 1) % sizes.size(), ++assigned) {
        ++sizes[i];
    }
    return sizes;
}

std::string dataset_file_name(std::uint32_t index) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "file-%04u.bin", index);
    return buf;
}

bool write_dataset(const DatasetSpec& spec, const std::string& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw std::runtime_error("cannot create " + dir + ": " + ec.message());

    const std::string canonical = spec.to_string();
    const auto old = read_manifest(dir);
    if (old && old->complete && old->spec == canonical && manifest_matches_disk(dir, *old)) {
        return false;
    }
    if (old) {
        for (const auto& [name, size] : old->files) fs::remove(dir + "/" + name, ec);
    } else if (!fs::is_empty(dir, ec)) {
        throw std::runtime_error(dir + " is not empty and holds no " + kManifestName +
                                 ": not a tbbpipe-lab dataset, refusing to write into it");
    }

    Manifest m;
    m.spec = canonical;
    const auto sizes = plan_file_sizes(spec);
    for (std::uint32_t i = 0; i < sizes.size(); ++i) {
        m.files.emplace_back(dataset_file_name(i), sizes[i]);
    }
    write_manifest(dir, m);
    const datagen::DataMix mix = spec.mix();
    for (std::uint32_t i = 0; i < sizes.size(); ++i) {
        const std::string path = dir + "/" + m.files[i].first;
        try {
            datagen::write_mixed_file(path, sizes[i], file_seed(spec.seed, i), mix);
        } catch (const std::exception& e) {
            throw std::runtime_error(path + ": " + e.what());
        }
    }
    m.complete = true;
    write_manifest(dir, m);
    return true;
}

DatasetFolder open_generated_dataset(const std::string& dir) {
    const auto m = read_manifest(dir);
    if (!m || !m->complete || !manifest_matches_disk(dir, *m)) {
        throw std::runtime_error(dir + "/" + kManifestName +
                                 ": missing or incomplete dataset manifest");
    }
    DatasetFolder folder;
    folder.dir = fs::absolute(dir).lexically_normal().string();
    for (const auto& [name, size] : m->files) {
        folder.names.push_back(name);
        folder.bytes += size;
    }
    return folder;
}

DatasetFolder list_input_folder(const std::string& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir + ": not a folder");
    DatasetFolder folder;
    folder.dir = fs::absolute(dir).lexically_normal().string();
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (!entry.is_regular_file()) continue;  // follows symlinks; skips folders and devices
        folder.names.push_back(entry.path().filename().string());
        folder.bytes += entry.file_size();
    }
    if (ec) throw std::runtime_error(dir + ": cannot list: " + ec.message());
    if (folder.names.empty()) throw std::runtime_error(dir + ": holds no regular file");
    std::sort(folder.names.begin(), folder.names.end());
    return folder;
}

}  // namespace tbbpipe::lab
