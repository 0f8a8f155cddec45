// tbbpipe: parse, dispatch, map to an exit code. Everything else lives in the other files here.
#include <exception>
#include <iostream>

#include "cli_options.hpp"
#include "commands.hpp"
#include "common/text_escape.hpp"
#include "exit_codes.hpp"
#include "json_report.hpp"
#include "secrets.hpp"
#include "signals.hpp"

int main(int argc, char** argv) {
    using namespace tbbpipe::cli;
    install_signal_watcher();  // first: every thread started later inherits the blocked signals
    take_environment_passphrase();
    try {
        const CliOptions options = parse_cli(argc, argv);
        switch (options.command) {
            case Command::kHelp: std::cout << help_text(options.help_for); return kExitOk;
            case Command::kNone: std::cerr << short_usage(); return kExitUsage;
            case Command::kVersion: std::cout << version_text(); return kExitOk;
            default: return run_command(options);
        }
    } catch (const UsageError& e) {
        std::cerr << printable_line(std::string("tbbpipe: ") + e.what())
                  << "Try 'tbbpipe --help'.\n";
        // A script that asked for --json gets its document even for a refused command line.
        if (const auto command = json_command_word(argc, argv)) {
            std::cout << json_text(error_document(*command, e.what(), kExitUsage)) << '\n';
        }
        return kExitUsage;
    } catch (const std::exception& e) {
        std::cerr << printable_line(std::string("tbbpipe: ") + e.what());
        if (const auto command = json_command_word(argc, argv)) {
            std::cout << json_text(error_document(*command, e.what(), kExitFailed)) << '\n';
        }
        return kExitFailed;
    }
}
