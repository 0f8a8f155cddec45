// CliOptions: what the command line asked for, validated. Parsing lives in cli_options.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "nodes/container_format.hpp"
#include "nodes/job_scheduler.hpp"
#include "nodes/storage_probe.hpp"
#include "tbbpipe/stages.hpp"

namespace tbbpipe::cli {

/// A command line that cannot be run: exit 2 with this message.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class Command { kPack, kUnpack, kVerify, kInfo, kKeygen, kHelp, kVersion, kNone };

struct CliOptions {
    Command command = Command::kHelp;
    std::vector<std::string> inputs;  ///< "-" is stdin; empty is replaced by {"-"} where allowed
    bool recursive = false;           ///< -r: folders stand for the files below them
    bool follow_symlinks = false;     ///< follow symbolic links found inside folders

    // key sources
    std::optional<std::string> key_file;
    std::optional<std::string> passphrase_file;
    bool prompt_passphrase = false;

    // pack settings
    nodes::Compression compression = nodes::Compression::kLz4;
    int level = 0;  ///< 0: default of the compression
    nodes::CipherId cipher = nodes::CipherId::kAes256Gcm;
    std::string stages;  ///< --stages: a spec that replaces --compress and --cipher
    /// What --stages may name and unpack can reverse: the defaults and --stage-plugin's.
    std::shared_ptr<const StageRegistry> stage_registry = std::make_shared<const StageRegistry>();
    std::uint32_t chunk_size = 1024 * 1024;  ///< fixed size, or where auto starts
    bool chunk_auto = true;                  ///< --chunk-size auto (the default)
    std::uint8_t scrypt_log2_n = 15;

    // engine budgets
    int threads = 0;                 ///< CPU tokens (-T, --cpu-tokens); 0: all cores
    int io_tokens = 0;               ///< concurrent reads (--io-tokens); 0: from the device
    std::uint64_t memory_limit = 0;  ///< chunk-buffer bytes; 0: max(64 MiB, 8 MiB per core)
    nodes::StorageType storage_type = nodes::StorageType::kAuto;  ///< --storage-type
    nodes::SchedulerPolicy scheduler = nodes::SchedulerPolicy::kFair;
    std::uint64_t small_file_threshold = 256 * 1024;  ///< pack: one-chunk fast path below
    enum class Optimize { kNone, kThroughput, kLatency, kResources } optimize = Optimize::kNone;

    // outputs
    std::optional<std::string> output;
    std::optional<std::string> output_dir;
    bool to_stdout = false;
    bool force = false;
    bool remove_input = false;
    bool fsync = true;  ///< --no-fsync turns durability flushes off

    // reporting
    int verbosity = 1;  ///< 0 quiet, 1 normal, 2 verbose
    bool json = false;
    enum class Progress { kAuto, kOn, kOff } progress = Progress::kAuto;
    int metrics_interval_ms = 0;                ///< >0: live dashboard on stderr every so often
    std::optional<std::string> metrics_file;    ///< Prometheus textfile, rewritten atomically
    std::optional<std::string> metrics_listen;  ///< HOST:PORT for an HTTP /metrics endpoint
    bool metrics_listen_any = false;            ///< allow a non-loopback listen address
};

/// Parses argv; throws UsageError for anything invalid or inapplicable to the command.
CliOptions parse_cli(int argc, const char* const* argv);

/// Parses "1048576", "64K", "1M", "1MiB", "4k"; throws UsageError.
std::uint64_t parse_size(const std::string& text);

/// The full --help text (commands, options, exit codes).
std::string help_text();
std::string version_text();

}  // namespace tbbpipe::cli
