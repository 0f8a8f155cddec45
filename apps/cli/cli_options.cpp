#include "cli_options.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <thread>

#include "metrics_push.hpp"
#include "stage_plugins.hpp"
#include "tbbpipe/secret.hpp"
#include "tbbpipe/version.hpp"

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

std::string stage_names(const StageRegistry& registry) {
    std::string out;
    for (const std::string& name : registry.names()) out += (out.empty() ? "" : ", ") + name;
    return out;
}

// The options by group, so each command's --help shows only what applies to it.
struct OptionGroups {
    po::options_description general{"General"};
    po::options_description budgets{"Budgets"};
    po::options_description inputs{"Inputs"};
    po::options_description keys{"Keys"};
    po::options_description pack{"Pack"};
    po::options_description outputs{"Outputs"};
    po::options_description observe{"Progress and metrics"};
};

OptionGroups make_groups() {
    const std::string stages_help =
        "the pipeline as a stage spec, run left to right when packing and recorded in the "
        "container, e.g. deflate,aes-256-gcm,xxh3 (replaces --compress and --cipher; a cipher "
        "needs a key, a key needs a cipher; the digest, xxh3 or sha256, comes last: --hash). "
        "Stages: " +
        stage_names(StageRegistry{}) + ", and those of --stage-plugin";
    OptionGroups g;
    g.general.add_options()("help,h", "show this help and exit")("version,V",
                                                                 "show the version and exit")(
        "quiet,q", "print errors only (-qq: not even those; only the exit code speaks)")(
        "verbose,v", "one line per file (-vv: and the engine's budgets and chunk details)")(
        "json",
        "print one JSON document on stdout at the end: every file, failed ones too, and the totals "
        "(docs/JSON.md)")(
        "stage-plugin", po::value<std::vector<std::string>>()->composing(),
        "load a shared library that registers stages (repeatable; see "
        "include/tbbpipe/stages.hpp): --stages may name them and unpack reverses them. Runs the "
        "library's code: trusted files only");
    g.budgets.add_options()(
        "threads,T", po::value<int>(),
        "CPU tokens: chunks transformed at once, 0..1024 (default 0: one per core)")(
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
    g.inputs.add_options()("recursive,r",
                           "take the files below each folder given (outputs mirror "
                           "the tree under --output-dir)")(
        "follow-symlinks", "follow symbolic links inside folders (default: skip them)")(
        "read-devices",
        "read a block or character device named as an input to its end (default: refuse it, as "
        "zstd does; FIFOs are always read)");
    g.keys.add_options()("key-file", po::value<std::string>(), "32-byte key file (see keygen)")(
        "passphrase-file", po::value<std::string>(), "read the passphrase from a file")(
        "passphrase,p", "prompt for a passphrase on the terminal (twice when packing)");
    g.pack.add_options()("compress", po::value<std::string>(), "lz4 | lz4hc | none (default lz4)")(
        "level", po::value<int>(),
        "lz4: acceleration 1..65537 (default 1, higher is faster);"
        " lz4hc: 3..12 (default 9)")("cipher", po::value<std::string>(),
                                     "aes-256-gcm | chacha20-poly1305 (default aes-256-gcm)")(
        "stages", po::value<std::string>(), stages_help.c_str())(
        "hash", po::value<std::string>(),
        "per-chunk digest of the plaintext, checked on unpack: xxh3 (XXH3-128, the default), "
        "sha256 (a cryptographic digest, for unencrypted containers that need one), or none "
        "(only with a key: the cipher's tags are then the only check)")(
        "chunk-size", po::value<std::string>(),
        "auto, or bytes per chunk with K/M suffixes, 4K..64M (default auto: adapts to the CPU "
        "time per chunk within 128K..4M)")(
        "small-file-threshold", po::value<std::string>(),
        "files below this size are packed as one chunk, read whole (default 256K)")(
        "scrypt-log2n", po::value<int>(), "passphrase cost: log2 of scrypt N, 14..18 (default 15)");
    g.outputs.add_options()("output,o", po::value<std::string>(), "output path (one input only)")(
        "output-dir", po::value<std::string>(), "write outputs into this folder")(
        "stdout,c", "write to standard output")("force,f", "overwrite existing outputs")(
        "keep,k", "keep the inputs (always so, unless --rm: for zstd's habit)")(
        "rm", "remove each input after its output was written and verified")(
        "no-fsync", "do not flush outputs to disk before renaming them into place");
    g.observe.add_options()("progress",
                            "show the progress line even when stderr is not a terminal")(
        "no-progress", "never show the progress line")(
        "metrics-interval", po::value<int>(),
        "live metrics dashboard on stderr every MS milliseconds")(
        "metrics-file", po::value<std::string>(),
        "write Prometheus text metrics to PATH (atomically, every interval and at the end)")(
        "metrics-listen", po::value<std::string>(),
        "serve HTTP /metrics on HOST:PORT during the run: 127.0.0.1, localhost or [::1] (other "
        "addresses need --metrics-listen-any); port 0 picks one, printed on stderr even with -q")(
        "metrics-listen-any", "allow --metrics-listen on a non-loopback address")(
        "metrics-push", po::value<std::string>(),
        "push the metrics to a Prometheus Pushgateway at URL (http:// or https://) every "
        "--metrics-interval (default 5 s) and once at the end, as job tbbpipe grouped by host "
        "and command; 2 s timeout, one warning if it fails, the run goes on (docs/METRICS.md)");
    return g;
}

po::options_description make_options() {
    const OptionGroups g = make_groups();
    po::options_description all;
    all.add(g.general).add(g.budgets).add(g.inputs).add(g.keys).add(g.pack).add(g.outputs).add(
        g.observe);
    return all;
}

// Edit distance (insert, delete, substitute): how far a typo is from a name.
std::size_t distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// " (did you mean X?)" for the nearest of `names`, when one is near enough to be the intent.
std::string nearest(const std::string& typed, const std::vector<std::string>& names) {
    std::string best;
    std::size_t best_distance = std::max<std::size_t>(2, typed.size() / 3) + 1;
    for (const std::string& name : names) {
        const std::size_t d = distance(typed, name);
        if (d < best_distance) {
            best_distance = d;
            best = name;
        }
    }
    return best.empty() ? "" : " (did you mean " + best + "?)";
}

const std::vector<std::string>& command_words() {
    static const std::vector<std::string> words = {"pack", "unpack", "verify",
                                                   "info", "keygen", "help"};
    return words;
}

Command parse_command(const std::string& word) {
    if (word == "pack") return Command::kPack;
    if (word == "unpack") return Command::kUnpack;
    if (word == "verify") return Command::kVerify;
    if (word == "info") return Command::kInfo;
    if (word == "keygen") return Command::kKeygen;
    if (word == "help") return Command::kHelp;
    throw UsageError("unknown command '" + word + "'" + nearest(word, command_words()));
}

// Every long option name, "--name", for suggestions.
std::vector<std::string> option_words() {
    std::vector<std::string> words;
    const po::options_description all = make_options();  // held: options() refers into it
    for (const auto& option : all.options()) words.push_back("--" + option->long_name());
    return words;
}

// -q and -v count (-qq, -vv, -v -v): taken out of the arguments before the parser sees them.
// Returns the verbosity: 0 silent, 1 errors only, 2 normal (the default), 3 -v, 4 -vv.
int take_verbosity(std::vector<std::string>& args) {
    int level = 2;
    std::vector<std::string> kept;
    bool options_end = false;
    for (const std::string& arg : args) {
        if (options_end || arg == "--") {
            options_end = true;
            kept.push_back(arg);
            continue;
        }
        if (arg == "--quiet" || arg == "--verbose") {
            level += arg == "--quiet" ? -1 : 1;
            continue;
        }
        const bool letters = arg.size() >= 2 && arg[0] == '-' && arg[1] != '-' &&
                             arg.find_first_not_of("qv", 1) == std::string::npos;
        if (!letters) {
            kept.push_back(arg);
            continue;
        }
        for (std::size_t i = 1; i < arg.size(); ++i) level += arg[i] == 'q' ? -1 : 1;
    }
    args = std::move(kept);
    return std::clamp(level, 0, 4);
}

// The library's verdict on a value, as a usage error: the same words for the same mistake,
// whether a program or this command line makes it.
void check(const Status& status) {
    if (!status.is_ok()) throw UsageError(status.message());
}

void refuse(const po::variables_map& vm, std::initializer_list<const char*> options,
            const std::string& command) {
    for (const char* option : options) {
        if (vm.count(option)) {
            throw UsageError(std::string("--") + option + " does not apply to " + command);
        }
    }
}

// One of two spellings of the same option, or neither.
std::optional<int> either(const po::variables_map& vm, const char* a, const char* b) {
    if (vm.count(a) && vm.count(b)) {
        throw UsageError(std::string("give --") + a + " or --" + b + ", not both");
    }
    if (vm.count(a)) return vm[a].as<int>();
    if (vm.count(b)) return vm[b].as<int>();
    return std::nullopt;
}

std::string text(const po::variables_map& vm, const char* option) {
    return vm[option].as<std::string>();
}

po::variables_map read_command_line(const std::vector<std::string>& args) {
    po::options_description hidden;
    hidden.add_options()("command", po::value<std::string>())(
        "inputs", po::value<std::vector<std::string>>());
    po::options_description everything;
    everything.add(make_options()).add(hidden);
    po::positional_options_description positional;
    positional.add("command", 1).add("inputs", -1);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args)
                      .options(everything)
                      .positional(positional)
                      .style(po::command_line_style::default_style &
                             ~po::command_line_style::allow_guessing)
                      .run(),
                  vm);
        po::notify(vm);
    } catch (const po::unknown_option& e) {
        const std::string name = e.get_option_name();
        throw UsageError("unknown option " + name + nearest(name, option_words()));
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }
    return vm;
}

void read_reporting(const po::variables_map& vm, CliOptions& o) {
    o.json = vm.count("json") > 0;
    if (vm.count("progress") && vm.count("no-progress")) {
        throw UsageError("--progress and --no-progress exclude each other");
    }
    if (vm.count("progress")) o.progress = CliOptions::Progress::kOn;
    if (vm.count("no-progress") || o.verbosity < 2) o.progress = CliOptions::Progress::kOff;
    if (vm.count("metrics-interval")) {
        o.metrics_interval_ms = vm["metrics-interval"].as<int>();
        if (o.metrics_interval_ms < 50 || o.metrics_interval_ms > 3600000) {
            throw UsageError("--metrics-interval must be 50..3600000 milliseconds");
        }
    }
    if (vm.count("metrics-file")) o.metrics_file = text(vm, "metrics-file");
    if (vm.count("metrics-listen")) o.metrics_listen = text(vm, "metrics-listen");
    o.metrics_listen_any = vm.count("metrics-listen-any") > 0;
    if (o.metrics_listen_any && !o.metrics_listen) {
        throw UsageError("--metrics-listen-any needs --metrics-listen");
    }
    if (vm.count("metrics-push")) {
        if (o.command == Command::kInfo || o.command == Command::kKeygen) {
            throw UsageError(std::string("--metrics-push does not apply to ") +
                             (o.command == Command::kInfo ? "info" : "keygen"));
        }
        o.metrics_push = text(vm, "metrics-push");
        parse_push_url(*o.metrics_push);  // a bad URL is a usage error now, not a warning later
    }
}

void read_budgets(const po::variables_map& vm, CliOptions& o) {
    EngineConfig& e = o.engine;
    if (const auto cpu = either(vm, "threads", "cpu-tokens")) e.cpu_tokens = *cpu;
    if (const auto io = either(vm, "io-tokens", "io-qdepth")) {
        e.io_tokens = *io;
        o.io_tokens_given = true;
    }
    if (vm.count("memory-limit")) e.memory_limit = parse_size(text(vm, "memory-limit"));
    if (vm.count("storage-type")) {
        const auto type = parse_storage_type(text(vm, "storage-type"));
        if (!type) {
            throw UsageError("--storage-type must be nvme, ssd, hdd or auto, not '" +
                             text(vm, "storage-type") + "'");
        }
        o.storage_type = *type;
    }
    if (vm.count("scheduler")) {
        const auto policy = parse_scheduler(text(vm, "scheduler"));
        if (!policy) {
            throw UsageError("--scheduler must be fair or fifo, not '" + text(vm, "scheduler") +
                             "'");
        }
        e.scheduler = *policy;
    }
    e.commit.durable = vm.count("no-fsync") == 0;
}

void read_keys(const po::variables_map& vm, CliOptions& o) {
    if (vm.count("key-file")) o.key_file = text(vm, "key-file");
    if (vm.count("passphrase-file")) o.passphrase_file = text(vm, "passphrase-file");
    o.prompt_passphrase = vm.count("passphrase") > 0;
    if (int(o.key_file.has_value()) + int(o.passphrase_file.has_value()) +
            int(o.prompt_passphrase) >
        1) {
        throw UsageError("give one key source: --key-file, --passphrase-file or -p");
    }
}

void read_pack(const po::variables_map& vm, CliOptions& o) {
    PackOptions& p = o.pack;
    if (vm.count("compress")) {
        const auto c = parse_compression(text(vm, "compress"));
        if (!c) {
            throw UsageError("--compress must be lz4, lz4hc or none, not '" + text(vm, "compress") +
                             "'");
        }
        p.compression = *c;
    }
    if (vm.count("cipher")) {
        const auto c = parse_cipher(text(vm, "cipher"));
        if (!c || *c == Cipher::kNone) {
            throw UsageError("--cipher must be aes-256-gcm or chacha20-poly1305, not '" +
                             text(vm, "cipher") + "'");
        }
        p.cipher = *c;
    }
    if (vm.count("stages")) {
        if (vm.count("compress") || vm.count("cipher")) {
            throw UsageError("--stages replaces --compress and --cipher: give one or the other");
        }
        p.stages = text(vm, "stages");
        // An empty spec is how the options say "no spec": given on a command line, it is a
        // mistake.
        if (p.stages.empty()) throw UsageError("--stages needs a stage spec, e.g. lz4,sha256");
    }
    if (vm.count("hash")) {
        const auto hash = parse_hash(text(vm, "hash"));
        if (!hash) {
            throw UsageError("--hash must be xxh3, sha256 or none, not '" + text(vm, "hash") + "'");
        }
        p.hash = *hash;
    }
    if (vm.count("level")) p.level = vm["level"].as<int>();
    if (vm.count("chunk-size") && text(vm, "chunk-size") != "auto") {
        const std::uint64_t size = parse_size(text(vm, "chunk-size"));
        p.chunk_size = static_cast<std::uint32_t>(std::min<std::uint64_t>(size, UINT32_MAX));
        if (p.chunk_size == 0) p.chunk_size = 1;  // 0 would mean auto: let the check refuse it
    }
    if (vm.count("small-file-threshold")) {
        o.engine.small_file_threshold = parse_size(text(vm, "small-file-threshold"));
    }
    if (vm.count("scrypt-log2n")) {
        const int n = vm["scrypt-log2n"].as<int>();
        p.scrypt_log2_n = static_cast<std::uint8_t>(std::clamp(n, 0, 255));
        if (n != p.scrypt_log2_n) p.scrypt_log2_n = 0;  // out of any range: the check says so
    }
    // Checked now, before a passphrase prompt, with a stand-in for the secret the options name
    // (TBBPIPE_PASSPHRASE is checked when the job is submitted, with the real one).
    Secret stand_in;
    if (o.key_file) stand_in = Secret::key(std::vector<std::uint8_t>(32));
    if (o.passphrase_file || o.prompt_passphrase) stand_in = Secret::passphrase("x");
    check(validate(p, stand_in, o.engine.stages));
}

void refuse_inapplicable(const po::variables_map& vm, const CliOptions& o,
                         const std::string& word) {
    if (o.command != Command::kPack) {
        refuse(vm,
               {"compress", "level", "cipher", "stages", "hash", "chunk-size", "scrypt-log2n",
                "small-file-threshold"},
               word);
    }
    if (o.command == Command::kVerify || o.command == Command::kInfo) {
        refuse(vm, {"output", "output-dir", "stdout", "force", "rm", "no-fsync"}, word);
    }
    if (o.command == Command::kInfo) {
        refuse(vm,
               {"threads", "cpu-tokens", "io-tokens", "io-qdepth", "memory-limit", "progress",
                "no-progress", "metrics-interval", "metrics-file", "metrics-listen", "storage-type",
                "scheduler", "optimize", "recursive"},
               word);
        if (o.plan.inputs.empty()) throw UsageError("info needs a container file");
    }
    if (o.command == Command::kKeygen) {
        refuse(vm, {"output-dir",       "rm",           "key-file",       "passphrase-file",
                    "passphrase",       "threads",      "cpu-tokens",     "io-tokens",
                    "io-qdepth",        "memory-limit", "progress",       "no-progress",
                    "metrics-interval", "metrics-file", "metrics-listen", "storage-type",
                    "scheduler",        "optimize",     "recursive",      "follow-symlinks"},
               word);
        if (!o.plan.inputs.empty()) throw UsageError("keygen takes no file arguments (use -o)");
    }
}

void read_outputs(const po::variables_map& vm, CliOptions& o) {
    PlanRequest& plan = o.plan;
    if (vm.count("output")) plan.output = text(vm, "output");
    if (vm.count("output-dir")) plan.output_dir = text(vm, "output-dir");
    plan.to_stdout = vm.count("stdout") > 0;
    o.force = vm.count("force") > 0;
    o.remove_input = vm.count("rm") > 0;
    plan.recursive = vm.count("recursive") > 0;
    plan.follow_symlinks = vm.count("follow-symlinks") > 0;
    plan.read_devices = vm.count("read-devices") > 0;
    const bool output = vm.count("output") > 0;
    if (o.command == Command::kPack || o.command == Command::kUnpack) {
        if (plan.inputs.empty()) plan.inputs = {"-"};
        const int modes = int(output) + int(vm.count("output-dir") > 0) + int(plan.to_stdout);
        if (modes > 1) throw UsageError("-o, --output-dir and -c exclude each other");
        if (output && plan.inputs.size() > 1) {
            throw UsageError("-o takes one input; use --output-dir for several");
        }
        if (plan.to_stdout && plan.inputs.size() > 1) {
            throw UsageError("-c takes one input (containers cannot be concatenated)");
        }
        if (plan.to_stdout && o.json) throw UsageError("--json needs stdout: not with -c");
        if (o.remove_input && plan.to_stdout) {
            throw UsageError("--rm needs a file output (an output on stdout cannot be verified)");
        }
    }
    if (o.command == Command::kVerify && plan.inputs.empty()) plan.inputs = {"-"};
    if (plan.recursive && (output || plan.to_stdout)) {
        throw UsageError("-r writes one output per file: use --output-dir, not -o or -c");
    }
    if (plan.follow_symlinks && !plan.recursive) throw UsageError("--follow-symlinks needs -r");
}

// --optimize: sets the budgets together, except those given explicitly.
void apply_preset(const po::variables_map& vm, CliOptions& o) {
    const std::string name = text(vm, "optimize");
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const bool cpu_given = vm.count("threads") || vm.count("cpu-tokens");
    EngineConfig& e = o.engine;
    auto set_chunk = [&](std::uint32_t size) {  // 0: adaptive
        if (!vm.count("chunk-size") && o.command == Command::kPack) o.pack.chunk_size = size;
    };
    auto set_scheduler = [&](Scheduler s) {
        if (!vm.count("scheduler")) e.scheduler = s;
    };
    if (name == "throughput") {
        o.optimize = CliOptions::Optimize::kThroughput;
        if (!cpu_given) e.cpu_tokens = cores;
        set_scheduler(Scheduler::kFifo);
        set_chunk(0);
    } else if (name == "latency") {
        o.optimize = CliOptions::Optimize::kLatency;
        if (!cpu_given) e.cpu_tokens = cores;
        set_scheduler(Scheduler::kFair);
        set_chunk(256 * 1024);
    } else if (name == "resources") {
        o.optimize = CliOptions::Optimize::kResources;
        if (!cpu_given) e.cpu_tokens = std::max(1, cores / 2);
        if (!o.io_tokens_given) {
            e.io_tokens = 2;
            o.io_tokens_given = true;
        }
        if (!vm.count("memory-limit")) e.memory_limit = 32ull << 20;
        set_scheduler(Scheduler::kFair);
        set_chunk(512 * 1024);
    } else {
        throw UsageError("--optimize must be throughput, latency or resources, not '" + name + "'");
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
    std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
    CliOptions o;
    o.verbosity = take_verbosity(args);
    const po::variables_map vm = read_command_line(args);
    if (vm.count("version")) {
        o.command = Command::kVersion;
        return o;
    }
    if (!vm.count("command")) {
        o.command = vm.count("help") ? Command::kHelp : Command::kNone;  // kNone: short usage
        return o;
    }
    const std::string word = text(vm, "command");
    o.command = parse_command(word);
    if (o.command == Command::kHelp) {
        // "tbbpipe help pack": that command's help.
        const auto inputs = vm.count("inputs") ? vm["inputs"].as<std::vector<std::string>>()
                                               : std::vector<std::string>{};
        if (!inputs.empty()) o.help_for = parse_command(inputs.front());
        return o;
    }
    if (vm.count("help")) {
        o.help_for = o.command;
        o.command = Command::kHelp;
        return o;
    }
    if (vm.count("inputs")) o.plan.inputs = vm["inputs"].as<std::vector<std::string>>();
    o.plan.operation = o.command == Command::kUnpack   ? Operation::kUnpack
                       : o.command == Command::kVerify ? Operation::kVerify
                                                       : Operation::kPack;

    read_reporting(vm, o);
    read_budgets(vm, o);
    read_keys(vm, o);
    // Before --stages is checked: a plugin's stages are names it may use.
    o.engine.stages = load_stage_registry(vm.count("stage-plugin")
                                              ? vm["stage-plugin"].as<std::vector<std::string>>()
                                              : std::vector<std::string>{});
    refuse_inapplicable(vm, o, word);
    read_outputs(vm, o);
    if (vm.count("optimize")) apply_preset(vm, o);
    if (o.command == Command::kPack) read_pack(vm, o);
    check(validate(o.engine));
    return o;
}

std::string help_text(Command command) {
    const OptionGroups g = make_groups();
    std::ostringstream out;
    const auto head = [&](const char* usage, const char* what) {
        out << "Usage: tbbpipe " << usage << "\n\n" << what << "\n\n";
    };
    switch (command) {
        case Command::kPack:
            head("pack [options] [file...]",
                 "Compress (and with a key, encrypt) each file to FILE.tbp. No file, or -, reads\n"
                 "standard input and writes standard output.");
            out << g.general << g.budgets << g.inputs << g.keys << g.pack << g.outputs << g.observe;
            break;
        case Command::kUnpack:
            head("unpack [options] [file.tbp...]",
                 "Restore FILE.tbp to FILE (mode and mtime restored), after checking every chunk.");
            out << g.general << g.budgets << g.inputs << g.keys << g.outputs << g.observe;
            break;
        case Command::kVerify:
            head("verify [options] [file.tbp...]",
                 "Authenticate and check every chunk of each container; writes nothing.");
            out << g.general << g.budgets << g.inputs << g.keys << g.observe;
            break;
        case Command::kInfo:
            head("info [options] file.tbp...",
                 "Show a container's header, stored name, chunk sizes, ratio and root digest\n"
                 "(the index and name need the key of an encrypted container).");
            out << g.general << g.keys;
            break;
        case Command::kKeygen:
            head("keygen [-o FILE | -c] [-f]",
                 "Write a new 32-byte random key (mode 0600) to FILE, or to standard output.");
            out << g.general << g.outputs;
            break;
        default: out << kUsage << '\n' << make_options(); break;
    }
    out << kExitCodes;
    return out.str();
}

std::optional<std::string> json_command_word(int argc, const char* const* argv) {
    bool json = false;
    std::string command = "tbbpipe";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--") break;
        if (arg == "--json") json = true;
        const auto& words = command_words();
        if (command == "tbbpipe" && std::find(words.begin(), words.end(), arg) != words.end()) {
            command = arg;
        }
    }
    return json ? std::optional<std::string>(command) : std::nullopt;
}

std::string short_usage() {
    return "Usage: tbbpipe <pack|unpack|verify|info|keygen> [options] [file...]\n"
           "Try 'tbbpipe --help' for everything, or 'tbbpipe COMMAND --help' for one command.\n";
}

std::string version_text() {
    return version_details() + "\n";
}

}  // namespace tbbpipe::cli
