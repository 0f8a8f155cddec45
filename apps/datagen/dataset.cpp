#include "datagen/dataset.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace tbbpipe::datagen {
namespace {

// Segments are a few KiB: long enough for lz4 to find the text's repeats, short enough that a
// 64 KiB chunk already holds a mix of kinds, as real archives do.
constexpr std::size_t kMinSegment = std::size_t{4} * 1024;
constexpr std::size_t kMaxSegment = std::size_t{32} * 1024;
// Writers copy whole 16-byte words and 8-byte draws and trim afterwards: room for the overshoot.
constexpr std::size_t kSegmentSlack = 256;
constexpr std::size_t kWriteBlock = std::size_t{4} * 1024 * 1024;

// 128 words, so one word costs 7 bits of a draw. Log-ish English: what text-heavy inputs
// (logs, source, configuration) look like to a compressor.
constexpr std::array<const char*, 128> kVocabulary = {
    "the",      "of",         "and",         "to",       "in",         "is",        "for",
    "on",       "with",       "as",          "by",       "at",         "from",      "this",
    "that",     "be",         "or",          "an",       "not",        "are",       "was",
    "it",       "all",        "new",         "file",     "data",       "user",      "server",
    "client",   "request",    "response",    "error",    "warning",    "failed",    "success",
    "connect",  "connection", "timeout",     "retry",    "session",    "token",     "cache",
    "memory",   "disk",       "network",     "packet",   "buffer",     "chunk",     "block",
    "stream",   "thread",     "worker",      "queue",    "task",       "job",       "started",
    "stopped",  "finished",   "pending",     "running",  "process",    "handler",   "module",
    "config",   "value",      "key",         "index",    "table",      "record",    "update",
    "insert",   "delete",     "select",      "query",    "result",     "status",    "code",
    "message",  "event",      "source",      "target",   "path",       "directory", "read",
    "write",    "open",       "close",       "bytes",    "size",       "length",    "offset",
    "count",    "total",      "average",     "latency",  "throughput", "version",   "build",
    "release",  "debug",      "trace",       "info",     "notice",     "critical",  "service",
    "instance", "cluster",    "node",        "region",   "zone",       "account",   "storage",
    "backup",   "restore",    "archive",     "compress", "encrypt",    "verify",    "checksum",
    "digest",   "signature",  "certificate", "license",  "policy",     "schedule",  "daily",
    "remote",   "local"};

constexpr std::array<std::string_view, 4> kLevels = {"INFO ", "WARN ", "DEBUG ", "ERROR "};

// Each word padded to 16 bytes with its trailing space, so emitting one is a fixed 16-byte copy
// and a pointer bump instead of a strlen-sized memcpy.
struct PaddedWord {
    char bytes[16];
    std::uint8_t size;
};

std::array<PaddedWord, kVocabulary.size()> make_padded(const std::array<const char*, 128>& words) {
    std::array<PaddedWord, kVocabulary.size()> out{};
    for (std::size_t i = 0; i < words.size(); ++i) {
        const std::size_t n = std::strlen(words[i]);
        std::memcpy(out[i].bytes, words[i], n);
        out[i].bytes[n] = ' ';
        out[i].size = static_cast<std::uint8_t>(n + 1);
    }
    return out;
}

const std::array<PaddedWord, kVocabulary.size()>& padded_vocabulary() {
    static const auto table = make_padded(kVocabulary);
    return table;
}

std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void put_le32(std::uint8_t* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

void put_le64(std::uint8_t* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string& s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string::npos) return {};
    const auto last = s.find_last_not_of(" \t");
    return s.substr(first, last - first + 1);
}

}  // namespace

DataMix parse_mix(const std::string& text) {
    DataMix mix{0, 0, 0};
    bool seen[3] = {false, false, false};
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string item = trim(text.substr(start, comma - start));
        start = comma + 1;
        if (item.empty()) throw std::invalid_argument("empty item in mix '" + text + "'");
        const auto colon = item.find(':');
        if (colon == std::string::npos) {
            throw std::invalid_argument("mix item '" + item + "' is not kind:weight");
        }
        const std::string kind = lower(trim(item.substr(0, colon)));
        const std::string weight_text = trim(item.substr(colon + 1));
        if (weight_text.empty() || weight_text.size() > 6 ||
            !std::all_of(weight_text.begin(), weight_text.end(),
                         [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
            throw std::invalid_argument("mix weight '" + weight_text + "' is not 0..999999");
        }
        const auto weight = static_cast<unsigned>(std::stoul(weight_text));
        int slot = -1;
        if (kind == "text")
            slot = 0;
        else if (kind == "random")
            slot = 1;
        else if (kind == "binary")
            slot = 2;
        if (slot < 0) {
            throw std::invalid_argument("unknown mix kind '" + kind + "' (text, random, binary)");
        }
        if (seen[slot]) throw std::invalid_argument("mix kind '" + kind + "' given twice");
        seen[slot] = true;
        (slot == 0 ? mix.text : slot == 1 ? mix.random : mix.binary) = weight;
    }
    if (mix.total() == 0) throw std::invalid_argument("mix weights are all zero");
    return mix;
}

std::string mix_to_string(const DataMix& mix) {
    return "text:" + std::to_string(mix.text) + ",random:" + std::to_string(mix.random) +
           ",binary:" + std::to_string(mix.binary);
}

std::uint64_t parse_byte_size(const std::string& text) {
    std::size_t pos = 0;
    std::uint64_t value = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
        value = value * 10 + static_cast<std::uint64_t>(text[pos] - '0');
        if (value > (1ull << 50)) throw std::invalid_argument("size too large: '" + text + "'");
        ++pos;
    }
    if (pos == 0) throw std::invalid_argument("not a size: '" + text + "'");
    const std::string suffix = lower(text.substr(pos));
    int shift = -1;
    if (suffix.empty() || suffix == "b")
        shift = 0;
    else if (suffix == "k" || suffix == "kb" || suffix == "kib")
        shift = 10;
    else if (suffix == "m" || suffix == "mb" || suffix == "mib")
        shift = 20;
    else if (suffix == "g" || suffix == "gb" || suffix == "gib")
        shift = 30;
    if (shift < 0) {
        throw std::invalid_argument("unknown size suffix in '" + text + "' (use K, M or G)");
    }
    return value << shift;
}

MixedDataGenerator::MixedDataGenerator(std::uint64_t seed, const DataMix& mix)
    : mix_(mix), segment_(kMaxSegment + kSegmentSlack) {
    if (mix.total() == 0) throw std::invalid_argument("mix weights are all zero");
    std::uint64_t x = seed;
    for (auto& word : state_) word = splitmix64(x);
}

std::uint64_t MixedDataGenerator::next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
}

void MixedDataGenerator::fill(std::uint8_t* out, std::size_t n) {
    while (n > 0) {
        if (segment_used_ == segment_size_) make_segment();
        const std::size_t take = std::min(n, segment_size_ - segment_used_);
        std::memcpy(out, segment_.data() + segment_used_, take);
        segment_used_ += take;
        out += take;
        n -= take;
    }
}

void MixedDataGenerator::make_segment() {
    const std::uint64_t r = next();
    const std::size_t size = kMinSegment + (r >> 32) % (kMaxSegment - kMinSegment + 1);
    // Every kind draws its length from the same range, so byte shares follow the weights.
    const auto pick = static_cast<unsigned>((r & 0xffffffffu) % mix_.total());
    if (pick < mix_.text) {
        make_text(size);
    } else if (pick < mix_.text + mix_.random) {
        make_random(size);
    } else {
        make_binary(size);
    }
    segment_size_ = size;
    segment_used_ = 0;
}

void MixedDataGenerator::make_text(std::size_t n) {
    const auto& words = padded_vocabulary();
    std::uint8_t* p = segment_.data();
    std::uint8_t* const end = p + n;
    while (p < end) {
        // One draw per line for its shape: level, length and a six-digit number (ids, sizes and
        // times make real logs only partly repetitive).
        std::uint64_t r = next();
        const std::string_view level = kLevels[r & 3];
        std::memcpy(p, level.data(), level.size());
        p += level.size();
        const unsigned word_count = 4 + static_cast<unsigned>((r >> 2) & 7);
        std::uint32_t number = static_cast<std::uint32_t>((r >> 8) % 1000000);
        for (int i = 5; i >= 0; --i) {
            p[i] = static_cast<std::uint8_t>('0' + number % 10);
            number /= 10;
        }
        p[6] = ' ';
        p += 7;
        // Words take 7 bits each; a draw yields 9 of them.
        std::uint64_t bits = next();
        int left = 9;
        for (unsigned w = 0; w < word_count; ++w) {
            if (left == 0) {
                bits = next();
                left = 9;
            }
            const PaddedWord& word = words[bits & 127];
            bits >>= 7;
            --left;
            std::memcpy(p, word.bytes, sizeof word.bytes);  // fixed size: the slack absorbs it
            p += word.size;
        }
        p[-1] = '\n';
        // A line is at most ~6 + 7 + 11 * 12 bytes, well inside the slack past `end`.
    }
}

void MixedDataGenerator::make_random(std::size_t n) {
    std::uint8_t* p = segment_.data();
    for (std::size_t i = 0; i < n; i += 8) {
        const std::uint64_t r = next();
        std::memcpy(p + i, &r, 8);
    }
}

void MixedDataGenerator::make_binary(std::size_t n) {
    // 32-byte records: magic, sequence, timestamp, kind, flags, a small value, zero padding. The
    // counters and enums repeat across records the way table rows and packet headers do.
    constexpr std::uint32_t kMagic = 0x31434552;  // "REC1"
    std::uint8_t* p = segment_.data();
    for (std::size_t i = 0; i < n; i += 32) {
        const std::uint64_t r = next();
        timestamp_ += 1 + (r & 0xff);
        std::uint8_t* rec = p + i;
        put_le32(rec, kMagic);
        put_le32(rec + 4, static_cast<std::uint32_t>(record_seq_++));
        put_le64(rec + 8, 1700000000000ull + timestamp_);
        rec[16] = static_cast<std::uint8_t>((r >> 8) & 7);
        rec[17] = 0;
        rec[18] = static_cast<std::uint8_t>((r >> 11) & 1);
        rec[19] = 0;
        put_le32(rec + 20, static_cast<std::uint32_t>((r >> 16) & 0xfff));
        put_le64(rec + 24, 0);
    }
}

std::vector<std::uint8_t> make_mixed_data(std::size_t n, std::uint64_t seed, const DataMix& mix) {
    std::vector<std::uint8_t> data(n);
    MixedDataGenerator gen(seed, mix);
    gen.fill(data.data(), n);
    return data;
}

void write_mixed_data(int fd, std::uint64_t n, std::uint64_t seed, const DataMix& mix) {
    MixedDataGenerator gen(seed, mix);
    std::vector<std::uint8_t> block(kWriteBlock);
    while (n > 0) {
        const auto size = static_cast<std::size_t>(std::min<std::uint64_t>(n, block.size()));
        gen.fill(block.data(), size);
        std::size_t done = 0;
        while (done < size) {
            const ssize_t w = ::write(fd, block.data() + done, size - done);
            if (w < 0) {
                if (errno == EINTR) continue;
                throw std::runtime_error(std::string("write failed: ") + std::strerror(errno));
            }
            done += static_cast<std::size_t>(w);
        }
        n -= size;
    }
}

void write_mixed_file(const std::string& path, std::uint64_t n, std::uint64_t seed,
                      const DataMix& mix) {
    std::string temp = path + ".partial-XXXXXX";
    const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
    if (fd < 0) {
        throw std::runtime_error("cannot create a file beside " + path + ": " +
                                 std::strerror(errno));
    }
    try {
        // Reserving the extents up front lets ext4 skip block allocation on every write; it is
        // only a hint, so a file system without fallocate just takes the slower path (not
        // posix_fallocate, whose fallback writes every block once more).
        if (n > 0) (void)::fallocate(fd, 0, 0, static_cast<off_t>(n));
        write_mixed_data(fd, n, seed, mix);
        if (::fchmod(fd, 0644) != 0) {
            throw std::runtime_error(std::string("cannot set the mode: ") + std::strerror(errno));
        }
    } catch (...) {
        ::close(fd);
        ::unlink(temp.c_str());
        throw;
    }
    // close() can report a deferred write error; the descriptor is gone either way.
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(temp.c_str());
        throw std::runtime_error("cannot finish " + path + ": " + std::strerror(err));
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(temp.c_str());
        throw std::runtime_error("cannot rename into " + path + ": " + std::strerror(err));
    }
}

}  // namespace tbbpipe::datagen
