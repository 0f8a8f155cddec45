// A distributed run: pack, unpack or verify with every rank of an MPI job, each running the
// tbbpipe engine on its share (docs/DISTRIBUTED.md).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>

#include "cli_options.hpp"
#include "comm.hpp"
#include "work.hpp"

namespace tbbpipe::mpi {

/// What only a distributed run has on its command line.
struct MpiOptions {
    /// Files at least this large are split across ranks by chunk ranges; nullopt: automatic
    /// (at least 64 MiB and twice a rank's fair share, with more than one rank); 0: never.
    std::optional<std::uint64_t> split_size;
    BatchLimits batch;
};

/// A failure every rank knows of (they all return): rank 0 reports it; nobody aborts the job.
class AgreedFailure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Runs the command on every rank; returns the run's exit code (the same on every rank). Rank 0
/// plans, hands out work, prints; the others are silent.
int run_distributed(const cli::CliOptions& o, const MpiOptions& m, Comm& comm);

}  // namespace tbbpipe::mpi
