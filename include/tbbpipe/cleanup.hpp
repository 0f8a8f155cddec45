// Signal-safe cleanup: removing the temporary files of outputs being written, from a signal
// handler, when a program must exit at once.
#pragma once

namespace tbbpipe {

/// Removes the temporary file of every output an engine in this process is writing right now.
/// Every output is written to a hidden temporary file beside its destination and renamed into
/// place only when complete; this deletes those files. Async-signal-safe (no locks, no
/// allocation): call it from a signal handler just before _exit(). The engines' outputs are
/// unusable afterwards, so call it only on the way out.
/// @code
///   extern "C" void on_second_sigint(int) {
///       tbbpipe::remove_temporary_outputs();
///       _exit(130);
///   }
/// @endcode
void remove_temporary_outputs() noexcept;

}  // namespace tbbpipe
