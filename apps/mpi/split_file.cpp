#include "split_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

#include "tbbpipe/container.hpp"
#include "tbbpipe/split.hpp"

namespace tbbpipe::mpi {
namespace {

// A failure on one rank, as every rank learns of it: the code and message of the lowest rank
// that failed (the same on every rank, so rank 0 reports one message).
struct Verdict {
    bool ok = true;
    Status status;
};

Bytes encode_status(const Status& s) {
    Writer w;
    w.u8(static_cast<std::uint8_t>(s.code()));
    w.str(s.message());
    return w.take();
}

Status decode_status(const Bytes& b) {
    Reader r(b);
    const auto code = static_cast<StatusCode>(r.u8());
    std::string message = r.str();
    return code == StatusCode::kOk ? Status::ok() : Status(code, std::move(message));
}

// Collective: whether every rank is fine, and if not, the first failure (by rank) everywhere.
Verdict agree(Comm& comm, const Status& mine) {
    const int failed = comm.all_max(mine.is_ok() ? 0 : 1);
    if (!failed) return {};
    const std::vector<Bytes> all = comm.gather(encode_status(mine));
    Status first;
    for (const Bytes& b : all) {
        Status s = decode_status(b);
        if (!s.is_ok()) {
            first = std::move(s);
            break;
        }
    }
    return {false, decode_status(comm.broadcast(encode_status(first)))};
}

// Rank 0's status (or bytes) to every rank: a plan, a temporary's path, or why there is none.
struct Shared {
    Status status;
    Bytes data;
};

Shared share_from_root(Comm& comm, const Status& status, const Bytes& data) {
    Writer w;
    w.bytes(encode_status(status));
    w.bytes(data);
    const Bytes all = comm.broadcast(comm.root() ? w.take() : Bytes{});
    Reader r(all);
    Shared s;
    s.status = decode_status(r.bytes());
    s.data = r.bytes();
    return s;
}

// This rank's chunks: an even share, the remainder to the lowest ranks.
std::pair<std::uint64_t, std::uint64_t> range_of(std::uint64_t chunks, int rank, int ranks) {
    const auto n = static_cast<std::uint64_t>(ranks);
    const auto r = static_cast<std::uint64_t>(rank);
    const std::uint64_t base = chunks / n, extra = chunks % n;
    const std::uint64_t first = r * base + std::min(r, extra);
    return {first, base + (r < extra ? 1 : 0)};
}

// Runs this rank's part job; a stop cancels it (it then removes its partial output).
JobResult run_part(Engine& engine, Job job, const std::atomic<bool>& stop) {
    Result<JobHandle> submitted = engine.submit(std::move(job));
    if (!submitted.ok()) {
        JobResult failed;
        failed.status = submitted.status();
        return failed;
    }
    const JobHandle handle = submitted.value();
    while (!handle.wait_for(std::chrono::milliseconds(2))) {
        if (stop.load()) handle.cancel();
    }
    return handle.wait();
}

Status first_status(const JobResult& r) {
    if (!r.files.empty() && !r.files.front().status.is_ok()) return r.files.front().status;
    return r.status;
}

// "dir/.name.tbbpipe-part3": hidden, and marked as ours, so walks skip it.
std::string part_path(const std::string& output, int rank) {
    const auto slash = output.rfind('/');
    const std::string dir = slash == std::string::npos ? "" : output.substr(0, slash + 1);
    const std::string base = slash == std::string::npos ? output : output.substr(slash + 1);
    return dir + "." + base.substr(0, 200) + ".tbbpipe-part" + std::to_string(rank);
}

Status flush_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
        const int err = errno;
        if (fd >= 0) ::close(fd);
        return {StatusCode::kIoError, path + ": cannot flush: " + std::strerror(err)};
    }
    ::close(fd);
    return Status::ok();
}

// This rank's part job: its chunks into `out` (a part file), or through `fd` (the container).
Job part_job(const Job& settings, const Job::File& file, const SplitPlan& plan, std::uint64_t first,
             std::uint64_t count, const std::string& out, int fd) {
    Job job = settings;
    job.files.clear();
    job.run_part = RunPart::kWhole;
    Job::File f(file.input, out);
    if (fd < 0) f.output_root = file.output_root;  // its folders are made as the container's
    f.output_fd = fd;
    f.name = file.name;
    f.store_metadata = file.store_metadata;
    f.part = Job::File::Part{std::make_shared<const SplitPlan>(plan), first, count};
    job.files.push_back(std::move(f));
    job.overwrite = true;  // a part left by a killed run is ours to replace
    return job;
}

SplitOutcome split_pack(Engine& engine, Comm& comm, const Job& settings, const Job::File& file,
                        bool durable, const std::atomic<bool>& stop) {
    SplitOutcome out;
    out.result.input = file.input;
    out.result.output = file.output;
    const auto start = std::chrono::steady_clock::now();

    // Rank 0 seals the header (and makes the file key) and creates the container's temporary;
    // the plan travels to the ranks.
    std::optional<SplitPlan> plan;
    std::optional<SharedOutput> output;
    Status planned = Status::ok();
    Writer w;
    if (comm.root()) {
        Result<SplitPlan> made =
            SplitPlan::for_pack(engine, file.input, settings.pack, settings.secret);
        Result<SharedOutput> created =
            made.ok()
                ? SharedOutput::create(file.output, settings.overwrite, durable, file.output_root)
                : Result<SharedOutput>(made.status());
        if (created.ok()) {
            plan = made.value();
            output.emplace(std::move(created.value()));
            w.bytes(plan->to_bytes());
            w.str(output->temp_path());
        } else {
            planned = created.status();
        }
    }
    const Shared shared = share_from_root(comm, planned, w.take());
    if (!shared.status.is_ok()) {
        out.result.status = shared.status;
        return out;
    }
    Reader r(shared.data);
    const Bytes wire = r.bytes();
    const std::string temp = r.str();
    if (!comm.root()) {
        Result<SplitPlan> mine = SplitPlan::from_bytes(wire, engine.config().stages);
        if (mine.ok()) plan = mine.value();
        planned = mine.status();
    }
    // Every rank packs its range. The first range's offset is known now (right after the
    // header): rank 0 writes its records into the container itself. The others' offsets depend
    // on the compressed sizes before them, so they pack into a part file and copy it over later.
    const auto range = range_of(plan ? plan->chunk_count() : 0, comm.rank(), comm.size());
    const std::uint64_t first = range.first, count = range.second;
    const std::string part = part_path(file.output, comm.rank());
    const bool in_place = comm.root();
    Status mine = planned;
    if (mine.is_ok() && count > 0) {
        int fd = -1;
        if (in_place) {
            fd = ::open(temp.c_str(), O_WRONLY | O_CLOEXEC);
            if (fd < 0 || ::lseek(fd, static_cast<off_t>(plan->header_size()), SEEK_SET) < 0) {
                mine = {StatusCode::kIoError, temp + ": " + std::strerror(errno)};
            }
        }
        if (mine.is_ok()) {
            out.part = run_part(
                engine, part_job(settings, file, *plan, first, count, in_place ? temp : part, fd),
                stop);
            mine = first_status(out.part);
            if (mine.is_ok() && stop.load()) mine = {StatusCode::kCancelled, "interrupted"};
        }
        if (fd >= 0) ::close(fd);
    }
    const auto cleanup = [&] {
        if (count > 0 && !in_place) ::unlink(part.c_str());  // only this rank's own part file
    };
    Verdict v = agree(comm, mine);
    if (!v.ok) {
        cleanup();
        out.result.status = v.status;
        return out;
    }
    // Every other rank places its records at their offset: after the header and the parts
    // before it (an exclusive scan of the parts' sizes).
    const std::uint64_t part_bytes = count > 0 ? out.part.files[0].bytes_out : 0;
    const std::uint64_t offset = plan->header_size() + comm.exscan_sum(part_bytes);
    mine = Status::ok();
    if (count > 0 && !in_place) mine = place_part(part, temp, offset);
    if (mine.is_ok() && count > 0 && durable) mine = flush_file(temp);
    cleanup();
    v = agree(comm, mine);
    // The tail needs every part's index: gathered on rank 0, in rank (= chunk) order.
    const std::vector<Bytes> indexes =
        comm.gather(v.ok && count > 0 ? out.part.files[0].part_index : Bytes{});
    if (!v.ok) {
        out.result.status = v.status;
        return out;
    }
    Status done = Status::ok();
    if (comm.root()) {
        std::vector<std::vector<std::uint8_t>> parts;
        for (const Bytes& b : indexes) {
            if (!b.empty()) parts.push_back(b);
        }
        Result<SplitTail> tail = plan->finish(parts, file);
        if (tail.ok()) {
            done = output->write_at(0, tail.value().header);
            if (done.is_ok()) done = output->write_at(tail.value().tail_offset, tail.value().tail);
            if (done.is_ok()) {
                struct stat st {};
                const std::uint32_t mode =
                    ::stat(file.input.c_str(), &st) == 0 ? (st.st_mode & 0777) : 0644;
                done = output->commit(mode);
            }
            out.result.bytes_out = tail.value().container_size;
            out.result.container = tail.value().container;
        } else {
            done = tail.status();
        }
        out.result.plaintext_bytes = out.result.bytes_in = plan->input_size();
        out.result.chunks = plan->chunk_count();
    }
    // Every rank learns the outcome, so all report alike (and rank 0 alone prints it).
    const Shared final = share_from_root(comm, done, {});
    out.result.status = final.status;
    out.result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

SplitOutcome split_unpack(Engine& engine, Comm& comm, const Job& settings, const Job::File& file,
                          bool durable, const std::atomic<bool>& stop) {
    SplitOutcome out;
    out.result.input = file.input;
    out.result.output = settings.operation == Operation::kVerify ? "" : file.output;
    const auto start = std::chrono::steady_clock::now();
    const bool verify = settings.operation == Operation::kVerify;

    // Rank 0: the chunk count (from the trailer: only to share the work out) and the output.
    std::optional<SharedOutput> output;
    Status opened = Status::ok();
    Writer w;
    if (comm.root()) {
        Result<ContainerInfo> info = inspect_container(file.input);
        if (!info.ok()) {
            opened = {info.status().code(), file.input + ": " + info.status().message()};
        } else {
            w.u64(info.value().chunk_count);
            std::string temp;
            if (!verify) {
                Result<SharedOutput> made = SharedOutput::create(file.output, settings.overwrite,
                                                                 durable, file.output_root);
                if (made.ok()) {
                    output.emplace(std::move(made.value()));
                    temp = output->temp_path();
                } else {
                    opened = made.status();
                }
            }
            w.str(temp);
        }
    }
    const Shared shared = share_from_root(comm, opened, w.take());
    if (!shared.status.is_ok()) {
        out.result.status = shared.status;
        return out;
    }
    Reader r(shared.data);
    const std::uint64_t chunks = r.u64();
    const std::string temp = r.str();
    const auto [first, count] = range_of(chunks, comm.rank(), comm.size());
    Status mine = Status::ok();
    if (count > 0) {
        Job job = settings;
        job.files.clear();
        Job::File f(file.input, verify ? "" : temp);
        f.name = file.name;
        f.name_must_match = file.name_must_match;
        // Checked against its set's manifest like a whole file: the container it lists, not
        // another of the same name (a share: the run looked for missing ones already).
        f.set_root = file.set_root;
        job.run_part = RunPart::kShare;  // (not kWhole: that would call the rest missing)
        f.part = Job::File::Part{nullptr, first, count};
        job.files.push_back(std::move(f));
        out.part = run_part(engine, std::move(job), stop);
        mine = first_status(out.part);
        if (mine.is_ok() && stop.load()) mine = {StatusCode::kCancelled, "interrupted"};
        if (mine.is_ok() && durable && !verify) mine = flush_file(temp);
    }
    const Verdict v = agree(comm, mine);
    // Totals on rank 0: every rank's bytes and chunks.
    const FileResult* part = count > 0 && !out.part.files.empty() ? &out.part.files[0] : nullptr;
    const std::uint64_t bytes_in = comm.all_sum(part ? part->bytes_in : 0);
    const std::uint64_t plain = comm.all_sum(part ? part->plaintext_bytes : 0);
    Status done = v.ok ? Status::ok() : v.status;
    if (comm.root()) {
        if (done.is_ok() && output) {
            const bool meta = part && part->metadata_recorded;
            done = output->commit(meta ? part->mode : 0644, meta ? part->mtime_sec : 0,
                                  meta ? part->mtime_nsec : 0);
        }
        if (output && !done.is_ok()) output->discard();
        out.result.bytes_in = bytes_in;
        out.result.plaintext_bytes = plain;
        out.result.bytes_out = verify ? 0 : plain;
        out.result.chunks = chunks;
        if (part) out.result.warnings = part->warnings;
    }
    const Shared final = share_from_root(comm, done, {});
    out.result.status = final.status;
    out.result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

}  // namespace

SplitOutcome split_file(Engine& engine, Comm& comm, const Job& settings, const Job::File& file,
                        bool durable, const std::atomic<bool>& stop) {
    return settings.operation == Operation::kPack
               ? split_pack(engine, comm, settings, file, durable, stop)
               : split_unpack(engine, comm, settings, file, durable, stop);
}

}  // namespace tbbpipe::mpi
