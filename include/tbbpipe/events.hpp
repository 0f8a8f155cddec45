// File events: what an Engine tells a program about each file of its jobs as they run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "tbbpipe/status.hpp"

namespace tbbpipe {

/// One notification about one file. Thread-safety: a value type.
struct FileEvent {
    enum class Kind {
        kStarted,   ///< the file was opened (its first chunk was claimed)
        kProgress,  ///< another chunk of it was written
        kFinished,  ///< its output is complete and in place
        kFailed,    ///< it failed; status says why (the job's other files go on)
    };
    Kind kind = Kind::kStarted;
    std::string file;               ///< the input path, as given in the job
    std::uint64_t bytes_done = 0;   ///< input bytes processed so far
    std::uint64_t bytes_total = 0;  ///< the input's size; 0 when unknown (a stream)
    Status status;                  ///< kFailed: why
};

/// Called with each event on the engine's event thread, never on a thread that moves chunks and
/// never under a lock: a slow listener delays only later events (a full event queue drops
/// progress events first), never the job. A listener must not block for long and must not
/// wait() on a job; exceptions it throws are counted and ignored.
using FileListener = std::function<void(const FileEvent&)>;

}  // namespace tbbpipe
