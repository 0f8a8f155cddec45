#include "apps/cli_options.hpp"

#include <cryptopp/config_ver.h>
#include <lz4.h>
#include <oneapi/tbb/version.h>
#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <thread>

#include "apps/stage_plugins.hpp"
#include "nodes/codec.hpp"
#include "nodes/stage_spec.hpp"

namespace tbbpipe::cli {
namespace po = boost::program_options;
namespace {

constexpr const char* kUsage =
    "Usage: tbbpipe <command> [options] [file...]\n"
    "\n"
    "Parallel, bounded pack/unpack of files into compressed, encrypted, integrity-checked\n"
    "containers (.tbp).\n"
    "\n"
    "Commands:\n"
    "  pack     compress (and with a key, encrypt) each file to FILE.tbp\n"
    "  unpack   restore FILE.tbp to FILE (mode and mtime restored)\n"
    "  verify   authenticate and check every chunk of FILE.tbp; writes nothing\n"
    "  info     show a container's header, chunk index, sizes, ratio and root digest\n"
    "  keygen   write a new 32-byte random key (file mode 0600)\n"
    "\n"
    "With no file, or when file is -, pack/unpack/verify read standard input.\n"
    "A key source turns encryption on: --key-file, --passphrase-file, -p, or the\n"
    "TBBPIPE_PASSPHRASE environment variable (an explicit option wins over it).\n";

constexpr const char* kExitCodes =
    "\nExit codes:\n"
    "  0    success\n"
    "  1    an operation failed (I/O error, an output exists, some file failed)\n"
    "  2    usage error (bad option, missing key for an encrypted container)\n"
    "  3    integrity or authentication failure (corrupt, truncated, reordered, wrong key)\n"
    "  130  interrupted (SIGINT/SIGTERM); partial outputs are removed\n";

po::options_description make_options() {
    const std::string stages_help =
        "the pipeline as a stage spec, run left to right when packing and recorded in the "
        "container, e.g. deflate,aes-256-gcm,sha256 (replaces --compress and --cipher; a cipher "
        "needs a key, a key needs a cipher; sha256 is always on). Stages: " +
        nodes::list_stage_names(StageRegistry{}) + ", and those of --stage-plugin";
    po::options_description general("General");
    general.add_options()("help,h", "show this help and exit")(
        "version,V", "show the version and exit")("quiet,q", "print errors only")(
        "verbose,v", "print per-file details and engine statistics")(
        "json", "print a machine-readable summary on stdout")(
        "stage-plugin", po::value<std::vector<std::string>>()->composing(),
        "load a shared library that registers stages (repeatable; see "
        "include/tbbpipe/stages.hpp): --stages may name them and unpack reverses them. Runs the "
        "library's code: trusted files only")(
        "threads,T", po::value<int>(), "CPU tokens: chunks transformed at once (default: cores)")(
        "cpu-tokens", po::value<int>(), "same as -T")(
        "io-tokens", po::value<int>(),
        "reads in flight at once, 1..256 (default: from the device: nvme 32, ssd 8, hdd 2, "
        "other 4)")("io-qdepth", po::value<int>(), "same as --io-tokens")(
        "storage-type", po::value<std::string>(),
        "nvme | ssd | hdd | auto: the device kind the I/O default is for (default auto: probed "
        "through /sys under every input and output)")(
        "memory-limit", po::value<std::string>(),
        "bytes of chunk buffers in flight, K/M/G suffixes (default: 64M or 8M per core)")(
        "scheduler", po::value<std::string>(),
        "fair | fifo: fair draws 3 chunks of small files per chunk of a large one, so a huge "
        "file does not delay the small ones (default fair)")(
        "optimize", po::value<std::string>(),
        "preset for the budgets not given explicitly: throughput (all cores, fifo, auto chunks), "
        "latency (all cores, fair, 256K chunks), resources (half the cores, 2 I/O tokens, 32M, "
        "512K chunks)");
    po::options_description inputs("Inputs");
    inputs.add_options()("recursive,r",
                         "take the files below each folder given (outputs mirror "
                         "the tree under --output-dir)")(
        "follow-symlinks", "follow symbolic links inside folders (default: skip them)");
    po::options_description keys("Keys");
    keys.add_options()("key-file", po::value<std::string>(), "32-byte key file (see keygen)")(
        "passphrase-file", po::value<std::string>(), "read the passphrase from a file")(
        "passphrase,p", "prompt for a passphrase on the terminal (twice when packing)");
    po::options_description pack("Pack");
    pack.add_options()("compress", po::value<std::string>(), "lz4 | lz4hc | none (default lz4)")(
        "level", po::value<int>(),
        "lz4: acceleration 1..65537 (default 1, higher is faster);"
        " lz4hc: 1..12 (default 9)")("cipher", po::value<std::string>(),
                                     "aes-256-gcm | chacha20-poly1305 (default aes-256-gcm)")(
        "stages", po::value<std::string>(), stages_help.c_str())(
        "chunk-size", po::value<std::string>(),
        "auto, or bytes per chunk with K/M suffixes, 4K..64M (default auto: adapts to the CPU "
        "time per chunk within 128K..4M)")(
        "small-file-threshold", po::value<std::string>(),
        "files below this size are packed as one chunk, read whole (default 256K)")(
        "scrypt-log2n", po::value<int>(), "passphrase cost: log2 of scrypt N, 14..20 (default 15)");
    po::options_description outputs("Outputs");
    outputs.add_options()("output,o", po::value<std::string>(), "output path (one input only)")(
        "output-dir", po::value<std::string>(), "write outputs into this folder")(
        "stdout,c", "write to standard output")("force,f", "overwrite existing outputs")(
        "rm", "remove each input after its output was written and verified")(
        "no-fsync", "do not flush outputs to disk before renaming them into place");
    po::options_description observe("Progress and metrics");
    observe.add_options()("progress", "show the progress line even when stderr is not a terminal")(
        "no-progress", "never show the progress line")(
        "metrics-interval", po::value<int>(),
        "live metrics dashboard on stderr every MS milliseconds")(
        "metrics-file", po::value<std::string>(),
        "write Prometheus text metrics to PATH (atomically, every interval and at the end)")(
        "metrics-listen", po::value<std::string>(),
        "serve HTTP /metrics on HOST:PORT during the run (loopback only; port 0 picks one)")(
        "metrics-listen-any", "allow --metrics-listen on a non-loopback address");
    po::options_description all;
    all.add(general).add(inputs).add(keys).add(pack).add(outputs).add(observe);
    return all;
}

Command parse_command(const std::string& word) {
    if (word == "pack") return Command::kPack;
    if (word == "unpack") return Command::kUnpack;
    if (word == "verify") return Command::kVerify;
    if (word == "info") return Command::kInfo;
    if (word == "keygen") return Command::kKeygen;
    if (word == "help") return Command::kHelp;
    throw UsageError("unknown command '" + word + "' (try: tbbpipe --help)");
}

void refuse(const po::variables_map& vm, const char* option, const char* command) {
    if (vm.count(option)) {
        throw UsageError(std::string("--") + option + " does not apply to " + command);
    }
}

// --optimize: sets the budgets together, except those given explicitly.
void apply_preset(const po::variables_map& vm, CliOptions& o) {
    const auto text = vm["optimize"].as<std::string>();
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const bool cpu_given = vm.count("threads") || vm.count("cpu-tokens");
    const bool io_given = vm.count("io-tokens") || vm.count("io-qdepth");
    auto set_chunk = [&](bool autosize, std::uint32_t size) {
        if (vm.count("chunk-size") || o.command != Command::kPack) return;
        o.chunk_auto = autosize;
        o.chunk_size = size;
    };
    if (text == "throughput") {
        o.optimize = CliOptions::Optimize::kThroughput;
        if (!cpu_given) o.threads = cores;
        if (!vm.count("scheduler")) o.scheduler = nodes::SchedulerPolicy::kFifo;
        set_chunk(true, 1024 * 1024);
    } else if (text == "latency") {
        o.optimize = CliOptions::Optimize::kLatency;
        if (!cpu_given) o.threads = cores;
        if (!vm.count("scheduler")) o.scheduler = nodes::SchedulerPolicy::kFair;
        set_chunk(false, 256 * 1024);
    } else if (text == "resources") {
        o.optimize = CliOptions::Optimize::kResources;
        if (!cpu_given) o.threads = std::max(1, cores / 2);
        if (!io_given) o.io_tokens = 2;
        if (!vm.count("memory-limit")) o.memory_limit = 32ull << 20;
        if (!vm.count("scheduler")) o.scheduler = nodes::SchedulerPolicy::kFair;
        set_chunk(false, 512 * 1024);
    } else {
        throw UsageError("--optimize must be throughput, latency or resources, not '" + text + "'");
    }
}

}  // namespace

std::uint64_t parse_size(const std::string& text) {
    std::size_t pos = 0;
    std::uint64_t value = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
        value = value * 10 + static_cast<std::uint64_t>(text[pos] - '0');
        if (value > (1ull << 40)) throw UsageError("size too large: " + text);
        ++pos;
    }
    if (pos == 0) throw UsageError("not a size: '" + text + "'");
    std::string suffix = text.substr(pos);
    for (auto& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (suffix.empty() || suffix == "b") return value;
    if (suffix == "k" || suffix == "kb" || suffix == "kib") return value << 10;
    if (suffix == "m" || suffix == "mb" || suffix == "mib") return value << 20;
    if (suffix == "g" || suffix == "gb" || suffix == "gib") return value << 30;
    throw UsageError("unknown size suffix in '" + text + "' (use K or M)");
}

CliOptions parse_cli(int argc, const char* const* argv) {
    const po::options_description options = make_options();
    po::options_description hidden;
    hidden.add_options()("command", po::value<std::string>())(
        "inputs", po::value<std::vector<std::string>>());
    po::options_description everything;
    everything.add(options).add(hidden);
    po::positional_options_description positional;
    positional.add("command", 1).add("inputs", -1);

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv)
                      .options(everything)
                      .positional(positional)
                      .style(po::command_line_style::default_style &
                             ~po::command_line_style::allow_guessing)
                      .run(),
                  vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }

    CliOptions o;
    if (vm.count("version")) {
        o.command = Command::kVersion;
        return o;
    }
    if (vm.count("help")) {
        o.command = Command::kHelp;
        return o;
    }
    if (!vm.count("command")) {
        o.command = Command::kNone;  // usage on stderr, exit 2
        return o;
    }
    const std::string word = vm["command"].as<std::string>();
    o.command = parse_command(word);
    if (o.command == Command::kHelp) return o;
    if (vm.count("inputs")) o.inputs = vm["inputs"].as<std::vector<std::string>>();

    if (vm.count("quiet") && vm.count("verbose")) throw UsageError("-q and -v exclude each other");
    o.verbosity = vm.count("quiet") ? 0 : vm.count("verbose") ? 2 : 1;
    o.json = vm.count("json") > 0;
    if (vm.count("threads") + vm.count("cpu-tokens") > 1) {
        throw UsageError("give -T or --cpu-tokens, not both");
    }
    if (vm.count("threads") || vm.count("cpu-tokens")) {
        o.threads = vm[vm.count("threads") ? "threads" : "cpu-tokens"].as<int>();
        if (o.threads < 1 || o.threads > 1024) throw UsageError("-T/--cpu-tokens must be 1..1024");
    }
    if (vm.count("io-tokens") + vm.count("io-qdepth") > 1) {
        throw UsageError("give --io-tokens or --io-qdepth, not both");
    }
    if (vm.count("io-tokens") || vm.count("io-qdepth")) {
        o.io_tokens = vm[vm.count("io-tokens") ? "io-tokens" : "io-qdepth"].as<int>();
        if (o.io_tokens < 1 || o.io_tokens > 256) throw UsageError("--io-tokens must be 1..256");
    }
    if (vm.count("memory-limit")) {
        o.memory_limit = parse_size(vm["memory-limit"].as<std::string>());
        if (o.memory_limit < (1u << 20)) throw UsageError("--memory-limit must be at least 1M");
    }
    if (vm.count("storage-type")) {
        const auto text = vm["storage-type"].as<std::string>();
        const auto type = nodes::parse_storage_type(text);
        if (!type)
            throw UsageError("--storage-type must be nvme, ssd, hdd or auto, not '" + text + "'");
        o.storage_type = *type;
    }
    if (vm.count("scheduler")) {
        const auto text = vm["scheduler"].as<std::string>();
        const auto policy = nodes::parse_scheduler(text);
        if (!policy) throw UsageError("--scheduler must be fair or fifo, not '" + text + "'");
        o.scheduler = *policy;
    }
    o.recursive = vm.count("recursive") > 0;
    o.follow_symlinks = vm.count("follow-symlinks") > 0;
    if (vm.count("key-file")) o.key_file = vm["key-file"].as<std::string>();
    if (vm.count("passphrase-file")) o.passphrase_file = vm["passphrase-file"].as<std::string>();
    o.prompt_passphrase = vm.count("passphrase") > 0;
    if (int(o.key_file.has_value()) + int(o.passphrase_file.has_value()) +
            int(o.prompt_passphrase) >
        1) {
        throw UsageError("give one key source: --key-file, --passphrase-file or -p");
    }
    if (vm.count("output")) o.output = vm["output"].as<std::string>();
    if (vm.count("output-dir")) o.output_dir = vm["output-dir"].as<std::string>();
    o.to_stdout = vm.count("stdout") > 0;
    o.force = vm.count("force") > 0;
    o.remove_input = vm.count("rm") > 0;
    o.fsync = vm.count("no-fsync") == 0;

    if (vm.count("progress") && vm.count("no-progress")) {
        throw UsageError("--progress and --no-progress exclude each other");
    }
    if (vm.count("progress")) o.progress = CliOptions::Progress::kOn;
    if (vm.count("no-progress") || o.verbosity == 0) o.progress = CliOptions::Progress::kOff;
    if (vm.count("metrics-interval")) {
        o.metrics_interval_ms = vm["metrics-interval"].as<int>();
        if (o.metrics_interval_ms < 50 || o.metrics_interval_ms > 3600000) {
            throw UsageError("--metrics-interval must be 50..3600000 milliseconds");
        }
    }
    if (vm.count("metrics-file")) o.metrics_file = vm["metrics-file"].as<std::string>();
    if (vm.count("metrics-listen")) o.metrics_listen = vm["metrics-listen"].as<std::string>();
    o.metrics_listen_any = vm.count("metrics-listen-any") > 0;
    if (o.metrics_listen_any && !o.metrics_listen) {
        throw UsageError("--metrics-listen-any needs --metrics-listen");
    }

    // Before --stages is checked: a plugin's stages are names it may use.
    o.stage_registry = load_stage_registry(vm.count("stage-plugin")
                                               ? vm["stage-plugin"].as<std::vector<std::string>>()
                                               : std::vector<std::string>{});
    const bool packing = o.command == Command::kPack;
    if (!packing) {
        for (const char* name : {"compress", "level", "cipher", "stages", "chunk-size",
                                 "scrypt-log2n", "small-file-threshold"}) {
            refuse(vm, name, word.c_str());
        }
    } else {
        if (vm.count("compress")) {
            const auto c = vm["compress"].as<std::string>();
            if (c == "lz4")
                o.compression = nodes::Compression::kLz4;
            else if (c == "lz4hc")
                o.compression = nodes::Compression::kLz4Hc;
            else if (c == "none")
                o.compression = nodes::Compression::kNone;
            else
                throw UsageError("--compress must be lz4, lz4hc or none, not '" + c + "'");
        }
        if (vm.count("stages")) {
            if (vm.count("compress") || vm.count("cipher")) {
                throw UsageError(
                    "--stages replaces --compress and --cipher: give one or the other");
            }
            o.stages = vm["stages"].as<std::string>();
            nodes::StagePlan plan;
            try {
                plan = nodes::parse_stage_spec(o.stages, o.stage_registry.get(),
                                               nodes::SpecSource::kUser);
            } catch (const PipelineError& e) {
                throw UsageError(std::string("--stages: ") + e.what());
            }
            o.compression = plan.compression;
            // Said now, before a passphrase prompt (the environment's is checked when loaded).
            if (plan.cipher == nodes::CipherId::kNone &&
                (o.key_file || o.passphrase_file || o.prompt_passphrase)) {
                throw UsageError("--stages: a key or passphrase was given but '" + plan.spec +
                                 "' encrypts nothing: add aes-256-gcm or chacha20-poly1305");
            }
        }
        if (vm.count("level")) {
            o.level = vm["level"].as<int>();
            const auto range = nodes::level_range(o.compression);
            if (o.compression == nodes::Compression::kNone) {
                throw UsageError("--level needs lz4 or lz4hc (--compress or --stages)");
            }
            if (o.level < range.min || o.level > range.max) {
                throw UsageError("--level for " +
                                 std::string(nodes::compression_name(o.compression)) + " must be " +
                                 std::to_string(range.min) + ".." + std::to_string(range.max));
            }
        }
        if (vm.count("cipher")) {
            const auto c = vm["cipher"].as<std::string>();
            if (c == "aes-256-gcm")
                o.cipher = nodes::CipherId::kAes256Gcm;
            else if (c == "chacha20-poly1305")
                o.cipher = nodes::CipherId::kChaCha20Poly1305;
            else
                throw UsageError("--cipher must be aes-256-gcm or chacha20-poly1305, not '" + c +
                                 "'");
        }
        if (vm.count("chunk-size") && vm["chunk-size"].as<std::string>() != "auto") {
            const auto size = parse_size(vm["chunk-size"].as<std::string>());
            if (size < nodes::kMinChunkSize || size > nodes::kMaxChunkSize) {
                throw UsageError("--chunk-size must be auto or 4K..64M");
            }
            o.chunk_size = static_cast<std::uint32_t>(size);
            o.chunk_auto = false;
        }
        if (vm.count("small-file-threshold")) {
            o.small_file_threshold = parse_size(vm["small-file-threshold"].as<std::string>());
            if (o.small_file_threshold > nodes::kMaxChunkSize) {
                throw UsageError("--small-file-threshold must be at most 64M");
            }
        }
        if (vm.count("scrypt-log2n")) {
            const int n = vm["scrypt-log2n"].as<int>();
            if (n < nodes::kScryptMinLog2N || n > nodes::kScryptMaxLog2N) {
                throw UsageError("--scrypt-log2n must be 14..20");
            }
            o.scrypt_log2_n = static_cast<std::uint8_t>(n);
        }
    }

    switch (o.command) {
        case Command::kVerify:
        case Command::kInfo:
            for (const char* name : {"output", "output-dir", "stdout", "force", "rm", "no-fsync"}) {
                refuse(vm, name, word.c_str());
            }
            if (o.command == Command::kInfo) {
                for (const char* name :
                     {"threads", "cpu-tokens", "io-tokens", "io-qdepth", "memory-limit", "progress",
                      "no-progress", "metrics-interval", "metrics-file", "metrics-listen",
                      "storage-type", "scheduler", "optimize", "recursive"}) {
                    refuse(vm, name, "info");
                }
                if (o.inputs.empty()) throw UsageError("info needs a container file");
            }
            break;
        case Command::kKeygen:
            for (const char* name : {"output-dir",     "rm",
                                     "key-file",       "passphrase-file",
                                     "passphrase",     "threads",
                                     "cpu-tokens",     "io-tokens",
                                     "io-qdepth",      "memory-limit",
                                     "json",           "progress",
                                     "no-progress",    "metrics-interval",
                                     "metrics-file",   "metrics-listen",
                                     "storage-type",   "scheduler",
                                     "optimize",       "recursive",
                                     "follow-symlinks"}) {
                refuse(vm, name, "keygen");
            }
            if (!o.inputs.empty()) throw UsageError("keygen takes no file arguments (use -o)");
            break;
        default: break;
    }
    if (o.command == Command::kPack || o.command == Command::kUnpack) {
        if (o.inputs.empty()) o.inputs = {"-"};
        const int modes =
            int(o.output.has_value()) + int(o.output_dir.has_value()) + int(o.to_stdout);
        if (modes > 1) throw UsageError("-o, --output-dir and -c exclude each other");
        if (o.output && o.inputs.size() > 1) {
            throw UsageError("-o takes one input; use --output-dir for several");
        }
        if (o.to_stdout && o.inputs.size() > 1) {
            throw UsageError("-c takes one input (containers cannot be concatenated)");
        }
        if (o.to_stdout && o.json) throw UsageError("--json needs stdout: not with -c");
        if (o.remove_input && o.to_stdout) {
            throw UsageError("--rm needs a file output (an output on stdout cannot be verified)");
        }
    }
    if (o.command == Command::kVerify && o.inputs.empty()) o.inputs = {"-"};
    if (o.recursive && (o.output || o.to_stdout)) {
        throw UsageError("-r writes one output per file: use --output-dir, not -o or -c");
    }
    if (o.follow_symlinks && !o.recursive) throw UsageError("--follow-symlinks needs -r");
    if (vm.count("optimize")) apply_preset(vm, o);
    return o;
}

std::string help_text() {
    std::ostringstream out;
    out << kUsage << '\n' << make_options() << kExitCodes;
    return out.str();
}

std::string version_text() {
    std::ostringstream out;
    out << "tbbpipe 0.1.0 (container format v1; oneTBB " << TBB_VERSION_MAJOR << '.'
        << TBB_VERSION_MINOR << ", lz4 " << LZ4_versionString() << ", Crypto++ " << CRYPTOPP_MAJOR
        << '.' << CRYPTOPP_MINOR << ")\n";
    return out.str();
}

}  // namespace tbbpipe::cli
