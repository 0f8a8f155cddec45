// Secrets: turns --key-file, --passphrase-file, -p and TBBPIPE_PASSPHRASE into a UserSecret.
// Nothing here ever prints key material; errors name the file, never its contents.
#pragma once

#include <string>

#include "apps/cli_options.hpp"
#include "nodes/cipher.hpp"

namespace tbbpipe::cli {

/// Reads the key source the options name (none: an empty secret). packing: prompt twice.
/// Throws UsageError for a missing/unusable source, std::runtime_error for I/O.
nodes::UserSecret load_secret(const CliOptions& options, bool packing, std::string* warning);

/// Writes 32 random bytes to path (mode 0600, atomically; refuses to overwrite unless force)
/// or to stdout (refused on a terminal).
void write_new_key(const std::string& path, bool force);

}  // namespace tbbpipe::cli
