// Reading a container's header and footer from a descriptor (the format/ layer checks the bytes).
#pragma once

#include <cstdint>
#include <stop_token>
#include <vector>

#include "format/open.hpp"
#include "jobs/file_io.hpp"

namespace tbbpipe::jobs {

/// Reads the header and, when its flag says one follows, the stage list: the bytes
/// format::authenticate_header takes. A stream is read in order (stoppable); a seekable file with
/// pread. Throws kCorruptData for a short or malformed input.
/// facts: what the caller knows of a seekable input (jobs/file_io.hpp).
std::vector<std::uint8_t> read_header_bytes(int fd, bool seekable, const std::stop_token& stop = {},
                                            const InputFacts& facts = {});

/// Reads the trailer and the footer of a seekable container of container_size bytes, and opens
/// them (authenticated, index checked). Throws kCorruptData / kAuthFailed / kIoError.
format::FooterBody read_footer(int fd, std::uint64_t container_size,
                               const format::OpenedHeader& opened, const InputFacts& facts = {});

}  // namespace tbbpipe::jobs
