// tbbpipe-plain: the ceiling as a command, so it can be timed beside the tbbpipe CLI and the peer
// tools in the same run (perf/hotpath.sh). It runs PlainPipeline (plain_pipeline.hpp): the same
// kernels as tbbpipe with a key file, in a bare tbb::parallel_pipeline.
//
//   tbbpipe-plain pack   --key-file KEY [--chunk-size N] [--threads N] [--hash H] INPUT OUTPUT
//   tbbpipe-plain unpack --key-file KEY [--threads N] INPUT OUTPUT
//
// OUTPUT "-" is standard output. A packed file is the records, then the index (one 48-byte
// entry per chunk) and a 16-byte trailer: entry count, hash id, magic. It exists for timing and
// has no stability promise; nothing but tbbpipe-plain reads it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/program_options.hpp>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "format/byte_order.hpp"
#include "jobs/file_io.hpp"
#include "perf/plain_pipeline.hpp"

namespace po = boost::program_options;
using tbbpipe::perf::SealedEntry;

namespace {

constexpr std::uint32_t kMagic = 0x504c4e31;  // "PLN1"
constexpr std::size_t kEntrySize = 8 + 4 + 4 + 4 + 4 + 32;
constexpr std::size_t kTrailerSize = 16;

struct Fd {
    int fd = -1;
    bool owned = false;
    ~Fd() {
        if (owned) ::close(fd);
    }
};

Fd open_input(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
    return {fd, true};
}

Fd open_output(const std::string& path) {
    if (path == "-") return {STDOUT_FILENO, false};
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
    return {fd, true};
}

tbbpipe::format::SecretBytes read_key(const std::string& path) {
    Fd in = open_input(path);
    tbbpipe::format::SecretBytes key(32);
    if (tbbpipe::jobs::read_full(in.fd, key.data(), key.size()) != key.size()) {
        throw std::runtime_error(path + ": a key file holds 32 bytes");
    }
    return key;
}

tbbpipe::Hash parse_hash(const std::string& name) {
    if (name == "xxh3") return tbbpipe::Hash::kXxh3;
    if (name == "sha256") return tbbpipe::Hash::kSha256;
    if (name == "none") return tbbpipe::Hash::kNone;
    throw std::runtime_error("unknown hash '" + name + "' (xxh3, sha256, none)");
}

void write_index(int fd, const std::vector<SealedEntry>& index, tbbpipe::Hash hash) {
    namespace f = tbbpipe::format;
    std::vector<std::uint8_t> out(index.size() * kEntrySize + kTrailerSize);
    std::uint8_t* p = out.data();
    for (const SealedEntry& e : index) {
        f::put_u64(p, e.offset);
        f::put_u32(p + 8, e.raw_size);
        f::put_u32(p + 12, e.stored_size);
        f::put_u32(p + 16, e.compressed ? 1 : 0);
        f::put_u32(p + 20, 0);
        std::memcpy(p + 24, e.digest.data(), e.digest.size());
        p += kEntrySize;
    }
    f::put_u64(p, index.size());
    f::put_u32(p + 8, static_cast<std::uint32_t>(hash));
    f::put_u32(p + 12, kMagic);
    tbbpipe::jobs::write_full(fd, out.data(), out.size(), "index");
}

std::vector<SealedEntry> read_index(int fd, const std::string& path, tbbpipe::Hash* hash) {
    namespace f = tbbpipe::format;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(kTrailerSize)) {
        throw std::runtime_error(path + ": not a tbbpipe-plain file");
    }
    std::uint8_t trailer[kTrailerSize];
    const auto size = static_cast<std::uint64_t>(st.st_size);
    tbbpipe::jobs::pread_full(fd, trailer, kTrailerSize, size - kTrailerSize);
    const std::uint64_t count = f::get_u64(trailer);
    if (f::get_u32(trailer + 12) != kMagic || count > (size - kTrailerSize) / kEntrySize) {
        throw std::runtime_error(path + ": not a tbbpipe-plain file");
    }
    *hash = static_cast<tbbpipe::Hash>(f::get_u32(trailer + 8));
    std::vector<std::uint8_t> raw(count * kEntrySize);
    tbbpipe::jobs::pread_full(fd, raw.data(), raw.size(), size - kTrailerSize - raw.size());
    std::vector<SealedEntry> index(count);
    for (std::uint64_t i = 0; i < count; ++i) {
        const std::uint8_t* p = raw.data() + i * kEntrySize;
        SealedEntry& e = index[i];
        e.offset = f::get_u64(p);
        e.raw_size = f::get_u32(p + 8);
        e.stored_size = f::get_u32(p + 12);
        e.compressed = f::get_u32(p + 16) != 0;
        std::memcpy(e.digest.data(), p + 24, e.digest.size());
    }
    return index;
}

int run(int argc, char** argv) {
    std::string command, input, output, key_file, hash = "xxh3";
    std::uint32_t chunk_size = 1u << 20;
    int threads = 0;
    po::options_description named("options");
    named.add_options()("key-file", po::value(&key_file)->required(), "32-byte key file")(
        "chunk-size", po::value(&chunk_size), "pack: bytes per chunk (default 1 MiB)")(
        "threads", po::value(&threads), "worker threads (default: all cores)")(
        "hash", po::value(&hash), "pack: xxh3 (default), sha256 or none");
    po::options_description all;
    all.add(named).add_options()("command", po::value(&command)->required())(
        "input", po::value(&input)->required())("output", po::value(&output)->required());
    po::positional_options_description positional;
    positional.add("command", 1).add("input", 1).add("output", 1);
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);

    tbbpipe::perf::PlainPipelineConfig config;
    config.key = read_key(key_file);
    config.threads = threads;
    Fd in = open_input(input);
    Fd out = open_output(output);
    if (command == "pack") {
        if (chunk_size == 0) throw std::runtime_error("--chunk-size must be positive");
        config.chunk_size = chunk_size;
        config.hash = parse_hash(hash);
        struct stat st {};
        if (::fstat(in.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            throw std::runtime_error(input + ": pack reads a regular file");
        }
        std::vector<SealedEntry> index;
        tbbpipe::perf::plain_pack(config, in.fd, static_cast<std::uint64_t>(st.st_size), out.fd,
                                  &index);
        write_index(out.fd, index, config.hash);
    } else if (command == "unpack") {
        const std::vector<SealedEntry> index = read_index(in.fd, input, &config.hash);
        tbbpipe::perf::plain_unpack(config, in.fd, index, out.fd);
    } else {
        throw std::runtime_error("unknown command '" + command + "' (pack, unpack)");
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tbbpipe-plain: %s\n", e.what());
        return 1;
    }
}
