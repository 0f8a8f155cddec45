// tbbpipe_kernels_bench: one core, one kernel, by chunk size, over the seeded mixed dataset.
//
// These are the per-chunk costs the flow graph has to hide; docs/PERFORMANCE.md compares them
// with the end-to-end numbers. Every benchmark round-trips (or checks a known answer) before it
// times anything, and reports a mismatch with SkipWithError rather than a fast wrong number.
//
//   tbbpipe_kernels_bench --benchmark_filter=1048576   # the 1 MiB rows only
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "datagen/dataset.hpp"
#include "format/cipher.hpp"
#include "format/codec.hpp"
#include "format/deflate_stage.hpp"
#include "format/digest.hpp"
#include "format/header.hpp"
#include "format/record.hpp"
#include "tbbpipe/container.hpp"

namespace {

using tbbpipe::Cipher;
using tbbpipe::Compression;
using tbbpipe::format::SecretBytes;

// 16 MiB: even 4 MiB chunks cycle through four different pieces of data, and it is generated in
// a few milliseconds, which keeps the ctest smoke run short.
constexpr std::size_t kDataBytes = std::size_t{16} * 1024 * 1024;
constexpr std::uint64_t kSeed = 1;

const std::vector<std::uint8_t>& mixed_data() {
    static const std::vector<std::uint8_t> data =
        tbbpipe::datagen::make_mixed_data(kDataBytes, kSeed, tbbpipe::datagen::DataMix{});
    return data;
}

// The chunks a run cycles through: consecutive, non-overlapping pieces of the dataset.
std::vector<const std::uint8_t*> chunk_starts(std::size_t chunk) {
    std::vector<const std::uint8_t*> starts;
    for (std::size_t off = 0; off + chunk <= mixed_data().size(); off += chunk) {
        starts.push_back(mixed_data().data() + off);
    }
    return starts;
}

SecretBytes bench_key() {
    SecretBytes key(32);
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i * 7 + 1);
    return key;
}

// Same shape as the container's record AAD (header digest || record header): 56 bytes.
std::vector<std::uint8_t> bench_aad() {
    return std::vector<std::uint8_t>(56, 0xa5);
}

void apply_chunk_sizes(benchmark::internal::Benchmark* b) {
    for (const long size : {64L << 10, 256L << 10, 1L << 20, 4L << 20}) b->Arg(size);
}

// A compressed chunk as the container stores it: lz4 bytes, or the raw chunk when lz4 did not
// shrink it (compress_chunk returned 0).
struct StoredChunk {
    std::vector<std::uint8_t> bytes;
    bool compressed = false;
};

// Compresses then decompresses every chunk and compares; false on any mismatch. Also returns the
// stored form so the decompress benchmark reuses what was checked.
bool round_trip_compress(Compression c, int level, std::size_t chunk,
                         std::vector<StoredChunk>* stored) {
    std::vector<std::uint8_t> out(chunk);
    std::vector<std::uint8_t> back(chunk);
    for (const std::uint8_t* in : chunk_starts(chunk)) {
        const std::size_t packed =
            tbbpipe::format::compress_chunk(c, level, in, chunk, out.data(), out.size());
        StoredChunk s;
        if (packed) {
            tbbpipe::format::decompress_chunk(out.data(), packed, back.data(), chunk);
            if (std::memcmp(back.data(), in, chunk) != 0) return false;
            s.bytes.assign(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(packed));
            s.compressed = true;
        } else {
            s.bytes.assign(in, in + chunk);
        }
        if (stored) stored->push_back(std::move(s));
    }
    return true;
}

void run_compress(benchmark::State& state, Compression c, int level) {
    const auto chunk = static_cast<std::size_t>(state.range(0));
    std::vector<StoredChunk> stored;
    if (!round_trip_compress(c, level, chunk, &stored)) {
        state.SkipWithError("lz4 round trip mismatch");
        return;
    }
    const auto starts = chunk_starts(chunk);
    std::vector<std::uint8_t> out(chunk);
    std::size_t i = 0;
    for (auto _ : state) {
        const std::size_t packed =
            tbbpipe::format::compress_chunk(c, level, starts[i], chunk, out.data(), out.size());
        benchmark::DoNotOptimize(packed);
        benchmark::ClobberMemory();
        if (++i == starts.size()) i = 0;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(chunk));
    double stored_bytes = 0;
    for (const auto& s : stored) stored_bytes += static_cast<double>(s.bytes.size());
    state.counters["ratio"] =
        static_cast<double>(chunk) * static_cast<double>(stored.size()) / stored_bytes;
}

void lz4_compress(benchmark::State& state) {
    run_compress(state, Compression::kLz4, 1);
}
BENCHMARK(lz4_compress)->Apply(apply_chunk_sizes);

void lz4hc9_compress(benchmark::State& state) {
    run_compress(state, Compression::kLz4Hc, 9);
}
BENCHMARK(lz4hc9_compress)->Arg(1 << 20);

void lz4_decompress(benchmark::State& state) {
    const auto chunk = static_cast<std::size_t>(state.range(0));
    std::vector<StoredChunk> stored;
    if (!round_trip_compress(Compression::kLz4, 1, chunk, &stored)) {
        state.SkipWithError("lz4 round trip mismatch");
        return;
    }
    std::vector<std::uint8_t> out(chunk);
    std::size_t i = 0;
    std::size_t raw_chunks = 0;
    for (const auto& s : stored) raw_chunks += s.compressed ? 0 : 1;
    for (auto _ : state) {
        const StoredChunk& s = stored[i];
        // A chunk lz4 could not shrink is stored raw; unpack copies it, so the benchmark does too.
        if (s.compressed) {
            tbbpipe::format::decompress_chunk(s.bytes.data(), s.bytes.size(), out.data(), chunk);
        } else {
            std::memcpy(out.data(), s.bytes.data(), chunk);
        }
        benchmark::ClobberMemory();
        if (++i == stored.size()) i = 0;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(chunk));
    state.counters["raw_share"] =
        static_cast<double>(raw_chunks) / static_cast<double>(stored.size());
}
BENCHMARK(lz4_decompress)->Apply(apply_chunk_sizes);

// deflate, the registered stage (--stages deflate): what it costs next to lz4hc. Every chunk is
// encoded and decoded once and compared before anything is timed.
std::vector<std::vector<std::uint8_t>> deflated_chunks(std::size_t chunk) {
    const auto stage = tbbpipe::format::make_deflate_stage();
    std::vector<std::vector<std::uint8_t>> out;
    for (const std::uint8_t* in : chunk_starts(chunk)) {
        std::vector<std::uint8_t> packed, back;
        stage->encode({in, chunk}, packed);
        if (!stage->decode(packed, chunk, back) || back.size() != chunk ||
            std::memcmp(back.data(), in, chunk) != 0) {
            return {};
        }
        out.push_back(std::move(packed));
    }
    return out;
}

void deflate_encode(benchmark::State& state) {
    const auto chunk = static_cast<std::size_t>(state.range(0));
    const auto packed = deflated_chunks(chunk);
    if (packed.empty()) {
        state.SkipWithError("deflate round trip mismatch");
        return;
    }
    const auto stage = tbbpipe::format::make_deflate_stage();
    const auto starts = chunk_starts(chunk);
    std::vector<std::uint8_t> out;
    std::size_t i = 0;
    for (auto _ : state) {
        out.clear();
        stage->encode({starts[i], chunk}, out);
        benchmark::DoNotOptimize(out.data());
        if (++i == starts.size()) i = 0;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(chunk));
    double stored = 0;
    for (const auto& p : packed) stored += static_cast<double>(p.size());
    state.counters["ratio"] = static_cast<double>(chunk * packed.size()) / stored;
}
BENCHMARK(deflate_encode)->Arg(256 << 10)->Arg(1 << 20);

void deflate_decode(benchmark::State& state) {
    const auto chunk = static_cast<std::size_t>(state.range(0));
    const auto packed = deflated_chunks(chunk);
    if (packed.empty()) {
        state.SkipWithError("deflate round trip mismatch");
        return;
    }
    const auto stage = tbbpipe::format::make_deflate_stage();
    std::vector<std::uint8_t> out;
    std::size_t i = 0;
    for (auto _ : state) {
        out.clear();
        benchmark::DoNotOptimize(stage->decode(packed[i], chunk, out));
        if (++i == packed.size()) i = 0;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(chunk));
}
BENCHMARK(deflate_decode)->Arg(256 << 10)->Arg(1 << 20);

// Seals, opens and compares every chunk once; false on any mismatch or tag failure.
bool round_trip_aead(Cipher cipher, std::size_t chunk) {
    const SecretBytes key = bench_key();
    const auto aad = bench_aad();
    std::vector<std::uint8_t> sealed(chunk + tbbpipe::format::kTagSize);
    std::vector<std::uint8_t> back(chunk);
    std::uint64_t index = 0;
    for (const std::uint8_t* in : chunk_starts(chunk)) {
        const auto nonce = tbbpipe::format::chunk_nonce(index++, false);
        tbbpipe::format::aead_seal(cipher, key, nonce.data(), aad.data(), aad.size(), in, chunk,
                                   sealed.data());
        if (!tbbpipe::format::aead_open(cipher, key, nonce.data(), aad.data(), aad.size(),
                                        sealed.data(), sealed.size(), back.data()) ||
            std::memcmp(back.data(), in, chunk) != 0) {
            return false;
        }
        // A flipped ciphertext bit must be refused, or "open" proves nothing.
        sealed[chunk / 2] ^= 1;
        if (tbbpipe::format::aead_open(cipher, key, nonce.data(), aad.data(), aad.size(),
                                       sealed.data(), sealed.size(), back.data())) {
            return false;
        }
    }
    return true;
}

void run_seal(benchmark::State& state, Cipher cipher) {
    const auto chunk = static_cast<std::size_t>(state.range(0));
    if (!round_trip_aead(cipher, chunk)) {
        state.SkipWithError("AEAD round trip mismatch");
        return;
    }
    const SecretBytes key = bench_key();
    const auto aad = bench_aad();
    const auto starts = chunk_starts(chunk);
    std::vector<std::uint8_t> sealed(chunk + tbbpipe::format::kTagSize);
    std::uint64_t index = 0;
    std::size_t i = 0;
    for (auto _ : state) {
        // A fresh nonce per chunk, as the container does; the key schedule is per call, as well.
        const auto nonce = tbbpipe::format::chunk_nonce(index++, false);
        tbbpipe::format::aead_seal(cipher, key, nonce.data(), aad.data(), aad.size(), starts[i],
                                   chunk, sealed.data());
        benchmark::ClobberMemory();
        if (++i == starts.size()) i = 0;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(chunk));
}

void aes256gcm_seal(benchmark::State& state) {
    run_seal(state, Cipher::kAes256Gcm);
}
BENCHMARK(aes256gcm_seal)->Apply(apply_chunk_sizes);

void chacha20poly1305_seal(benchmark::State& state) {
    run_seal(state, Cipher::kChaCha20Poly1305);
}
BENCHMARK(chacha20poly1305_seal)->Apply(apply_chunk_sizes);

// Unpack's side of the cipher: open cost is not the seal cost (GHASH and CTR run the other way
// round, and the tag is compared).
void aes256gcm_open(benchmark::State& state) {
    const auto chunk = static_cast<std::size_t>(state.range(0));
    if (!round_trip_aead(Cipher::kAes256Gcm, chunk)) {
        state.SkipWithError("AEAD round trip mismatch");
        return;
    }
    const SecretBytes key = bench_key();
    const auto aad = bench_aad();
    const auto starts = chunk_starts(chunk);
    std::vector<std::vector<std::uint8_t>> sealed(starts.size());
    for (std::size_t k = 0; k < starts.size(); ++k) {
        sealed[k].resize(chunk + tbbpipe::format::kTagSize);
        const auto nonce = tbbpipe::format::chunk_nonce(k, false);
        tbbpipe::format::aead_seal(Cipher::kAes256Gcm, key, nonce.data(), aad.data(), aad.size(),
                                   starts[k], chunk, sealed[k].data());
    }
    std::vector<std::uint8_t> out(chunk);
    std::size_t i = 0;
    for (auto _ : state) {
        const auto nonce = tbbpipe::format::chunk_nonce(i, false);
        if (!tbbpipe::format::aead_open(Cipher::kAes256Gcm, key, nonce.data(), aad.data(),
                                        aad.size(), sealed[i].data(), sealed[i].size(),
                                        out.data())) {
            state.SkipWithError("AES-256-GCM tag did not verify");
            break;
        }
        if (++i == sealed.size()) i = 0;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(chunk));
}
BENCHMARK(aes256gcm_open)->Apply(apply_chunk_sizes);

void sha256(benchmark::State& state) {
    // FIPS 180-2's "abc" example: a wrong or truncated digest shows up before any timing.
    static const char kAbc[] = "abc";
    const auto abc = tbbpipe::format::sha256(reinterpret_cast<const std::uint8_t*>(kAbc), 3);
    if (tbbpipe::to_hex(abc.data(), abc.size()) !=
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") {
        state.SkipWithError("SHA-256 known answer mismatch");
        return;
    }
    const auto chunk = static_cast<std::size_t>(state.range(0));
    const auto starts = chunk_starts(chunk);
    std::size_t i = 0;
    for (auto _ : state) {
        const auto digest = tbbpipe::format::sha256(starts[i], chunk);
        benchmark::DoNotOptimize(digest);
        if (++i == starts.size()) i = 0;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(chunk));
}
BENCHMARK(sha256)->Apply(apply_chunk_sizes);

// The default chunk digest (--hash xxh3): XXH3-128 as the format stores it.
void xxh3_128(benchmark::State& state) {
    // xxHash's reference value for the empty input, seed 0.
    const auto empty = tbbpipe::format::chunk_digest(tbbpipe::Hash::kXxh3, nullptr, 0);
    if (tbbpipe::to_hex(empty.data(), 16) != "99aa06d3014798d86001c324468d497f") {
        state.SkipWithError("XXH3-128 known answer mismatch");
        return;
    }
    const auto chunk = static_cast<std::size_t>(state.range(0));
    const auto starts = chunk_starts(chunk);
    std::size_t i = 0;
    for (auto _ : state) {
        const auto digest = tbbpipe::format::chunk_digest(tbbpipe::Hash::kXxh3, starts[i], chunk);
        benchmark::DoNotOptimize(digest);
        if (++i == starts.size()) i = 0;
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(chunk));
}
BENCHMARK(xxh3_128)->Apply(apply_chunk_sizes);

}  // namespace

BENCHMARK_MAIN();
