#include "core/no_block.hpp"

namespace tbbpipe {
namespace {

// Per thread: a scope on one thread says nothing about another.
thread_local bool tls_blocking_allowed = true;

}  // namespace

bool blocking_allowed() noexcept {
    return tls_blocking_allowed;
}

void require_blocking_allowed() {
    if (!tls_blocking_allowed) throw WouldBlock{};
}

NonBlocking::NonBlocking() noexcept : was_allowed_(tls_blocking_allowed) {
    tls_blocking_allowed = false;
}

NonBlocking::~NonBlocking() {
    tls_blocking_allowed = was_allowed_;
}

}  // namespace tbbpipe
