// CliOptions: what the command line asked for, as the library's own options (PlanRequest,
// PackOptions, EngineConfig) plus what only a command line has. Parsing lives in cli_options.cpp;
// every value the library knows is checked by the library (tbbpipe::validate).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tbbpipe/options.hpp"
#include "tbbpipe/plan.hpp"
#include "tbbpipe/storage.hpp"

namespace tbbpipe::cli {

/// A command line that cannot be run: exit 2 with this message.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class Command { kPack, kUnpack, kVerify, kInfo, kKeygen, kHelp, kVersion, kNone };

struct CliOptions {
    Command command = Command::kHelp;
    /// The names and how outputs are named; inputs "-" is standard input (the default for pack,
    /// unpack and verify without names).
    PlanRequest plan;

    // Key sources.
    std::optional<std::string> key_file;
    std::optional<std::string> passphrase_file;
    bool prompt_passphrase = false;

    PackOptions pack;              ///< pack only
    EngineConfig engine;           ///< budgets and policies; io_tokens only when io_tokens_given
    bool io_tokens_given = false;  ///< else probed from the devices
    StorageType storage_type = StorageType::kAuto;  ///< --storage-type
    enum class Optimize { kNone, kThroughput, kLatency, kResources } optimize = Optimize::kNone;

    // Outputs.
    bool force = false;
    bool remove_input = false;

    /// With Command::kHelp: the command whose help was asked for (kNone: everything).
    Command help_for = Command::kNone;

    // Reporting.
    /// 0 silent (-qq), 1 errors only (-q), 2 normal, 3 one line per file (-v), 4 and the engine's
    /// details (-vv).
    int verbosity = 2;
    bool says_errors() const { return verbosity >= 1; }
    bool says_notes() const { return verbosity >= 2; }    ///< warnings, the summary
    bool says_files() const { return verbosity >= 3; }    ///< a line per file
    bool says_details() const { return verbosity >= 4; }  ///< engine budgets, chunk details
    bool json = false;
    enum class Progress { kAuto, kOn, kOff } progress = Progress::kAuto;
    int metrics_interval_ms = 0;                ///< >0: live dashboard on stderr every so often
    std::optional<std::string> metrics_file;    ///< Prometheus textfile, rewritten atomically
    std::optional<std::string> metrics_listen;  ///< HOST:PORT for an HTTP /metrics endpoint
    bool metrics_listen_any = false;            ///< allow a non-loopback listen address
    std::optional<std::string> metrics_push;    ///< a Pushgateway's URL (http:// or https://)
};

/// Parses argv; throws UsageError for anything invalid or inapplicable to the command.
CliOptions parse_cli(int argc, const char* const* argv);

/// For a command line parse_cli refused: its command word ("pack", ...; "tbbpipe" when none is
/// recognised) when it asks for --json (before any "--"), so the refusal can be a JSON document
/// too; nullopt otherwise.
std::optional<std::string> json_command_word(int argc, const char* const* argv);

/// Parses "1048576", "64K", "1M", "1MiB", "4k"; throws UsageError.
std::uint64_t parse_size(const std::string& text);

/// The --help text of one command (kNone: every command and option), with the exit codes.
std::string help_text(Command command = Command::kNone);
/// What `tbbpipe` alone prints: two lines.
std::string short_usage();
std::string version_text();

}  // namespace tbbpipe::cli
