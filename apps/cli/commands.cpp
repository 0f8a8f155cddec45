#include "commands.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>

#include "common/text_escape.hpp"
#include "exit_codes.hpp"
#include "json_report.hpp"
#include "secrets.hpp"
#include "tbbpipe/container.hpp"
#include "tbbpipe/secret.hpp"

namespace tbbpipe::cli {
namespace {

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
              << "  chunks:        " << info.chunk_count << '\n'
              << "  largest chunk: " << info.chunk_size << " bytes (the header's bound)\n";
    if (!info.authenticated) {
        std::cout << "  index:         encrypted (give the key to read it)\n";
        return;
    }
    char r[32];
    std::snprintf(r, sizeof r, "%.3f", ratio);
    std::cout << "  name:          " << printable(info.name) << '\n'
              << "  original:      " << info.original_bytes << " bytes (mode " << std::oct
              << info.mode << std::dec << ", mtime " << utc_time(info.mtime_sec) << ")\n"
              << "  ratio:         " << r << " (container / original)\n"
              << "  hash:          " << hash_name(info.hash) << '\n'
              << "  root digest:   " << digest_hex(info.hash, info.root_digest) << '\n';
    if (const auto sizes = chunk_sizes(info.chunks)) {  // the index's, beside the header's bound
        std::cout << "  chunk sizes:   smallest " << sizes->smallest << ", median " << sizes->median
                  << ", largest " << sizes->largest << " bytes\n";
    }
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
    const auto start = std::chrono::steady_clock::now();
    std::string warning;
    const Secret secret = load_secret(o, false, &warning);
    if (!warning.empty() && o.says_notes()) {
        std::cerr << printable_line("tbbpipe: warning: " + warning);
    }
    int exit_code = kExitOk;
    std::vector<InfoReport> reports;
    for (const std::string& input : o.plan.inputs) {
        InfoReport report{input, inspect_container(input == "-" ? "/dev/stdin" : input, secret)};
        if (!report.info.ok()) {
            if (o.says_errors()) {
                std::cerr << printable_line("tbbpipe: " + (input == "-" ? "(stdin)" : input) +
                                            ": " + report.info.status().message());
            }
            exit_code = worst_exit(exit_code, exit_code_for(report.info.status().code()));
        } else if (!o.json) {
            print_info(o, input, report.info.value());
        }
        if (o.json) reports.push_back(std::move(report));  // else each is done with
    }
    if (o.json) {
        const double wall =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::cout << json_text(info_document(reports, wall, exit_code)) << '\n';
    }
    return exit_code;
}

int run_keygen(const CliOptions& o) {
    const bool to_stdout = o.plan.to_stdout || o.plan.output.empty();
    const std::string path = to_stdout ? "-" : o.plan.output;
    if (to_stdout && o.json) {
        throw UsageError("--json needs keygen -o FILE (the key itself goes to standard output)");
    }
    Status written;
    if (to_stdout) {
        if (::isatty(STDOUT_FILENO)) {
            throw UsageError("refusing to write a binary key to a terminal (use -o FILE)");
        }
        written = write_new_key_to(STDOUT_FILENO);
    } else {
        written = write_new_key(path, o.force);
    }
    int exit_code = kExitOk;
    if (!written.is_ok()) {
        std::string message = written.message();
        if (written.code() == StatusCode::kAlreadyExists) message += " (use -f to overwrite)";
        if (o.says_errors()) std::cerr << printable_line("tbbpipe: " + message);
        exit_code = exit_code_for(written.code()) == kExitUsage ? kExitUsage : kExitFailed;
    } else if (!to_stdout && o.says_notes() && !o.json) {
        std::cerr << printable_line("tbbpipe: wrote a new key to " + path);
    }
    if (o.json) std::cout << json_text(keygen_document(path, written, exit_code)) << '\n';
    return exit_code;
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
