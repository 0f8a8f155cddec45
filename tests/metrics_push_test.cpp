// Metrics that reach Prometheus, against the real programs: a Pushgateway
// (prometheus-pushgateway) receiving what `tbbpipe --metrics-push` sends, promtool on that text, a
// gateway that is down or never answers, TLS, and the --metrics-listen endpoint on IPv6 loopback.
// Each test that needs a program skips when it is not installed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "cli/metrics_http.hpp"
#include "cli/metrics_push.hpp"
#include "tests/cli_support.hpp"

namespace tbbpipe::testing {
namespace {

using Clock = std::chrono::steady_clock;
using Labels = std::map<std::string, std::string>;

bool on_path(const std::string& program) {
    return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

// A TCP socket bound to the loopback address of `family`, port 0 (the kernel's choice); -1 if
// the machine has no such address.
int bound_socket(int family) {
    const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_storage sa{};
    socklen_t len = 0;
    if (family == AF_INET6) {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&sa);
        v6->sin6_family = AF_INET6;
        v6->sin6_addr = in6addr_loopback;
        len = sizeof *v6;
    } else {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&sa);
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *v4;
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

int port_of(int fd) {
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    return sa.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port)
                                    : ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
}

// A port on 127.0.0.1 that nothing listens on (bound, then released).
int closed_port() {
    const int fd = bound_socket(AF_INET);
    const int port = port_of(fd);
    ::close(fd);
    return port;
}

// GET over plain HTTP/1.0 to the loopback address of `family`: the whole answer, head and body,
// or "" when nothing answered within 5 s.
std::string http_get(int family, int port, const std::string& path) {
    const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    const timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_storage sa{};
    socklen_t len = 0;
    if (family == AF_INET6) {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&sa);
        v6->sin6_family = AF_INET6;
        v6->sin6_addr = in6addr_loopback;
        v6->sin6_port = htons(static_cast<std::uint16_t>(port));
        len = sizeof *v6;
    } else {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&sa);
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        v4->sin_port = htons(static_cast<std::uint16_t>(port));
        len = sizeof *v4;
    }
    std::string answer;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0) {
        const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
            char buf[65536];
            ssize_t n = 0;
            while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
                answer.append(buf, static_cast<std::size_t>(n));
            }
        }
    }
    ::close(fd);
    return answer;
}

struct Sample {
    std::string name;
    Labels labels;
    double value = 0;
};

// The samples of Prometheus text (comments skipped; label values unescaped).
std::vector<Sample> parse_samples(const std::string& text) {
    std::vector<Sample> samples;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#') continue;
        Sample s;
        std::size_t i = line.find_first_of("{ ");
        s.name = line.substr(0, i);
        if (i != std::string::npos && line[i] == '{') {
            ++i;
            while (i < line.size() && line[i] != '}') {
                const std::size_t eq = line.find('=', i);
                const std::string key = line.substr(i, eq - i);
                std::string value;
                std::size_t j = eq + 2;  // past ="
                for (; j < line.size() && line[j] != '"'; ++j) {
                    if (line[j] == '\\' && j + 1 < line.size()) {
                        ++j;
                        value += line[j] == 'n' ? '\n' : line[j];
                    } else {
                        value += line[j];
                    }
                }
                s.labels[key] = value;
                i = j + 1;
                if (i < line.size() && line[i] == ',') ++i;
            }
            ++i;  // past }
        }
        std::istringstream rest(line.substr(std::min(i, line.size())));
        std::string value;
        rest >> value;
        s.value = value == "+Inf" ? HUGE_VAL : std::strtod(value.c_str(), nullptr);
        samples.push_back(std::move(s));
    }
    return samples;
}

// The value of the one sample named `name` whose labels include `labels`; NaN if none.
double value_of(const std::vector<Sample>& samples, const std::string& name, const Labels& labels) {
    for (const Sample& s : samples) {
        if (s.name != name) continue;
        bool all = true;
        for (const auto& [key, value] : labels) {
            const auto it = s.labels.find(key);
            all = all && it != s.labels.end() && it->second == value;
        }
        if (all) return s.value;
    }
    return std::nan("");
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// A prometheus-pushgateway on 127.0.0.1 from construction to destruction (stopped with SIGTERM).
class Pushgateway {
public:
    Pushgateway(const std::string& dir, const std::vector<std::string>& extra_args = {}) {
        // The port is free when chosen; another program could take it first: then try again.
        for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
            port_ = closed_port();
            std::vector<std::string> args = {
                "prometheus-pushgateway",
                "--web.listen-address=127.0.0.1:" + std::to_string(port_)};
            args.insert(args.end(), extra_args.begin(), extra_args.end());
            std::vector<char*> argv;
            argv.reserve(args.size() + 1);
            for (std::string& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            posix_spawn_file_actions_t files;
            posix_spawn_file_actions_init(&files);
            const std::string log = dir + "/pushgateway.log";
            posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, log.c_str(),
                                             O_WRONLY | O_CREAT | O_APPEND, 0644);
            posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
            pid_t pid = -1;
            const int spawned = posix_spawnp(&pid, argv[0], &files, nullptr, argv.data(), environ);
            posix_spawn_file_actions_destroy(&files);
            if (spawned != 0) return;
            // Ready when it answers anything (a TLS gateway answers plain HTTP with a 400).
            for (int i = 0; i < 200; ++i) {
                if (!http_get(AF_INET, port_, "/-/ready").empty()) {
                    pid_ = pid;
                    break;
                }
                int status = 0;
                if (::waitpid(pid, &status, WNOHANG) == pid) break;  // it gave up: the port?
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            if (pid_ < 0) {
                ::kill(pid, SIGKILL);
                ::waitpid(pid, nullptr, 0);
            }
        }
    }
    ~Pushgateway() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    Pushgateway(const Pushgateway&) = delete;
    Pushgateway& operator=(const Pushgateway&) = delete;

    bool running() const { return pid_ > 0; }
    int port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    /// Everything the gateway exposes (what Prometheus would scrape from it).
    std::string metrics() const {
        const std::string answer = http_get(AF_INET, port_, "/metrics");
        const auto body = answer.find("\r\n\r\n");
        return body == std::string::npos ? "" : answer.substr(body + 4);
    }

private:
    pid_t pid_ = -1;
    int port_ = 0;
};

#define REQUIRE_PROGRAM(name)                                                        \
    do {                                                                             \
        if (!on_path(name)) GTEST_SKIP() << (name) << " is not installed; skipping"; \
    } while (0)

class MetricsPushTest : public CliTest {
protected:
    std::string host_ = cli::local_host_name();
};

// The point of --metrics-push: after the process is gone, the gateway holds its final figures,
// under job="tbbpipe" and the grouping labels host and command.
TEST_F(MetricsPushTest, FinalMetricsArriveAtAPushgateway) {
    REQUIRE_PROGRAM("prometheus-pushgateway");
    Pushgateway gateway(logs_.path());
    ASSERT_TRUE(gateway.running()) << slurp(logs_ / "pushgateway.log");
    make("a", 1024 * 1024 + 7, 1);
    make("b", 300000, 2);
    make("c", 5000, 3);
    const double input_bytes = 1024 * 1024 + 7 + 300000 + 5000;

    Result r = sh("tbbpipe pack --metrics-push " + gateway.url() + " --metrics-file m.prom a b c");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;

    const std::vector<Sample> pushed = parse_samples(gateway.metrics());
    const Labels group = {{"job", "tbbpipe"}, {"host", host_}, {"command", "pack"}};
    auto with = [&](Labels extra) {
        extra.insert(group.begin(), group.end());
        return extra;
    };
    EXPECT_EQ(value_of(pushed, "tbbpipe_files_total", with({{"status", "ok"}})), 3);
    EXPECT_EQ(value_of(pushed, "tbbpipe_files_total", with({{"status", "failed"}})), 0);
    EXPECT_EQ(value_of(pushed, "tbbpipe_input_bytes_total", group), input_bytes);
    // The gateway's own record of the group: pushed, and no push failed.
    EXPECT_GT(value_of(pushed, "push_time_seconds", group), 0);
    EXPECT_EQ(value_of(pushed, "push_failure_time_seconds", group), 0);

    // Final figures: every counter equals the run's last metrics file, written at the end.
    const std::vector<Sample> file = parse_samples(slurp(dir_ / "m.prom"));
    std::size_t counters = 0;
    for (const Sample& s : file) {
        if (s.name.size() < 6 || s.name.compare(s.name.size() - 6, 6, "_total") != 0) continue;
        ++counters;
        EXPECT_EQ(value_of(pushed, s.name, with(s.labels)), s.value) << s.name;
    }
    EXPECT_GE(counters, 4u);

    // Another command is another group; the pack's stays as it was.
    r = sh("tbbpipe verify --metrics-push " + gateway.url() + " a.tbp b.tbp");
    ASSERT_EQ(r.code, 0) << r.err;
    const std::vector<Sample> both = parse_samples(gateway.metrics());
    EXPECT_EQ(value_of(both, "tbbpipe_files_total",
                       {{"job", "tbbpipe"}, {"command", "verify"}, {"status", "ok"}}),
              2);
    EXPECT_EQ(value_of(both, "tbbpipe_files_total", with({{"status", "ok"}})), 3);
}

// Pushes happen during the run too (every --metrics-interval), not only at the end: the gateway
// already holds the group while the run waits for the rest of its input.
TEST_F(MetricsPushTest, PushesDuringTheRun) {
    REQUIRE_PROGRAM("prometheus-pushgateway");
    Pushgateway gateway(logs_.path());
    ASSERT_TRUE(gateway.running()) << slurp(logs_ / "pushgateway.log");
    make("f", 2 * 1024 * 1024);
    const std::string port = std::to_string(gateway.port());
    const Result r = sh(
        "( (cat f; sleep 3) | tbbpipe pack --no-progress --metrics-interval 200 --metrics-push " +
        gateway.url() + " -o out.tbp 2> log & sleep 1.5; exec 3<>/dev/tcp/127.0.0.1/" + port +
        " && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3 > mid; exec 3>&-; wait )");
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string err = slurp(dir_ / "log");
    EXPECT_EQ(err.find("warning"), std::string::npos) << err;
    const Labels ok = {{"job", "tbbpipe"}, {"command", "pack"}, {"status", "ok"}};
    const std::string mid = slurp(dir_ / "mid");
    EXPECT_EQ(value_of(parse_samples(mid), "tbbpipe_files_total", ok), 0) << mid;
    EXPECT_EQ(value_of(parse_samples(gateway.metrics()), "tbbpipe_files_total", ok), 1);
}

// promtool, Prometheus's own checker, accepts the text tbbpipe pushes (--metrics-file writes the
// same rendering at the same moment as the final push).
TEST_F(MetricsPushTest, PushedTextPassesPromtool) {
    REQUIRE_PROGRAM("prometheus-pushgateway");
    REQUIRE_PROGRAM("promtool");
    Pushgateway gateway(logs_.path());
    ASSERT_TRUE(gateway.running()) << slurp(logs_ / "pushgateway.log");
    make("f", 3 * 1024 * 1024);
    const Result r =
        sh("tbbpipe pack --metrics-push " + gateway.url() + " --metrics-file m.prom f");
    ASSERT_EQ(r.code, 0) << r.err;
    const Result check = sh("promtool check metrics < m.prom");
    EXPECT_EQ(check.code, 0) << check.out << check.err;
    EXPECT_EQ(value_of(parse_samples(gateway.metrics()), "tbbpipe_chunks_total",
                       {{"job", "tbbpipe"}, {"command", "pack"}}),
              value_of(parse_samples(slurp(dir_ / "m.prom")), "tbbpipe_chunks_total", {}));
}

// Nothing listens: one warning for the whole run (not one per push), and the run succeeds.
TEST_F(MetricsPushTest, UnreachableGatewayWarnsOnceAndTheRunSucceeds) {
    make("f", 1024 * 1024);
    const std::string url = "http://127.0.0.1:" + std::to_string(closed_port());
    // The run lasts about a second, long enough for several pushes 100 ms apart to fail.
    const Result r =
        sh("(cat f; sleep 1) | tbbpipe pack --no-progress --metrics-interval 100 "
           "--metrics-push " +
           url + " -o out.tbp 2> log");
    EXPECT_EQ(r.code, 0) << r.err;
    const std::string err = slurp(dir_ / "log");
    EXPECT_EQ(count_of(err, "warning: metrics push to " + url), 1u) << err;
    EXPECT_NE(err.find("cannot connect"), std::string::npos) << err;
    EXPECT_EQ(count_of(err, "tbbpipe: warning"), 1u) << err;
    EXPECT_EQ(sh("tbbpipe verify -q out.tbp").code, 0);
    // -q keeps the warning quiet; the exit code is still 0.
    const Result quiet = sh("tbbpipe pack -q -f --metrics-push " + url + " f");
    EXPECT_EQ(quiet.code, 0) << quiet.err;
    EXPECT_EQ(quiet.err, "");
}

// A gateway that accepts connections and never answers (a listening socket nobody reads): the
// run ends at most the push timeout (2 s) after its work, a push in flight included.
TEST_F(MetricsPushTest, SilentGatewayDelaysTheEndByAtMostTheTimeout) {
    const int fd = bound_socket(AF_INET);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::listen(fd, 64), 0);
    const std::string url = "http://127.0.0.1:" + std::to_string(port_of(fd));
    make("f", 1024 * 1024);

    auto start = Clock::now();
    Result r = sh("tbbpipe pack --metrics-push " + url + " f");
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(count_of(r.err, "warning: metrics push"), 1u) << r.err;
    EXPECT_NE(r.err.find("no answer within"), std::string::npos) << r.err;
    EXPECT_LT(seconds, 2.0 + 4.0) << "a generous bound: the timeout is 2 s";

    // Periodic pushes (200 ms apart) are stuck when the work ends: still the same bound.
    start = Clock::now();
    r = sh("(cat f; sleep 1) | tbbpipe pack --no-progress --metrics-interval 200 --metrics-push " +
           url + " -o out.tbp");
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(count_of(r.err, "warning: metrics push"), 1u) << r.err;
    EXPECT_LT(seconds, 1.0 + 2.0 + 4.0);
    ::close(fd);
}

// A hostile gateway: one that trickles a TLS handshake a byte at a time (each read within the
// timeout), one that answers with endless headers, one that streams an endless body. Each
// gives one warning; the run ends within the timeout of its work, exit 0, in bounded memory.
TEST_F(MetricsPushTest, HostileGatewaysCannotHoldTheRunOrFillItsMemory) {
    REQUIRE_PROGRAM("python3");
    make("f", 1024 * 1024);
    {
        std::ofstream server(logs_ / "hostile.py");
        server << R"(import socket, sys, threading, time
mode = sys.argv[1]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
def serve(c):
    try:
        if mode == "trickle":
            while True:
                c.sendall(b"\x16")
                time.sleep(0.3)
        c.recv(65536)
        if mode == "headers":
            c.sendall(b"HTTP/1.1 200 OK\r\n")
            while True:
                c.sendall(b"X-Filler: " + b"y" * 1000 + b"\r\n")
        else:
            c.sendall(b"HTTP/1.1 400 Bad\r\nContent-Length: 100000000000\r\n\r\n")
            while True:
                c.sendall(b"z" * 65536)
    except OSError:
        pass
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
)";
    }
    for (const char* mode : {"trickle", "headers", "body"}) {
        const std::string port_file = logs_ / (std::string(mode) + ".port");
        ASSERT_EQ(sh("(python3 '" + (logs_ / "hostile.py") + "' " + mode + " > '" + port_file +
                     "' 2>/dev/null &) ; for i in $(seq 50); do [ -s '" + port_file +
                     "' ] && break; sleep 0.1; done")
                      .code,
                  0);
        const std::string port = slurp(port_file).substr(0, slurp(port_file).find('\n'));
        ASSERT_FALSE(port.empty()) << mode;
        const std::string scheme = std::string(mode) == "trickle" ? "https" : "http";
        const auto start = Clock::now();
        const Result r =
            sh("/usr/bin/time -f 'peak %M KiB' '" TBBPIPE_CLI "' pack -f --metrics-push " + scheme +
               "://127.0.0.1:" + port + " f");
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        EXPECT_EQ(r.code, 0) << mode << ": " << r.err;
        EXPECT_EQ(count_of(r.err, "warning: metrics push"), 1u) << mode << ": " << r.err;
        EXPECT_LT(seconds, 2.0 + 4.0) << mode << ": the timeout is 2 s";
        const auto peak = r.err.find("peak ");
        ASSERT_NE(peak, std::string::npos) << r.err;
        EXPECT_LT(std::stol(r.err.substr(peak + 5)), 200 * 1024) << mode << ": " << r.err;
        sh("pkill -f 'hostile.py " + std::string(mode) + "'");
    }
}

// Only GET /metrics is answered: a body sent to the endpoint (any path, compressed or not) is
// refused without being read into memory.
TEST_F(MetricsPushTest, TheEndpointRefusesRequestBodies) {
    REQUIRE_PROGRAM("python3");
    REQUIRE_PROGRAM("curl");
    make("f", 1024 * 1024);
    const Result r = sh(
        "(head -c 1000000 f; sleep 3) | /usr/bin/time -f 'peak %M KiB' '" TBBPIPE_CLI
        "' pack -q --metrics-listen 127.0.0.1:0 -o out.tbp 2> err.txt & "
        "for i in $(seq 50); do url=$(grep -o 'http://[^ ]*' err.txt); [ -n \"$url\" ] && break; "
        "sleep 0.1; done; "
        "head -c 300000000 /dev/zero | curl -s -o /dev/null -w '%{http_code} ' -X PUT "
        "--data-binary @- \"$url\"; "
        "curl -s -o /dev/null -w '%{http_code} ' -X POST -d x \"${url%/metrics}/other\"; "
        "curl -s -o /dev/null -w '%{http_code} ' \"$url\"; wait; cat err.txt");
    EXPECT_EQ(r.code, 0) << r.err;
    // The PUT is not allowed (its body never read), the other path does not exist.
    EXPECT_NE(r.out.find("405 404 200"), std::string::npos) << r.out;
    const auto peak = r.out.find("peak ");
    ASSERT_NE(peak, std::string::npos) << r.out;
    EXPECT_LT(std::stol(r.out.substr(peak + 5)), 200 * 1024) << r.out;
}

// https:// works like http:// (cpp-httplib is built with OpenSSL), the certificate checked:
// trusted through SSL_CERT_FILE it arrives, untrusted it is one warning.
TEST_F(MetricsPushTest, HttpsPushChecksTheCertificate) {
    REQUIRE_PROGRAM("prometheus-pushgateway");
    REQUIRE_PROGRAM("openssl");
    REQUIRE_PROGRAM("curl");
    const std::string cert = logs_ / "cert.pem";
    const std::string key = logs_ / "key.pem";
    ASSERT_EQ(sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                 "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
                 key + "' -out '" + cert + "' 2>/dev/null")
                  .code,
              0);
    {
        std::ofstream config(logs_ / "web.yml");
        config << "tls_server_config:\n  cert_file: " << cert << "\n  key_file: " << key << "\n";
    }
    Pushgateway gateway(logs_.path(), {"--web.config.file=" + (logs_ / "web.yml")});
    ASSERT_TRUE(gateway.running()) << slurp(logs_ / "pushgateway.log");
    const std::string url = "https://127.0.0.1:" + std::to_string(gateway.port());
    make("f", 100000);

    Result r = sh("SSL_CERT_FILE='" + cert + "' tbbpipe pack --metrics-push " + url + " f");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
    const Result fetched = sh("curl -sS --cacert '" + cert + "' " + url + "/metrics");
    ASSERT_EQ(fetched.code, 0) << fetched.err;
    EXPECT_EQ(
        value_of(parse_samples(fetched.out), "tbbpipe_files_total",
                 {{"job", "tbbpipe"}, {"host", host_}, {"command", "pack"}, {"status", "ok"}}),
        1);

    r = sh("tbbpipe pack -f --metrics-push " + url + " f");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(count_of(r.err, "warning: metrics push"), 1u) << r.err;
    EXPECT_NE(r.err.find("certificate"), std::string::npos) << r.err;
}

TEST_F(MetricsPushTest, BadUrlsAreUsageErrors) {
    make("f", 1000);
    for (const char* url : {"ftp://127.0.0.1:9091", "127.0.0.1:9091", "http://", "http://:9091",
                            "http://h:0", "http://h:99999", "http://h:x", "http://::1:9091",
                            "http://h/p?q=1", "http://user:pw@h"}) {
        const Result r = sh(std::string("tbbpipe pack --metrics-push '") + url + "' f");
        EXPECT_EQ(r.code, 2) << url << ": " << r.err;
        EXPECT_NE(r.err.find("--metrics-push"), std::string::npos) << r.err;
    }
    EXPECT_EQ(files(), std::vector<std::string>{"f"}) << "nothing ran";
    ASSERT_EQ(sh("tbbpipe pack -q f").code, 0);
    const Result info = sh("tbbpipe info --metrics-push http://127.0.0.1:9091 f.tbp");
    EXPECT_EQ(info.code, 2);
    EXPECT_NE(info.err.find("does not apply to info"), std::string::npos) << info.err;
}

// The grouping path: plain values percent-encoded; a '/' or an empty value in the gateway's
// base64 form, which the real gateway decodes back.
TEST_F(MetricsPushTest, GroupingLabelsSurviveAnyValue) {
    EXPECT_EQ(cli::push_group_path({{"job", "tbbpipe"}, {"host", "web-1.example"}}),
              "/metrics/job/tbbpipe/host/web-1.example");
    EXPECT_EQ(cli::push_group_path({{"host", "a b%\xc3\xa9"}}), "/metrics/host/a%20b%25%C3%A9");
    EXPECT_EQ(cli::push_group_path({{"host", "a/b"}}), "/metrics/host@base64/YS9i");
    EXPECT_EQ(cli::push_group_path({{"host", "ab/"}}), "/metrics/host@base64/YWIv");
    EXPECT_EQ(cli::push_group_path({{"host", "/"}}), "/metrics/host@base64/Lw==");
    EXPECT_EQ(cli::push_group_path({{"host", ""}}), "/metrics/host@base64/=");

    const cli::PushUrl url = cli::parse_push_url("https://[::1]:9443/gw/");
    EXPECT_TRUE(url.https);
    EXPECT_EQ(url.host, "::1");
    EXPECT_EQ(url.port, 9443);
    EXPECT_EQ(url.prefix, "/gw");
    EXPECT_EQ(cli::parse_push_url("http://gateway").port, 80);

    REQUIRE_PROGRAM("prometheus-pushgateway");
    Pushgateway gateway(logs_.path());
    ASSERT_TRUE(gateway.running()) << slurp(logs_ / "pushgateway.log");
    for (const std::string host : {"rack/7 node é", ""}) {
        std::vector<std::string> warnings;
        cli::MetricsPushOptions options;
        options.url = gateway.url();
        options.command = "pack";
        options.host = host;
        cli::MetricsPusher push(
            options, [] { return std::string("# TYPE t_total counter\nt_total 42\n"); },
            [&](const std::string& w) { warnings.push_back(w); });
        push.finish();
        EXPECT_TRUE(warnings.empty()) << warnings.front();
        EXPECT_EQ(value_of(parse_samples(gateway.metrics()), "t_total",
                           {{"job", "tbbpipe"}, {"host", host}, {"command", "pack"}}),
                  42)
            << "host '" << host << "'";
    }
}

// A gateway that refuses what it is sent (here: not Prometheus text) is one warning, with its
// status and reason.
TEST_F(MetricsPushTest, GatewayErrorIsOneWarning) {
    REQUIRE_PROGRAM("prometheus-pushgateway");
    Pushgateway gateway(logs_.path());
    ASSERT_TRUE(gateway.running()) << slurp(logs_ / "pushgateway.log");
    std::vector<std::string> warnings;
    cli::MetricsPushOptions options;
    options.url = gateway.url();
    options.command = "pack";
    options.interval = std::chrono::milliseconds(50);
    cli::MetricsPusher push(
        options, [] { return std::string("this is {not metrics\n"); },
        [&](const std::string& w) { warnings.push_back(w); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    push.finish();
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("the server answered 400 Bad Request"), std::string::npos)
        << warnings[0];
}

// The pusher itself: pushes every interval, stops on finish(), and finish() against a silent
// server returns within its timeout.
TEST_F(MetricsPushTest, PusherKeepsItsIntervalAndItsTimeout) {
    REQUIRE_PROGRAM("prometheus-pushgateway");
    Pushgateway gateway(logs_.path());
    ASSERT_TRUE(gateway.running()) << slurp(logs_ / "pushgateway.log");
    std::atomic<int> renders{0};
    std::vector<std::string> warnings;
    {
        cli::MetricsPushOptions options;
        options.url = gateway.url();
        options.command = "verify";
        options.interval = std::chrono::milliseconds(100);
        cli::MetricsPusher push(
            options,
            [&] { return "# TYPE n_total counter\nn_total " + std::to_string(++renders) + "\n"; },
            [&](const std::string& w) { warnings.push_back(w); });
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));
        push.finish();
    }
    EXPECT_TRUE(warnings.empty());
    EXPECT_GE(renders.load(), 5) << "about one push per 100 ms";
    EXPECT_LE(renders.load(), 12);
    EXPECT_EQ(value_of(parse_samples(gateway.metrics()), "n_total",
                       {{"job", "tbbpipe"}, {"command", "verify"}}),
              renders.load())
        << "the last push is the final one";

    const int fd = bound_socket(AF_INET);
    ASSERT_EQ(::listen(fd, 64), 0);
    cli::MetricsPushOptions silent;
    silent.url = "http://127.0.0.1:" + std::to_string(port_of(fd));
    silent.command = "pack";
    silent.interval = std::chrono::milliseconds(50);
    silent.timeout = std::chrono::milliseconds(500);
    warnings.clear();
    cli::MetricsPusher push(
        silent, [] { return std::string("x_total 1\n"); },
        [&](const std::string& w) { warnings.push_back(w); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a push is stuck by now
    const auto start = Clock::now();
    push.finish();
    EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 0.5 + 1.0);
    EXPECT_EQ(warnings.size(), 1u);
    ::close(fd);
}

// The endpoint in-process: answers while clients that never finish their request hold both its
// threads' places and fill its queue, and its destruction does not wait for them.
TEST_F(MetricsPushTest, EndpointEndsPromptlyWhateverItsClientsDo) {
    std::atomic<int> renders{0};
    auto server = std::make_unique<cli::MetricsHttpServer>("127.0.0.1:0", false, [&] {
        ++renders;
        return std::string("# TYPE x_total counter\nx_total 1\n");
    });
    EXPECT_EQ(server->url(), "http://127.0.0.1:" + std::to_string(server->port()) + "/metrics");
    const std::string answer = http_get(AF_INET, server->port(), "/metrics");
    EXPECT_NE(answer.find(" 200 OK"), std::string::npos) << answer;
    EXPECT_NE(answer.find("x_total 1"), std::string::npos) << answer;
    EXPECT_EQ(renders.load(), 1);

    // 20 connections that send half a request line and wait: more than the threads and the
    // queue together (2 + 16), so the accepting thread waits too and the kernel's backlog holds
    // the rest (more would wait in connect()).
    std::vector<int> stuck;
    for (int i = 0; i < 20; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = htons(static_cast<std::uint16_t>(server->port()));
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
        ASSERT_EQ(::send(fd, "GET /met", 8, MSG_NOSIGNAL), 8);
        stuck.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto start = Clock::now();
    server.reset();
    EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 1.0);
    EXPECT_EQ(renders.load(), 1) << "no half request was answered";
    for (const int fd : stuck) ::close(fd);
}

// --metrics-listen on IPv6 loopback: the chosen address is printed even with -q (not with -qq),
// and it answers there during the run.
TEST_F(MetricsPushTest, ListensOnIpv6LoopbackAndPrintsTheAddressWithQ) {
    const int probe = bound_socket(AF_INET6);
    if (probe < 0) GTEST_SKIP() << "no IPv6 loopback on this machine";
    ::close(probe);
    make("f", 1024 * 1024);
    ASSERT_EQ(sh("tbbpipe pack -q f").code, 0);
    // In the background: the container through a pipe that stays open 3 s.
    ASSERT_EQ(sh("( (cat f.tbp; sleep 3) | tbbpipe verify -q --metrics-listen '[::1]:0' "
                 "> vout 2> log; echo $? > rc ) > /dev/null 2>&1 &")
                  .code,
              0);
    std::string log;
    for (int i = 0; i < 100 && log.find('\n') == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        log = slurp(dir_ / "log");
    }
    const std::string head = "tbbpipe: serving metrics on http://[::1]:";
    ASSERT_EQ(log.rfind(head, 0), 0u) << log;
    const int port = std::atoi(log.c_str() + head.size());
    EXPECT_EQ(log, head + std::to_string(port) + "/metrics\n") << "the only line with -q";
    const std::string answer = http_get(AF_INET6, port, "/metrics");
    EXPECT_NE(answer.find(" 200 OK"), std::string::npos) << answer;
    EXPECT_NE(answer.find("text/plain; version=0.0.4"), std::string::npos) << answer;
    EXPECT_NE(answer.find("# TYPE tbbpipe_chunks_total counter"), std::string::npos);
    EXPECT_NE(http_get(AF_INET6, port, "/other").find(" 404 "), std::string::npos);
    for (int i = 0; i < 200 && slurp(dir_ / "rc").empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(slurp(dir_ / "rc"), "0\n");
    EXPECT_EQ(http_get(AF_INET6, port, "/metrics"), "") << "gone with the run";

    // -qq: not even that line.
    const Result silent = sh("tbbpipe verify -qq --metrics-listen '[::1]:0' f.tbp");
    EXPECT_EQ(silent.code, 0);
    EXPECT_EQ(silent.err, "");
    // Other IPv6 addresses are refused as IPv4 ones are; an unbracketed one is a usage error.
    Result r = sh("tbbpipe verify --metrics-listen '[2001:db8::1]:9100' f.tbp");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("not a loopback address"), std::string::npos) << r.err;
    r = sh("tbbpipe verify --metrics-listen '::1:9100' f.tbp");
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("brackets"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tbbpipe::testing
