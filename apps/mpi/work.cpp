#include "work.hpp"

#include <algorithm>

namespace tbbpipe::mpi {

Bytes encode_items(const std::vector<WorkItem>& items) {
    Writer w;
    w.u64(items.size());
    for (const WorkItem& item : items) {
        const Job::File& f = item.file;
        w.u64(item.report);
        w.u64(item.bytes);
        w.str(f.input);
        w.str(f.output);
        w.str(f.output_root);
        w.str(f.name);
        w.str(f.set_root);
        w.u8(static_cast<std::uint8_t>((f.store_metadata ? 1 : 0) | (f.name_must_match ? 2 : 0)));
    }
    return w.take();
}

std::vector<WorkItem> decode_items(const Bytes& data) {
    Reader r(data);
    std::vector<WorkItem> items(static_cast<std::size_t>(r.u64()));
    for (WorkItem& item : items) {
        Job::File& f = item.file;
        item.report = r.u64();
        item.bytes = r.u64();
        f.input = r.str();
        f.output = r.str();
        f.output_root = r.str();
        f.name = r.str();
        f.set_root = r.str();
        const std::uint8_t flags = r.u8();
        f.store_metadata = (flags & 1) != 0;
        f.name_must_match = (flags & 2) != 0;
    }
    return items;
}

void encode_result(Writer& w, const FileResult& r) {
    w.str(r.input);
    w.str(r.output);
    w.u8(static_cast<std::uint8_t>(r.status.code()));
    w.str(r.status.message());
    w.u64(r.bytes_in);
    w.u64(r.bytes_out);
    w.u64(r.plaintext_bytes);
    w.u64(r.chunks);
    w.u64(static_cast<std::uint64_t>(r.syncs));
    w.f64(r.seconds);
    w.f64(r.finished_after);
    w.u64(r.warnings.size());
    for (const std::string& warning : r.warnings) w.str(warning);
    const ContainerFacts& c = r.container;
    w.u8(c.recorded ? 1 : 0);
    w.u64(c.container_size);
    w.u64(c.plaintext_size);
    w.u8(static_cast<std::uint8_t>(c.hash));
    w.raw(c.header_digest.data(), c.header_digest.size());
    w.raw(c.root_digest.data(), c.root_digest.size());
}

FileResult decode_result(Reader& r) {
    FileResult f;
    f.input = r.str();
    f.output = r.str();
    const auto code = static_cast<StatusCode>(r.u8());
    const std::string message = r.str();
    f.status = code == StatusCode::kOk ? Status::ok() : Status(code, message);
    f.bytes_in = r.u64();
    f.bytes_out = r.u64();
    f.plaintext_bytes = r.u64();
    f.chunks = r.u64();
    f.syncs = static_cast<int>(r.u64());
    f.seconds = r.f64();
    f.finished_after = r.f64();
    f.warnings.resize(static_cast<std::size_t>(r.u64()));
    for (std::string& warning : f.warnings) warning = r.str();
    ContainerFacts& c = f.container;
    c.recorded = r.u8() != 0;
    c.container_size = r.u64();
    c.plaintext_size = r.u64();
    c.hash = static_cast<Hash>(r.u8());
    r.raw(c.header_digest.data(), c.header_digest.size());
    r.raw(c.root_digest.data(), c.root_digest.size());
    return f;
}

WorkQueue::WorkQueue(std::vector<WorkItem> items, int ranks, BatchLimits limits)
    : items_(std::make_move_iterator(items.begin()), std::make_move_iterator(items.end())),
      ranks_(std::max(1, ranks)),
      limits_(limits) {
    for (const WorkItem& item : items_) bytes_left_ += item.bytes;
}

std::vector<WorkItem> WorkQueue::next() {
    const auto share = [this](std::uint64_t left, std::uint64_t lo, std::uint64_t hi) {
        return std::clamp<std::uint64_t>(left / (4 * static_cast<std::uint64_t>(ranks_)), lo,
                                         std::max(lo, hi));
    };
    const std::uint64_t want_bytes = share(bytes_left_, limits_.min_bytes, limits_.max_bytes);
    const std::uint64_t want_files = share(items_.size(), limits_.min_files, limits_.max_files);
    std::vector<WorkItem> batch;
    std::uint64_t bytes = 0;
    // At least one file; then until either limit is reached.
    while (!items_.empty() &&
           (batch.empty() || (bytes < want_bytes && batch.size() < want_files))) {
        bytes += items_.front().bytes;
        batch.push_back(std::move(items_.front()));
        items_.pop_front();
    }
    bytes_left_ -= std::min(bytes_left_, bytes);
    if (!batch.empty()) ++batches_;
    return batch;
}

std::vector<WorkItem> WorkQueue::drain() {
    std::vector<WorkItem> left(std::make_move_iterator(items_.begin()),
                               std::make_move_iterator(items_.end()));
    items_.clear();
    bytes_left_ = 0;
    return left;
}

}  // namespace tbbpipe::mpi
