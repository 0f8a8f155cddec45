#include "lab/lab_options.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <sstream>

namespace tbbpipe::lab {
namespace po = boost::program_options;
namespace {

constexpr const char* kUsage =
    "Usage: tbbpipe-lab <command> [options]\n"
    "\n"
    "Throughput lab for the tbbpipe command line: runs the real tbbpipe binary as a child\n"
    "process and measures wall time, MB/s and peak RSS (wait4 ru_maxrss).\n"
    "\n"
    "Commands:\n"
    "  sweep     time tbbpipe over values of one or more flags (--param), find each curve's\n"
    "            knee, and for cpu-tokens the speedup and parallel efficiency against 1 thread\n"
    "  compare   time tbbpipe pack/unpack and the peer pipelines (tar | lz4 -1, zstd -1 -T0,\n"
    "            pigz -1, zstd | age, lz4 | age, and their reverse) on the same data;\n"
    "            peers that are not installed are reported as skipped\n"
    "  generate  only write the dataset of --data into --out\n"
    "\n"
    "Examples:\n"
    "  tbbpipe-lab sweep --data total=256MiB,files=32 --param cpu-tokens=1,2,4 --repeat 3\n"
    "  tbbpipe-lab sweep --data total=256MiB --param chunk-size=256KiB,1MiB,4MiB --out lab-chunk\n"
    "  tbbpipe-lab sweep --input ~/photos --mode unpack --param io-tokens=1,2,4,8 --out lab-io\n"
    "  tbbpipe-lab compare --data total=512MiB,files=64,compress=0.5 --out lab-compare\n";

constexpr const char* kDetails =
    "\nData spec (--data), comma-separated key=value:\n"
    "  total=SIZE        bytes over all files, K/M/G suffixes (required)\n"
    "  files=N           number of files (default 16)\n"
    "  dist=D            file sizes: fixed, uniform (0..2x the mean) or lognormal (default)\n"
    "  sigma=S           lognormal spread, (0, 4] (default 1)\n"
    "  compress=C        share of bytes in compressible text and records, 0..1 (default 0.75;\n"
    "                    the rest is random bytes)\n"
    "  seed=N            (default 1); the same spec always gives the same files\n"
    "  The files go to WORKDIR/data (WORKDIR defaults to --out) and are reused when the spec\n"
    "  matches. --input DIR measures the regular files directly inside DIR instead.\n"
    "\n"
    "Sweeps:\n"
    "  --param NAME=V1,V2,... becomes tbbpipe's --NAME V for each value, so any tbbpipe flag\n"
    "  that takes a value can be swept (cpu-tokens, io-tokens, chunk-size, memory-limit,\n"
    "  scheduler, ...). A --param with one value is a fixed setting on every command.\n"
    "  Without --grid each parameter is swept alone, the others at tbbpipe's defaults; with\n"
    "  --grid every combination runs. Numeric values (4, 256K, 1MiB) are swept in ascending\n"
    "  order, others in the order given. In unpack mode, pack-only flags (chunk-size,\n"
    "  compress, level, cipher, scrypt-log2n) shape the containers the unpack reads.\n"
    "  The knee of a curve is the smallest value whose median MB/s is at least 90% of the\n"
    "  best median MB/s of that parameter.\n"
    "\n"
    "Outputs in --out:\n"
    "  results.csv, results.json, summary.md, and plot-*.png/.svg with their gnuplot\n"
    "  scripts (plot-*.gp, plot-*.dat). Without gnuplot the scripts are still written and\n"
    "  summary.md says so. The scratch outputs of each run are deleted after it.\n"
    "  Plots name the host, cores, commit and date; sweeps show MB/s with the knee marked\n"
    "  and peak RSS (and stored %) below, sizes on a log axis, thread counts with the\n"
    "  ideal-speedup line; compare groups the bars with and without a key, tbbpipe's apart.\n"
    "\n"
    "Console (stdout, at the end):\n"
    "  one row per point or line: median wall time +- sigma, spread ((slowest - fastest) /\n"
    "  median), MB/s, peak RSS, stored % or, for compare, the compression ratio; a warning\n"
    "  under any row whose spread is above 10% (noisy: more --repeat or a quieter machine).\n"
    "\n"
    "Exit codes:\n"
    "  0    every run succeeded\n"
    "  1    a run failed (its row says why; the reports are still written), or an I/O error\n"
    "  2    usage error: bad option, bad --data spec, tbbpipe binary not found\n";

// Flags the lab sets itself: sweeping them would break its bookkeeping of outputs and keys.
const std::set<std::string>& reserved_flags() {
    static const std::set<std::string> names = {
        "o",        "output",     "output-dir",      "c",    "stdout",     "f",       "force",
        "rm",       "key-file",   "passphrase-file", "p",    "passphrase", "json",    "q",
        "quiet",    "v",          "verbose",         "help", "h",          "version", "V",
        "progress", "no-progress"};
    return names;
}

po::options_description make_options() {
    po::options_description common("Common");
    common.add_options()("help,h", "show this help and exit")(
        "data", po::value<std::string>()->value_name("SPEC"),
        "generate the dataset from SPEC (see below)")(
        "input", po::value<std::string>()->value_name("DIR"), "measure the files in DIR instead")(
        "out", po::value<std::string>()->value_name("DIR"),
        "folder for the reports (created; required)")(
        "workdir", po::value<std::string>()->value_name("DIR"),
        "folder for the dataset (DIR/data, kept) and scratch outputs (removed after the run); "
        "default: --out")("repeat", po::value<int>()->value_name("N"),
                          "runs per point, 1..100 (default 3); medians are reported")(
        "tbbpipe", po::value<std::string>()->value_name("PATH"),
        "the tbbpipe binary to measure (default: the one next to tbbpipe-lab)")(
        "plot", po::value<std::string>()->value_name("FORMAT"),
        "png | svg | none (none: gnuplot scripts only)")("quiet,q", "no progress lines on stderr");
    po::options_description sweep("Sweep");
    sweep.add_options()(
        "param", po::value<std::vector<std::string>>()->composing()->value_name("NAME=V,..."),
        "sweep tbbpipe's --NAME over the values (repeatable)")(
        "mode", po::value<std::string>()->value_name("MODE"), "pack | unpack (default pack)")(
        "grid", "run every combination of the parameters")(
        "plain", "no key: time compression and hashing only (default: a key from keygen)")(
        "extra", po::value<std::vector<std::string>>()->composing()->value_name("ARG"),
        "ARG passed to every timed tbbpipe command, e.g. --extra=--no-fsync (repeatable)");
    po::options_description all;
    all.add(common).add(sweep);
    return all;
}

std::string trim(const std::string& s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

ParamSpec parse_param(const std::string& text) {
    const auto eq = text.find('=');
    if (eq == std::string::npos) {
        throw LabUsageError("--param '" + text + "' is not NAME=V1,V2,...");
    }
    ParamSpec p;
    p.name = trim(text.substr(0, eq));
    while (p.name.rfind('-', 0) == 0) p.name.erase(0, 1);  // "--cpu-tokens=1,2" works too
    const bool name_ok = !p.name.empty() && std::isalnum(static_cast<unsigned char>(p.name[0])) &&
                         std::all_of(p.name.begin(), p.name.end(), [](char c) {
                             return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
                         });
    if (!name_ok) throw LabUsageError("--param '" + text + "': bad flag name '" + p.name + "'");
    if (reserved_flags().count(p.name)) {
        throw LabUsageError("--param " + p.name + ": the lab sets --" + p.name +
                            " itself; it cannot be swept");
    }
    const std::string list = text.substr(eq + 1);
    std::size_t start = 0;
    while (start <= list.size()) {
        const std::size_t comma = std::min(list.find(',', start), list.size());
        const std::string value = trim(list.substr(start, comma - start));
        start = comma + 1;
        if (value.empty())
            throw LabUsageError("--param " + p.name + ": empty value in '" + list + "'");
        if (std::find(p.values.begin(), p.values.end(), value) != p.values.end()) {
            throw LabUsageError("--param " + p.name + ": value '" + value + "' given twice");
        }
        p.values.push_back(value);
    }
    return p;
}

void refuse(const po::variables_map& vm, const char* option, const char* command) {
    if (vm.count(option)) {
        throw LabUsageError(std::string("--") + option + " does not apply to " + command);
    }
}

}  // namespace

bool is_pack_time_parameter(const std::string& name) {
    return name == "chunk-size" || name == "compress" || name == "level" || name == "cipher" ||
           name == "scrypt-log2n";
}

LabOptions parse_lab_cli(int argc, const char* const* argv) {
    LabOptions o;
    for (int i = 0; i < argc; ++i) {
        if (i > 0) o.command_line += ' ';
        o.command_line += argv[i];
    }

    const po::options_description options = make_options();
    po::options_description hidden;
    hidden.add_options()("command", po::value<std::string>())(
        "stray", po::value<std::vector<std::string>>());
    po::options_description everything;
    everything.add(options).add(hidden);
    po::positional_options_description positional;
    positional.add("command", 1).add("stray", -1);
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
        throw LabUsageError(e.what());
    }
    if (vm.count("help")) return o;
    if (!vm.count("command")) throw LabUsageError("no command (sweep, compare or generate)");
    const std::string word = vm["command"].as<std::string>();
    if (word == "sweep")
        o.command = LabCommand::kSweep;
    else if (word == "compare")
        o.command = LabCommand::kCompare;
    else if (word == "generate")
        o.command = LabCommand::kGenerate;
    else if (word == "help")
        return o;
    else
        throw LabUsageError("unknown command '" + word + "' (sweep, compare or generate)");
    if (vm.count("stray")) {
        throw LabUsageError("unexpected argument '" +
                            vm["stray"].as<std::vector<std::string>>()[0] + "'");
    }

    if (vm.count("data") && vm.count("input"))
        throw LabUsageError("give --data or --input, not both");
    if (vm.count("data")) {
        const std::string spec = vm["data"].as<std::string>();
        try {
            o.data = parse_dataset_spec(spec);
        } catch (const std::invalid_argument& e) {
            throw LabUsageError("--data '" + spec + "': " + e.what());
        }
    }
    if (vm.count("input")) {
        o.input = vm["input"].as<std::string>();
        std::error_code ec;
        if (!std::filesystem::is_directory(*o.input, ec)) {
            throw LabUsageError("--input " + *o.input + ": not a folder");
        }
    }
    if (!vm.count("out")) throw LabUsageError("--out DIR is required");
    o.out_dir = vm["out"].as<std::string>();
    if (vm.count("workdir")) o.work_dir = vm["workdir"].as<std::string>();
    if (vm.count("repeat")) {
        o.repeat = vm["repeat"].as<int>();
        if (o.repeat < 1 || o.repeat > 100) throw LabUsageError("--repeat must be 1..100");
    }
    if (vm.count("tbbpipe")) o.tbbpipe = vm["tbbpipe"].as<std::string>();
    if (vm.count("plot")) {
        o.plot = vm["plot"].as<std::string>();
        if (o.plot != "png" && o.plot != "svg" && o.plot != "none") {
            throw LabUsageError("--plot must be png, svg or none, not '" + o.plot + "'");
        }
    }
    o.quiet = vm.count("quiet") > 0;

    if (o.command == LabCommand::kGenerate) {
        if (!o.data) throw LabUsageError("generate needs --data SPEC");
        for (const char* name : {"input", "workdir", "repeat", "tbbpipe", "plot", "param", "mode",
                                 "grid", "plain", "extra"}) {
            refuse(vm, name, "generate");
        }
        return o;
    }
    if (!o.data && !o.input) throw LabUsageError(word + " needs --data SPEC or --input DIR");
    if (o.command == LabCommand::kCompare) {
        for (const char* name : {"param", "mode", "grid", "plain", "extra"}) {
            refuse(vm, name, "compare");
        }
        return o;
    }

    if (!vm.count("param")) throw LabUsageError("sweep needs --param NAME=V1,V2,...");
    std::set<std::string> seen;
    for (const auto& text : vm["param"].as<std::vector<std::string>>()) {
        ParamSpec p = parse_param(text);
        // -T and --cpu-tokens are one setting to tbbpipe; sweeping both would make every point
        // a usage error.
        const std::string key = p.name == "threads" || p.name == "T" ? "cpu-tokens" : p.name;
        if (!seen.insert(key).second) {
            throw LabUsageError("--param " + p.name + ": that tbbpipe setting is already swept" +
                                (key == p.name ? "" : " (as cpu-tokens, -T or threads)"));
        }
        o.params.push_back(std::move(p));
    }
    if (std::none_of(o.params.begin(), o.params.end(),
                     [](const ParamSpec& p) { return p.values.size() > 1; })) {
        throw LabUsageError("no --param has two or more values: nothing to sweep");
    }
    if (vm.count("mode")) {
        o.mode = vm["mode"].as<std::string>();
        if (o.mode != "pack" && o.mode != "unpack") {
            throw LabUsageError("--mode must be pack or unpack, not '" + o.mode + "'");
        }
    }
    o.grid = vm.count("grid") > 0;
    o.plain = vm.count("plain") > 0;
    if (vm.count("extra")) o.extra = vm["extra"].as<std::vector<std::string>>();
    return o;
}

std::string lab_help_text() {
    std::ostringstream out;
    out << kUsage << '\n' << make_options() << kDetails;
    return out.str();
}

}  // namespace tbbpipe::lab
