// The tbbpipe library, everything in one include: Engine (jobs over files), the byte-span and
// stream helpers, Status / Result, custom stages, metrics snapshots and file events.
#pragma once

#include "engine/file_events.hpp"
#include "engine/metrics.hpp"
#include "engine/status.hpp"
#include "tbbpipe/engine.hpp"
#include "tbbpipe/memory.hpp"
#include "tbbpipe/result.hpp"
#include "tbbpipe/stages.hpp"
