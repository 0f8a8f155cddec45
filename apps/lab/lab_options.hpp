// LabOptions: what the tbbpipe-lab command line asked for, validated. Parsing lives in
// lab_options.cpp; main() only dispatches on the command.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lab/dataset_spec.hpp"

namespace tbbpipe::lab {

/// A command line that cannot be run: exit 2 with this message.
class LabUsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class LabCommand { kSweep, kCompare, kGenerate, kHelp };

/// One --param NAME=V1,V2,...: NAME becomes the tbbpipe flag --NAME.
struct ParamSpec {
    std::string name;
    std::vector<std::string> values;  ///< as given, duplicates refused
};

struct LabOptions {
    LabCommand command = LabCommand::kHelp;
    std::optional<DatasetSpec> data;      ///< --data SPEC
    std::optional<std::string> input;     ///< --input DIR
    std::string out_dir;                  ///< --out DIR (reports; the dataset too unless --workdir)
    std::optional<std::string> work_dir;  ///< --workdir DIR: dataset and scratch
    int repeat = 3;
    std::optional<std::string> tbbpipe;  ///< --tbbpipe PATH; default: next to tbbpipe-lab
    std::string plot = "png";            ///< png | svg | none
    bool quiet = false;

    // sweep
    std::vector<ParamSpec> params;
    std::string mode = "pack";  ///< pack | unpack
    bool grid = false;
    bool plain = false;              ///< no key: compression and hashing only
    std::vector<std::string> extra;  ///< --extra ARG, passed to every timed tbbpipe command

    std::string command_line;  ///< argv joined, for the reports
};

/// Parses argv; throws LabUsageError for anything invalid (a bad --data spec included).
LabOptions parse_lab_cli(int argc, const char* const* argv);

/// The full --help text (commands, options, data spec, outputs, exit codes).
std::string lab_help_text();

/// Parameters that tbbpipe accepts only when packing: in unpack mode the lab applies them to the
/// pack that prepares the containers, not to the timed unpack.
bool is_pack_time_parameter(const std::string& name);

}  // namespace tbbpipe::lab
