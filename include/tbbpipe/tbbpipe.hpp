// The tbbpipe library, everything in one include: Engine (jobs over files), the byte-span and
// stream helpers, options and their checks, secrets, Status / Result, custom stages, metrics
// snapshots, file events, container inspection, file plans, the storage probe and cleanup.
#pragma once

#include "tbbpipe/cleanup.hpp"
#include "tbbpipe/container.hpp"
#include "tbbpipe/engine.hpp"
#include "tbbpipe/events.hpp"
#include "tbbpipe/memory.hpp"
#include "tbbpipe/metrics.hpp"
#include "tbbpipe/options.hpp"
#include "tbbpipe/plan.hpp"
#include "tbbpipe/result.hpp"
#include "tbbpipe/secret.hpp"
#include "tbbpipe/split.hpp"
#include "tbbpipe/stages.hpp"
#include "tbbpipe/status.hpp"
#include "tbbpipe/storage.hpp"
#include "tbbpipe/version.hpp"
