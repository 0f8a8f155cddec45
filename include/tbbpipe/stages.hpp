// Custom stages: named, reversible per-chunk transforms a program registers and a pipeline runs
// by name. A pipeline is described by a stage spec, e.g. "xor-mask,lz4,aes-256-gcm,sha256":
// stages run left to right when packing and right to left when unpacking. The container records
// the spec, so unpack reverses exactly what ran, or names the stage it lacks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tbbpipe/status.hpp"

namespace tbbpipe {

/// A reversible transform of one chunk's bytes.
///
/// Thread-safety: encode() and decode() are called concurrently from the engine's worker
/// threads, on different chunks; an implementation must be safe for that (the methods are const:
/// keep per-call state on the stack). They must not block on I/O: they run on the CPU tokens.
/// Ownership: the registry and every engine built from it share the stage (shared_ptr).
class Stage {
public:
    virtual ~Stage() = default;
    /// Appends the encoding of `in` to `out` (empty on entry). A chunk's encoding may be larger
    /// than its input, up to the container's per-record bound (about the chunk size + 0.4%);
    /// beyond it the file fails. Throwing fails the file (kInternal, naming the stage and chunk).
    virtual void encode(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& out) const = 0;
    /// Appends to `out` (empty on entry) what encode() was given. Must not produce more than
    /// `limit` bytes: return false instead. Returning false or throwing means the input was not
    /// made by encode() (kCorruptData, naming the stage and chunk).
    virtual bool decode(std::span<const std::uint8_t> in, std::size_t limit,
                        std::vector<std::uint8_t>& out) const = 0;
};

/// Names the pipeline can run. Built in, always there: lz4, lz4hc (compression; at most one),
/// aes-256-gcm, chacha20-poly1305 (encryption; at most one, after every transform, needs a
/// secret), sha256 (the per-chunk integrity digest: always on, so listing it is optional; if
/// listed it comes last). Registered in every new registry: deflate (Crypto++'s, a Stage like
/// any a program adds). A spec naming only built-ins writes the same container as the
/// compression and cipher options; one that runs a registered stage records the spec.
///
/// Thread-safety: add() is not synchronised; register everything before handing the registry to
/// an EngineConfig (the engine keeps its own copy, read-only). const methods may be called from
/// any thread. Value type: copies share the stage objects.
class StageRegistry {
public:
    StageRegistry();
    /// Registers `stage` under `name`: 1 to 32 characters of a-z, 0-9, '.', '_' or '-', starting
    /// with a letter or digit. kInvalidArgument for a bad name, a null stage, or a name already
    /// taken (built-in names included).
    Status add(const std::string& name, std::shared_ptr<const Stage> stage);
    /// The stage registered under `name`; null for a built-in or an unknown name.
    std::shared_ptr<const Stage> find(std::string_view name) const;
    /// Whether `name` is a built-in or registered stage.
    bool contains(std::string_view name) const;
    /// Every name: the built-ins first (in the order above), then the registered ones (deflate
    /// included), sorted.
    std::vector<std::string> names() const;

private:
    std::map<std::string, std::shared_ptr<const Stage>, std::less<>> stages_;
};

/// Stage plugins for the tbbpipe command line (`tbbpipe --stage-plugin FILE ...`): a shared
/// library built with the same compiler against these headers that exports
///
///     extern "C" int tbbpipe_register_stages(tbbpipe::StageRegistry* registry, int abi);
///
/// It adds its stages to `registry` and returns 0; anything else (for instance when `abi` is not
/// the kStagePluginAbi it was built with) makes the CLI refuse to run, naming the file. The CLI
/// resolves StageRegistry::add against itself and keeps the library loaded until it exits.
/// Loading a plugin runs its code: give only files you trust.
inline constexpr int kStagePluginAbi = 1;

}  // namespace tbbpipe
