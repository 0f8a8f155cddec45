// tbbpipe::Engine: the pipeline as a library. Jobs (pack, unpack or verify of one or many files)
// are submitted from any thread and run one after another on the engine's own task_arena, so two
// engines in one process each keep their own CPU, I/O and memory budgets.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/file_events.hpp"
#include "engine/metrics.hpp"
#include "engine/status.hpp"
#include "tbbpipe/result.hpp"
#include "tbbpipe/stages.hpp"

namespace tbbpipe {

enum class Scheduler { kFair, kFifo };
enum class Compression { kLz4, kLz4Hc, kNone };
enum class Cipher { kAes256Gcm, kChaCha20Poly1305 };

/// Budgets and policies of one engine. Zero means "the default" (as the CLI's).
struct EngineConfig {
    int cpu_tokens = 0;            ///< chunks transformed at once; 0: all cores
    int io_tokens = 4;             ///< reads in flight at once
    std::size_t memory_limit = 0;  ///< chunk-buffer bytes in flight; 0: max(64 MiB, 8 MiB/core)
    Scheduler scheduler = Scheduler::kFair;
    std::size_t queue_capacity = 16;  ///< jobs waiting to run; try_submit() refuses beyond it
    bool durable = true;              ///< flush outputs before their rename (batched)
    /// The stages pack specs may name and unpack can reverse (the engine keeps a copy).
    StageRegistry stages;
};

/// A key: 32 bytes (a key file's contents; another length makes the job fail with
/// kInvalidArgument), or a passphrase (scrypt, one derivation per secret per engine).
/// Thread-safety: a value type. The bytes are wiped when the last copy goes.
class Secret {
public:
    Secret();  ///< no secret: no encryption
    static Secret key(const std::vector<std::uint8_t>& bytes32);
    static Result<Secret> key_file(const std::string& path);
    static Secret passphrase(const std::string& text);
    bool present() const;

private:
    friend struct SecretAccess;
    struct Bytes;
    std::shared_ptr<const Bytes> bytes_;
    int kind_ = 0;
};

struct PackOptions {
    Compression compression = Compression::kLz4;
    int level = 0;                       ///< 0: the compression's default
    Cipher cipher = Cipher::kAes256Gcm;  ///< used when the secret is present
    std::uint32_t chunk_size = 0;        ///< 0: adaptive (auto); else 4 KiB .. 64 MiB
    std::uint8_t scrypt_log2_n = 15;     ///< passphrase cost
    /// A stage spec, e.g. "xor-mask,lz4,aes-256-gcm,sha256" (tbbpipe/stages.hpp). When set it
    /// replaces compression and cipher; a cipher in it needs the secret and a secret needs one.
    std::string stages;
};

enum class Operation { kPack, kUnpack, kVerify };

/// One unit of work: every file through one graph. output is ignored for verify. Paths are
/// files ("-" is refused: use pack_stream/unpack_stream). A FIFO given as an input is read as a
/// stream; opening it waits for its writer, and that wait is not interruptible by cancel().
/// Value type; the engine keeps its own copy until the job ran (the secret is dropped then).
struct Job {
    Operation operation = Operation::kPack;
    struct File {
        std::string input;
        std::string output;
    };
    std::vector<File> files;
    PackOptions pack;
    Secret secret;
    bool overwrite = false;
};

struct FileResult {
    std::string input;
    std::string output;
    Status status;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t chunks = 0;
    double seconds = 0;
};

struct JobResult {
    Status status;  ///< ok, or the first failure (kCancelled when cancelled)
    std::vector<FileResult> files;
    std::int64_t tokens_outstanding = 0;  ///< always 0 after a job: the engine's own check
};

/// A submitted job. Copyable; all copies refer to the same job.
/// Thread-safety: every method may be called from any thread.
class JobHandle {
public:
    JobHandle() = default;
    /// Blocks until the job ran (or was cancelled before it ran) and returns a copy of its
    /// result. An empty (default-constructed) handle answers kInvalidArgument at once.
    JobResult wait() const;
    /// false: still queued or running after the timeout.
    bool wait_for(std::chrono::milliseconds timeout) const;
    bool done() const;
    /// Asks the job to stop: a queued job never runs, a running one stops admitting chunks,
    /// drains and removes its partial outputs. The result then says kCancelled.
    void cancel() const;

private:
    friend class Engine;
    struct State;
    std::shared_ptr<State> state_;
};

/// What shutdown() did.
struct ShutdownReport {
    std::size_t completed = 0;  ///< jobs that finished (ok or failed) during the shutdown
    std::size_t cancelled = 0;  ///< jobs cancelled because the timeout passed
    bool timed_out = false;
};

/// Thread-safety: every method may be called from any thread, shutdown included (concurrent
/// calls: the first does the work, the others return an empty report). The destructor is
/// shutdown(0): what is still queued or running is cancelled. Listeners run on the engine's
/// event thread and must not block long (never wait() on a job there); no lock is held while
/// they run. The engine keeps derived keys (one KDF per passphrase) until it is destroyed.
class Engine {
public:
    explicit Engine(const EngineConfig& config = {});
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    /// Queues a job, waiting while the queue is full. Fails only after shutdown (kCancelled) or
    /// for a job that cannot run at all (kInvalidArgument: no files).
    Result<JobHandle> submit(Job job);
    /// Never blocks: a full queue gives kResourceExhausted naming the capacity.
    Result<JobHandle> try_submit(Job job);
    /// Stops admitting, lets queued and running jobs finish for up to timeout, then cancels
    /// what is left and waits for it to stop.
    ShutdownReport shutdown(std::chrono::milliseconds timeout);

    /// Every metric the engine records (docs/METRICS.md), as of now.
    engine::MetricsSnapshot metrics() const;
    /// Per-file started / progress / finished / failed events.
    void add_listener(engine::FileListener listener);
    const EngineConfig& config() const;

    struct Impl;  // shared with the handles, which outlive it safely (cancel becomes a no-op)

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace tbbpipe
