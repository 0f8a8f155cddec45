// Secrets: turns --key-file, --passphrase-file, -p and TBBPIPE_PASSPHRASE into a tbbpipe::Secret.
// Nothing here ever prints key material; errors name the file, never its contents.
#pragma once

#include <string>

#include "cli_options.hpp"
#include "tbbpipe/secret.hpp"

namespace tbbpipe::cli {

/// Takes TBBPIPE_PASSPHRASE out of the environment, first thing in main (before any thread reads
/// the environment): kept for load_secret(), then wiped in place (so /proc/PID/environ no longer
/// shows it) and unset, so no child and no core dump inherits it.
void take_environment_passphrase();

/// Reads the key source the options name (none: an empty secret); when packing, -p asks twice.
/// Throws UsageError for a missing or unusable source. *warning: a key file others can read.
/// Once a secret is held the process is marked non-dumpable: no core dump, no same-user ptrace.
Secret load_secret(const CliOptions& options, bool packing, std::string* warning);

}  // namespace tbbpipe::cli
