// Sets: the manifest at the root of an output tree (format/manifest.hpp), written after a pack
// and checked before an unpack or verify of the tree (docs/SECURITY.md, "Sets").
//
// The manifest is a container of its own: its plaintext is the manifest body, sealed with the
// run's key (or checksummed without one), one chunk after another like any file, and its
// recorded name is the manifest's. So forging, editing, truncating or swapping it is caught the
// way it is for any container.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "format/manifest.hpp"
#include "format/seal.hpp"
#include "jobs/run_context.hpp"
#include "jobs/run_plan.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe::jobs {

/// The manifests a run checks against, alive as long as its files point into them.
using Manifests = std::map<std::string, std::unique_ptr<format::Manifest>>;

/// Unpack, verify: reads the manifest of each set among the files (Job::File::set_root) and
/// ties each of its files to its entry (FileEntry::listed). A file the manifest does not list
/// fails now (kAuthFailed: added to the tree after the set was made); what the manifest lists
/// and the job lacks is reported missing. A manifest that cannot be opened is reported, and its
/// files are checked one by one. Never throws.
std::vector<SetReport> check_sets(std::vector<FileEntry>& files, const Secret& secret,
                                  format::KekCache* kek_cache, Manifests& manifests);

/// Pack, after the run and its commits: writes the manifest of each set, listing the files
/// this run packed (its files, and `members` that other jobs of the run packed) and keeping the
/// entries of an existing manifest the same secret opens (files packed into the tree by earlier
/// runs). `recipe` is the run's. Never throws.
std::vector<SetReport> write_sets(const std::vector<FileEntry>& files, const RunPlan& plan,
                                  const format::ContainerRecipe& recipe, const Secret& secret,
                                  format::KekCache* kek_cache, bool durable,
                                  const std::vector<SetMember>& members = {});

}  // namespace tbbpipe::jobs
