// FileWalk: turns the command line's inputs (files, folders with -r) into the batch's files and
// their outputs, mirroring folder trees under --output-dir.
#pragma once

#include <string>
#include <vector>

namespace tbbpipe::cli {

struct CliOptions;

struct PlannedFile {
    std::string input;
    std::string output;  ///< "" for verify, "-" for stdout
    /// Where the output's folder must exist: output root and the folders below it to create
    /// (mirrored from the input tree); empty root when the output sits beside its input.
    std::string output_root;
    std::string relative_folder;
};

struct WalkResult {
    std::vector<PlannedFile> files;
    std::vector<std::string> warnings;  ///< skipped symlinks and special files, one line each
    /// Inputs that cannot be run at all (a folder without -r, an unreadable folder, a name
    /// whose output cannot be derived); they count as failed files.
    struct Error {
        std::string path;
        std::string message;
        bool usage = false;  ///< the command line's fault (exit 2), not the file system's (1)
    };
    std::vector<Error> errors;
};

/// Expands and maps inputs. Inside folders, symbolic links are skipped unless
/// --follow-symlinks (then a link to a folder is walked once: loops are cut), and special files
/// (FIFOs, sockets, devices) are skipped with a warning; unpack and verify take only *.tbp files
/// from folders. Names given explicitly are taken as they are (a FIFO named on the command line is
/// read as a stream). Throws UsageError when two inputs would write the same output.
WalkResult plan_files(const CliOptions& options);

/// The output name for one input outside a folder walk (pack adds .tbp, unpack removes it).
std::string output_path_for(const CliOptions& options, const std::string& input);

}  // namespace tbbpipe::cli
