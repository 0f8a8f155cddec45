// SharedOutput and place_part (include/tbbpipe/split.hpp): an output several processes write,
// made of the same OutputFile every job output is (jobs/output_file.hpp), so it is hidden, found
// by remove_temporary_outputs(), and renamed into place only when complete.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "core/status_error.hpp"
#include "jobs/file_io.hpp"
#include "jobs/output_file.hpp"
#include "tbbpipe/split.hpp"

namespace tbbpipe {
namespace {

// A failure's status, naming `path` unless its message does already.
Status naming(const std::string& path) {
    Status s = status_from_current_exception();
    if (s.message().find(path) != std::string::npos) return s;
    return {s.code(), path + ": " + s.message()};
}

void pwrite_all(int fd, const std::uint8_t* buf, std::size_t n, std::uint64_t offset) {
    while (n > 0) {
        const ssize_t w = ::pwrite(fd, buf, n, static_cast<off_t>(offset));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) jobs::throw_errno("cannot write", w < 0 ? errno : EIO);
        buf += w;
        n -= static_cast<std::size_t>(w);
        offset += static_cast<std::uint64_t>(w);
    }
}

// What copy_file_range cannot do (across file systems, on some file systems, old kernels) is
// done by reading and writing.
void copy_by_hand(int in, int out, std::uint64_t in_off, std::uint64_t out_off,
                  std::uint64_t remaining) {
    std::vector<std::uint8_t> buf(std::min<std::uint64_t>(remaining, 1u << 20));
    while (remaining > 0) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, buf.size()));
        if (jobs::pread_full(in, buf.data(), n, in_off) != n) {
            throw StatusError(StatusCode::kIoError, "the part shrank while being placed");
        }
        pwrite_all(out, buf.data(), n, out_off);
        in_off += n;
        out_off += n;
        remaining -= n;
    }
}

}  // namespace

struct SharedOutput::Impl {
    std::string path;
    std::unique_ptr<jobs::OutputRoot> root;  // outlives `file`, which checks its folder by it
    std::unique_ptr<jobs::OutputFile> file;  // null once committed or discarded
};

SharedOutput::SharedOutput(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SharedOutput::SharedOutput(SharedOutput&&) noexcept = default;
SharedOutput& SharedOutput::operator=(SharedOutput&&) noexcept = default;
SharedOutput::~SharedOutput() {
    discard();
}

Result<SharedOutput> SharedOutput::create(const std::string& path, bool overwrite, bool durable,
                                          const std::string& output_root) {
    try {
        auto impl = std::make_unique<Impl>();
        impl->path = path;
        jobs::OutputPlace place{nullptr, path, path};
        if (!output_root.empty()) {
            // As plan_run places a job's output below its root: folders made, no link followed.
            const std::size_t skip = output_root.size() + (output_root.back() == '/' ? 0 : 1);
            if (path.size() <= skip || path.compare(0, output_root.size(), output_root) != 0) {
                throw StatusError(StatusCode::kInvalidArgument,
                                  "not below its output folder " + output_root);
            }
            impl->root = std::make_unique<jobs::OutputRoot>(output_root);
            place = {impl->root.get(), path.substr(skip), path};
            const auto slash = place.relative.rfind('/');
            if (slash != std::string::npos)
                impl->root->make_folders(place.relative.substr(0, slash));
        }
        impl->file = std::make_unique<jobs::OutputFile>(place, overwrite, durable);
        if (impl->file->direct()) {
            throw StatusError(StatusCode::kInvalidArgument,
                              "a device or FIFO cannot be written by several processes");
        }
        return SharedOutput(std::move(impl));
    } catch (...) {
        return naming(path);
    }
}

const std::string& SharedOutput::path() const {
    return impl_->path;
}

std::string SharedOutput::temp_path() const {
    return impl_ && impl_->file ? impl_->file->temp_path() : std::string();
}

Status SharedOutput::write_at(std::uint64_t offset, std::span<const std::uint8_t> bytes) {
    if (!impl_ || !impl_->file) return {StatusCode::kFailedPrecondition, "output already done"};
    try {
        pwrite_all(impl_->file->fd(), bytes.data(), bytes.size(), offset);
        return Status::ok();
    } catch (...) {
        return naming(impl_->path);
    }
}

Status SharedOutput::commit(std::uint32_t mode, std::int64_t mtime_sec, std::uint32_t mtime_nsec) {
    if (!impl_ || !impl_->file) return {StatusCode::kFailedPrecondition, "output already done"};
    try {
        impl_->file->set_metadata(mode, mtime_sec, mtime_nsec);
        impl_->file->commit();  // fsync when durable, the rename, the folder's fsync
        impl_->file.reset();
        return Status::ok();
    } catch (...) {
        Status s = naming(impl_->path);
        discard();
        return s;
    }
}

void SharedOutput::discard() noexcept {
    if (!impl_ || !impl_->file) return;
    impl_->file->discard();
    impl_->file.reset();
}

Status place_part(const std::string& part_path, const std::string& container_path,
                  std::uint64_t offset) {
    try {
        struct stat st {};
        jobs::FileHandle in = jobs::open_input(part_path, true, &st);
        jobs::FileHandle out(::open(container_path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!out.valid()) jobs::throw_errno(container_path + ": cannot open", errno);
        auto in_off = static_cast<loff_t>(0);
        auto out_off = static_cast<loff_t>(offset);
        auto remaining = static_cast<std::uint64_t>(st.st_size);
        while (remaining > 0) {
            // In the kernel, and on file systems that can, by sharing extents (no copy at all).
            const ssize_t n = ::copy_file_range(in.fd(), &in_off, out.fd(), &out_off,
                                                static_cast<std::size_t>(remaining), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                          errno == EOPNOTSUPP || errno == EBADF)) {
                copy_by_hand(in.fd(), out.fd(), static_cast<std::uint64_t>(in_off),
                             static_cast<std::uint64_t>(out_off), remaining);
                break;
            }
            if (n < 0) jobs::throw_errno(container_path + ": cannot copy into", errno);
            if (n == 0)
                throw StatusError(StatusCode::kIoError, "the part shrank while being placed");
            remaining -= static_cast<std::uint64_t>(n);
        }
        if (::unlink(part_path.c_str()) != 0) jobs::throw_errno("cannot remove", errno);
        return Status::ok();
    } catch (...) {
        return naming(part_path);
    }
}

}  // namespace tbbpipe
