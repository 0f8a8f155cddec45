// libFuzzer target: verify and unpack of a whole archive held in memory, through the JobRunner
// with 2 CPU tokens and a 6 MiB memory budget (2 chunks in flight at 1 MiB chunks, the engine's
// cap of 8 at 4 KiB; larger chunk sizes are refused as over budget).
//
// Each input runs three times on one JobRunner shared by all iterations (as an Engine shares it
// across jobs): verify of a memfd (seekable), unpack of the same memfd to a file in a per-process
// scratch folder, and verify of a pipe fed by a writer thread (a stream).
// The secret is the fixed key file when the header's cipher byte says encrypted, and none when it
// says plain: a reader refuses a key for a plain container (downgrade protection), so the key
// alone would stop every plain input at the header. One more verify with the other choice keeps
// the refusals (key for a plain container, no key for an encrypted one) covered.
// An unencrypted input whose checksums do not match is run a second time with its header
// checksum, footer checksum and root digest recomputed, since random mutations never get a
// SHA-256 right: that lets the index, the record sizes and the flags be fuzzed behind them.
//
// Any non-OK status is a fine answer. Bugs: crashes, sanitizer reports, leaks, hangs, and these
// invariants: no kInternal status (a broken invariant by definition), every token back after the
// run and no budget exceeded, no output or temporary file left behind by a failed unpack, an
// unpacked file exactly as long as the plaintext, what verifies as a file also unpacks and also
// verifies as a stream with the same plaintext size, and no allocation above what the header's
// chunk size and the input's length justify.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "format/footer.hpp"
#include "format/header.hpp"
#include "format/record.hpp"
#include "jobs/file_io.hpp"
#include "jobs/job_runner.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace tbbpipe;
using namespace tbbpipe::format;
using jobs::FileHandle;
using jobs::write_full;
using Bytes = std::vector<std::uint8_t>;

constexpr int kCpuTokens = 2;
constexpr int kIoTokens = 2;
constexpr std::size_t kMemoryBudget = 6 * 1024 * 1024;
// The runner rebuilds its Pipeline (and chunk buffers) whenever the chunk size changes. A CLI run
// sees a few; a fuzz process would see millions if the checksum fix-up let every chunk size
// through, so it only lets through powers of two up to this.
constexpr std::uint32_t kLargestFixedUpChunk = 1024 * 1024;

// Never stopped: a stop token that can be stopped makes the readers take the poll() paths a
// cancellable job takes.
std::stop_source g_stop;

jobs::JobRunner& runner() {
    static jobs::JobRunner instance(
        [] {
            EngineConfig config;
            config.cpu_tokens = kCpuTokens;
            config.io_tokens = kIoTokens;
            config.memory_limit = kMemoryBudget;
            config.commit.durable = false;  // an fsync per iteration costs ms, tests nothing
            return config;
        }(),
        nullptr, nullptr);
    return instance;
}

// One file's result and the graph's report.
struct Outcome : FileResult {
    engine::RunReport run;
};

Outcome run_one(Operation op, int input_fd, const std::string& output, const Secret& secret) {
    Job job;
    job.operation = op;
    Job::File file;
    file.input = "(fuzz input)";
    file.input_fd = input_fd;
    file.output = output;
    job.files.push_back(file);
    job.secret = secret;
    job.overwrite = true;
    JobResult result = runner().run(job, g_stop.get_token());
    Outcome outcome;
    static_cast<FileResult&>(outcome) = std::move(result.files.front());
    outcome.run = runner().last_report();
    return outcome;
}

// A per-process scratch folder for unpack outputs (under TMPDIR), removed at exit.
const std::string& scratch_dir() {
    static const std::string dir = [] {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "tbbpipe-unpack-fuzz-XXXXXX").string();
        if (!::mkdtemp(pattern.data())) fuzz::fuzz_fail("mkdtemp failed", std::strerror(errno));
        return pattern;
    }();
    return dir;
}

void remove_scratch_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(scratch_dir(), ignored);
}

// What one run must satisfy whatever the input: no internal error, the engine's books balanced.
void check_run(const char* what, const Outcome& outcome) {
    const engine::RunReport& run = outcome.run;
    if (outcome.status.code() == StatusCode::kInternal) {
        fuzz::fuzz_fail(what, ("returned an internal error: " + outcome.status.message()).c_str());
    }
    if (run.tokens_outstanding != 0) fuzz::fuzz_fail(what, "left tokens outstanding");
    if (run.chunks_delivered != run.chunks_issued || run.chunks_written > run.chunks_delivered) {
        fuzz::fuzz_fail(what, "issued, delivered and written chunks disagree");
    }
    if (run.max_chunks_in_flight > static_cast<std::int64_t>(run.chunk_tokens) ||
        run.max_reads_in_flight > run.io_tokens || run.max_transforms_in_flight > run.cpu_tokens) {
        fuzz::fuzz_fail(what, "exceeded a token budget");
    }
}

// The key for what claims to be encrypted (cipher byte set), no secret for the rest.
const Secret& secret_for(const Bytes& bytes, bool other = false) {
    static const Secret none;
    const bool encrypted = bytes.size() > 14 && bytes[14] != 0;
    return encrypted != other ? fuzz::fuzz_key() : none;
}

FileHandle memfd_holding(const Bytes& bytes) {
    FileHandle fd(::memfd_create("tbbpipe-unpack-fuzz", MFD_CLOEXEC));
    if (!fd.valid()) fuzz::fuzz_fail("memfd_create failed", std::strerror(errno));
    write_full(fd.fd(), bytes.data(), bytes.size(), "memfd");
    return fd;
}

Outcome verify_file(const Bytes& bytes, const Secret& secret) {
    const FileHandle fd = memfd_holding(bytes);
    Outcome outcome = run_one(Operation::kVerify, fd.fd(), "", secret);
    check_run("verify (file)", outcome);
    return outcome;
}

Outcome unpack_file(const Bytes& bytes) {
    const FileHandle fd = memfd_holding(bytes);
    const std::string output = scratch_dir() + "/out";
    Outcome outcome = run_one(Operation::kUnpack, fd.fd(), output, secret_for(bytes));
    check_run("unpack (file)", outcome);

    struct stat st {};
    const bool exists = ::stat(output.c_str(), &st) == 0;
    if (outcome.status.is_ok() != exists) {
        fuzz::fuzz_fail("unpack (file)",
                        exists ? "left an output after failing" : "succeeded without an output");
    }
    if (exists && static_cast<std::uint64_t>(st.st_size) != outcome.plaintext_bytes) {
        fuzz::fuzz_fail("unpack (file)", "output size differs from the plaintext size");
    }
    ::unlink(output.c_str());
    // A failed unpack removes its temporary file; a successful one renamed it away.
    if (!std::filesystem::is_empty(scratch_dir())) {
        fuzz::fuzz_fail("unpack (file)", "left a temporary file in the output folder");
    }
    return outcome;
}

// Writes one input at a time into a pipe, from a thread that lives as long as the process: a
// thread per iteration grew ASan's per-thread bookkeeping by ~0.3 KB a run, which a long campaign
// would turn into an -rss_limit_mb "out of memory".
// Thread-safety: start() and finish() from the fuzz thread, alternately.
class PipeFeeder {
public:
    PipeFeeder() : thread_([this] { loop(); }) {}
    ~PipeFeeder() {
        {
            const std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }
    PipeFeeder(const PipeFeeder&) = delete;
    PipeFeeder& operator=(const PipeFeeder&) = delete;

    /// Starts writing bytes (which must outlive finish()) to write_end, then closes it.
    void start(FileHandle write_end, const Bytes& bytes) {
        {
            const std::lock_guard lock(mutex_);
            fd_ = std::move(write_end);
            bytes_ = &bytes;
            busy_ = true;
        }
        wake_.notify_all();
    }
    /// Waits until the write is over: all written, or the reader went away (EPIPE).
    void finish() {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return !busy_; });
    }

private:
    void loop() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [this] { return busy_ || stop_; });
            if (!busy_) return;
            FileHandle fd = std::move(fd_);
            const Bytes& bytes = *bytes_;
            lock.unlock();
            std::size_t done = 0;
            while (done < bytes.size()) {
                const ssize_t w = ::write(fd.fd(), bytes.data() + done, bytes.size() - done);
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) break;  // EPIPE: the reader gave up early, which is its right
                done += static_cast<std::size_t>(w);
            }
            fd.reset();  // end of stream
            lock.lock();
            busy_ = false;
            wake_.notify_all();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    FileHandle fd_;                 // guarded by mutex_
    const Bytes* bytes_ = nullptr;  // guarded by mutex_
    bool busy_ = false;             // guarded by mutex_
    bool stop_ = false;             // guarded by mutex_
    std::thread thread_;            // last: starts once the state above exists
};

Outcome verify_stream(const Bytes& bytes) {
    static PipeFeeder feeder;
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) fuzz::fuzz_fail("pipe2 failed", std::strerror(errno));
    FileHandle read_end(ends[0]);
    feeder.start(FileHandle(ends[1]), bytes);
    Outcome outcome = run_one(Operation::kVerify, read_end.fd(), "", secret_for(bytes));
    read_end.reset();  // the last read end: a write still blocked gets EPIPE and ends
    feeder.finish();
    check_run("verify (stream)", outcome);
    return outcome;
}

// Largest single allocation a container may cause: chunk buffers sized by its header's chunk
// size (at most 64 MiB, the format's cap), and footers and records bounded by its length.
std::size_t allocation_cap(const Bytes& bytes) {
    std::size_t chunk_buffers = 0;
    try {
        const Header header = decode_header(bytes.data(), bytes.size());
        chunk_buffers = kRecordHeaderSize + max_stored_size(header.chunk_size, true);
    } catch (const StatusError&) {
    }
    return chunk_buffers + 3 * bytes.size() + 1024 * 1024;
}

// Recomputes the checksums of an unencrypted container (header, root digest, footer) from the
// bytes as they are, leaving everything else to the mutations. Returns false when it does not
// look enough like one, or its chunk size is not one the fix-up lets through.
bool fix_up_checksums(Bytes& bytes) {
    const std::size_t size = bytes.size();
    if (size < kHeaderSize + kFooterPrefixSize + 32 + kTrailerSize) return false;
    std::uint8_t* data = bytes.data();
    Header header;
    try {
        header = decode_header(data, size);
    } catch (const StatusError&) {
        return false;
    }
    if (header.encrypted() || header.chunk_size > kLargestFixedUpChunk ||
        !std::has_single_bit(header.chunk_size)) {
        return false;
    }
    // The header digest covers the stage list too, when the header flags one.
    std::size_t data_offset = kHeaderSize;
    if (header.flags & kHeaderFlagStageList) {
        try {
            data_offset += stage_list_size(data + kHeaderSize);
        } catch (const StatusError&) {
            return false;
        }
        if (data_offset > size) return false;
    }
    const Bytes covered_header =
        header_auth_input(data, data + kHeaderSize, data_offset - kHeaderSize);
    const Digest header_digest = sha256(covered_header.data(), covered_header.size());
    std::memcpy(data + kHeaderAuthOffset, header_digest.data(), header_digest.size());

    const std::uint64_t footer_offset = get_u64(data + size - kTrailerSize);
    const std::uint64_t chunk_count = get_u64(data + size - kTrailerSize + 8);
    const std::uint64_t footer_end = size - kTrailerSize;
    if (footer_offset < data_offset || footer_offset > footer_end ||
        footer_end - footer_offset < kFooterPrefixSize + 32) {
        return true;  // the header is fixed; the footer is for the reader to reject
    }
    std::uint8_t* stored = data + footer_offset + kFooterPrefixSize;
    const auto stored_size =
        static_cast<std::uint32_t>(footer_end - footer_offset - kFooterPrefixSize);
    const std::size_t body_size = stored_size - 32;
    try {
        const FooterBody body = decode_footer_body(stored, body_size, header.hash);
        RootHasher root(header.hash, header_digest);
        std::uint64_t total = 0;
        for (const IndexEntry& e : body.entries) {
            root.add(e.digest);
            total += e.raw_size;
        }
        const Digest digest = root.finish(total);
        std::memcpy(stored + body_size - 32, digest.data(), digest.size());
    } catch (const StatusError&) {
        // An unparseable body still gets a valid checksum, so its parse errors are reached.
    }
    const auto aad = footer_aad(header_digest, stored_size, footer_offset, chunk_count);
    Bytes covered(aad.begin(), aad.end());
    covered.insert(covered.end(), stored, stored + body_size);
    const Digest checksum = sha256(covered.data(), covered.size());
    std::memcpy(stored + body_size, checksum.data(), checksum.size());
    return true;
}

void run_all(const Bytes& bytes) {
    const Outcome verified = verify_file(bytes, secret_for(bytes));
    const Outcome unpacked = unpack_file(bytes);
    const Outcome streamed = verify_stream(bytes);
    // Downgrade protection: a key for a plain container, or none for an encrypted one, is refused.
    const Outcome other = verify_file(bytes, secret_for(bytes, true));
    if (other.status.is_ok() && bytes.size() > 14) {
        fuzz::fuzz_fail("verified with the wrong kind of secret (key or none)");
    }
    // Unpack may fail where verify passed (it also writes: e.g. an mtime the file system refuses),
    // never the reverse. What verifies as a file verifies as a stream. The reverse is not checked:
    // the stream reader compares only the plaintext digests with the footer's index, not each
    // record's sizes and flags, so it accepts some containers the file reader rejects.
    if (unpacked.status.is_ok() && !verified.status.is_ok()) {
        fuzz::fuzz_fail("unpack succeeded where verify failed:", verified.status.message().c_str());
    }
    if (verified.status.is_ok() && !streamed.status.is_ok()) {
        fuzz::fuzz_fail("a file that verifies fails as a stream:",
                        streamed.status.message().c_str());
    }
    if (verified.status.is_ok() &&
        (streamed.plaintext_bytes != verified.plaintext_bytes ||
         (unpacked.status.is_ok() && unpacked.plaintext_bytes != verified.plaintext_bytes))) {
        fuzz::fuzz_fail("file and stream disagree on the plaintext size");
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    // The stream writer may write after the reader gave up: that must be EPIPE, not a signal.
    ::signal(SIGPIPE, SIG_IGN);
    fuzz::AllocationWatch::install();
    (void)scratch_dir();
    std::atexit(remove_scratch_dir);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::AllocationWatch::reset();
    const Bytes bytes(data, data + size);
    run_all(bytes);

    Bytes fixed = bytes;
    if (fix_up_checksums(fixed) && fixed != bytes) run_all(fixed);

    const std::size_t cap = allocation_cap(fixed);
    if (fuzz::AllocationWatch::largest() > std::max(cap, allocation_cap(bytes))) {
        const std::string detail = std::to_string(fuzz::AllocationWatch::largest()) +
                                   " bytes in one allocation for a " + std::to_string(size) +
                                   "-byte input";
        fuzz::fuzz_fail("allocation above the caps:", detail.c_str());
    }
    return 0;
}
