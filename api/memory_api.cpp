// pack_bytes / unpack_bytes / pack_stream / unpack_stream (include/tbbpipe/memory.hpp).
//
// The engine reads and writes file descriptors; here they are memory files (memfd) for byte
// spans and pipes fed by helper threads for streams, so the same graph runs, in parallel, with
// the same checks as for files.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <istream>
#include <ostream>
#include <thread>

#include "api/job_checks.hpp"
#include "core/status_error.hpp"
#include "jobs/file_io.hpp"
#include "jobs/job_runner.hpp"
#include "tbbpipe/memory.hpp"

namespace tbbpipe {

namespace {

Status errno_status(const std::string& what) {
    return {status_code_from_errno(errno), what + ": " + std::strerror(errno)};
}

jobs::FileHandle memory_file(const char* name) {
    return jobs::FileHandle(::memfd_create(name, MFD_CLOEXEC));
}

// A job of one file between two descriptors.
Job one_file_job(Operation op, int input_fd, int output_fd, const PackOptions* options,
                 const Secret& secret) {
    Job job;
    job.operation = op;
    Job::File file("(memory)", "(memory)");
    file.input_fd = input_fd;
    file.output_fd = output_fd;
    file.store_metadata = false;  // a memory file or a pipe has no name, mode or time to keep
    job.files.push_back(std::move(file));
    if (options) job.pack = *options;
    job.secret = secret;
    job.overwrite = true;
    return job;
}

// The checks Engine::submit makes, before anything is read from the caller's input.
Status check(Operation op, const PackOptions* options, const Secret& secret,
             const EngineConfig& config) {
    return validate_job(one_file_job(op, -1, -1, options, secret), config);
}

// One job of one file through a short-lived runner; the status names no path (there is none).
// Memory and pipes have nothing to flush to disk.
Result<std::uint64_t> run_one(Operation op, int input_fd, int output_fd, const PackOptions* options,
                              const Secret& secret, const EngineConfig& config) {
    const Job job = one_file_job(op, input_fd, output_fd, options, secret);
    EngineConfig unsynced = config;
    unsynced.commit.durable = false;
    jobs::JobRunner runner(unsynced, nullptr, nullptr);
    const JobResult r = runner.run(job);
    const FileResult& f = r.files.front();
    if (!f.status.is_ok()) return f.status;
    return f.bytes_out;
}

Result<std::vector<std::uint8_t>> through_memory(Operation op, std::span<const std::uint8_t> data,
                                                 const PackOptions* options, const Secret& secret,
                                                 const EngineConfig& config) {
    if (Status s = check(op, options, secret, config); !s.is_ok()) return s;
    try {
        jobs::FileHandle in = memory_file("tbbpipe-in");
        jobs::FileHandle out = memory_file("tbbpipe-out");
        if (!in.valid() || !out.valid()) return errno_status("memfd_create");
        jobs::write_full(in.fd(), data.data(), data.size(), "memory input");
        Result<std::uint64_t> written = run_one(op, in.fd(), out.fd(), options, secret, config);
        if (!written.ok()) return written.status();
        struct stat st {};
        if (::fstat(out.fd(), &st) != 0) return errno_status("memory output");
        std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
        if (jobs::pread_full(out.fd(), bytes.data(), bytes.size(), 0) != bytes.size()) {
            return Status{StatusCode::kIoError, "memory output shrank"};
        }
        return bytes;
    } catch (...) {
        return status_from_current_exception();  // nothing crosses the library's boundary
    }
}

// Copies `in` into a pipe's write end on its own thread until EOF, forwarding whatever is
// available at once (a socket-like stream must not be made to fill 64 KiB first). SIGPIPE is
// blocked on this thread, so an engine that stopped reading means EPIPE here, not the end of
// the process. *failed: the stream failed before its end (or threw).
std::thread feed(std::istream& in, jobs::FileHandle write_end, std::atomic<bool>* failed) {
    return std::thread([&in, fd = std::move(write_end), failed]() mutable {
        sigset_t pipe_signal;
        sigemptyset(&pipe_signal);
        sigaddset(&pipe_signal, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
        char buf[64 * 1024];
        try {
            for (;;) {
                const int first = in.get();  // waits for at least one byte, or the end
                if (first == std::char_traits<char>::eof()) break;
                buf[0] = static_cast<char>(first);
                const std::streamsize more = in.readsome(buf + 1, sizeof buf - 1);
                jobs::write_full(fd.fd(), reinterpret_cast<const std::uint8_t*>(buf),
                                 static_cast<std::size_t>(1 + std::max<std::streamsize>(0, more)),
                                 "stream input");
            }
            if (in.bad() || !in.eof()) failed->store(true);
        } catch (const StatusError&) {
            // The engine stopped reading (EPIPE): it reports why.
        } catch (const std::ios_base::failure&) {
            // With exceptions(failbit) set, reaching the end throws too: only a real failure
            // (badbit, or failing before the end) counts.
            if (in.bad() || !in.eof()) failed->store(true);
        } catch (...) {
            failed->store(true);  // the stream threw (exceptions() set)
        }
    });
}

// Copies a pipe's read end into `out` until EOF. If `out` fails it keeps reading (and drops the
// bytes), so the engine's writer is never left blocked on a full pipe.
std::thread drain(std::ostream& out, jobs::FileHandle read_end, std::atomic<bool>* failed) {
    return std::thread([&out, fd = std::move(read_end), failed] {
        char buf[64 * 1024];
        for (;;) {
            const ssize_t n = ::read(fd.fd(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            if (failed->load()) continue;
            try {
                out.write(buf, n);
                if (!out) failed->store(true);
            } catch (...) {
                failed->store(true);
            }
        }
    });
}

// Ends the helper threads on every path out of through_pipes: closing the engine's ends of the
// pipes first (the feeder then gets EPIPE, the drainer EOF), then joining.
struct Joiner {
    jobs::FileHandle* in_read;
    jobs::FileHandle* out_write;
    std::thread* feeder;
    std::thread* drainer;
    ~Joiner() {
        in_read->reset();
        out_write->reset();
        if (feeder->joinable()) feeder->join();
        if (drainer->joinable()) drainer->join();
    }
};

Result<std::uint64_t> through_pipes(Operation op, std::istream& in, std::ostream& out,
                                    const PackOptions* options, const Secret& secret,
                                    const EngineConfig& config) {
    if (Status s = check(op, options, secret, config); !s.is_ok()) return s;
    if (!in.good()) return Status{StatusCode::kIoError, "the input stream is not readable"};
    try {
        int in_pipe[2];
        int out_pipe[2];
        if (::pipe2(in_pipe, O_CLOEXEC) != 0) return errno_status("pipe");
        jobs::FileHandle in_read(in_pipe[0]);
        jobs::FileHandle in_write(in_pipe[1]);
        if (::pipe2(out_pipe, O_CLOEXEC) != 0) return errno_status("pipe");
        jobs::FileHandle out_read(out_pipe[0]);
        jobs::FileHandle out_write(out_pipe[1]);

        std::atomic<bool> in_failed{false};
        std::atomic<bool> out_failed{false};
        std::thread feeder;
        std::thread drainer;
        Result<std::uint64_t> r = Status{StatusCode::kInternal, "not run"};
        {
            Joiner joiner{&in_read, &out_write, &feeder, &drainer};
            feeder = feed(in, std::move(in_write), &in_failed);
            drainer = drain(out, std::move(out_read), &out_failed);
            try {
                r = run_one(op, in_read.fd(), out_write.fd(), options, secret, config);
            } catch (...) {
                r = status_from_current_exception();
            }
        }  // the joiner ends both threads here
        if (in_failed.load()) return Status{StatusCode::kIoError, "the input stream failed"};
        if (r.ok() && out_failed.load()) {
            return Status{StatusCode::kIoError, "the output stream failed"};
        }
        return r;
    } catch (...) {
        return status_from_current_exception();
    }
}

}  // namespace

Result<std::vector<std::uint8_t>> pack_bytes(std::span<const std::uint8_t> data,
                                             const PackOptions& options, const Secret& secret,
                                             const EngineConfig& config) {
    return through_memory(Operation::kPack, data, &options, secret, config);
}

Result<std::vector<std::uint8_t>> unpack_bytes(std::span<const std::uint8_t> container,
                                               const Secret& secret, const EngineConfig& config) {
    return through_memory(Operation::kUnpack, container, nullptr, secret, config);
}

Result<std::uint64_t> pack_stream(std::istream& in, std::ostream& out, const PackOptions& options,
                                  const Secret& secret, const EngineConfig& config) {
    return through_pipes(Operation::kPack, in, out, &options, secret, config);
}

Result<std::uint64_t> unpack_stream(std::istream& in, std::ostream& out, const Secret& secret,
                                    const EngineConfig& config) {
    return through_pipes(Operation::kUnpack, in, out, nullptr, secret, config);
}

}  // namespace tbbpipe
