// tbbpipe-datagen: writes a deterministic mixed dataset (text, random and binary segments) for
// benchmarks and the README demo. The same --size, --mix and --seed always give the same bytes.
//
//   tbbpipe-datagen --size 1G [--mix text:50,random:25,binary:25] [--seed N] -o FILE
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>

#include "datagen/dataset.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "Usage: tbbpipe-datagen --size SIZE [--mix MIX] [--seed N] -o FILE\n"
    "\n"
    "Writes SIZE bytes of deterministic mixed data: log-like text lines, incompressible random\n"
    "bytes and repetitive binary records, interleaved in segments of 4-32 KiB.\n"
    "\n"
    "  --size SIZE     bytes to write; K, M, G suffixes (powers of 1024)\n"
    "  --mix MIX       byte shares by kind (default text:50,random:25,binary:25);\n"
    "                  more random = less compressible\n"
    "  --seed N        stream seed (default 1)\n"
    "  -o, --output F  output file, written atomically; - for standard output\n"
    "  -h, --help      show this help\n";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct DatagenOptions {
    std::uint64_t size = 0;
    tbbpipe::datagen::DataMix mix;
    std::uint64_t seed = 1;
    std::string output;
};

std::uint64_t parse_seed(const std::string& text) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
        text.size() > 19) {
        throw UsageError("--seed must be a decimal number, not '" + text + "'");
    }
    return std::stoull(text);
}

// Returns nullopt for --help.
std::optional<DatagenOptions> parse_args(int argc, char** argv) {
    DatagenOptions o;
    bool have_size = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::string value;
        bool inline_value = false;
        if (arg.rfind("--", 0) == 0) {
            const auto eq = arg.find('=');
            if (eq != std::string::npos) {
                value = arg.substr(eq + 1);
                arg = arg.substr(0, eq);
                inline_value = true;
            }
        }
        const auto take_value = [&]() -> std::string {
            if (inline_value) return value;
            if (i + 1 >= argc) throw UsageError(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "-h" || arg == "--help") return std::nullopt;
        try {
            if (arg == "--size") {
                o.size = tbbpipe::datagen::parse_byte_size(take_value());
                have_size = true;
            } else if (arg == "--mix") {
                o.mix = tbbpipe::datagen::parse_mix(take_value());
            } else if (arg == "--seed") {
                o.seed = parse_seed(take_value());
            } else if (arg == "-o" || arg == "--output") {
                o.output = take_value();
            } else {
                throw UsageError("unknown argument '" + arg + "'");
            }
        } catch (const std::invalid_argument& e) {
            throw UsageError(e.what());
        }
    }
    if (!have_size) throw UsageError("--size is required");
    if (o.output.empty()) throw UsageError("-o FILE is required (- for standard output)");
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    std::optional<DatagenOptions> options;
    try {
        options = parse_args(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "tbbpipe-datagen: " << e.what() << "\nTry 'tbbpipe-datagen --help'.\n";
        return kExitUsage;
    }
    if (!options) {
        std::cout << kUsage;
        return kExitOk;
    }
    try {
        if (options->output == "-") {
            if (::isatty(STDOUT_FILENO)) {
                std::cerr << "tbbpipe-datagen: refusing to write binary data to a terminal\n";
                return kExitUsage;
            }
            tbbpipe::datagen::write_mixed_data(STDOUT_FILENO, options->size, options->seed,
                                               options->mix);
        } else {
            tbbpipe::datagen::write_mixed_file(options->output, options->size, options->seed,
                                               options->mix);
        }
    } catch (const std::exception& e) {
        std::cerr << "tbbpipe-datagen: " << options->output << ": " << e.what() << '\n';
        return kExitFailed;
    }
    return kExitOk;
}
