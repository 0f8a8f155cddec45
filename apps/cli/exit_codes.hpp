// The CLI's exit codes: the contract documented in --help and the README.
#pragma once

#include "tbbpipe/status.hpp"

namespace tbbpipe::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;     ///< an operation failed (I/O, some file failed)
inline constexpr int kExitUsage = 2;      ///< bad command line
inline constexpr int kExitIntegrity = 3;  ///< corrupt, truncated, reordered data or wrong key
inline constexpr int kExitInterrupted = 130;

/// The exit code a failed file contributes.
inline int exit_code_for(StatusCode code) {
    switch (code) {
        case StatusCode::kOk: return kExitOk;
        case StatusCode::kCorruptData:
        case StatusCode::kAuthFailed: return kExitIntegrity;
        case StatusCode::kCancelled: return kExitInterrupted;
        case StatusCode::kInvalidArgument: return kExitUsage;
        default: return kExitFailed;
    }
}

/// Several files: the most severe wins (interrupted > integrity > usage > failed).
inline int worst_exit(int a, int b) {
    const auto rank = [](int code) {
        switch (code) {
            case kExitInterrupted: return 4;
            case kExitIntegrity: return 3;
            case kExitUsage: return 2;
            case kExitFailed: return 1;
            default: return 0;
        }
    };
    return rank(b) > rank(a) ? b : a;
}

}  // namespace tbbpipe::cli
