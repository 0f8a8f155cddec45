// Secrets: turns --key-file, --passphrase-file, -p and TBBPIPE_PASSPHRASE into a tbbpipe::Secret.
// Nothing here ever prints key material; errors name the file, never its contents.
#pragma once

#include <string>

#include "cli_options.hpp"
#include "tbbpipe/secret.hpp"

namespace tbbpipe::cli {

/// Reads the key source the options name (none: an empty secret); when packing, -p asks twice.
/// Throws UsageError for a missing or unusable source. *warning: a key file others can read.
Secret load_secret(const CliOptions& options, bool packing, std::string* warning);

}  // namespace tbbpipe::cli
