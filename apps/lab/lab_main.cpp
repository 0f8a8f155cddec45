// tbbpipe-lab: parse, dispatch, map to an exit code. The commands live in sweep_runner.cpp,
// peer_compare.cpp and dataset_spec.cpp; option parsing in lab_options.cpp.
#include <exception>
#include <iostream>

#include "lab/dataset_spec.hpp"
#include "lab/lab_options.hpp"
#include "lab/peer_compare.hpp"
#include "lab/sweep_runner.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int run_generate(const tbbpipe::lab::LabOptions& o) {
    const bool wrote = tbbpipe::lab::write_dataset(*o.data, o.out_dir);
    const auto folder = tbbpipe::lab::open_generated_dataset(o.out_dir);
    std::cout << "tbbpipe-lab: " << (wrote ? "wrote " : "kept the existing ") << folder.names.size()
              << " files, " << folder.bytes << " bytes (" << o.data->to_string() << ") in "
              << folder.dir << '\n';
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace tbbpipe::lab;
    LabOptions options;
    try {
        options = parse_lab_cli(argc, argv);
    } catch (const LabUsageError& e) {
        std::cerr << "tbbpipe-lab: " << e.what() << "\nTry 'tbbpipe-lab --help'.\n";
        return kExitUsage;
    }
    try {
        switch (options.command) {
            case LabCommand::kHelp: std::cout << lab_help_text(); return kExitOk;
            case LabCommand::kGenerate: return run_generate(options);
            case LabCommand::kSweep: return run_sweep(options);
            case LabCommand::kCompare: return run_compare(options);
        }
    } catch (const LabUsageError& e) {
        std::cerr << "tbbpipe-lab: " << e.what() << "\nTry 'tbbpipe-lab --help'.\n";
        return kExitUsage;
    } catch (const std::exception& e) {
        std::cerr << "tbbpipe-lab: " << e.what() << '\n';
        return kExitFailed;
    }
    return kExitFailed;
}
