// RunReport: what the CLI prints about a pack, unpack or verify run: a line per file, and at the
// end a totals line or (--json) one document with every file, the engine and the metrics.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli_options.hpp"
#include "tbbpipe/container.hpp"
#include "tbbpipe/engine.hpp"
#include "tbbpipe/metrics.hpp"
#include "tbbpipe/storage.hpp"

namespace tbbpipe::cli {

/// One file as the user named it ("-" for standard input and output) and what happened to it.
struct FileReport {
    std::string input;
    std::string output;  ///< "" for verify
    FileResult result;
};

/// One rank of a distributed run (tbbpipe-mpi): what it did and what it observed.
struct RankFacts {
    int rank = 0;
    std::uint64_t files = 0;  ///< files (and parts of split files) it ran
    std::uint64_t bytes_in = 0, bytes_out = 0;
    std::uint64_t batches = 0;        ///< batches it ran
    std::uint64_t messages_sent = 0;  ///< MPI messages (collectives not counted)
    std::uint64_t message_bytes = 0;
    double busy_seconds = 0;  ///< its engine had work
    double wait_seconds = 0;  ///< waiting for work, for other ranks, or for a reply
    RunStats stats;           ///< budgets and the most ever in flight, over all its jobs
};

/// What the run as a whole used and observed, for --json and -v.
struct RunFacts {
    /// A distributed run: one row per rank (rank 0 first); empty for `tbbpipe`.
    std::vector<RankFacts> ranks;
    std::uint64_t split_files = 0;   ///< files split across ranks by chunk ranges
    const JobResult* job = nullptr;  ///< null when no file could start
    EngineConfig config;
    std::string io_tokens_from;  ///< "flag", "preset" or "device"
    IoDepthChoice storage;
    std::string metrics_url;  ///< with --metrics-listen: where it was served (the port of :0)
};

/// "f: 1.0 MiB -> 300 KiB (29.3%) in 0.01 s, 100 MB/s -> f.tbp\n" (and more with -v).
std::string file_line(const CliOptions& o, const FileReport& r);

/// The end of a run: one JSON document on stdout (--json), or a totals line for several files.
void print_summary(const CliOptions& o, const std::vector<FileReport>& reports,
                   const MetricsSnapshot& metrics, const RunFacts& facts, double wall,
                   int exit_code);

/// "1.5 MiB".
std::string human_bytes(std::uint64_t n);

/// "2026-11-29T14:35:53Z": a time in seconds since the epoch, in UTC.
std::string utc_time(std::int64_t seconds);

/// The smallest, median and largest plaintext size of a container's chunks, as its index records
/// them (info shows them beside the header's bound); nullopt without chunks.
struct ChunkSizes {
    std::uint32_t smallest = 0, median = 0, largest = 0;
};
std::optional<ChunkSizes> chunk_sizes(const std::vector<ChunkInfo>& chunks);

}  // namespace tbbpipe::cli
