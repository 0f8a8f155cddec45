// What only tbbpipe-mpi's command line has (--split-size, --batch-size, --batch-files), taken
// out of argv before the rest goes to the one option parser tbbpipe uses (cli/cli_options).
#pragma once

#include <string>
#include <vector>

#include "distributed_run.hpp"

namespace tbbpipe::mpi {

/// Removes the distributed run's options from argv (up to a "--") into `m`; returns the rest.
/// Throws cli::UsageError for a bad value.
std::vector<const char*> take_mpi_options(int argc, const char* const* argv, MpiOptions& m);

/// The --help section for them.
std::string mpi_help_text();

}  // namespace tbbpipe::mpi
