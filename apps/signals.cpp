#include "apps/signals.hpp"

#include <signal.h>
#include <unistd.h>

#include "apps/exit_codes.hpp"
#include "nodes/file_io.hpp"

namespace tbbpipe::cli {
namespace {

// Lock-free atomics are async-signal-safe; the static_assert keeps it that way.
std::atomic<bool> g_cancel{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_signal(int) {
    if (g_cancel.exchange(true)) {
        nodes::remove_registered_temp_files();
        ::_exit(kExitInterrupted);
    }
}

}  // namespace

const std::atomic<bool>* install_signal_handlers() {
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    // No SA_RESTART. The signal reaches one thread only; stream reads and writes on other threads
    // notice the flag through their poll() timeout (nodes/file_io.cpp).
    action.sa_flags = 0;
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
    return &g_cancel;
}

bool interrupted() {
    return g_cancel.load();
}

}  // namespace tbbpipe::cli
