// `tbbpipe-lab sweep`: times the tbbpipe CLI over the values of one or more flags.
#pragma once

#include "lab/lab_options.hpp"
#include "lab/lab_results.hpp"

namespace tbbpipe::lab {

/// Prepares the data, measures every point, writes results.csv, results.json, the plots and
/// summary.md into o.out_dir, and prints the knees on stdout. Returns 0, or 1 when a point
/// failed (its row says why). Throws LabUsageError or std::runtime_error when it cannot start.
int run_sweep(const LabOptions& o);

/// Fills each point's speedup and efficiency (thread parameter against the 1-thread point with
/// the same other settings) and builds one curve per swept parameter with its knee and best.
/// Exposed for the tests: pure bookkeeping over the measured medians.
void analyse_sweep(SweepResult& result);

}  // namespace tbbpipe::lab
