// Non-blocking scopes: how the engine runs I/O on an arena thread without ever letting it block.
//
// Reads of data already in the page cache cost microseconds; handing each one to an I/O thread
// and back costs more than the read (two wake-ups per chunk). So the engine first tries a claim
// and a read on the arena thread it is on, inside a NonBlocking scope. The I/O code under it
// (jobs/file_io) uses its non-blocking forms there (RWF_NOWAIT reads, cached-only path lookups)
// and throws WouldBlock, before changing anything, where the blocking form would wait; the
// engine then gives the whole step to an I/O thread, which runs it again with blocking allowed.
#pragma once

namespace tbbpipe {

/// Thrown by a step that would block inside a NonBlocking scope. Not an error: the step is
/// retried where blocking is allowed. Never escapes the engine.
struct WouldBlock {};

/// Whether the calling thread may block (false inside a NonBlocking scope).
bool blocking_allowed() noexcept;

/// Throws WouldBlock when the calling thread must not block: for steps that can only block
/// (reading a pipe) or that could not be undone halfway.
void require_blocking_allowed();

/// For its lifetime, the calling thread must not block. Nests. The flag is the thread's, so code
/// inside a scope must not wait inside TBB (task_group::wait, parallel_for): the thread could
/// pick up unrelated tasks and run them with the scope still set.
class NonBlocking {
public:
    NonBlocking() noexcept;
    ~NonBlocking();
    NonBlocking(const NonBlocking&) = delete;
    NonBlocking& operator=(const NonBlocking&) = delete;

private:
    bool was_allowed_;
};

}  // namespace tbbpipe
