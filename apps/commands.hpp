// Commands: runs what parse_cli() asked for and turns outcomes into messages and exit codes.
#pragma once

#include <atomic>

#include "apps/cli_options.hpp"

namespace tbbpipe::cli {

/// Runs pack, unpack, verify, info or keygen. Returns the process exit code.
int run_command(const CliOptions& options, const std::atomic<bool>* cancel);

}  // namespace tbbpipe::cli
