// The dynamic share-out: rank 0 hands out batches while the run goes, every rank (rank 0 too)
// runs them on its engine, one running and one queued so its engine never waits for a reply.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "comm.hpp"
#include "run_report.hpp"
#include "work.hpp"

namespace tbbpipe::mpi {

/// A rank's engine and the batches it runs, and what it did (its row of the per-rank table).
/// Thread-safety: the main thread only.
class RankEngine {
public:
    /// `base`: the run's operation, options, secret and overwrite; its files are replaced by
    /// each batch's.
    RankEngine(Engine& engine, Job base, int rank);
    Engine& engine() { return engine_; }
    /// Submits a batch (it queues behind the running one).
    void submit(std::vector<WorkItem> batch);
    std::size_t pending() const { return running_.size(); }
    /// The oldest batch's results once it is done.
    std::optional<std::vector<DoneItem>> poll();
    /// Cancels every batch submitted (each then drains and removes its partial outputs).
    void cancel();
    /// A job this rank ran outside the batches (a split file's part): counted in its row.
    void account(const JobResult& result, bool batch);
    cli::RankFacts& facts() { return facts_; }

private:
    struct Running {
        std::optional<JobHandle> handle;  ///< none: the engine refused it (status says why)
        Status refused;
        std::vector<WorkItem> items;
    };
    Engine& engine_;
    Job base_;
    std::deque<Running> running_;
    bool cancelled_ = false;
    cli::RankFacts facts_;
};

/// Files that never ran because the run stopped: each fails as "interrupted".
std::vector<DoneItem> interrupted(const std::vector<WorkItem>& items);

/// Rank 0: answers the workers' requests with batches from `queue` and runs batches itself,
/// until the queue is empty (or `stop`) and every worker has said it finished. `done` gets
/// every finished file, its own and the workers'; `remote` only the workers'.
void coordinate(Comm& comm, RankEngine& mine, WorkQueue& queue, const std::atomic<bool>& stop,
                const std::function<void(std::vector<DoneItem>&&, bool remote)>& done);

/// Ranks > 0: asks rank 0 for batches (before running dry), runs them, sends the results back,
/// until rank 0 has no more (or `stop`).
void work(Comm& comm, RankEngine& mine, const std::atomic<bool>& stop);

}  // namespace tbbpipe::mpi
