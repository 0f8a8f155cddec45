#include "rank_work.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

namespace tbbpipe::mpi {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kIdleSleep = std::chrono::microseconds(200);
// Batches a rank holds at once: one running, one queued behind it.
constexpr std::size_t kBatchesAhead = 2;

enum Flags : std::uint8_t { kWantsMore = 1, kFinished = 2 };

Bytes encode_done(std::uint8_t flags, const std::vector<DoneItem>& done) {
    Writer w;
    w.u8(flags);
    w.u64(done.size());
    for (const DoneItem& d : done) {
        w.u64(d.report);
        encode_result(w, d.result);
    }
    return w.take();
}

}  // namespace

RankEngine::RankEngine(Engine& engine, Job base, int rank)
    : engine_(engine), base_(std::move(base)) {
    base_.files.clear();
    base_.run_part = RunPart::kShare;
    facts_.rank = rank;
}

void RankEngine::submit(std::vector<WorkItem> batch) {
    Job job = base_;
    for (const WorkItem& item : batch) job.files.push_back(item.file);
    Running r;
    r.items = std::move(batch);
    Result<JobHandle> submitted = engine_.submit(std::move(job));
    if (submitted.ok()) {
        r.handle = submitted.value();
        if (cancelled_) r.handle->cancel();
    } else {
        r.refused = submitted.status();
    }
    running_.push_back(std::move(r));
}

std::optional<std::vector<DoneItem>> RankEngine::poll() {
    if (running_.empty()) return std::nullopt;
    Running& r = running_.front();
    if (r.handle && !r.handle->done()) return std::nullopt;
    std::vector<DoneItem> done;
    if (r.handle) {
        JobResult result = r.handle->wait();
        account(result, true);
        for (std::size_t i = 0; i < r.items.size(); ++i) {
            DoneItem d{r.items[i].report, {}};
            if (i < result.files.size()) {
                d.result = std::move(result.files[i]);
            } else {  // the job never ran (cancelled while queued) or failed as a whole
                const Job::File& f = r.items[i].file;
                d.result.input = f.input;
                d.result.output = f.output;
                d.result.status =
                    result.status.is_ok() || result.status.code() == StatusCode::kCancelled
                        ? Status(StatusCode::kCancelled, f.input + ": interrupted")
                        : Status(result.status.code(), f.input + ": " + result.status.message());
            }
            done.push_back(std::move(d));
        }
    } else {
        for (const WorkItem& item : r.items) {
            DoneItem d{item.report, {}};
            d.result.input = item.file.input;
            d.result.output = item.file.output;
            d.result.status = {r.refused.code(), item.file.input + ": " + r.refused.message()};
            done.push_back(std::move(d));
        }
    }
    running_.pop_front();
    return done;
}

void RankEngine::cancel() {
    if (cancelled_) return;
    cancelled_ = true;
    for (Running& r : running_) {
        if (r.handle) r.handle->cancel();
    }
}

void RankEngine::account(const JobResult& result, bool batch) {
    cli::RankFacts& f = facts_;
    f.batches += batch ? 1 : 0;
    f.busy_seconds += result.seconds;
    for (const FileResult& file : result.files) {
        ++f.files;
        f.bytes_in += file.bytes_in;
        f.bytes_out += file.bytes_out;
    }
    const RunStats& s = result.stats;
    RunStats& m = f.stats;
    m.cpu_tokens = s.cpu_tokens;
    m.io_tokens = s.io_tokens;
    m.chunk_tokens = s.chunk_tokens;
    m.memory_limit = s.memory_limit;
    m.max_chunks_in_flight = std::max(m.max_chunks_in_flight, s.max_chunks_in_flight);
    m.max_reads_in_flight = std::max(m.max_reads_in_flight, s.max_reads_in_flight);
    m.max_transforms_in_flight = std::max(m.max_transforms_in_flight, s.max_transforms_in_flight);
    m.tokens_outstanding = std::max(m.tokens_outstanding, s.tokens_outstanding);
    m.peak_rss_bytes = std::max(m.peak_rss_bytes, s.peak_rss_bytes);
    m.key_derivations = std::max(m.key_derivations, s.key_derivations);
}

std::vector<DoneItem> interrupted(const std::vector<WorkItem>& items) {
    std::vector<DoneItem> done;
    for (const WorkItem& item : items) {
        DoneItem d{item.report, {}};
        d.result.input = item.file.input;
        d.result.output = item.file.output;
        d.result.status = {StatusCode::kCancelled, item.file.input + ": interrupted"};
        done.push_back(std::move(d));
    }
    return done;
}

void coordinate(Comm& comm, RankEngine& mine, WorkQueue& queue, const std::atomic<bool>& stop,
                const std::function<void(std::vector<DoneItem>&&, bool remote)>& done) {
    int workers = comm.size() - 1;
    double idle = 0;
    while (true) {
        bool progressed = false;
        while (std::optional<Message> m = comm.try_receive(kTagWant)) {
            progressed = true;
            Reader r(m->data);
            const std::uint8_t flags = r.u8();
            std::vector<DoneItem> results(static_cast<std::size_t>(r.u64()));
            for (DoneItem& d : results) {
                d.report = r.u64();
                d.result = decode_result(r);
            }
            if (!results.empty()) done(std::move(results), true);
            if (flags & kFinished) --workers;
            if (flags & kWantsMore) {
                const std::vector<WorkItem> batch = stop ? std::vector<WorkItem>{} : queue.next();
                comm.send(m->source, kTagBatch, encode_items(batch));
            }
        }
        if (std::optional<std::vector<DoneItem>> d = mine.poll()) {
            done(std::move(*d), false);
            progressed = true;
        }
        if (stop) mine.cancel();
        while (!stop && mine.pending() < kBatchesAhead && !queue.empty()) {
            mine.submit(queue.next());
        }
        if (mine.pending() == 0 && (queue.empty() || stop) && workers == 0) break;
        if (!progressed) {
            const auto t = Clock::now();
            std::this_thread::sleep_for(kIdleSleep);
            if (mine.pending() == 0)
                idle += std::chrono::duration<double>(Clock::now() - t).count();
        }
    }
    comm.flush();  // every worker got its replies before it said it finished: this returns
    if (!queue.empty()) done(interrupted(queue.drain()), false);
    mine.facts().wait_seconds += idle;
}

void work(Comm& comm, RankEngine& mine, const std::atomic<bool>& stop) {
    int asked = 0;
    bool no_more = false;
    double idle = 0;
    const auto wants = [&] { return !no_more && !stop && mine.pending() + asked < kBatchesAhead; };
    const auto send = [&](const std::vector<DoneItem>& results, std::uint8_t flags) {
        if (flags & kWantsMore) ++asked;
        comm.send(0, kTagWant, encode_done(flags, results));
    };
    while (true) {
        bool progressed = false;
        comm.progress();
        if (asked > 0) {
            if (std::optional<Message> m = comm.try_receive(kTagBatch, 0)) {
                progressed = true;
                --asked;
                std::vector<WorkItem> batch = decode_items(m->data);
                if (batch.empty()) {
                    no_more = true;
                } else if (stop) {
                    send(interrupted(batch), 0);  // handed out as the stop came: never run
                } else {
                    mine.submit(std::move(batch));
                }
            }
        }
        if (stop) mine.cancel();
        if (std::optional<std::vector<DoneItem>> d = mine.poll()) {
            progressed = true;
            send(*d, wants() ? kWantsMore : 0);
        }
        while (wants()) send({}, kWantsMore);
        if ((no_more || stop) && asked == 0 && mine.pending() == 0) {
            send({}, kFinished);
            comm.flush();  // rank 0 keeps receiving until every worker finished
            break;
        }
        if (!progressed) {
            const auto t = Clock::now();
            std::this_thread::sleep_for(kIdleSleep);
            if (mine.pending() == 0)
                idle += std::chrono::duration<double>(Clock::now() - t).count();
        }
    }
    mine.facts().wait_seconds += idle;
}

}  // namespace tbbpipe::mpi
