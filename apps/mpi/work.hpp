// Work: what rank 0 hands out (batches of the plan's files) and what comes back (each file's
// result), with their encodings for messages, and the queue rank 0 draws batches from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "comm.hpp"
#include "tbbpipe/engine.hpp"

namespace tbbpipe::mpi {

/// One file of the run: its place among rank 0's reports, and how large it is.
struct WorkItem {
    std::uint64_t report = 0;  ///< index into rank 0's reports
    std::uint64_t bytes = 0;   ///< the input's size (0 when unknown)
    Job::File file;
};

/// A finished file, as rank 0 files it.
struct DoneItem {
    std::uint64_t report = 0;
    FileResult result;
};

Bytes encode_items(const std::vector<WorkItem>& items);
std::vector<WorkItem> decode_items(const Bytes& data);
void encode_result(Writer& w, const FileResult& r);
FileResult decode_result(Reader& r);

/// How batches are sized (--batch-size, --batch-files).
struct BatchLimits {
    std::uint64_t max_bytes = 256ull << 20;
    std::uint64_t max_files = 4096;
    std::uint64_t min_bytes = 8ull << 20;  ///< below this a batch costs more than it carries
    std::uint64_t min_files = 64;
};

/// Rank 0's list of files not handed out yet, in the plan's order. Guided self-scheduling:
/// a batch is about what is left divided by 4 x ranks, between the minimum and the maximum, so
/// batches start large (few messages) and shrink toward the end (no rank is left holding a
/// large batch while the others are idle).
class WorkQueue {
public:
    WorkQueue(std::vector<WorkItem> items, int ranks, BatchLimits limits);
    bool empty() const { return items_.empty(); }
    std::vector<WorkItem> next();
    /// What is left, taken out (an interrupted run fails them without running them).
    std::vector<WorkItem> drain();
    std::size_t batches_made() const { return batches_; }

private:
    std::deque<WorkItem> items_;
    std::uint64_t bytes_left_ = 0;
    int ranks_;
    BatchLimits limits_;
    std::size_t batches_ = 0;
};

}  // namespace tbbpipe::mpi
