// The kernel's count of bytes a TCP socket received. Its own file: <linux/tcp.h> has the field
// (glibc's <netinet/tcp.h> does not) but clashes with <netinet/tcp.h>, which cpp-httplib includes.
#include "tcp_received.hpp"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

namespace tbbpipe::cli {

std::uint64_t tcp_bytes_received(int fd) {
    struct tcp_info info {};
    socklen_t size = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return 0;
    // Kernels before 4.1 fill less: the field is then 0, and no limit applies.
    return size >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received
               ? info.tcpi_bytes_received
               : 0;
}

}  // namespace tbbpipe::cli
