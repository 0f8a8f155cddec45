// Options (tbbpipe/options.hpp): names, defaults, and the one place every option is checked.
#include "tbbpipe/options.hpp"

#include <algorithm>
#include <thread>

#include "core/status_error.hpp"
#include "format/stage_spec.hpp"
#include "tbbpipe/secret.hpp"

namespace tbbpipe {
namespace {

Status invalid(const std::string& message) {
    return {StatusCode::kInvalidArgument, message};
}

std::string size_text(std::uint64_t bytes) {
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
    return std::to_string(bytes) + " bytes";
}

}  // namespace

const char* compression_name(Compression compression) {
    switch (compression) {
        case Compression::kNone: return "none";
        case Compression::kLz4: return "lz4";
        case Compression::kLz4Hc: return "lz4hc";
    }
    return "?";
}

const char* cipher_name(Cipher cipher) {
    switch (cipher) {
        case Cipher::kNone: return "none";
        case Cipher::kAes256Gcm: return "aes-256-gcm";
        case Cipher::kChaCha20Poly1305: return "chacha20-poly1305";
    }
    return "?";
}

const char* key_derivation_name(KeyDerivation kdf) {
    switch (kdf) {
        case KeyDerivation::kNone: return "none";
        case KeyDerivation::kKeyFile: return "key-file";
        case KeyDerivation::kScrypt: return "scrypt";
    }
    return "?";
}

const char* hash_name(Hash hash) {
    switch (hash) {
        case Hash::kSha256: return "sha256";
        case Hash::kXxh3: return "xxh3";
        case Hash::kNone: return "none";
    }
    return "?";
}

std::optional<Hash> parse_hash(std::string_view name) {
    for (const Hash h : {Hash::kSha256, Hash::kXxh3, Hash::kNone}) {
        if (name == hash_name(h)) return h;
    }
    return std::nullopt;
}

const char* scheduler_name(Scheduler scheduler) {
    return scheduler == Scheduler::kFair ? "fair" : "fifo";
}

const char* operation_name(Operation operation) {
    switch (operation) {
        case Operation::kPack: return "pack";
        case Operation::kUnpack: return "unpack";
        case Operation::kVerify: return "verify";
    }
    return "?";
}

std::optional<Compression> parse_compression(std::string_view name) {
    for (const Compression c : {Compression::kNone, Compression::kLz4, Compression::kLz4Hc}) {
        if (name == compression_name(c)) return c;
    }
    return std::nullopt;
}

std::optional<Cipher> parse_cipher(std::string_view name) {
    for (const Cipher c : {Cipher::kNone, Cipher::kAes256Gcm, Cipher::kChaCha20Poly1305}) {
        if (name == cipher_name(c)) return c;
    }
    return std::nullopt;
}

std::optional<Scheduler> parse_scheduler(std::string_view name) {
    if (name == "fair") return Scheduler::kFair;
    if (name == "fifo") return Scheduler::kFifo;
    return std::nullopt;
}

std::size_t default_memory_limit() {
    const auto cores = static_cast<std::size_t>(std::max(1u, std::thread::hardware_concurrency()));
    return std::max<std::size_t>(std::size_t{64} << 20, (std::size_t{8} << 20) * cores);
}

int resolved_cpu_tokens(int cpu_tokens) {
    return cpu_tokens > 0 ? cpu_tokens
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Status validate(const EngineConfig& c) {
    if (c.cpu_tokens < 0 || c.cpu_tokens > kMaxCpuTokens) {
        return invalid("CPU tokens must be 0 (one per core) .. " + std::to_string(kMaxCpuTokens) +
                       ", not " + std::to_string(c.cpu_tokens));
    }
    if (c.io_tokens < 1 || c.io_tokens > kMaxIoTokens) {
        return invalid("I/O tokens must be 1 .. " + std::to_string(kMaxIoTokens) + ", not " +
                       std::to_string(c.io_tokens));
    }
    if (c.memory_limit != 0 && c.memory_limit < kMinMemoryLimit) {
        return invalid("memory limit must be at least 1 MiB, not " + size_text(c.memory_limit));
    }
    if (c.small_file_threshold > kMaxChunkSize) {
        return invalid("small-file threshold must be at most 64 MiB, not " +
                       size_text(c.small_file_threshold));
    }
    if (c.commit.batch_files == 0) return invalid("a commit batch must hold at least one file");
    if (c.queue_capacity == 0) return invalid("the job queue must hold at least one job");
    return Status::ok();
}

Status validate(const PackOptions& o, const Secret& secret, const StageRegistry& registry) {
    if (o.chunk_size != 0 && (o.chunk_size < kMinChunkSize || o.chunk_size > kMaxChunkSize)) {
        return invalid("chunk size " + size_text(o.chunk_size) +
                       " is out of range: 4 KiB .. 64 MiB");
    }
    if (o.scrypt_log2_n < kMinScryptLog2N || o.scrypt_log2_n > kMaxScryptLog2N) {
        return invalid("scrypt cost (log2 N) must be " + std::to_string(kMinScryptLog2N) + " .. " +
                       std::to_string(kMaxScryptLog2N) + ", not " +
                       std::to_string(o.scrypt_log2_n));
    }
    if (Status s = validate(secret); !s.is_ok()) return s;
    Compression compression = Compression::kNone;
    try {  // the spec, or the compression and cipher fields, checked as the pack will
        compression = format::plan_for_pack(o, secret.present(), registry).compression;
    } catch (const StatusError& e) {
        return e.status();
    }
    if (o.level != 0) {
        if (compression == Compression::kNone) {
            return invalid("a compression level needs a compression (lz4 or lz4hc)");
        }
        const LevelRange range = level_range(compression);
        if (o.level < range.min || o.level > range.max) {
            return invalid("compression level " + std::to_string(o.level) +
                           " is out of range for " + compression_name(compression) + ": " +
                           std::to_string(range.min) + " .. " + std::to_string(range.max));
        }
    }
    return Status::ok();
}

}  // namespace tbbpipe
