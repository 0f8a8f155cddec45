// tcp_bytes_received: how much a TCP socket has received so far (TCP_INFO), 0 if unknown.
#pragma once

#include <cstdint>

namespace tbbpipe::cli {

std::uint64_t tcp_bytes_received(int fd);

}  // namespace tbbpipe::cli
