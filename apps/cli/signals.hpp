// Signals: SIGINT and SIGTERM are blocked in every thread and taken by one watcher thread, so no
// tbbpipe code ever runs inside a signal handler. The first signal runs what the command set for
// it (cancel the running job; leave a prompt); a second one removes every temporary output and
// exits at once with 130.
#pragma once

#include <functional>

namespace tbbpipe::cli {

/// Blocks SIGINT and SIGTERM in the calling thread and every thread started after it (call it
/// first in main), and starts the watcher.
void install_signal_watcher();

/// What the first signal does, called on the watcher thread (replaces the previous action; an
/// empty one restores the default: only remember it). If a signal already came, the action runs
/// at once. The action must not block.
void on_interrupt(std::function<void()> action);

/// Whether SIGINT or SIGTERM came.
bool interrupted();

}  // namespace tbbpipe::cli
