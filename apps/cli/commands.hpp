// Commands: runs what parse_cli() asked for and turns outcomes into messages and exit codes.
#pragma once

#include "cli_options.hpp"

namespace tbbpipe::cli {

/// Runs pack, unpack, verify, info or keygen. Returns the process exit code.
int run_command(const CliOptions& options);

/// pack, unpack, verify: every file of the run through one job (transfer.cpp).
int run_transfer(const CliOptions& options);

}  // namespace tbbpipe::cli
