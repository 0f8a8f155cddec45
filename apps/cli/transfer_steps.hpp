// The steps of a pack, unpack or verify run that every front end of the CLI shares: `tbbpipe`
// (transfer.cpp) runs them in one process, `tbbpipe-mpi` (apps/mpi) on every rank.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli_options.hpp"
#include "live_report.hpp"
#include "metrics_http.hpp"
#include "metrics_push.hpp"
#include "run_report.hpp"
#include "tbbpipe/engine.hpp"
#include "tbbpipe/plan.hpp"

namespace tbbpipe::cli {

/// A failed file's message, with the flag that fixes it where there is one ("use -f").
std::string with_hint(const Status& status);
/// What the user sees for a name that could not be planned.
std::string plan_error_message(const PlanError& e);
/// The regular files' bytes (for the progress line's total).
std::uint64_t total_input_bytes(const std::vector<Job::File>& files);
/// The plan's files as a job's: standard input and output become descriptors (refused on a
/// terminal); a file that cannot start fails alone in `reports`. job_report maps each job file
/// to its report.
Job make_job(const CliOptions& o, const Secret& secret, const FilePlan& plan,
             std::vector<FileReport>& reports, std::vector<std::size_t>& job_report);
/// The engine's budgets: the options', and the I/O depth from the devices of the job's files
/// unless given.
EngineConfig engine_config(const CliOptions& o, const Job& job, RunFacts& facts);
/// The live report's options from the command line.
LiveReportOptions live_options(const CliOptions& o);
/// --metrics-listen: the endpoint, serving render(); null without the flag.
std::unique_ptr<MetricsHttpServer> serve_metrics(const CliOptions& o,
                                                 std::function<std::string()> render);
/// --metrics-push: the pusher of render() (`rank`: a distributed run's grouping label, or "");
/// null without the flag.
std::unique_ptr<MetricsPusher> push_metrics(const CliOptions& o,
                                            std::function<std::string()> render, LiveReport& live,
                                            const std::string& rank);
/// What the sets' reports say (unwritable or damaged manifests, missing containers), emitted;
/// returns the exit code they make.
int report_sets(const CliOptions& o, const std::vector<SetReport>& sets, LiveReport& live);

}  // namespace tbbpipe::cli
