// Dataset: deterministic, seeded "mixed" data for the benchmarks and the README demo.
//
// Real inputs are neither all text nor all noise, and lz4's speed and ratio swing wildly between
// the two, so a benchmark over one kind alone says little. The generator interleaves segments of
// three kinds, a few KiB each, in proportions set by a DataMix (the compressibility knob):
//   text    log-like lines of words from a small built-in vocabulary (lz4 -1 ~2.0x, zstd -1 ~3.1x)
//   random  bytes from a PRNG (incompressible: lz4 stores them raw)
//   binary  32-byte records: counters, small enums, zero padding (lz4 -1 ~2.0x, zstd -1 ~3.4x)
// The byte stream depends only on (seed, mix): any prefix of a longer stream equals the shorter
// stream, however fill() calls are split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tbbpipe::datagen {

/// Relative weights of the three segment kinds, by bytes. Only ratios matter; at least one weight
/// must be non-zero. More `random` means less compressible data.
struct DataMix {
    unsigned text = 50;
    unsigned random = 25;
    unsigned binary = 25;

    unsigned total() const { return text + random + binary; }
};

/// Parses "text:50,random:25,binary:25" (any subset, any order; missing kinds get weight 0).
/// Throws std::invalid_argument naming what is wrong.
DataMix parse_mix(const std::string& text);

/// "text:50,random:25,binary:25", the inverse of parse_mix.
std::string mix_to_string(const DataMix& mix);

/// Parses a byte count with an optional K/M/G suffix (powers of 1024, "KiB"/"MB" spellings too).
/// Throws std::invalid_argument.
std::uint64_t parse_byte_size(const std::string& text);

/// Produces the mixed byte stream, segment by segment.
/// Thread-safety: one thread per object; separate objects are independent.
///
/// @code
///   tbbpipe::datagen::MixedDataGenerator gen(42, {});
///   std::vector<std::uint8_t> buf(1 << 20);
///   gen.fill(buf.data(), buf.size());  // the first MiB of stream 42
/// @endcode
class MixedDataGenerator {
public:
    MixedDataGenerator(std::uint64_t seed, const DataMix& mix);

    /// Writes the next n bytes of the stream.
    void fill(std::uint8_t* out, std::size_t n);

private:
    // xoshiro256** (public-domain algorithm by Blackman and Vigna): fast, and its state is four
    // words, so generation never touches a per-byte call.
    std::uint64_t next();
    void make_segment();
    void make_text(std::size_t n);
    void make_random(std::size_t n);
    void make_binary(std::size_t n);

    std::uint64_t state_[4];
    DataMix mix_;
    std::uint64_t record_seq_ = 0;       // binary records count up across segments
    std::uint64_t timestamp_ = 0;        // so do their timestamps
    std::vector<std::uint8_t> segment_;  // the current segment, handed out by fill()
    std::size_t segment_used_ = 0;
    std::size_t segment_size_ = 0;
};

/// n bytes of stream (seed, mix) in memory.
std::vector<std::uint8_t> make_mixed_data(std::size_t n, std::uint64_t seed, const DataMix& mix);

/// Writes n bytes of stream (seed, mix) to fd, in large blocks. Throws std::runtime_error on I/O
/// errors.
void write_mixed_data(int fd, std::uint64_t n, std::uint64_t seed, const DataMix& mix);

/// Writes n bytes of stream (seed, mix) to path, atomically: a temporary file beside it is
/// renamed into place only when complete, so an interrupted run never leaves a short dataset that
/// a later run would mistake for a finished one.
void write_mixed_file(const std::string& path, std::uint64_t n, std::uint64_t seed,
                      const DataMix& mix);

}  // namespace tbbpipe::datagen
