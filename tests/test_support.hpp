// Shared helpers for the test suites: scratch folders, seeded data, whole-file I/O.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace tbbpipe::testing {

using Bytes = std::vector<std::uint8_t>;

/// A fresh folder under the system temp dir, removed with everything in it at scope end.
class ScratchDir {
public:
    ScratchDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "tbbpipe-test-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    ~ScratchDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }
    const std::string& path() const { return path_; }
    /// Names in the folder, sorted (temporary files included: tests assert none are left).
    std::vector<std::string> list() const {
        std::vector<std::string> names;
        for (const auto& e : std::filesystem::directory_iterator(path_)) {
            names.push_back(e.path().filename().string());
        }
        std::sort(names.begin(), names.end());
        return names;
    }

private:
    std::string path_;
};

enum class DataKind { kCompressible, kIncompressible, kMixed };

/// Seeded data: text-like (compresses ~4x with lz4), random, or alternating 8 KiB runs of both.
inline Bytes make_data(std::size_t size, DataKind kind, std::uint32_t seed = 1) {
    static const char* kWords[] = {"tbbpipe ", "flow ", "graph ", "chunk ", "token ", "limiter ",
                                   "sequencer ", "node ", "lz4 ", "cipher ", "\n", "data "};
    std::mt19937_64 rng(seed);
    Bytes out;
    out.reserve(size);
    std::size_t run = 0;
    bool random_run = kind == DataKind::kIncompressible;
    while (out.size() < size) {
        if (kind == DataKind::kMixed && run == 0) {
            random_run = !random_run;
            run = 8192;
        }
        if (random_run) {
            const std::uint64_t v = rng();
            for (int i = 0; i < 8 && out.size() < size; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
            run = run >= 8 ? run - 8 : 0;
        } else {
            const char* w = kWords[rng() % 12];
            for (; *w && out.size() < size; ++w) out.push_back(static_cast<std::uint8_t>(*w));
            run = run >= 6 ? run - 6 : 0;
        }
    }
    return out;
}

inline void write_file(const std::string& path, const Bytes& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

inline Bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace tbbpipe::testing
