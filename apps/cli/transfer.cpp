// pack, unpack and verify: the command line's names become a file plan, the plan one job, and
// the job runs on an Engine configured from the options; then the report.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <set>

#include "commands.hpp"
#include "common/text_escape.hpp"
#include "exit_codes.hpp"
#include "live_report.hpp"
#include "metrics_http.hpp"
#include "metrics_push.hpp"
#include "run_report.hpp"
#include "secrets.hpp"
#include "signals.hpp"
#include "tbbpipe/engine.hpp"
#include "tbbpipe/plan.hpp"
#include "tbbpipe/storage.hpp"
#include "transfer_steps.hpp"

namespace tbbpipe::cli {

// What the user sees for a failed file: the library's message, and the flag that fixes it
// where there is one.
std::string with_hint(const Status& status) {
    if (status.code() == StatusCode::kAlreadyExists) {
        return status.message() + " (use -f to overwrite)";
    }
    return status.message();
}

std::string plan_error_message(const PlanError& e) {
    const std::string name = e.path == "-" ? "(stdin)" : e.path;
    switch (e.reason) {
        case PlanError::Reason::kFolder: return name + ": is a folder (use -r to take its files)";
        case PlanError::Reason::kNoOutputName:
            if (e.path == "-") return name + ": standard input needs -o or -c, not --output-dir";
            return name + ": " + e.status.message() + "; use -o to name the output";
        case PlanError::Reason::kDevice:
            return name + ": " + e.status.message() + " (use --read-devices to read it)";
        case PlanError::Reason::kUnreadable: break;
    }
    return name + ": " + e.status.message();
}

namespace {

// The folders a run reads and writes, for the device probe: one path per distinct folder.
std::vector<std::string> probe_paths(const std::vector<Job::File>& files) {
    std::set<std::string> folders;
    auto folder_of = [](const std::string& path) {
        const auto slash = path.rfind('/');
        return slash == std::string::npos ? std::string(".") : path.substr(0, slash + 1);
    };
    for (const auto& f : files) {
        if (f.input_fd < 0) folders.insert(folder_of(f.input));
        if (!f.output.empty() && f.output_fd < 0) folders.insert(folder_of(f.output));
    }
    return {folders.begin(), folders.end()};
}

}  // namespace

std::uint64_t total_input_bytes(const std::vector<Job::File>& files) {
    std::uint64_t total = 0;
    for (const auto& f : files) {
        struct stat st {};
        if (f.input_fd < 0 && ::stat(f.input.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            total += static_cast<std::uint64_t>(st.st_size);
        }
    }
    return total;
}

// The plan's files as the job's: standard input and output become descriptors (refused on a
// terminal); a file that cannot start fails alone, in its report.
Job make_job(const CliOptions& o, const Secret& secret, const FilePlan& plan,
             std::vector<FileReport>& reports, std::vector<std::size_t>& job_report) {
    Job job;
    job.operation = o.plan.operation;
    job.pack = o.pack;
    job.secret = secret;
    job.overwrite = o.force;
    for (const Job::File& planned : plan.files) {
        FileReport report{planned.input, planned.output, {}};
        Job::File f = planned;
        if (f.input == "-") {
            if (::isatty(STDIN_FILENO)) {
                report.result.status = {StatusCode::kInvalidArgument,
                                        "(stdin): refusing to read from a terminal (give a "
                                        "file or a pipe)"};
            }
            f.input = "(stdin)";
            f.input_fd = STDIN_FILENO;
            f.store_metadata = false;
        }
        if (f.output == "-") {
            if (job.operation == Operation::kPack && ::isatty(STDOUT_FILENO)) {
                report.result.status = {StatusCode::kInvalidArgument,
                                        f.input +
                                            ": refusing to write binary data to a "
                                            "terminal (use -o or a pipe)"};
            }
            f.output = "(stdout)";
            f.output_fd = STDOUT_FILENO;
        }
        if (report.result.status.is_ok()) {
            job_report.push_back(reports.size());
            job.files.push_back(std::move(f));
        }
        reports.push_back(std::move(report));
    }
    return job;
}

// The engine's budgets: the options', and the I/O depth from the devices unless given.
EngineConfig engine_config(const CliOptions& o, const Job& job, RunFacts& facts) {
    EngineConfig config = o.engine;
    if (o.io_tokens_given) {
        facts.io_tokens_from = o.optimize == CliOptions::Optimize::kResources ? "preset" : "flag";
        facts.storage.type = o.storage_type;
        facts.storage.reason = "--io-tokens given";
    } else {
        // TBBPIPE_SYSFS_ROOT points the device probe at a fake /sys (the tests' fake devices).
        const char* sysfs = std::getenv("TBBPIPE_SYSFS_ROOT");
        facts.storage = choose_io_depth(probe_paths(job.files), o.storage_type,
                                        sysfs && *sysfs ? sysfs : "/sys");
        config.io_tokens = facts.storage.io_tokens;
        facts.io_tokens_from = o.storage_type == StorageType::kAuto ? "device" : "flag";
    }
    facts.config = config;
    return config;
}

namespace {

// Submits and waits; the first SIGINT/SIGTERM cancels the job (it drains and removes its
// partial outputs). A job the engine refuses is the command line's mistake.
JobResult run_job(Engine& engine, Job job) {
    Result<JobHandle> submitted = engine.submit(std::move(job));
    if (!submitted.ok()) throw UsageError(submitted.status().message());
    const JobHandle handle = submitted.value();
    on_interrupt([handle] { handle.cancel(); });
    JobResult result = handle.wait();
    on_interrupt({});
    return result;
}

// --rm: unpack verified every chunk before its rename; pack re-reads what it wrote first.
void remove_inputs(const CliOptions& o, Engine& engine, const Job& job, JobResult& result) {
    std::vector<std::size_t> removable;
    for (std::size_t i = 0; i < job.files.size(); ++i) {
        if (result.files[i].status.is_ok() && job.files[i].input_fd < 0) removable.push_back(i);
    }
    if (removable.empty() || interrupted()) return;
    JobResult verified;
    if (o.plan.operation == Operation::kPack) {
        Job check;
        check.operation = Operation::kVerify;
        check.secret = job.secret;
        for (std::size_t i : removable) {
            Job::File container;
            container.input = job.files[i].output;
            check.files.push_back(std::move(container));
        }
        verified = run_job(engine, std::move(check));
    }
    for (std::size_t k = 0; k < removable.size(); ++k) {
        FileResult& file = result.files[removable[k]];
        const Status checked = verified.files.empty() ? Status::ok() : verified.files[k].status;
        if (!checked.is_ok()) {
            file.status = {checked.code(),
                           job.files[removable[k]].input +
                               ": output failed verification, input kept: " + checked.message()};
        } else if (::unlink(job.files[removable[k]].input.c_str()) != 0) {
            file.status = {
                StatusCode::kIoError,
                job.files[removable[k]].input + ": cannot remove input: " + std::strerror(errno)};
        }
    }
}

}  // namespace

// Started before the job, stopped after it: the endpoint lives exactly as long as the run.
std::unique_ptr<MetricsHttpServer> serve_metrics(const CliOptions& o,
                                                 std::function<std::string()> render) {
    if (!o.metrics_listen) return nullptr;
    auto http = std::make_unique<MetricsHttpServer>(*o.metrics_listen, o.metrics_listen_any,
                                                    std::move(render));
    // Shown with -q too: with port 0 it is the only way to learn where to scrape.
    if (o.says_errors()) std::cerr << "tbbpipe: serving metrics on " << http->url() << '\n';
    return http;
}

// Started with the live report (its warning goes through it, so it must end first) and
// finished after the final figures: see run_transfer.
std::unique_ptr<MetricsPusher> push_metrics(const CliOptions& o,
                                            std::function<std::string()> render, LiveReport& live,
                                            const std::string& rank) {
    if (!o.metrics_push) return nullptr;
    MetricsPushOptions push;
    push.url = *o.metrics_push;
    push.command = o.command == Command::kPack     ? "pack"
                   : o.command == Command::kUnpack ? "unpack"
                                                   : "verify";
    push.rank = rank;
    if (o.metrics_interval_ms > 0) push.interval = std::chrono::milliseconds(o.metrics_interval_ms);
    const bool warns = o.says_notes();
    return std::make_unique<MetricsPusher>(
        std::move(push), std::move(render), [&live, warns](const std::string& warning) {
            if (warns) live.emit(printable_line("tbbpipe: warning: " + warning));
        });
}

LiveReportOptions live_options(const CliOptions& o) {
    LiveReportOptions live;
    live.terminal = ::isatty(STDERR_FILENO) != 0;
    live.progress = o.progress == CliOptions::Progress::kOn ||
                    (o.progress == CliOptions::Progress::kAuto && live.terminal);
    live.dashboard_interval_ms = o.metrics_interval_ms;
    live.metrics_file = o.metrics_file;
    return live;
}

// What a job found of its sets: a manifest that could not be written or opened, containers it
// lists that are missing, or (said, not failed) a tree without one. Returns the exit code.
int report_sets(const CliOptions& o, const std::vector<SetReport>& sets, LiveReport& live) {
    int exit_code = kExitOk;
    for (const SetReport& set : sets) {
        const std::string manifest = set.root + "/.tbbpipe.manifest";
        if (!set.status.is_ok()) {
            live.emit(printable_line("tbbpipe: " + set.status.message()));
            exit_code = worst_exit(exit_code, exit_code_for(set.status.code()));
        } else if (!set.manifest && o.command != Command::kPack && o.says_notes()) {
            live.emit(printable_line("tbbpipe: warning: " + set.root + ": no set manifest (" +
                                     manifest +
                                     "): its containers are checked one by one, not as a set"));
        }
        for (const std::string& path : set.missing) {
            live.emit(printable_line("tbbpipe: " + set.root + "/" + path +
                                     ": missing (the set's manifest lists it)"));
            exit_code = worst_exit(exit_code, kExitIntegrity);
        }
    }
    return exit_code;
}

int run_transfer(const CliOptions& o) {
    const auto wall_start = std::chrono::steady_clock::now();
    std::string warning;
    const Secret secret = load_secret(o, o.command == Command::kPack, &warning);
    if (!warning.empty() && o.says_notes()) {
        std::cerr << printable_line("tbbpipe: warning: " + warning);
    }

    Result<FilePlan> planned = plan_files(o.plan);
    if (!planned.ok()) throw UsageError(planned.status().message());
    if (o.says_notes()) {
        for (const PlanWarning& w : planned.value().warnings) {
            const bool link = w.reason == PlanWarning::Reason::kSymbolicLink;
            std::cerr << printable_line("tbbpipe: warning: " + w.message +
                                        (link ? " (use --follow-symlinks)" : ""));
        }
    }
    std::vector<FileReport> reports;
    for (const PlanError& e : planned.value().errors) {
        reports.push_back({e.path, "", {}});
        reports.back().result.status = {e.status.code(), plan_error_message(e)};
    }
    std::vector<std::size_t> job_report;  // job file index -> reports index
    Job job = make_job(o, secret, planned.value(), reports, job_report);
    std::vector<Job::File>().swap(planned.value().files);  // the job has its own copy

    RunFacts facts;
    Engine engine(engine_config(o, job, facts));
    // A bad address is a UsageError (exit 2), one it cannot listen on a runtime_error (exit 1):
    // main says either, with a --json document too.
    const auto render = [&engine] { return to_prometheus_text(engine.metrics()); };
    const std::unique_ptr<MetricsHttpServer> http = serve_metrics(o, render);
    if (http) facts.metrics_url = http->url();
    // The byte total is for the progress line and dashboard only: a stat per file otherwise saved.
    const LiveReportOptions live_opts = live_options(o);
    const bool shows_totals = live_opts.progress || live_opts.dashboard_interval_ms > 0;
    LiveReport live(
        live_opts, [&engine] { return engine.metrics(); },
        shows_totals ? total_input_bytes(job.files) : 0, job.files.size());
    const std::unique_ptr<MetricsPusher> push = push_metrics(o, render, live, "");

    JobResult result;
    if (!job.files.empty() && !interrupted()) {
        result = run_job(engine, job);
        facts.job = &result;
        if (o.remove_input) remove_inputs(o, engine, job, result);
    }
    for (std::size_t i = 0; i < job.files.size(); ++i) {
        FileResult& file = reports[job_report[i]].result;
        if (i < result.files.size()) {
            file = std::move(result.files[i]);
        } else {  // interrupted before the job could start
            file.status = {StatusCode::kCancelled, job.files[i].input + ": interrupted"};
        }
    }
    // The dashboard's final frame (or the cleared progress line) before any result line.
    live.finish_display();
    int exit_code = kExitOk;
    for (const FileReport& report : reports) {
        const Status& status = report.result.status;
        if (!status.is_ok()) {
            if (o.says_errors()) live.emit(printable_line("tbbpipe: " + with_hint(status)));
            exit_code = worst_exit(exit_code, exit_code_for(status.code()));
        } else {
            // A line per file with -v; of one file, its line is the summary.
            const bool line = o.says_files() || (reports.size() == 1 && o.says_notes());
            if (line && !o.json) live.emit(file_line(o, report));
            if (o.says_notes()) {
                for (const std::string& w : report.result.warnings) {
                    live.emit(printable_line("tbbpipe: warning: " + report.input + ": " + w));
                }
            }
        }
    }
    exit_code = worst_exit(exit_code, report_sets(o, result.sets, live));
    try {
        live.stop();  // writes the final metrics file, peak RSS included
    } catch (const std::runtime_error& e) {
        std::cerr << printable_line("tbbpipe: " + *o.metrics_file + ": " + e.what());
        exit_code = worst_exit(exit_code, kExitFailed);
    }
    if (push) push->finish();  // the final figures (peak RSS too); waits at most its timeout
    if (interrupted()) exit_code = kExitInterrupted;

    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    print_summary(o, reports, engine.metrics(), facts, wall, exit_code);
    return exit_code;
}

}  // namespace tbbpipe::cli
