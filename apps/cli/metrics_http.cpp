// The one file that includes cpp-httplib. Debian's libcpp-httplib is a compiled library built
// with OpenSSL, zlib and brotli: its class layouts depend on those macros, so this file is built
// with the package's own flags (pkg-config cpp-httplib, apps/CMakeLists.txt).
#include "metrics_http.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cli_options.hpp"
#include "tcp_received.hpp"

namespace tbbpipe::cli {
namespace {

constexpr auto kConnectionDeadline = std::chrono::seconds(2);  // a request and its answer
constexpr auto kPollSlice = std::chrono::milliseconds(50);     // how often a wait checks stop
constexpr std::size_t kAnswerThreads = 2;
constexpr std::size_t kWaitingConnections = 16;
constexpr const char* kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";

// Debian's cpp-httplib sends without MSG_NOSIGNAL (and OpenSSL writes plainly): a peer that went
// away would raise SIGPIPE and end the process. Blocked in the threads that send, the signal a
// send raises stays pending on that thread and the send fails with EPIPE instead.
void block_sigpipe() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

struct ListenAddress {
    std::string host;  // an IP literal, IPv6 without brackets
    bool ipv6 = false;
    int port = 0;
};

ListenAddress parse_listen_address(const std::string& address, bool allow_any) {
    ListenAddress where;
    std::string port_text;
    if (!address.empty() && address.front() == '[') {
        const auto close = address.find(']');
        if (close == std::string::npos || address.compare(close + 1, 1, ":") != 0) {
            throw UsageError("--metrics-listen needs [IPv6]:PORT, e.g. [::1]:9100, not '" +
                             address + "'");
        }
        where.host = address.substr(1, close - 1);
        where.ipv6 = true;
        port_text = address.substr(close + 2);
    } else {
        const auto colon = address.rfind(':');
        if (colon == std::string::npos) throw UsageError("--metrics-listen needs HOST:PORT");
        where.host = address.substr(0, colon);
        port_text = address.substr(colon + 1);
        if (where.host.find(':') != std::string::npos) {
            throw UsageError("--metrics-listen: write an IPv6 address in brackets, e.g. [::1]:" +
                             port_text);
        }
        if (where.host == "localhost") where.host = "127.0.0.1";
    }
    bool loopback = false;
    if (where.ipv6) {
        in6_addr ip{};
        if (::inet_pton(AF_INET6, where.host.c_str(), &ip) != 1) {
            throw UsageError("--metrics-listen: '" + where.host + "' is not an IPv6 address");
        }
        loopback =
            IN6_IS_ADDR_LOOPBACK(&ip) || (IN6_IS_ADDR_V4MAPPED(&ip) && ip.s6_addr[12] == 127);
    } else {
        in_addr ip{};
        if (::inet_pton(AF_INET, where.host.c_str(), &ip) != 1) {
            throw UsageError("--metrics-listen: '" + where.host +
                             "' is not an IP address (use 127.0.0.1, localhost or [::1])");
        }
        loopback = (ntohl(ip.s_addr) >> 24) == 127;
    }
    char* end = nullptr;
    const long port = std::strtol(port_text.c_str(), &end, 10);
    if (port_text.empty() || *end != '\0' || port < 0 || port > 65535) {
        throw UsageError("--metrics-listen: bad port '" + port_text + "'");
    }
    where.port = static_cast<int>(port);
    if (!loopback && !allow_any) {
        throw UsageError("--metrics-listen " + address +
                         " is not a loopback address (add --metrics-listen-any to allow it)");
    }
    return where;
}

// One accepted connection as cpp-httplib reads and writes it: every wait ends at the
// connection's deadline or when the server stops, so no client holds a thread for longer.
class DeadlineStream final : public httplib::Stream {
public:
    DeadlineStream(int fd, const std::atomic<bool>& stopping,
                   std::chrono::steady_clock::time_point deadline)
        : fd_(fd), stopping_(stopping), deadline_(deadline) {}

    bool is_readable() const override { return wait(POLLIN); }
    bool is_writable() const override { return wait(POLLOUT); }
    ssize_t read(char* ptr, size_t size) override {
        if (!wait(POLLIN)) return -1;
        ssize_t n = 0;
        do {
            n = ::recv(fd_, ptr, size, 0);
        } while (n < 0 && errno == EINTR);
        return n;
    }
    ssize_t write(const char* ptr, size_t size) override {
        if (!wait(POLLOUT)) return -1;
        ssize_t n = 0;
        do {
            n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
        return n;
    }
    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        address_of(::getpeername, ip, port);
    }
    void get_local_ip_and_port(std::string& ip, int& port) const override {
        address_of(::getsockname, ip, port);
    }
    ::socket_t socket() const override { return fd_; }

private:
    bool wait(short events) const {
        pollfd p{fd_, events, 0};
        for (;;) {
            if (stopping_.load(std::memory_order_relaxed)) return false;
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline_ - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            const int ready = ::poll(&p, 1, static_cast<int>(std::min(left, kPollSlice).count()));
            if (ready > 0) return true;  // POLLHUP/POLLERR too: the read or write then says so
            if (ready < 0 && errno != EINTR) return false;
        }
    }
    void address_of(int (*query)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
        sockaddr_storage sa{};
        socklen_t len = sizeof sa;
        ip.clear();
        port = 0;
        if (query(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return;
        char text[INET6_ADDRSTRLEN] = {};
        if (sa.ss_family == AF_INET) {
            const auto* v4 = reinterpret_cast<const sockaddr_in*>(&sa);
            ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
            port = ntohs(v4->sin_port);
        } else if (sa.ss_family == AF_INET6) {
            const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&sa);
            ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
            port = ntohs(v6->sin6_port);
        }
        ip = text;
    }

    const int fd_;
    const std::atomic<bool>& stopping_;
    const std::chrono::steady_clock::time_point deadline_;
};

// cpp-httplib's own pool queues accepted connections without limit; here the accepting thread
// waits while kWaitingConnections do (each is answered or dropped within its deadline).
class BoundedAnswerQueue final : public httplib::TaskQueue {
public:
    BoundedAnswerQueue() {
        try {
            for (std::size_t i = 0; i < kAnswerThreads; ++i)
                threads_.emplace_back([this] { work(); });
        } catch (...) {
            shutdown();
            throw;
        }
    }
    // If the library drops the queue without shutdown() (an exception while it queued a
    // connection), the workers must still end before their state goes.
    ~BoundedAnswerQueue() override {
        if (!threads_.empty()) shutdown();
    }
    void enqueue(std::function<void()> fn) override {
        std::unique_lock lock(mutex_);
        room_.wait(lock, [&] { return jobs_.size() < kWaitingConnections; });
        jobs_.push_back(std::move(fn));
        lock.unlock();
        ready_.notify_one();
    }
    // Called by the accepting thread once it stopped accepting: the workers drain what is queued
    // (quickly, the server is stopping) and end.
    void shutdown() override {
        {
            std::lock_guard lock(mutex_);
            closing_ = true;
        }
        ready_.notify_all();
        for (std::thread& t : threads_) t.join();
        threads_.clear();
    }

private:
    void work() {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock lock(mutex_);
                ready_.wait(lock, [&] { return closing_ || !jobs_.empty(); });
                if (jobs_.empty()) return;
                job = std::move(jobs_.front());
                jobs_.pop_front();
            }
            room_.notify_one();
            job();  // no lock held: answering renders the metrics
        }
    }

    std::mutex mutex_;
    std::condition_variable ready_;           // a job or closing_
    std::condition_variable room_;            // jobs_ below its bound
    std::deque<std::function<void()>> jobs_;  // guarded by mutex_
    bool closing_ = false;                    // guarded by mutex_
    std::vector<std::thread> threads_;
};

// cpp-httplib parses, routes and answers; this class owns the sockets it does so on:
// process_and_close_socket is the library's hook for that (its SSLServer uses it too).
class DeadlineServer final : public httplib::Server {
public:
    explicit DeadlineServer(const std::atomic<bool>& stopping) : stopping_(stopping) {}

    // For a bound socket that will never be listened on (the listening thread did not start).
    void close_unused() {
        const ::socket_t sock = svr_sock_.exchange(INVALID_SOCKET);
        if (sock != INVALID_SOCKET) ::close(sock);
    }

private:
    bool process_and_close_socket(::socket_t sock) override {
        try {
            DeadlineStream stream(sock, stopping_,
                                  std::chrono::steady_clock::now() + kConnectionDeadline);
            bool closed = false;
            process_request(stream, /*close_connection=*/true, closed, [](httplib::Request&) {});
        } catch (...) {
            // Out of memory while answering: the client sees the connection close.
        }
        ::shutdown(sock, SHUT_RDWR);
        ::close(sock);
        return true;
    }

    const std::atomic<bool>& stopping_;
};

}  // namespace

struct MetricsHttpServer::Impl {
    explicit Impl(std::function<std::string()> r) : render(std::move(r)) {}

    const std::function<std::string()> render;
    std::atomic<bool> stopping{false};  // relaxed: a flag polled by the answering threads
    DeadlineServer server{stopping};
    std::atomic<bool> listen_done{false};
    int port = 0;
    std::string url;
    std::thread thread;
};

MetricsHttpServer::MetricsHttpServer(const std::string& address, bool allow_any,
                                     std::function<std::string()> render)
    : impl_(std::make_unique<Impl>(std::move(render))) {
    const ListenAddress where = parse_listen_address(address, allow_any);
    Impl& s = *impl_;
    s.server.new_task_queue = [] { return new BoundedAnswerQueue(); };
    s.server.Get("/metrics", [&s](const httplib::Request&, httplib::Response& response) {
        response.set_content(s.render(), kPrometheusText);
    });
    // Only GET /metrics is served, and no request carries a body: cpp-httplib would otherwise read
    // (and inflate) the body of a PUT or POST to any path into memory before routing it.
    s.server.set_payload_max_length(0);
    s.server.set_pre_routing_handler(
        [](const httplib::Request& request, httplib::Response& response) {
            if (request.method == "GET" && request.path == "/metrics") {
                return httplib::Server::HandlerResponse::Unhandled;
            }
            response.status = request.path == "/metrics" ? 405 : 404;
            return httplib::Server::HandlerResponse::Handled;
        });
    s.server.set_address_family(where.ipv6 ? AF_INET6 : AF_INET);
    errno = 0;
    s.port = where.port == 0 ? s.server.bind_to_any_port(where.host)
                             : (s.server.bind_to_port(where.host, where.port) ? where.port : -1);
    if (s.port <= 0) {
        const int err = errno;
        throw std::runtime_error("cannot listen on " + address +
                                 (err != 0 ? std::string(": ") + std::strerror(err) : ""));
    }
    s.url = "http://" + (where.ipv6 ? "[" + where.host + "]" : where.host) + ":" +
            std::to_string(s.port) + "/metrics";
    try {
        s.thread = std::thread([&s] {
            block_sigpipe();  // inherited by the answering threads, started from this one
            try {
                s.server.listen_after_bind();
            } catch (...) {
                // No thread for answering: the endpoint is gone, the run goes on.
            }
            s.listen_done = true;
        });
    } catch (...) {
        s.server.close_unused();
        throw;
    }
}

MetricsHttpServer::~MetricsHttpServer() {
    Impl& s = *impl_;
    s.stopping = true;  // connections being answered give up at their next wait
    // stop() does nothing until the listening thread has marked the server running.
    while (!s.listen_done) {
        if (s.server.is_running()) {
            s.server.stop();  // closes the listening socket: from here connections are refused
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    s.thread.join();
}

int MetricsHttpServer::port() const {
    return impl_->port;
}

std::string MetricsHttpServer::url() const {
    return impl_->url;
}

namespace {

std::string seconds_text(std::chrono::milliseconds limit) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(limit.count()) / 1000.0);
    return text;
}

std::string describe(httplib::Error error, std::chrono::milliseconds limit) {
    using httplib::Error;
    switch (error) {
        case Error::Connection: return "cannot connect (nothing listening there, or unreachable)";
        case Error::ConnectionTimeout: return "no connection within " + seconds_text(limit);
        case Error::Read: return "no answer within " + seconds_text(limit);
        case Error::Write: return "could not send the metrics";
        case Error::Canceled: return "cancelled";
        case Error::SSLConnection: return "TLS handshake failed";
        case Error::SSLLoadingCerts: return "cannot load the CA certificates";
        case Error::SSLServerVerification:
            return "the server's certificate is not trusted (SSL_CERT_FILE can name its CA)";
        default: return httplib::to_string(error);
    }
}

// The addresses of host, as numeric strings, in getaddrinfo's order; empty and `error` set if
// there are none.
std::vector<std::string> resolve(const std::string& host, std::string& error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int failed = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
    std::vector<std::string> addresses;
    if (failed != 0) {
        error = "cannot resolve " + host + ": " + ::gai_strerror(failed);
        return addresses;
    }
    for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN] = {};
        const void* ip = a->ai_family == AF_INET6
                             ? static_cast<const void*>(
                                   &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr)
                             : &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr;
        if (::inet_ntop(a->ai_family, ip, text, sizeof text) != nullptr &&
            std::find(addresses.begin(), addresses.end(), text) == addresses.end()) {
            addresses.emplace_back(text);
        }
    }
    ::freeaddrinfo(found);
    if (addresses.empty()) error = "cannot resolve " + host;
    return addresses;
}

// One name lookup on a thread of its own: getaddrinfo cannot be interrupted, so a caller waits
// for it only until its limit or a cut and then leaves it behind. The thread touches nothing
// but this shared state, and a client starts no second lookup while one is still out.
struct Lookup {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;                   // guarded by mutex
    std::vector<std::string> addresses;  // guarded by mutex
    std::string error;                   // guarded by mutex
};

std::shared_ptr<Lookup> start_lookup(const std::string& host) {
    auto lookup = std::make_shared<Lookup>();
    std::thread([lookup, host] {
        std::string error;
        std::vector<std::string> addresses = resolve(host, error);
        std::lock_guard lock(lookup->mutex);
        lookup->addresses = std::move(addresses);
        lookup->error = std::move(error);
        lookup->done = true;
        lookup->done_cv.notify_all();
    }).detach();
    return lookup;
}

// Keeps the first bytes of an answer and stops reading after a few KiB: a gateway's answer is a
// status and a line at most, and a hostile one must not fill memory.
constexpr std::size_t kAnswerKept = 512;
constexpr std::size_t kAnswerRead = std::size_t{16} << 10;
constexpr std::uint64_t kAnswerBytes = std::uint64_t{64}
                                       << 10;  // the whole answer, headers and TLS included
constexpr auto kWatchSlice = std::chrono::milliseconds(5);

}  // namespace

struct HttpPutClient::Impl {
    std::unique_ptr<httplib::ClientImpl> client;
    std::string host;
    std::string host_header;
    std::vector<std::string> addresses;  // looked up once, again when none answered
    std::shared_ptr<Lookup> lookup;      // the lookup under way, if one is

    // abort() cuts the socket of the put() under way through a duplicate of its descriptor,
    // taken when cpp-httplib creates it: shutdown() acts on the socket, so this reaches a TLS
    // handshake too (cpp-httplib's own stop() waits for a lock its handshake holds), and the
    // duplicate cannot be reused for another file while we hold it.
    std::mutex cut_mutex;
    int socket_copy = -1;  // guarded by cut_mutex
    bool cut = false;      // guarded by cut_mutex: abort() was called during this put()

    void take_socket(int sock) {
        std::lock_guard lock(cut_mutex);
        if (socket_copy >= 0) ::close(socket_copy);
        socket_copy = ::fcntl(sock, F_DUPFD_CLOEXEC, 0);
        if (cut && socket_copy >= 0) ::shutdown(socket_copy, SHUT_RDWR);
    }
    void begin_put() {
        std::lock_guard lock(cut_mutex);
        cut = false;
    }
    void end_put() {
        std::lock_guard lock(cut_mutex);
        if (socket_copy >= 0) ::close(socket_copy);
        socket_copy = -1;
    }
    bool was_cut() {
        std::lock_guard lock(cut_mutex);
        return cut;
    }
    // What the current connection has received so far, as the kernel counts it.
    std::uint64_t bytes_received() {
        std::lock_guard lock(cut_mutex);
        return socket_copy < 0 ? 0 : tcp_bytes_received(socket_copy);
    }
    bool over_answer_limit() { return bytes_received() > kAnswerBytes; }

    // The addresses of host, waiting for the lookup at most until deadline or a cut.
    std::vector<std::string> look_up(std::chrono::steady_clock::time_point deadline,
                                     std::string& problem) {
        if (!lookup) lookup = start_lookup(host);
        std::unique_lock lock(lookup->mutex);
        while (!lookup->done) {
            if (std::chrono::steady_clock::now() >= deadline || was_cut()) {
                problem = "cannot resolve " + host + " in time";
                return {};  // the lookup stays out; the next put() waits for it again
            }
            lookup->done_cv.wait_for(lock, kPollSlice);
        }
        std::vector<std::string> found = std::move(lookup->addresses);
        problem = lookup->error;
        lock.unlock();
        lookup.reset();
        return found;
    }
};

HttpPutClient::HttpPutClient(bool https, const std::string& host, int port)
    : impl_(std::make_unique<Impl>()) {
    if (https) {
        auto ssl = std::make_unique<httplib::SSLClient>(host, port);
        ssl->enable_server_certificate_verification(true);
        impl_->client = std::move(ssl);
    } else {
        impl_->client = std::make_unique<httplib::ClientImpl>(host, port);
    }
    impl_->client->set_url_encode(false);  // the caller's path is escaped already
    impl_->client->set_keep_alive(false);
    impl_->client->set_decompress(false);  // an answer is read raw, and only its first KiBs
    Impl* impl = impl_.get();
    impl_->client->set_socket_options([impl](::socket_t sock) { impl->take_socket(sock); });
    impl_->host = host;
    // This cpp-httplib writes "Host: ::1:9091" for an IPv6 server: say it right.
    const bool ipv6 = host.find(':') != std::string::npos;
    impl_->host_header = (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

HttpPutClient::~HttpPutClient() = default;

std::string HttpPutClient::put(const std::string& path, const std::string& body,
                               const std::string& content_type, std::chrono::milliseconds limit) {
    using std::chrono::milliseconds;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    // The name is looked up here, not inside cpp-httplib, whose getaddrinfo nothing could cut:
    // here the wait ends at the deadline (or an abort) and the lookup goes on by itself.
    std::string problem;
    impl_->begin_put();
    struct EndPut {
        Impl& impl;
        ~EndPut() { impl.end_put(); }
    } end_put{*impl_};
    // The whole put() ends by its deadline, whatever the server trickles (an endless header, a
    // TLS handshake a byte at a time): a watchdog cuts it there.
    std::mutex watch_mutex;
    std::condition_variable watch_cv;
    bool finished = false;  // guarded by watch_mutex
    // It also cuts an answer that passes kAnswerBytes as the kernel counts them (TCP_INFO), as
    // cpp-httplib reads any number of header lines into memory.
    std::thread watchdog([&] {
        std::unique_lock lock(watch_mutex);
        while (!finished) {
            if (std::chrono::steady_clock::now() >= deadline ||
                impl_->bytes_received() > kAnswerBytes) {
                abort();
                return;
            }
            watch_cv.wait_for(lock, kWatchSlice);
        }
    });
    struct StopWatchdog {
        std::mutex& mutex;
        std::condition_variable& cv;
        bool& finished;
        std::thread& thread;
        ~StopWatchdog() {
            {
                std::lock_guard lock(mutex);
                finished = true;
            }
            cv.notify_all();
            thread.join();
        }
    } stop_watchdog{watch_mutex, watch_cv, finished, watchdog};
    if (impl_->addresses.empty()) impl_->addresses = impl_->look_up(deadline, problem);
    if (impl_->addresses.empty()) return problem;
    httplib::ClientImpl& client = *impl_->client;
    for (const std::string& address : impl_->addresses) {
        const auto left =
            std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        const auto sec = static_cast<time_t>(left.count() / 1000);
        const auto usec = static_cast<time_t>(left.count() % 1000 * 1000);
        client.set_hostname_addr_map({{impl_->host, address}});
        client.set_connection_timeout(sec, usec);
        client.set_read_timeout(sec, usec);
        client.set_write_timeout(sec, usec);
        httplib::Request request;
        request.method = "PUT";
        request.path = path;
        request.headers = {{"Host", impl_->host_header}, {"Content-Type", content_type}};
        request.body = body;
        std::string answer_start;
        std::size_t answer_read = 0;
        request.content_receiver = [&](const char* data, std::size_t size, std::uint64_t,
                                       std::uint64_t) {
            answer_start.append(
                data, std::min(size, kAnswerKept - std::min(kAnswerKept, answer_start.size())));
            answer_read += size;
            return answer_read <= kAnswerRead;
        };
        const httplib::Result result = client.send(request);
        if (!result) {
            if (answer_read > kAnswerRead || impl_->over_answer_limit()) {
                return "its answer passed 64 KiB (not a Pushgateway?)";
            }
            if (impl_->was_cut()) return "no answer within " + seconds_text(limit);
            problem = describe(result.error(), left);
            // Not connected: the name's next address may answer (localhost: ::1, 127.0.0.1).
            if (result.error() == httplib::Error::Connection ||
                result.error() == httplib::Error::ConnectionTimeout) {
                continue;
            }
            return problem;
        }
        if (result->status >= 200 && result->status <= 299) return "";
        std::string answer = "the server answered " + std::to_string(result->status);
        if (!result->reason.empty()) answer += " " + result->reason;
        std::string said = answer_start.substr(0, answer_start.find('\n'));
        if (said.size() > 200) said = said.substr(0, 200) + "...";
        return said.empty() ? answer : answer + ": " + said;
    }
    impl_->addresses.clear();  // none answered: look the name up again next time
    return problem.empty() ? "no time left to connect" : problem;
}

void HttpPutClient::look_up(std::chrono::milliseconds limit) {
    std::string ignored;  // put() looks again, and says why
    impl_->begin_put();
    if (impl_->addresses.empty()) {
        impl_->addresses = impl_->look_up(std::chrono::steady_clock::now() + limit, ignored);
    }
}

void HttpPutClient::abort() {
    std::lock_guard lock(impl_->cut_mutex);
    impl_->cut = true;
    if (impl_->socket_copy >= 0) ::shutdown(impl_->socket_copy, SHUT_RDWR);
}

}  // namespace tbbpipe::cli
