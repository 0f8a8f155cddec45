// The phases of a distributed run: rank 0 plans and sets up; the run's sets are checked once
// (unpack, verify); files far larger than a share are split across every rank; the rest is
// shared out in batches; the sets' manifests are written once (pack); rank 0 reports.
#include "distributed_run.hpp"

#include <sys/random.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>

#include "common/text_escape.hpp"
#include "exit_codes.hpp"
#include "rank_metrics.hpp"
#include "rank_work.hpp"
#include "secrets.hpp"
#include "signals.hpp"
#include "split_file.hpp"
#include "transfer_steps.hpp"

namespace tbbpipe::mpi {
namespace {

using cli::FileReport;
using cli::kExitInterrupted;
using cli::kExitOk;
using cli::UsageError;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kMinSplitSize = 64ull << 20;

// Set by the signal watcher's action, which may run after the run returned (the watcher calls
// a copy of the action outside its lock): so it lives as long as the process.
std::atomic<bool> g_stop{false};

// What rank 0 tells every rank before the work starts.
struct Setup {
    Status status;  ///< not ok: the run cannot start (a usage error: kInvalidArgument)
    int io_tokens = 4;
    std::optional<std::array<std::uint8_t, 16>> salt;
    std::vector<WorkItem> split;  ///< handled by every rank together, in this order
};

Bytes encode_setup(const Setup& s) {
    Writer w;
    w.u8(static_cast<std::uint8_t>(s.status.code()));
    w.str(s.status.message());
    w.u64(static_cast<std::uint64_t>(s.io_tokens));
    w.u8(s.salt ? 1 : 0);
    if (s.salt) w.raw(s.salt->data(), s.salt->size());
    w.bytes(encode_items(s.split));
    return w.take();
}

Setup decode_setup(const Bytes& b) {
    Reader r(b);
    Setup s;
    const auto code = static_cast<StatusCode>(r.u8());
    const std::string message = r.str();
    s.status = code == StatusCode::kOk ? Status::ok() : Status(code, message);
    s.io_tokens = static_cast<int>(r.u64());
    if (r.u8()) {
        s.salt.emplace();
        r.raw(s.salt->data(), s.salt->size());
    }
    s.split = decode_items(r.bytes());
    return s;
}

std::uint64_t size_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)
               ? static_cast<std::uint64_t>(st.st_size)
               : 0;
}

// What rank 0 keeps while the run goes: every file's report, and (for the progress line) what
// the other ranks finished.
struct Ledger {
    std::vector<FileReport> reports;
    std::vector<std::string> set_roots;  // per report: the file's set, for the manifest
    std::atomic<std::uint64_t> remote_bytes{0};
    std::atomic<std::uint64_t> remote_ok{0};
    std::atomic<std::uint64_t> remote_failed{0};

    void file(std::uint64_t report, FileResult&& result, bool remote) {
        if (remote) {
            // Read by the progress thread: relaxed is enough for a figure on a status line.
            remote_bytes.fetch_add(result.bytes_in, std::memory_order_relaxed);
            (result.status.is_ok() ? remote_ok : remote_failed)
                .fetch_add(1, std::memory_order_relaxed);
        }
        reports[static_cast<std::size_t>(report)].result = std::move(result);
    }
};

// Rank 0: the plan, the reports of what failed to plan, the work items, and the set check.
struct Plan {
    std::vector<WorkItem> batched;
    std::vector<WorkItem> split;
    cli::RunFacts facts;
};

void refuse_single_process_only(const cli::CliOptions& o, int ranks) {
    if (o.remove_input) throw UsageError("--rm is not available in tbbpipe-mpi");
    if (o.prompt_passphrase && ranks > 1) {
        throw UsageError(
            "-p cannot ask on every rank: give --passphrase-file, or TBBPIPE_PASSPHRASE "
            "(mpirun -x TBBPIPE_PASSPHRASE)");
    }
}

Plan plan_run(const cli::CliOptions& o, const MpiOptions& m, const Secret& secret, int ranks,
              Ledger& ledger, Job& job) {
    Result<FilePlan> planned = plan_files(o.plan);
    if (!planned.ok()) throw UsageError(planned.status().message());
    if (o.says_notes()) {
        for (const PlanWarning& w : planned.value().warnings) {
            const bool link = w.reason == PlanWarning::Reason::kSymbolicLink;
            std::cerr << cli::printable_line("tbbpipe: warning: " + w.message +
                                             (link ? " (use --follow-symlinks)" : ""));
        }
    }
    for (const PlanError& e : planned.value().errors) {
        ledger.reports.push_back({e.path, "", {}});
        ledger.reports.back().result.status = {e.status.code(), cli::plan_error_message(e)};
    }
    for (const Job::File& f : planned.value().files) {
        if (f.input == "-" || f.output == "-") {
            throw UsageError(
                "standard input and output are not available in tbbpipe-mpi: name "
                "files (every rank must reach them)");
        }
    }
    std::vector<std::size_t> job_report;
    job = cli::make_job(o, secret, planned.value(), ledger.reports, job_report);
    ledger.set_roots.resize(ledger.reports.size());
    Plan plan;
    std::uint64_t total = 0;
    std::vector<WorkItem> items;
    for (std::size_t i = 0; i < job.files.size(); ++i) {
        WorkItem item{job_report[i], size_of(job.files[i].input), job.files[i]};
        ledger.set_roots[job_report[i]] = job.files[i].set_root;
        total += item.bytes;
        items.push_back(std::move(item));
    }
    const std::uint64_t fair = total / static_cast<std::uint64_t>(ranks);
    const std::uint64_t threshold =
        m.split_size ? *m.split_size
                     : (ranks > 1 ? std::max(kMinSplitSize, 2 * fair) : 0);  // 0: never
    for (WorkItem& item : items) {
        const bool split = threshold > 0 && item.bytes >= threshold;
        (split ? plan.split : plan.batched).push_back(std::move(item));
    }
    plan.facts.ranks.resize(static_cast<std::size_t>(ranks));
    return plan;
}

// Unpack, verify: every file against its set's manifest, once for the run (one kSets job on
// rank 0); a file the manifest does not list fails now and is not handed out.
std::vector<SetReport> check_sets(Engine& engine, const Job& job, Plan& plan, Ledger& ledger) {
    Job sets = job;
    sets.files.clear();
    sets.run_part = RunPart::kSets;
    std::vector<const WorkItem*> members;
    for (const auto* list : {&plan.split, &plan.batched}) {
        for (const WorkItem& item : *list) {
            if (item.file.set_root.empty()) continue;
            sets.files.push_back(item.file);
            members.push_back(&item);
        }
    }
    if (sets.files.empty()) return {};
    Result<JobHandle> submitted = engine.submit(std::move(sets));
    if (!submitted.ok()) throw UsageError(submitted.status().message());
    JobResult result = submitted.value().wait();
    std::map<std::uint64_t, bool> refused;
    for (std::size_t i = 0; i < members.size() && i < result.files.size(); ++i) {
        if (result.files[i].status.is_ok()) continue;
        refused[members[i]->report] = true;
        FileResult failed = std::move(result.files[i]);
        failed.status = {failed.status.code(), failed.input + ": " + failed.status.message()};
        ledger.file(members[i]->report, std::move(failed), false);
    }
    for (auto* list : {&plan.split, &plan.batched}) {
        std::erase_if(*list, [&](const WorkItem& item) { return refused.count(item.report) > 0; });
    }
    return result.sets;
}

// Pack: the run's manifests, written once, listing what every rank packed.
std::vector<SetReport> write_sets(Engine& engine, const Job& job, const Ledger& ledger) {
    Job sets = job;
    sets.files.clear();
    sets.run_part = RunPart::kSets;
    for (std::size_t i = 0; i < ledger.reports.size(); ++i) {
        const FileResult& r = ledger.reports[i].result;
        if (ledger.set_roots[i].empty() || !r.status.is_ok() || !r.container.recorded) continue;
        sets.set_members.push_back({ledger.set_roots[i], r.output, r.container});
    }
    if (sets.set_members.empty()) return {};
    Result<JobHandle> submitted = engine.submit(std::move(sets));
    if (!submitted.ok()) {
        SetReport failed;
        failed.status = submitted.status();
        return {failed};
    }
    return submitted.value().wait().sets;
}

Bytes encode_facts(const cli::RankFacts& f) {
    Writer w;
    w.u64(f.files);
    w.u64(f.bytes_in);
    w.u64(f.bytes_out);
    w.u64(f.batches);
    w.u64(f.messages_sent);
    w.u64(f.message_bytes);
    w.f64(f.busy_seconds);
    w.f64(f.wait_seconds);
    const RunStats& s = f.stats;
    for (const std::int64_t v :
         {static_cast<std::int64_t>(s.cpu_tokens), static_cast<std::int64_t>(s.io_tokens),
          static_cast<std::int64_t>(s.chunk_tokens), static_cast<std::int64_t>(s.memory_limit),
          s.max_chunks_in_flight, s.max_reads_in_flight, s.max_transforms_in_flight,
          s.tokens_outstanding, static_cast<std::int64_t>(s.peak_rss_bytes),
          static_cast<std::int64_t>(s.key_derivations)}) {
        w.u64(static_cast<std::uint64_t>(v));
    }
    return w.take();
}

cli::RankFacts decode_facts(const Bytes& b, int rank) {
    Reader r(b);
    cli::RankFacts f;
    f.rank = rank;
    f.files = r.u64();
    f.bytes_in = r.u64();
    f.bytes_out = r.u64();
    f.batches = r.u64();
    f.messages_sent = r.u64();
    f.message_bytes = r.u64();
    f.busy_seconds = r.f64();
    f.wait_seconds = r.f64();
    RunStats& s = f.stats;
    s.cpu_tokens = static_cast<int>(r.u64());
    s.io_tokens = static_cast<int>(r.u64());
    s.chunk_tokens = static_cast<std::size_t>(r.u64());
    s.memory_limit = static_cast<std::size_t>(r.u64());
    s.max_chunks_in_flight = static_cast<std::int64_t>(r.u64());
    s.max_reads_in_flight = static_cast<std::int64_t>(r.u64());
    s.max_transforms_in_flight = static_cast<std::int64_t>(r.u64());
    s.tokens_outstanding = static_cast<std::int64_t>(r.u64());
    s.peak_rss_bytes = r.u64();
    s.key_derivations = r.u64();
    return f;
}

// Everything rank 0 prints at the end, as `tbbpipe` prints it; returns the exit code.
int report(const cli::CliOptions& o, Ledger& ledger, const std::vector<SetReport>& sets,
           cli::LiveReport& live) {
    int exit_code = kExitOk;
    for (const FileReport& r : ledger.reports) {
        const Status& status = r.result.status;
        if (!status.is_ok()) {
            if (o.says_errors())
                live.emit(cli::printable_line("tbbpipe: " + cli::with_hint(status)));
            exit_code = cli::worst_exit(exit_code, cli::exit_code_for(status.code()));
            continue;
        }
        const bool line = o.says_files() || (ledger.reports.size() == 1 && o.says_notes());
        if (line && !o.json) live.emit(cli::file_line(o, r));
        if (o.says_notes()) {
            for (const std::string& w : r.result.warnings) {
                live.emit(cli::printable_line("tbbpipe: warning: " + r.input + ": " + w));
            }
        }
    }
    return cli::worst_exit(exit_code, cli::report_sets(o, sets, live));
}

std::array<std::uint8_t, 16> random_salt() {
    std::array<std::uint8_t, 16> salt{};
    if (::getrandom(salt.data(), salt.size(), 0) != static_cast<ssize_t>(salt.size())) {
        throw std::runtime_error("cannot get random bytes for the salt");
    }
    return salt;
}

// A step every rank takes on its own (reading the key, opening its metrics endpoint) whose
// failure on any rank must stop every rank, not leave the others waiting for it: the first
// failure (by rank) is thrown on rank 0 and the others return its exit code.
class RankStepFailed : public std::runtime_error {
public:
    RankStepFailed(int code) : std::runtime_error("a rank failed"), code_(code) {}
    int code() const { return code_; }

private:
    int code_;
};

template <class F>
void on_every_rank(Comm& comm, F&& step) {
    int code = kExitOk;
    std::string message;
    try {
        step();
    } catch (const UsageError& e) {
        code = cli::kExitUsage;
        message = e.what();
    } catch (const std::exception& e) {
        code = cli::kExitFailed;
        message = e.what();
    }
    if (comm.all_max(code == kExitOk ? 0 : 1) == 0) return;
    Writer w;
    w.u64(static_cast<std::uint64_t>(code));
    w.str(message);
    const std::vector<Bytes> all = comm.gather(w.take());
    int first = kExitOk;
    std::string said;
    for (std::size_t r = 0; r < all.size() && first == kExitOk; ++r) {
        Reader reader(all[r]);
        first = static_cast<int>(reader.u64());
        said = reader.str();
        if (r > 0 && first != kExitOk) said = "rank " + std::to_string(r) + ": " + said;
    }
    const Bytes agreed =
        comm.broadcast(comm.root() ? Bytes{static_cast<std::uint8_t>(first)} : Bytes{});
    if (comm.root()) {
        if (first == cli::kExitUsage) throw UsageError(said);
        throw AgreedFailure(said);
    }
    throw RankStepFailed(agreed.empty() ? cli::kExitFailed : agreed[0]);
}

}  // namespace

int run_distributed(const cli::CliOptions& o, const MpiOptions& m, Comm& comm) {
    const auto wall_start = Clock::now();
    refuse_single_process_only(o, comm.size());  // the same on every rank: no agreement needed
    std::string warning;
    Secret secret;
    try {
        on_every_rank(comm, [&] {
            secret = cli::load_secret(o, o.command == cli::Command::kPack, &warning);
        });
    } catch (const RankStepFailed& e) {
        return e.code();
    }
    if (comm.root() && !warning.empty() && o.says_notes()) {
        std::cerr << cli::printable_line("tbbpipe: warning: " + warning);
    }
    const std::atomic<bool>& stop = g_stop;
    cli::on_interrupt([] { g_stop = true; });

    // Rank 0 plans; every rank learns the budgets, the salt and the files to split.
    Ledger ledger;
    Job job;
    Plan plan;
    Setup setup;
    std::unique_ptr<Engine> engine;
    std::vector<SetReport> sets;
    if (comm.root()) {
        try {
            plan = plan_run(o, m, secret, comm.size(), ledger, job);
            const EngineConfig config = cli::engine_config(o, job, plan.facts);
            setup.io_tokens = config.io_tokens;
            engine = std::make_unique<Engine>(config);
            if (o.command != cli::Command::kPack) sets = check_sets(*engine, job, plan, ledger);
            if (o.command == cli::Command::kPack && secret.kind() == KeyDerivation::kScrypt) {
                setup.salt = random_salt();
            }
            setup.split = plan.split;
        } catch (const UsageError& e) {
            setup.status = {StatusCode::kInvalidArgument, e.what()};
        } catch (const std::exception& e) {
            setup.status = {StatusCode::kIoError, e.what()};
        }
    }
    setup = decode_setup(comm.broadcast(comm.root() ? encode_setup(setup) : Bytes{}));
    if (!setup.status.is_ok()) {
        const bool usage = setup.status.code() == StatusCode::kInvalidArgument;
        if (comm.root() && usage) throw UsageError(setup.status.message());
        if (comm.root()) throw AgreedFailure(setup.status.message());
        return usage ? cli::kExitUsage : cli::kExitFailed;
    }
    if (!comm.root()) {
        EngineConfig config = o.engine;
        config.io_tokens = setup.io_tokens;
        engine = std::make_unique<Engine>(config);
    }
    Job base = comm.root() ? job : Job{};
    base.operation = o.plan.operation;
    base.pack = o.pack;
    base.pack.scrypt_salt = setup.salt;
    base.secret = secret;
    base.overwrite = o.force;
    base.files.clear();
    RankEngine mine(*engine, base, comm.rank());

    std::unique_ptr<RankMetrics> metrics_owner;
    try {
        on_every_rank(comm, [&] {
            metrics_owner = std::make_unique<RankMetrics>(
                o, comm, *engine, ledger.remote_bytes, ledger.remote_ok, ledger.remote_failed,
                comm.root() ? cli::total_input_bytes(job.files) : 0,
                comm.root() ? job.files.size() : 0);
        });
    } catch (const RankStepFailed& e) {
        return e.code();
    }
    RankMetrics& metrics = *metrics_owner;

    // Files far larger than a share: every rank at once, one after another.
    const bool durable = o.engine.commit.durable;
    for (const WorkItem& item : setup.split) {
        // Every rank learns of a stop at the same file, so none starts a split the others left.
        if (comm.all_max(stop ? 1 : 0)) {
            if (comm.root())
                ledger.file(item.report, std::move(interrupted({item})[0].result), false);
            continue;
        }
        SplitOutcome outcome = split_file(*engine, comm, base, item.file, durable, stop);
        if (!outcome.part.files.empty()) mine.account(outcome.part, false);
        if (comm.root()) ledger.file(item.report, std::move(outcome.result), false);
    }
    // The rest, shared out while the run goes.
    if (comm.root()) {
        WorkQueue queue(plan.batched, comm.size(), m.batch);
        coordinate(comm, mine, queue, stop, [&ledger](std::vector<DoneItem>&& done, bool remote) {
            for (DoneItem& d : done) ledger.file(d.report, std::move(d.result), remote);
        });
        if (o.command == cli::Command::kPack && !stop) sets = write_sets(*engine, base, ledger);
    } else {
        work(comm, mine, stop);
    }

    // One report, on rank 0, with every rank's row, its exit code (a metrics file it could not
    // write) and whether it was stopped.
    int rank_code = comm.root() ? kExitOk : metrics.stop();
    if (stop) rank_code = kExitInterrupted;
    mine.facts().messages_sent = comm.stats().messages_sent;
    mine.facts().message_bytes = comm.stats().bytes_sent;
    mine.facts().wait_seconds += comm.stats().wait_seconds;
    Writer row;
    row.u64(static_cast<std::uint64_t>(rank_code));
    row.bytes(encode_facts(mine.facts()));
    const std::vector<Bytes> rows = comm.gather(row.take());
    int exit_code = kExitOk;
    if (comm.root()) {
        int ranks_code = kExitOk;
        for (std::size_t r = 0; r < rows.size(); ++r) {
            Reader reader(rows[r]);
            ranks_code = cli::worst_exit(ranks_code, static_cast<int>(reader.u64()));
            plan.facts.ranks[r] = decode_facts(reader.bytes(), static_cast<int>(r));
        }
        plan.facts.split_files = setup.split.size();
        metrics.finish_display();
        exit_code = report(o, ledger, sets, metrics.live());
        exit_code = cli::worst_exit(exit_code, metrics.stop());
        exit_code = cli::worst_exit(exit_code, ranks_code);
        if (stop) exit_code = kExitInterrupted;
        JobResult summary;
        summary.sets = sets;
        summary.stats = plan.facts.ranks[0].stats;
        plan.facts.job = &summary;
        plan.facts.metrics_url = metrics.url();
        const double wall = std::chrono::duration<double>(Clock::now() - wall_start).count();
        cli::print_summary(o, ledger.reports, engine->metrics(), plan.facts, wall, exit_code);
    }
    cli::on_interrupt({});
    // Every rank exits with rank 0's code: whichever rank mpirun reports, the run says one thing.
    const Bytes code =
        comm.broadcast(comm.root() ? Bytes{static_cast<std::uint8_t>(exit_code)} : Bytes{});
    return code.empty() ? exit_code : code[0];
}

}  // namespace tbbpipe::mpi
