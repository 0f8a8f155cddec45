// tbbpipe-mpi: tbbpipe's commands on every rank of an MPI job. The same option parser, the same
// library and the same reports as tbbpipe; what differs is who does which file
// (distributed_run.cpp) and that rank 0 alone speaks.
#include <mpi.h>

#include <exception>
#include <iostream>

#include "cli_options.hpp"
#include "comm.hpp"
#include "commands.hpp"
#include "common/text_escape.hpp"
#include "distributed_run.hpp"
#include "exit_codes.hpp"
#include "json_report.hpp"
#include "mpi_options.hpp"
#include "secrets.hpp"
#include "signals.hpp"

namespace {

using namespace tbbpipe;

// info and keygen are not shared out: rank 0 runs them, every rank exits with its code.
int run_once(mpi::Comm& comm, const cli::CliOptions& options) {
    int code = cli::kExitOk;
    if (comm.root()) {
        // Whatever happens here, the other ranks wait for the code below: never leave early.
        try {
            code = cli::run_command(options);
        } catch (const cli::UsageError& e) {
            std::cerr << cli::printable_line(std::string("tbbpipe: ") + e.what())
                      << "Try 'tbbpipe-mpi --help'.\n";
            code = cli::kExitUsage;
        } catch (const std::exception& e) {
            std::cerr << cli::printable_line(std::string("tbbpipe: ") + e.what());
            code = cli::kExitFailed;
        }
    }
    const mpi::Bytes agreed =
        comm.broadcast(comm.root() ? mpi::Bytes{static_cast<std::uint8_t>(code)} : mpi::Bytes{});
    return agreed.empty() ? code : agreed[0];
}

int run(int argc, char** argv, mpi::Comm& comm) {
    using namespace tbbpipe::cli;
    const bool speaks = comm.root();
    try {
        mpi::MpiOptions m;
        const std::vector<const char*> rest = mpi::take_mpi_options(argc, argv, m);
        const CliOptions options = parse_cli(static_cast<int>(rest.size()), rest.data());
        switch (options.command) {
            case Command::kHelp:
                if (speaks) std::cout << help_text(options.help_for) << mpi::mpi_help_text();
                return kExitOk;
            case Command::kNone:
                if (speaks) std::cerr << short_usage();
                return kExitUsage;
            case Command::kVersion:
                if (speaks) std::cout << version_text();
                return kExitOk;
            case Command::kInfo:
            case Command::kKeygen: return run_once(comm, options);
            default: return mpi::run_distributed(options, m, comm);
        }
    } catch (const UsageError& e) {
        if (speaks) {
            std::cerr << printable_line(std::string("tbbpipe: ") + e.what())
                      << "Try 'tbbpipe-mpi --help'.\n";
            if (const auto command = json_command_word(argc, argv)) {
                std::cout << json_text(error_document(*command, e.what(), kExitUsage)) << '\n';
            }
        }
        return kExitUsage;
    } catch (const mpi::AgreedFailure& e) {
        if (speaks) {
            std::cerr << printable_line(std::string("tbbpipe: ") + e.what());
            if (const auto command = json_command_word(argc, argv)) {
                std::cout << json_text(error_document(*command, e.what(), kExitFailed)) << '\n';
            }
        }
        return kExitFailed;
    } catch (const std::exception& e) {
        std::cerr << printable_line("tbbpipe: rank " + std::to_string(comm.rank()) + ": " +
                                    e.what());
        if (speaks) {
            if (const auto command = json_command_word(argc, argv)) {
                std::cout << json_text(error_document(*command, e.what(), kExitFailed)) << '\n';
            }
        }
        // The other ranks may be waiting for this one: the job cannot go on (docs/DISTRIBUTED.md).
        if (comm.size() > 1) {
            std::cout.flush();
            MPI_Abort(MPI_COMM_WORLD, kExitFailed);
        }
        return kExitFailed;
    }
}

}  // namespace

int main(int argc, char** argv) {
    tbbpipe::cli::install_signal_watcher();  // first: every thread inherits the blocked signals
    tbbpipe::cli::take_environment_passphrase();
    int provided = 0;
    // Funneled: only the main thread calls MPI; the engine's threads never do.
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    int code = 0;
    {
        tbbpipe::mpi::Comm comm;
        code = run(argc, argv, comm);
    }
    MPI_Finalize();
    return code;
}
