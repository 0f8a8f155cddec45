// What the public API's two halves share (public_engine.cpp defines, public_memory.cpp uses).
#pragma once

#include "nodes/cipher.hpp"
#include "nodes/container_jobs.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe {

nodes::UserSecret user_secret(const Secret& secret);
nodes::PackSettings pack_settings_for(const PackOptions& options);

}  // namespace tbbpipe
