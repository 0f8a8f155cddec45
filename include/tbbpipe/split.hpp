// Split containers: one container packed, unpacked or verified by several processes at once (an
// MPI front end, say), each handling a range of its chunks. The format does not change: a record
// is authenticated against the header digest and its own header (index, flags, sizes), never its
// offset, so records made apart and placed side by side are the container one process writes.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tbbpipe/engine.hpp"
#include "tbbpipe/options.hpp"
#include "tbbpipe/result.hpp"
#include "tbbpipe/secret.hpp"
#include "tbbpipe/stages.hpp"
#include "tbbpipe/status.hpp"

namespace tbbpipe {

/// A split container's header and tail, made by SplitPlan::finish once every part was packed.
/// Value type.
struct SplitTail {
    std::vector<std::uint8_t> header;  ///< written at offset 0 (header_size() bytes)
    std::uint64_t tail_offset = 0;     ///< where `tail` goes: after the header and every record
    std::vector<std::uint8_t> tail;    ///< the footer and trailer
    std::uint64_t container_size = 0;  ///< tail_offset + tail.size()
    /// What a set manifest records of the container (header digest, root digest, sizes, hash).
    ContainerFacts container;
};

/// A container made by several processes at once: one plans it (sealing the header with a fresh
/// file key), the plan goes to the others as bytes, each packs a range of chunks into a part file
/// (a pack Job whose file carries Job::File::Part), then the parts are placed at their offsets
/// (place_part) and one process writes the header and the tail (finish).
/// Value type; copies share read-only state. Thread-safety: const use from any thread.
/// @code
///   auto plan = tbbpipe::SplitPlan::for_pack("big.dat", options, secret).value();
///   auto wire = plan.to_bytes();                     // to every rank, over MPI only
///   auto mine = tbbpipe::SplitPlan::from_bytes(wire).value();
///   tbbpipe::Job::File f{"big.dat", "big.part3"};
///   f.part = tbbpipe::Job::File::Part{std::make_shared<const tbbpipe::SplitPlan>(mine), 30, 10};
/// @endcode
class SplitPlan {
public:
    /// stat()s `input` (a regular file) now: its size fixes the chunk count. The chunk size is
    /// options.chunk_size, or kDefaultChunkSize when 0 (adaptive sizing cannot be split). Same
    /// checks as a pack job (validate(options, secret, registry)); errors name the input. A
    /// passphrase costs its scrypt derivation here, once.
    static Result<SplitPlan> for_pack(const std::string& input, const PackOptions& options,
                                      const Secret& secret, const StageRegistry& registry = {});
    /// The same with `engine`'s stages and its derived keys: a passphrase with the salt the
    /// engine already derived for (PackOptions::scrypt_salt) costs no second derivation, and one
    /// made here counts in its RunStats::key_derivations.
    static Result<SplitPlan> for_pack(Engine& engine, const std::string& input,
                                      const PackOptions& options, const Secret& secret);
    /// The plan as bytes for the other processes. It carries the file's derived keys in the
    /// clear: send it over a trusted channel only (MPI), never store it.
    std::vector<std::uint8_t> to_bytes() const;
    /// Checks everything (a checksum, the header's own authentication with the carried keys,
    /// every size): hostile bytes give kInvalidArgument or kCorruptData, never undefined
    /// behaviour. A registered stage the plan names must be in `registry`.
    static Result<SplitPlan> from_bytes(std::span<const std::uint8_t> bytes,
                                        const StageRegistry& registry = {});

    std::uint64_t input_size() const;
    std::uint32_t chunk_size() const;
    std::uint64_t chunk_count() const;  ///< an empty input still has 1 (empty, last) chunk
    std::uint64_t header_size() const;  ///< bytes before record 0 (header + stage list)

    /// The container's tail, once every part was packed: `part_indexes` are the parts'
    /// FileResult::part_index in chunk order (together covering every chunk exactly once, each
    /// from this plan: checked, kInvalidArgument). Re-stat()s `file.input` (it must still have
    /// input_size() bytes) for the metadata a pack records (file.store_metadata, file.name).
    Result<SplitTail> finish(const std::vector<std::vector<std::uint8_t>>& part_indexes,
                             const Job::File& file) const;

    struct State;

private:
    friend struct SplitPlanAccess;
    explicit SplitPlan(std::shared_ptr<const State> state) : state_(std::move(state)) {}
    std::shared_ptr<const State> state_;
};

/// An output written by several processes: one creates the hidden temporary beside `path`
/// (".NAME.tbbpipe-XXXXXX", like every output: walks skip it and remove_temporary_outputs()
/// removes it), every process opens temp_path() and writes its part at its offsets (a pack's
/// parts through place_part, an unpack's through a Job whose file carries a Part), then the
/// creator commits it or discards it.
/// Move-only. Thread-safety: one owner thread. The destructor discards what was not committed.
class SharedOutput {
public:
    /// Creates the temporary. overwrite=false: fails (kAlreadyExists) if `path` exists, and
    /// commit() refuses to replace one that appeared meanwhile. durable: commit() fsyncs the file
    /// before the rename and the folder after. output_root non-empty: `path` lies below it, the
    /// folders between are created and none may be a link (as Job::File::output_root).
    static Result<SharedOutput> create(const std::string& path, bool overwrite, bool durable = true,
                                       const std::string& output_root = "");
    SharedOutput(SharedOutput&&) noexcept;
    SharedOutput& operator=(SharedOutput&&) noexcept;
    ~SharedOutput();

    const std::string& path() const;  ///< the destination
    std::string temp_path() const;    ///< what the other processes open ("" once done)
    /// Writes bytes at an offset of the temporary (the creator's header and tail, say).
    Status write_at(std::uint64_t offset, std::span<const std::uint8_t> bytes);
    /// Sets the permission bits (0: leave 0600) and mtime (both 0: leave it), fsyncs when
    /// durable, renames into place. Call once every process finished writing. On failure the
    /// temporary is removed.
    Status commit(std::uint32_t mode = 0, std::int64_t mtime_sec = 0, std::uint32_t mtime_nsec = 0);
    /// Removes the temporary now.
    void discard() noexcept;

    struct Impl;

private:
    explicit SharedOutput(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

/// Copies a part file's bytes into `container_path` (opened for writing, not truncated, not
/// created) at `offset` (copy_file_range, with a pread/pwrite fallback where the file systems
/// cannot), then removes the part file. Errors name the file.
Status place_part(const std::string& part_path, const std::string& container_path,
                  std::uint64_t offset);

}  // namespace tbbpipe
