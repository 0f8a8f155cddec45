// Signals: SIGINT/SIGTERM ask the run to stop; a second one exits at once (temp files removed).
#pragma once

#include <atomic>

namespace tbbpipe::cli {

/// Installs the handlers; returns the flag the engine watches.
const std::atomic<bool>* install_signal_handlers();
bool interrupted();

}  // namespace tbbpipe::cli
