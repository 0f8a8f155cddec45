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

#include "nodes/api_bridge.hpp"
#include "nodes/container_jobs.hpp"
#include "nodes/file_io.hpp"
#include "tbbpipe/memory.hpp"

namespace tbbpipe {

namespace {

Status errno_status(const std::string& what) {
    return {status_code_from_errno(errno), what + ": " + std::strerror(errno)};
}

std::string fd_path(int fd) {
    return "/proc/self/fd/" + std::to_string(fd);
}

nodes::FileHandle memory_file(const char* name) {
    return nodes::FileHandle(::memfd_create(name, MFD_CLOEXEC));
}

nodes::EngineSettings settings_for(const EngineConfig& c) {
    nodes::EngineSettings s = engine_settings_for(c);
    s.durable = false;  // memory and pipes: nothing to flush
    return s;
}

// One batch of one file through a short-lived engine; the status names no path (there is none).
Result<std::uint64_t> run_one(nodes::BatchOp op, const std::string& input, int output_fd,
                              const PackOptions* options, const Secret& secret,
                              const EngineConfig& config) {
    nodes::ContainerJobs jobs(settings_for(config), nullptr);
    nodes::BatchFile file{input, "(memory)", output_fd, true};
    const nodes::BatchResult r =
        jobs.run_batch(op, {file}, options ? pack_settings_for(*options) : nodes::PackSettings{},
                       user_secret(secret), true);
    const nodes::FileOutcome& o = r.files.front();
    if (!o.status.is_ok()) return o.status;
    return o.bytes_out;
}

// The checks Engine::submit makes, for the calls that bypass it.
Status check(const PackOptions* options, const Secret& secret, const EngineConfig& config) {
    return options ? validate_pack_options(*options, secret, config.stages)
                   : validate_secret(secret);
}

Result<std::vector<std::uint8_t>> through_memory(nodes::BatchOp op,
                                                 std::span<const std::uint8_t> data,
                                                 const PackOptions* options, const Secret& secret,
                                                 const EngineConfig& config) {
    if (Status s = check(options, secret, config); !s.is_ok()) return s;
    try {
        nodes::FileHandle in = memory_file("tbbpipe-in");
        nodes::FileHandle out = memory_file("tbbpipe-out");
        if (!in.valid() || !out.valid()) return errno_status("memfd_create");
        nodes::write_full(in.fd(), data.data(), data.size(), "memory input");
        Result<std::uint64_t> written =
            run_one(op, fd_path(in.fd()), out.fd(), options, secret, config);
        if (!written.ok()) return written.status();
        struct stat st {};
        if (::fstat(out.fd(), &st) != 0) return errno_status("memory output");
        std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
        if (nodes::pread_full(out.fd(), bytes.data(), bytes.size(), 0) != bytes.size()) {
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
std::thread feed(std::istream& in, nodes::FileHandle write_end, std::atomic<bool>* failed) {
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
                nodes::write_full(fd.fd(), reinterpret_cast<const std::uint8_t*>(buf),
                                  static_cast<std::size_t>(1 + std::max<std::streamsize>(0, more)),
                                  "stream input");
            }
            if (in.bad() || !in.eof()) failed->store(true);
        } catch (const PipelineError&) {
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
std::thread drain(std::ostream& out, nodes::FileHandle read_end, std::atomic<bool>* failed) {
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
    nodes::FileHandle* in_read;
    nodes::FileHandle* out_write;
    std::thread* feeder;
    std::thread* drainer;
    ~Joiner() {
        in_read->reset();
        out_write->reset();
        if (feeder->joinable()) feeder->join();
        if (drainer->joinable()) drainer->join();
    }
};

Result<std::uint64_t> through_pipes(nodes::BatchOp op, std::istream& in, std::ostream& out,
                                    const PackOptions* options, const Secret& secret,
                                    const EngineConfig& config) {
    if (Status s = check(options, secret, config); !s.is_ok()) return s;
    if (!in.good()) return Status{StatusCode::kIoError, "the input stream is not readable"};
    try {
        int in_pipe[2];
        int out_pipe[2];
        if (::pipe2(in_pipe, O_CLOEXEC) != 0) return errno_status("pipe");
        nodes::FileHandle in_read(in_pipe[0]);
        nodes::FileHandle in_write(in_pipe[1]);
        if (::pipe2(out_pipe, O_CLOEXEC) != 0) return errno_status("pipe");
        nodes::FileHandle out_read(out_pipe[0]);
        nodes::FileHandle out_write(out_pipe[1]);

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
                r = run_one(op, fd_path(in_read.fd()), out_write.fd(), options, secret, config);
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
    return through_memory(nodes::BatchOp::kPack, data, &options, secret, config);
}

Result<std::vector<std::uint8_t>> unpack_bytes(std::span<const std::uint8_t> container,
                                               const Secret& secret, const EngineConfig& config) {
    return through_memory(nodes::BatchOp::kUnpack, container, nullptr, secret, config);
}

Result<std::uint64_t> pack_stream(std::istream& in, std::ostream& out, const PackOptions& options,
                                  const Secret& secret, const EngineConfig& config) {
    return through_pipes(nodes::BatchOp::kPack, in, out, &options, secret, config);
}

Result<std::uint64_t> unpack_stream(std::istream& in, std::ostream& out, const Secret& secret,
                                    const EngineConfig& config) {
    return through_pipes(nodes::BatchOp::kUnpack, in, out, nullptr, secret, config);
}

}  // namespace tbbpipe
