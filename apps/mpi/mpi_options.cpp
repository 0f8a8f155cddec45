#include "mpi_options.hpp"

#include <cstring>
#include <limits>
#include <optional>

#include "cli_options.hpp"

namespace tbbpipe::mpi {
namespace {

// "--name VALUE" or "--name=VALUE" at argv[i]: the value (i moves past it), or nullopt.
std::optional<std::string> value_of(const char* name, int argc, const char* const* argv, int& i) {
    const std::size_t n = std::strlen(name);
    const char* arg = argv[i];
    if (std::strncmp(arg, name, n) != 0) return std::nullopt;
    if (arg[n] == '=') return std::string(arg + n + 1);
    if (arg[n] != '\0') return std::nullopt;
    if (i + 1 >= argc) throw cli::UsageError(std::string(name) + " needs a value");
    return std::string(argv[++i]);
}

std::uint64_t count_of(const std::string& text, const char* name) {
    std::size_t used = 0;
    unsigned long long v = 0;
    try {
        v = std::stoull(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != text.size() || text.empty() || text[0] == '-' || v == 0) {
        throw cli::UsageError(std::string(name) + " " + text + ": not a positive count");
    }
    return v;
}

}  // namespace

std::vector<const char*> take_mpi_options(int argc, const char* const* argv, MpiOptions& m) {
    std::vector<const char*> rest;
    bool options_end = false;
    for (int i = 0; i < argc; ++i) {
        if (i == 0 || options_end) {
            rest.push_back(argv[i]);
            continue;
        }
        if (std::strcmp(argv[i], "--") == 0) {
            options_end = true;
            rest.push_back(argv[i]);
        } else if (auto v = value_of("--split-size", argc, argv, i)) {
            if (*v == "auto") {
                m.split_size.reset();
            } else if (*v == "off") {
                m.split_size = 0;
            } else {
                m.split_size = cli::parse_size(*v);
                if (*m.split_size == 0) throw cli::UsageError("--split-size 0: use off");
            }
        } else if (auto b = value_of("--batch-size", argc, argv, i)) {
            m.batch.max_bytes = cli::parse_size(*b);
            if (m.batch.max_bytes == 0) throw cli::UsageError("--batch-size must be above 0");
            m.batch.min_bytes = std::min(m.batch.min_bytes, m.batch.max_bytes);
        } else if (auto f = value_of("--batch-files", argc, argv, i)) {
            m.batch.max_files = count_of(*f, "--batch-files");
            m.batch.min_files = std::min(m.batch.min_files, m.batch.max_files);
        } else {
            rest.push_back(argv[i]);
        }
    }
    return rest;
}

std::string mpi_help_text() {
    return "\nDistributed runs (tbbpipe-mpi under mpirun; docs/DISTRIBUTED.md):\n"
           "  --split-size SIZE|auto|off  files at least SIZE are split across every rank by\n"
           "                              chunk ranges into one container (auto: 64 MiB and\n"
           "                              twice a rank's share, with more than one rank)\n"
           "  --batch-size SIZE           most bytes rank 0 hands a rank at once (256M)\n"
           "  --batch-files N             most files rank 0 hands a rank at once (4096)\n"
           "  -T, --memory-limit, --io-tokens and the other budgets hold per rank.\n"
           "  Not available: standard input and output, --rm, and -p with more than one rank\n"
           "  (give --passphrase-file, or TBBPIPE_PASSPHRASE with mpirun -x).\n";
}

}  // namespace tbbpipe::mpi
