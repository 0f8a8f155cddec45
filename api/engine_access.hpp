// EngineAccess: what the library's own parts may reach inside a public Engine (its derived
// keys), and nothing a program can.
#pragma once

#include "format/cipher.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe {

struct EngineAccess {
    /// The engine's derived passphrase keys (thread-safe).
    static format::KekCache& kek_cache(Engine& engine);
};

}  // namespace tbbpipe
