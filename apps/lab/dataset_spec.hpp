// DatasetSpec: the "total=512MiB,files=64,dist=lognormal,compress=0.5" description of a generated
// dataset, the file sizes it implies, and the folder of files it becomes.
//
// The bytes come from perf/dataset (the benchmarks' seeded mixed generator), so a lab run and a
// benchmark run over the same mix see the same kind of data. Everything is a function of the
// spec: the same spec always gives the same file names, sizes and bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datagen/dataset.hpp"

namespace tbbpipe::lab {

/// How the total is split into files.
enum class SizeDistribution {
    kFixed,      ///< every file total/files bytes (the remainder spread one byte each)
    kUniform,    ///< sizes drawn uniformly from 0..2x the mean, scaled to the total
    kLognormal,  ///< sizes exp(sigma * N(0,1)), scaled to the total: a few big files, many small
};

/// A parsed --data spec. Parsing fills every field; to_string() gives the canonical spelling.
struct DatasetSpec {
    std::uint64_t total = 0;  ///< bytes over all files (required)
    std::uint32_t files = 16;
    SizeDistribution dist = SizeDistribution::kLognormal;
    double sigma = 1.0;      ///< lognormal spread
    double compress = 0.75;  ///< share of bytes in compressible segments (text and records)
    std::uint64_t seed = 1;

    /// "total=4194304,files=4,dist=lognormal,sigma=1,compress=0.75,seed=1".
    std::string to_string() const;
    /// The generator's mix: compress of the bytes as text and binary records (2:1, as the
    /// benchmarks' default), the rest random. compress=0.75 is perf's default mix.
    datagen::DataMix mix() const;
};

/// Parses "key=value,...": total (K/M/G suffixes), files, dist=fixed|uniform|lognormal, sigma,
/// compress (0..1), seed. Throws std::invalid_argument naming the offending item.
DatasetSpec parse_dataset_spec(const std::string& text);

/// The size of every file, in order; they sum to spec.total exactly.
std::vector<std::uint64_t> plan_file_sizes(const DatasetSpec& spec);

/// "file-0007.bin": the name of file i (zero-padded so a sorted listing is the generation order).
std::string dataset_file_name(std::uint32_t index);

/// A folder of files to measure: its path and the regular files in it (base names, sorted).
struct DatasetFolder {
    std::string dir;
    std::vector<std::string> names;
    std::uint64_t bytes = 0;
};

/// Writes the dataset into dir (created if needed) unless dir already holds exactly this spec's
/// files, as its manifest (dataset.txt) says. Refuses a non-empty folder without a manifest, so
/// a user's files are never overwritten. Returns true when it wrote files. Throws
/// std::runtime_error naming the file that failed.
bool write_dataset(const DatasetSpec& spec, const std::string& dir);

/// The dataset in dir as write_dataset left it (from its manifest). Throws std::runtime_error.
DatasetFolder open_generated_dataset(const std::string& dir);

/// The regular files directly inside dir (not recursive: tbbpipe's --output-dir keeps only base
/// names). Throws std::runtime_error when dir is missing or holds no regular file.
DatasetFolder list_input_folder(const std::string& dir);

/// The manifest's name inside a generated dataset folder.
inline constexpr const char* kManifestName = "dataset.txt";

}  // namespace tbbpipe::lab
