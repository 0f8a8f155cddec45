// tbbpipe: parse, dispatch, map to an exit code. Everything else lives in the other apps/ files.
#include <exception>
#include <iostream>

#include "apps/cli_options.hpp"
#include "apps/commands.hpp"
#include "apps/exit_codes.hpp"
#include "apps/signals.hpp"

int main(int argc, char** argv) {
    using namespace tbbpipe::cli;
    try {
        const CliOptions options = parse_cli(argc, argv);
        if (options.command == Command::kHelp) {
            std::cout << help_text();
            return kExitOk;
        }
        if (options.command == Command::kNone) {
            std::cerr << help_text();
            return kExitUsage;
        }
        if (options.command == Command::kVersion) {
            std::cout << version_text();
            return kExitOk;
        }
        return run_command(options, install_signal_handlers());
    } catch (const UsageError& e) {
        std::cerr << "tbbpipe: " << e.what() << "\nTry 'tbbpipe --help'.\n";
        return kExitUsage;
    } catch (const std::exception& e) {
        std::cerr << "tbbpipe: " << e.what() << '\n';
        return kExitFailed;
    }
}
