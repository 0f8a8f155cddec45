// Options: every choice a job or an engine can make, with its default and its valid range, and
// the one function that checks each (the CLI asks the same functions, so a mistake gets the same
// message from either).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tbbpipe/stages.hpp"
#include "tbbpipe/status.hpp"

namespace tbbpipe {

class Secret;

/// Chunk compression. The values are the container format's ids (docs/FORMAT.md).
enum class Compression : std::uint8_t { kNone = 0, kLz4 = 1, kLz4Hc = 2 };
/// Chunk encryption (an AEAD). The values are the container format's ids.
enum class Cipher : std::uint8_t { kNone = 0, kAes256Gcm = 1, kChaCha20Poly1305 = 2 };
/// Where an encrypted container's key comes from. The values are the container format's ids.
enum class KeyDerivation : std::uint8_t { kNone = 0, kKeyFile = 1, kScrypt = 2 };
/// The per-chunk digest of the plaintext, checked when unpacking (docs/FORMAT.md, SECURITY.md).
/// The values are the container format's ids.
enum class Hash : std::uint8_t {
    kSha256 = 1,  ///< SHA-256: a cryptographic digest, for unencrypted containers that need one
    kXxh3 = 2,    ///< XXH3-128: catches accidental damage and codec bugs at memory speed
    kNone = 3,    ///< none: only with a cipher, whose tags then are the only check
};
/// Which file the next chunk comes from when a job has many (README "Many files").
enum class Scheduler {
    kFair,  ///< small files are not held up by large ones: 3 small chunks per large one
    kFifo,  ///< files strictly in the order given
};
/// What a job does with its files.
enum class Operation { kPack, kUnpack, kVerify };

/// "none", "lz4", "lz4hc". Never null.
const char* compression_name(Compression compression);
/// "none", "aes-256-gcm", "chacha20-poly1305". Never null.
const char* cipher_name(Cipher cipher);
/// "none", "key-file", "scrypt". Never null.
const char* key_derivation_name(KeyDerivation kdf);
/// "sha256", "xxh3", "none". Never null.
const char* hash_name(Hash hash);
/// "fair", "fifo". Never null.
const char* scheduler_name(Scheduler scheduler);
/// "pack", "unpack", "verify". Never null.
const char* operation_name(Operation operation);
/// The compression named (as compression_name spells it); nullopt for anything else.
std::optional<Compression> parse_compression(std::string_view name);
/// The cipher named (as cipher_name spells it); nullopt for anything else.
std::optional<Cipher> parse_cipher(std::string_view name);
/// The hash named (as hash_name spells it); nullopt for anything else.
std::optional<Hash> parse_hash(std::string_view name);
/// "fair" or "fifo"; nullopt for anything else.
std::optional<Scheduler> parse_scheduler(std::string_view name);

inline constexpr std::uint32_t kMinChunkSize = 4u * 1024;
inline constexpr std::uint32_t kMaxChunkSize = 64u * 1024 * 1024;
/// A fixed chunk size's default, and where the adaptive size starts.
inline constexpr std::uint32_t kDefaultChunkSize = 1024u * 1024;
/// Files below this are packed as one chunk, read whole (the small-file fast path).
inline constexpr std::uint64_t kDefaultSmallFileThreshold = 256u * 1024;
/// Fair scheduling: files of this size or more wait in the large-file queue.
inline constexpr std::uint64_t kDefaultLargeFileThreshold = 8ull * 1024 * 1024;
/// Passphrase cost: log2 of scrypt's N (r = 8, p = 4), its default and its range. The same range
/// holds when reading (with a cap on memory and total work, docs/SECURITY.md): 18 is 256 MiB.
inline constexpr std::uint8_t kDefaultScryptLog2N = 15;
inline constexpr std::uint8_t kMinScryptLog2N = 14;
inline constexpr std::uint8_t kMaxScryptLog2N = 18;
/// The largest CPU and I/O budgets an engine accepts.
inline constexpr int kMaxCpuTokens = 1024;
inline constexpr int kMaxIoTokens = 256;
/// The smallest memory limit an engine accepts.
inline constexpr std::size_t kMinMemoryLimit = 1024u * 1024;

/// A compression's level range and default (lz4: acceleration, higher is faster; lz4hc: effort).
struct LevelRange {
    int min = 0;
    int max = 0;
    int fallback = 0;  ///< the level a `level` of 0 means
};
/// The levels `compression` accepts; {0, 0, 0} for kNone.
LevelRange level_range(Compression compression);

/// How a pack job makes its containers. Value type.
struct PackOptions {
    Compression compression = Compression::kLz4;
    int level = 0;                       ///< 0: the compression's default (level_range)
    Cipher cipher = Cipher::kAes256Gcm;  ///< used when the job has a secret; kNone is refused then
    /// The per-chunk digest; unset: the one the stage spec names, else XXH3-128. kNone needs a
    /// secret (a cipher); with a spec that names a digest, the two must agree.
    std::optional<Hash> hash;
    std::uint32_t chunk_size = 0;  ///< 0: adaptive (starts at 1 MiB); else 4 KiB .. 64 MiB
    std::uint8_t scrypt_log2_n = kDefaultScryptLog2N;  ///< passphrase cost, 14 .. 18
    /// Passphrase: the scrypt salt. Unset: an engine picks a random one and keeps it while the
    /// passphrase and cost stay the same (one derivation, not one per job). A run spread over
    /// processes (tbbpipe-mpi) gives every process the same fresh salt, so each derives the key
    /// once and every container of the run opens with one derivation too.
    std::optional<std::array<std::uint8_t, 16>> scrypt_salt;
    /// A stage spec, e.g. "xor-mask,lz4,aes-256-gcm,xxh3" (tbbpipe/stages.hpp). When set it
    /// replaces compression and cipher; a cipher in it needs the secret and a secret needs one.
    std::string stages;
};

/// When finished outputs become durable and visible: with `durable`, in batches (one file-system
/// flush for the batch, then the renames, then one flush per folder) that close at whichever
/// limit comes first; without, each output is renamed into place as soon as it is complete.
struct CommitPolicy {
    bool durable = true;  ///< flush outputs to disk before their rename (and folders after)
    std::size_t batch_files = 64;
    std::uint64_t batch_bytes = 256ull * 1024 * 1024;
    /// A finished file never waits longer than this for its batch to close.
    std::chrono::milliseconds batch_wait{200};
};

/// An engine's budgets and policies. Zero means "the default" where a field says so. Value type.
struct EngineConfig {
    int cpu_tokens = 0;            ///< chunks transformed at once, 0 .. 1024; 0: one per core
    int io_tokens = 4;             ///< reads in flight at once, 1 .. 256 (choose_io_depth)
    std::size_t memory_limit = 0;  ///< chunk-buffer bytes in flight; 0: default_memory_limit()
    Scheduler scheduler = Scheduler::kFair;
    /// Pack: files smaller than this are one chunk, read whole (at most 64 MiB).
    std::uint64_t small_file_threshold = kDefaultSmallFileThreshold;
    /// Fair scheduling: files of this size or more count as large.
    std::uint64_t large_file_threshold = kDefaultLargeFileThreshold;
    CommitPolicy commit;
    std::size_t queue_capacity = 16;  ///< jobs waiting to run; try_submit() refuses beyond it
    /// The stages pack specs may name and unpack can reverse (the engine keeps a copy).
    StageRegistry stages;
};

/// The default memory limit: the larger of 64 MiB and 8 MiB per core.
std::size_t default_memory_limit();
/// The CPU budget `cpu_tokens` stands for (0: one per core).
int resolved_cpu_tokens(int cpu_tokens);

/// Checks every budget and policy of `config`: kInvalidArgument naming the value and its range.
/// Engine's constructor does not fail; submit() refuses jobs of an engine whose config is bad.
Status validate(const EngineConfig& config);
/// Checks pack options as a pack job would use them with `secret` and the stages `registry`
/// knows (a spec's names, its cipher against the secret, the level against the compression):
/// kInvalidArgument naming the value and what would be valid.
/// @code
///   tbbpipe::PackOptions pack;
///   pack.chunk_size = 1000;
///   tbbpipe::validate(pack, {}, {}).message();  // "chunk size 1000 is out of range: ..."
/// @endcode
Status validate(const PackOptions& options, const Secret& secret, const StageRegistry& registry);

}  // namespace tbbpipe
