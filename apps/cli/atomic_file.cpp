#include "atomic_file.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tbbpipe::cli {

void write_file_atomically(const std::string& path, const std::string& text) {
    const auto slash = path.rfind('/');
    const std::string folder = slash == std::string::npos ? "." : path.substr(0, slash);
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    std::string temp = folder + "/." + name + ".tbbpipe-XXXXXX";
    const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
    if (fd < 0) {
        throw std::runtime_error("cannot create a temporary file in " + folder + ": " +
                                 std::strerror(errno));
    }
    std::size_t done = 0;
    int err = 0;
    while (done < text.size() && err == 0) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n < 0 && errno != EINTR) {
            err = errno;
        }
    }
    if (err == 0 && ::fchmod(fd, 0644) != 0) err = errno;
    if (::close(fd) != 0 && err == 0) err = errno;
    // Rewritten every interval and only a view of the run: atomic, but not worth an fsync.
    if (err == 0 && ::rename(temp.c_str(), path.c_str()) != 0) err = errno;
    if (err != 0) {
        ::unlink(temp.c_str());
        throw std::runtime_error("cannot write: " + std::string(std::strerror(err)));
    }
}

}  // namespace tbbpipe::cli
