#include "signals.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "exit_codes.hpp"
#include "tbbpipe/cleanup.hpp"

namespace tbbpipe::cli {
namespace {

std::mutex g_mutex;
std::function<void()> g_action;  // guarded by g_mutex
// relaxed would do for a flag read for display, but interrupted() decides exit codes after a
// job: acquire/release keeps it ordered with what the action did.
std::atomic<bool> g_interrupted{false};

sigset_t watched() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

void watch() {
    const sigset_t set = watched();
    for (;;) {
        int signal = 0;
        if (::sigwait(&set, &signal) != 0) continue;
        if (g_interrupted.exchange(true, std::memory_order_acq_rel)) {
            // The second one: leave now, taking every partial output with us.
            remove_temporary_outputs();
            ::_exit(kExitInterrupted);
        }
        std::function<void()> action;
        {
            std::lock_guard lock(g_mutex);
            action = g_action;
        }
        if (action) action();  // no lock held: the action may take its own
    }
}

}  // namespace

void install_signal_watcher() {
    const sigset_t set = watched();
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread(watch).detach();  // lives as long as the process
}

void on_interrupt(std::function<void()> action) {
    std::function<void()> now;
    {
        std::lock_guard lock(g_mutex);
        g_action = std::move(action);
        if (g_interrupted.load(std::memory_order_acquire)) now = g_action;
    }
    if (now) now();
}

bool interrupted() {
    return g_interrupted.load(std::memory_order_acquire);
}

}  // namespace tbbpipe::cli
