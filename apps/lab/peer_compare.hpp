// `tbbpipe-lab compare`: tbbpipe against the pipelines it replaces, on the same files, in the
// same run: tar | lz4 -1, tar | zstd -1 -T0, tar | pigz -1, and the same with age, both ways.
#pragma once

#include "lab/lab_options.hpp"

namespace tbbpipe::lab {

/// Prepares the data and keys, times every line (skipping peers that are not installed),
/// writes the reports into o.out_dir and prints the ratios on stdout. Returns 0, or 1 when a
/// line that ran failed. Throws LabUsageError or std::runtime_error when it cannot start.
int run_compare(const LabOptions& o);

}  // namespace tbbpipe::lab
