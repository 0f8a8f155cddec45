// The CLI's HTTP, on cpp-httplib: the /metrics endpoint of --metrics-listen and the client that
// --metrics-push sends through. cpp-httplib's header is included by metrics_http.cpp only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace tbbpipe::cli {

/// Serves GET /metrics on HOST:PORT from construction until destruction. HOST is an IPv4
/// literal, "localhost" (127.0.0.1) or an IPv6 literal in brackets ("[::1]"); PORT 0 picks a free
/// port. A non-loopback address is refused unless allow_any (metrics reveal file sizes and
/// timing). Two threads answer, one connection each at a time, each connection within 2 s (a
/// client trickling its request is dropped); at most 16 accepted connections wait for them.
/// Throws UsageError for a bad or refused address, std::runtime_error when it cannot listen.
/// Thread-safety: construct and destroy on one thread, which returns within about 0.1 s whatever
/// the clients do; render() is called on the answering threads, possibly two at once.
/// @code
///   MetricsHttpServer http("[::1]:0", false, [&] { return to_prometheus_text(engine.metrics());
///   }); std::cerr << http.url() << '\n';  // http://[::1]:41234/metrics
/// @endcode
class MetricsHttpServer {
public:
    MetricsHttpServer(const std::string& address, bool allow_any,
                      std::function<std::string()> render);
    ~MetricsHttpServer();
    MetricsHttpServer(const MetricsHttpServer&) = delete;
    MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

    /// The port listened on (the one chosen, for port 0).
    int port() const;
    /// Where to scrape: "http://127.0.0.1:9100/metrics", "http://[::1]:41234/metrics".
    std::string url() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// PUTs to one HTTP or HTTPS server (certificates checked against the system's CAs, or
/// SSL_CERT_FILE / SSL_CERT_DIR), on a new connection each time, trying each address of its name
/// in turn until one connects.
/// Thread-safety: put() from one thread at a time; abort() from any thread, while a put() runs.
class HttpPutClient {
public:
    /// host: a name or an IP literal (an IPv6 one without brackets).
    HttpPutClient(bool https, const std::string& host, int port);
    ~HttpPutClient();
    HttpPutClient(const HttpPutClient&) = delete;
    HttpPutClient& operator=(const HttpPutClient&) = delete;

    /// PUTs body to path, allowing `limit` for the connection and for each read and write.
    /// Returns "" when the server answered 2xx, else what went wrong, in words.
    std::string put(const std::string& path, const std::string& body,
                    const std::string& content_type, std::chrono::milliseconds limit);
    /// Looks the host's name up now, ahead of the first put() (which otherwise does), waiting at
    /// most `limit` (a lookup still out then goes on by itself; put() waits for it again). Same
    /// thread as put().
    void look_up(std::chrono::milliseconds limit);
    /// Cuts the put() under way: a lookup it waits for, its connection (TLS handshake included)
    /// or its exchange; it fails soon after. A put() still connecting runs until its connection
    /// limit, unless a later abort() catches it connected.
    void abort();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tbbpipe::cli
