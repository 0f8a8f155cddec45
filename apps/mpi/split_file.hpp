// Split files: one file far larger than a rank's fair share, handled by every rank at once, each
// taking a range of its chunks, into (or out of) ONE container (tbbpipe/split.hpp).
#pragma once

#include <atomic>

#include "comm.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe::mpi {

/// What a split file did: on rank 0 the whole file's result; elsewhere this rank's part (for
/// its row of the per-rank table).
struct SplitOutcome {
    FileResult result;
    JobResult part;  ///< this rank's part job (empty when it had no chunks)
};

/// Collective: every rank calls it, in the same order, with the same file. `settings` carries
/// the operation, pack options, secret and overwrite; `durable` flushes the container (every
/// rank its own writes, rank 0 the rest) before its rename. Pack: rank 0 plans and seals the
/// header, the plan (with the file key) goes to the ranks over MPI; each packs its chunk range
/// into a hidden part file beside the output; the parts' sizes are summed over lower ranks
/// (exscan) so each rank copies its part to its final offset; rank 0 writes header and tail and
/// renames. Unpack/verify: rank 0 reads the chunk count (unauthenticated: only to split the
/// work; each rank authenticates header and index) and creates the output; each rank restores
/// its range in place. Any failure, or a stop, on any rank removes every part and the output on
/// every rank. `stop` is polled while the rank's part runs.
SplitOutcome split_file(Engine& engine, Comm& comm, const Job& settings, const Job::File& file,
                        bool durable, const std::atomic<bool>& stop);

}  // namespace tbbpipe::mpi
