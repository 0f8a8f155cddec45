// What the public API's two halves share (public_engine.cpp defines, public_memory.cpp uses).
#pragma once

#include "nodes/cipher.hpp"
#include "nodes/container_jobs.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe {

nodes::UserSecret user_secret(const Secret& secret);
nodes::PackSettings pack_settings_for(const PackOptions& options);
/// Budgets, scheduler and stages; the caller wires metrics and events.
nodes::EngineSettings engine_settings_for(const EngineConfig& config);
/// What Engine::submit refuses up front; the memory API checks the same.
Status validate_pack_options(const PackOptions& options, const Secret& secret,
                             const StageRegistry& stages);
Status validate_secret(const Secret& secret);

}  // namespace tbbpipe
