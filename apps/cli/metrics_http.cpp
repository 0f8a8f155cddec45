#include "metrics_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "cli_options.hpp"

namespace tbbpipe::cli {
namespace {

constexpr int kPollMs = 100;  // how often every wait checks for shutdown
constexpr auto kRequestDeadline = std::chrono::seconds(2);  // whole request head, not per read

// Sends within the socket's send timeout (set on accept); a client that stops reading is dropped.
void send_all(int fd, const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
        const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            return;  // the client went away: nothing to do
        }
        sent += static_cast<std::size_t>(n);
    }
}

}  // namespace

MetricsHttpServer::MetricsHttpServer(const std::string& address, bool allow_any,
                                     std::function<std::string()> render)
    : render_(std::move(render)) {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) throw UsageError("--metrics-listen needs HOST:PORT");
    std::string host = address.substr(0, colon);
    const std::string port_text = address.substr(colon + 1);
    if (host == "localhost") host = "127.0.0.1";
    in_addr ip{};
    if (::inet_pton(AF_INET, host.c_str(), &ip) != 1) {
        throw UsageError("--metrics-listen: '" + host + "' is not an IPv4 address");
    }
    char* end = nullptr;
    const long port = std::strtol(port_text.c_str(), &end, 10);
    if (port_text.empty() || *end != '\0' || port < 0 || port > 65535) {
        throw UsageError("--metrics-listen: bad port '" + port_text + "'");
    }
    const bool loopback = (ntohl(ip.s_addr) >> 24) == 127;
    if (!loopback && !allow_any) {
        throw UsageError("--metrics-listen " + address +
                         " is not a loopback address (add --metrics-listen-any to allow it)");
    }
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr = ip;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(listen_fd_, 16) != 0) {
        const int err = errno;
        ::close(listen_fd_);
        throw std::runtime_error("cannot listen on " + address + ": " + std::strerror(err));
    }
    socklen_t len = sizeof sa;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    try {
        thread_ = std::thread([this] { serve(); });
    } catch (...) {
        ::close(listen_fd_);
        throw;
    }
}

MetricsHttpServer::~MetricsHttpServer() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);  // wakes a poll on the listening socket at once
    thread_.join();
    ::close(listen_fd_);  // from here on connections are refused: the endpoint is gone
}

void MetricsHttpServer::serve() {
    pollfd p{listen_fd_, POLLIN, 0};
    while (!stop_) {
        if (::poll(&p, 1, kPollMs) <= 0) continue;
        const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        const timeval send_timeout{2, 0};
        ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
        try {
            answer(client);
        } catch (...) {
            // Rendering failed (out of memory): tell the client, keep serving.
            send_all(client,
                     "HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
        }
        ::close(client);
    }
}

void MetricsHttpServer::answer(int client) {
    std::string request;
    char buf[1024];
    pollfd p{client, POLLIN, 0};
    // Read the request head, bounded in size and in total time (a client trickling bytes cannot
    // hold the server), and give up at once when the run ends.
    const auto deadline = std::chrono::steady_clock::now() + kRequestDeadline;
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
        if (stop_ || std::chrono::steady_clock::now() >= deadline) return;
        const int ready = ::poll(&p, 1, kPollMs);
        if (ready < 0 && errno != EINTR) return;
        if (ready <= 0) continue;
        const ssize_t n = ::recv(client, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
    }
    const bool metrics =
        request.rfind("GET /metrics ", 0) == 0 || request.rfind("GET /metrics?", 0) == 0;
    if (!metrics) {
        send_all(client,
                 "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
                 "Connection: close\r\n\r\nnot found\n");
        return;
    }
    const std::string body = render_();
    send_all(client,
             "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
             "Content-Length: " +
                 std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

}  // namespace tbbpipe::cli
