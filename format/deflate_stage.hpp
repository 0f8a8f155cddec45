// deflate (RFC 1951, Crypto++'s Deflator/Inflator): a registered stage like any a program adds,
// shipped so the CLI can trade speed for ratio beyond lz4hc.
#pragma once

#include <memory>

#include "tbbpipe/stages.hpp"

namespace tbbpipe::format {

std::shared_ptr<const Stage> make_deflate_stage();

}  // namespace tbbpipe::format
