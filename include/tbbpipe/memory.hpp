// Pack and unpack without paths: from byte spans and standard streams. Each call runs its own
// short-lived engine (budgets from config); for many calls, or many files, use Engine.
// Thread-safety: calls on distinct streams may run concurrently; in and out must be distinct.
// (Inside, spans become memory files and streams become pipes fed by helper threads, so the same
// graph runs, in parallel, with the same checks as for files.)
#pragma once

#include <cstdint>
#include <iosfwd>
#include <span>
#include <vector>

#include "tbbpipe/engine.hpp"
#include "tbbpipe/result.hpp"
#include "tbbpipe/secret.hpp"
#include "tbbpipe/status.hpp"

namespace tbbpipe {

/// A container holding `data`.
/// @code
///   const std::vector<std::uint8_t> data(1 << 20, 'x');
///   auto container = tbbpipe::pack_bytes(data, {}, tbbpipe::Secret::passphrase("pw"));
/// @endcode
Result<std::vector<std::uint8_t>> pack_bytes(std::span<const std::uint8_t> data,
                                             const PackOptions& options = {},
                                             const Secret& secret = {},
                                             const EngineConfig& config = {});
/// The plaintext of a container, authenticated and checked chunk by chunk.
Result<std::vector<std::uint8_t>> unpack_bytes(std::span<const std::uint8_t> container,
                                               const Secret& secret = {},
                                               const EngineConfig& config = {});
/// Reads `in` to its end and writes a container to `out` as chunks are sealed (in may be a
/// socket-like stream that delivers bytes slowly: what is available is forwarded at once). A
/// stream that fails before its end is kIoError, never a short container. After a failure the
/// call returns once `in`'s pending read returns. Returns the container's size.
Result<std::uint64_t> pack_stream(std::istream& in, std::ostream& out,
                                  const PackOptions& options = {}, const Secret& secret = {},
                                  const EngineConfig& config = {});
/// Reads a container from `in` and writes the plaintext to `out` as chunks authenticate; the
/// status decides whether the output may be trusted (the footer is checked at the end).
Result<std::uint64_t> unpack_stream(std::istream& in, std::ostream& out, const Secret& secret = {},
                                    const EngineConfig& config = {});

}  // namespace tbbpipe
