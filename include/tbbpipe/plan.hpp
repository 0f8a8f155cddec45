// File plans: which files a command line's names stand for, and where each output goes (the
// output-name rules of `tbbpipe`, for any program that wants the same behaviour).
#pragma once

#include <string>
#include <vector>

#include "tbbpipe/engine.hpp"
#include "tbbpipe/result.hpp"
#include "tbbpipe/status.hpp"

namespace tbbpipe {

/// The suffix pack adds and unpack removes.
inline constexpr const char* kContainerSuffix = ".tbp";

/// Names to expand and how their outputs are named. Value type.
struct PlanRequest {
    Operation operation = Operation::kPack;
    std::vector<std::string> inputs;  ///< files, folders (with recursive), "-" for stdin
    bool recursive = false;           ///< a folder stands for every file below it
    bool follow_symlinks = false;     ///< follow symbolic links found inside folders
    std::string output;               ///< one input: its output path ("" : derived)
    std::string output_dir;           ///< outputs go here (mirroring folder trees); "": beside
    bool to_stdout = false;           ///< the output is standard output ("-")
    /// Take block and character devices named as inputs (read to their end; /dev/zero has
    /// none). By default they are refused, as zstd does; FIFOs are always taken, as streams.
    bool read_devices = false;
};

/// A name that could not be planned. It counts as a failed file. Value type.
struct PlanError {
    enum class Reason {
        kFolder,        ///< a folder, and the request is not recursive (kFailedPrecondition)
        kNoOutputName,  ///< no output can be derived: unpack of a name without .tbp, standard
                        ///< input with an output folder (kInvalidArgument)
        kUnreadable,    ///< a folder or entry that could not be read (what the system said)
        kDevice,        ///< a block or character device named as an input (kFailedPrecondition)
    };
    std::string path;
    Reason reason = Reason::kUnreadable;
    Status status;
};

/// Something inside a folder that was left out. Value type.
struct PlanWarning {
    enum class Reason {
        kSymbolicLink,  ///< a symbolic link, and the request does not follow them
        kDanglingLink,  ///< a symbolic link to nothing
        kSpecialFile,   ///< a FIFO, socket or device
        kWalkedBefore,  ///< a folder reached a second time (a link loop)
    };
    std::string path;
    Reason reason = Reason::kSpecialFile;
    std::string message;  ///< "PATH: special file skipped"
};

/// Value type.
struct FilePlan {
    /// Every file, with its output (pack adds .tbp, unpack removes it; "" for verify; "-" for
    /// standard output) and, for outputs under output_dir, the output root to create folders in.
    std::vector<Job::File> files;
    std::vector<PlanWarning> warnings;
    std::vector<PlanError> errors;
};

/// Expands and maps names. Inside folders, symbolic links are skipped unless follow_symlinks
/// (then a link to a folder is walked once: loops are cut), special files (FIFOs, sockets,
/// devices) are skipped with a warning, unpack and verify take only *.tbp files, and the hidden
/// temporary files of an interrupted run are never taken; files come in name order. Names given
/// explicitly are taken as they are (a FIFO named explicitly is read as a stream; a device only
/// with read_devices). Fails (kInvalidArgument) when two inputs would write the same output, or
/// standard input ("-") is named twice.
/// Thread-safety: reads the file system only; safe from any thread.
/// @code
///   tbbpipe::PlanRequest request;
///   request.inputs = {"photos"};
///   request.recursive = true;
///   request.output_dir = "/backup/photos";
///   auto plan = tbbpipe::plan_files(request);  // photos/a/b.jpg -> /backup/photos/a/b.jpg.tbp
///   if (plan.ok()) job.files = plan.value().files;
/// @endcode
Result<FilePlan> plan_files(const PlanRequest& request);

}  // namespace tbbpipe
