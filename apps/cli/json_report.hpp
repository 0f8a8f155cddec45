// JsonReport: the one document every command prints with --json (docs/JSON.md, checked against
// docs/tbbpipe-output.schema.json in the tests): command, exit_code, error, files, totals, and for
// pack, unpack and verify the sets, engine and metrics sections.
#pragma once

#include <string>
#include <vector>

#include "common/json_output.hpp"
#include "run_report.hpp"
#include "tbbpipe/container.hpp"
#include "tbbpipe/metrics.hpp"
#include "tbbpipe/status.hpp"

namespace tbbpipe::cli {

/// The name a document gives a command ("pack", ...); "tbbpipe" for none.
const char* command_name(Command c);

/// pack, unpack, verify: every file (failed ones with their status and message), the totals over
/// the run's wall time, the sets, the engine and the metrics.
Json run_document(const CliOptions& o, const std::vector<FileReport>& reports,
                  const MetricsSnapshot& metrics, const RunFacts& facts, double wall,
                  int exit_code);

/// One file of info: what inspect_container read of it, or why it could not.
struct InfoReport {
    std::string input;
    Result<ContainerInfo> info;
};
Json info_document(const std::vector<InfoReport>& reports, double wall, int exit_code);

/// keygen: the key's path ("-" for standard output) and whether it was written. No key bytes.
Json keygen_document(const std::string& path, const Status& status, int exit_code);

/// A command that could not run at all (a refused command line, exit 2; a run that could not
/// start, exit 1): the shape holds, files is empty.
Json error_document(const std::string& command, const std::string& message, int exit_code);

}  // namespace tbbpipe::cli
