// What the public API's two halves share (public_engine.cpp defines, public_memory.cpp uses).
#pragma once

#include "nodes/cipher.hpp"
#include "nodes/container_jobs.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe {

nodes::UserSecret user_secret(const Secret& secret);
nodes::PackSettings pack_settings_for(const PackOptions& options);
/// What Engine::submit refuses up front; the memory API checks the same.
Status validate_pack_options(const PackOptions& options, const Secret& secret);
Status validate_secret(const Secret& secret);

}  // namespace tbbpipe
