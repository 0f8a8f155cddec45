// MetricsHttpServer: a minimal HTTP/1.0 endpoint that serves GET /metrics during a run.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace tbbpipe::cli {

/// Listens on HOST:PORT (HOST an IPv4 literal or "localhost"; PORT 0 picks a free port) from
/// construction until destruction, answering each connection on its own thread, one at a time.
/// Refuses a non-loopback address unless allow_any (metrics can reveal file sizes and timing).
/// Throws UsageError for a bad or refused address, std::runtime_error when it cannot listen.
/// Thread-safety: construct and destroy on one thread; render() is called on the server thread.
class MetricsHttpServer {
public:
    MetricsHttpServer(const std::string& address, bool allow_any,
                      std::function<std::string()> render);
    ~MetricsHttpServer();
    MetricsHttpServer(const MetricsHttpServer&) = delete;
    MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

    int port() const { return port_; }

private:
    void serve();
    void answer(int client);

    std::function<std::string()> render_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace tbbpipe::cli
