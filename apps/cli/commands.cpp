#include "commands.hpp"

#include <unistd.h>

#include <ctime>
#include <iostream>

#include "common/json_writer.hpp"
#include "common/text_escape.hpp"
#include "exit_codes.hpp"
#include "secrets.hpp"
#include "tbbpipe/container.hpp"
#include "tbbpipe/secret.hpp"

namespace tbbpipe::cli {
namespace {

std::string format_time(std::int64_t sec) {
    const std::time_t t = static_cast<std::time_t>(sec);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

void json_info(JsonWriter& j, const std::string& input, const ContainerInfo& info) {
    const double ratio =
        info.authenticated && info.original_bytes
            ? static_cast<double>(info.container_bytes) / static_cast<double>(info.original_bytes)
            : 0.0;
    j.begin_object().key("path").value(input).key("format_version").value(info.format_version);
    j.key("container_bytes").value(info.container_bytes);
    j.key("compression").value(compression_name(info.compression));
    j.key("level").value(info.level);
    j.key("cipher").value(cipher_name(info.cipher));
    j.key("stages").value(info.stages);
    j.key("stages_recorded").value(info.stages_recorded);
    j.key("hash").value(hash_name(info.hash));
    j.key("kdf").value(key_derivation_name(info.key_derivation));
    if (info.key_derivation == KeyDerivation::kScrypt) {
        j.key("scrypt")
            .begin_object()
            .key("log2_n")
            .value(info.scrypt.log2_n)
            .key("r")
            .value(info.scrypt.r)
            .key("p")
            .value(info.scrypt.p)
            .end_object();
    }
    j.key("chunk_size").value(static_cast<std::uint64_t>(info.chunk_size));
    j.key("chunk_count").value(info.chunk_count);
    j.key("header_digest").value(to_hex(info.header_digest.data(), 32));
    j.key("authenticated").value(info.authenticated);
    if (info.authenticated) {
        j.key("original_bytes").value(info.original_bytes).key("ratio").value(ratio);
        j.key("name").value(info.name).key("mode").value(static_cast<std::uint64_t>(info.mode));
        j.key("mtime").value(format_time(info.mtime_sec));
        j.key("root_digest").value(digest_hex(info.hash, info.root_digest));
        j.key("chunks").begin_array();
        for (std::size_t i = 0; i < info.chunks.size(); ++i) {
            const ChunkInfo& c = info.chunks[i];
            j.begin_object()
                .key("index")
                .value(static_cast<std::uint64_t>(i))
                .key("offset")
                .value(c.offset)
                .key("raw_size")
                .value(static_cast<std::uint64_t>(c.raw_size))
                .key("stored_size")
                .value(static_cast<std::uint64_t>(c.stored_size))
                .key("compressed")
                .value(c.compressed)
                .key("digest")
                .value(digest_hex(info.hash, c.digest))
                .end_object();
        }
        j.end_array();
    } else {
        j.key("note").value("encrypted: give the key to read the index");
    }
    j.end_object();
}

void print_info(const CliOptions& o, const std::string& input, const ContainerInfo& info) {
    const double ratio =
        info.authenticated && info.original_bytes
            ? static_cast<double>(info.container_bytes) / static_cast<double>(info.original_bytes)
            : 0.0;
    std::cout << printable(input) << ":\n"
              << "  format:        tbbpipe v" << info.format_version << ", " << info.container_bytes
              << " bytes\n"
              << "  compression:   " << compression_name(info.compression) << " (level "
              << info.level << ")\n"
              << "  cipher:        " << cipher_name(info.cipher)
              << " (key: " << key_derivation_name(info.key_derivation) << ")\n"
              << "  stages:        " << printable(info.stages)
              << (info.stages_recorded ? " (recorded)" : "") << "\n"
              << "  chunk size:    " << info.chunk_size << " bytes, " << info.chunk_count
              << " chunks\n";
    if (!info.authenticated) {
        std::cout << "  index:         encrypted (give the key to read it)\n";
        return;
    }
    char r[32];
    std::snprintf(r, sizeof r, "%.3f", ratio);
    std::cout << "  name:          " << printable(info.name) << '\n'
              << "  original:      " << info.original_bytes << " bytes (mode " << std::oct
              << info.mode << std::dec << ", mtime " << format_time(info.mtime_sec) << ")\n"
              << "  ratio:         " << r << " (container / original)\n"
              << "  hash:          " << hash_name(info.hash) << '\n'
              << "  root digest:   " << digest_hex(info.hash, info.root_digest) << '\n';
    if (o.says_files()) {
        for (std::size_t i = 0; i < info.chunks.size(); ++i) {
            const ChunkInfo& c = info.chunks[i];
            std::cout << "  chunk " << i << ": offset " << c.offset << ", raw " << c.raw_size
                      << ", stored " << c.stored_size << (c.compressed ? ", lz4" : ", raw") << ", "
                      << hash_name(info.hash) << " " << digest_hex(info.hash, c.digest) << '\n';
        }
    }
}

int run_info(const CliOptions& o) {
    std::string warning;
    const Secret secret = load_secret(o, false, &warning);
    if (!warning.empty() && o.says_notes()) {
        std::cerr << printable_line("tbbpipe: warning: " + warning);
    }
    int exit_code = kExitOk;
    JsonWriter j;
    if (o.json) j.begin_array();
    for (const std::string& input : o.plan.inputs) {
        const Result<ContainerInfo> info =
            inspect_container(input == "-" ? "/dev/stdin" : input, secret);
        if (!info.ok()) {
            std::cerr << printable_line("tbbpipe: " + (input == "-" ? "(stdin)" : input) + ": " +
                                        info.status().message());
            exit_code = worst_exit(exit_code, exit_code_for(info.status().code()));
            continue;
        }
        if (o.json) {
            json_info(j, input, info.value());
        } else {
            print_info(o, input, info.value());
        }
    }
    if (o.json) {
        j.end_array();
        std::cout << j.str() << '\n';
    }
    return exit_code;
}

int run_keygen(const CliOptions& o) {
    const bool to_stdout = o.plan.to_stdout || o.plan.output.empty();
    const std::string path = to_stdout ? "-" : o.plan.output;
    Status written;
    if (to_stdout) {
        if (::isatty(STDOUT_FILENO)) {
            throw UsageError("refusing to write a binary key to a terminal (use -o FILE)");
        }
        written = write_new_key_to(STDOUT_FILENO);
    } else {
        written = write_new_key(path, o.force);
    }
    if (!written.is_ok()) {
        std::string message = written.message();
        if (written.code() == StatusCode::kAlreadyExists) message += " (use -f to overwrite)";
        std::cerr << printable_line("tbbpipe: " + message);
        return exit_code_for(written.code()) == kExitUsage ? kExitUsage : kExitFailed;
    }
    if (!to_stdout && o.says_notes()) {
        std::cerr << printable_line("tbbpipe: wrote a new key to " + path);
    }
    return kExitOk;
}

}  // namespace

int run_command(const CliOptions& o) {
    switch (o.command) {
        case Command::kPack:
        case Command::kUnpack:
        case Command::kVerify: return run_transfer(o);
        case Command::kInfo: return run_info(o);
        case Command::kKeygen: return run_keygen(o);
        default: return kExitUsage;
    }
}

}  // namespace tbbpipe::cli
