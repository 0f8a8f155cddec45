#include "metrics_push.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>

#include "cli_options.hpp"

namespace tbbpipe::cli {
namespace {

constexpr const char* kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";
constexpr auto kAbortRetry = std::chrono::milliseconds(10);

bool starts_with(const std::string& text, const char* prefix) {
    return text.rfind(prefix, 0) == 0;
}

std::string percent_encoded(const std::string& value) {
    static const char* const kHex = "0123456789ABCDEF";
    std::string out;
    for (const char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        const bool unreserved = (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
                                (byte >= '0' && byte <= '9') || byte == '-' || byte == '.' ||
                                byte == '_' || byte == '~';
        if (unreserved) {
            out += c;
        } else {
            out += '%';
            out += kHex[byte >> 4];
            out += kHex[byte & 0xF];
        }
    }
    return out;
}

// RFC 4648 section 5 (URL- and filename-safe), padded, as the Pushgateway reads "@base64".
std::string base64url(const std::string& value) {
    static const char* const kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < value.size(); i += 3) {
        const auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(value[i])) << 16 |
                       static_cast<std::uint32_t>(static_cast<unsigned char>(value[i + 1])) << 8 |
                       static_cast<unsigned char>(value[i + 2]);
        for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(n >> shift) & 0x3F];
    }
    if (i + 1 == value.size()) {
        const auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(value[i])) << 16;
        out += kAlphabet[(n >> 18) & 0x3F];
        out += kAlphabet[(n >> 12) & 0x3F];
        out += "==";
    } else if (i + 2 == value.size()) {
        const auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(value[i])) << 16 |
                       static_cast<std::uint32_t>(static_cast<unsigned char>(value[i + 1])) << 8;
        out += kAlphabet[(n >> 18) & 0x3F];
        out += kAlphabet[(n >> 12) & 0x3F];
        out += kAlphabet[(n >> 6) & 0x3F];
        out += '=';
    }
    return out;
}

// Debian's cpp-httplib sends without MSG_NOSIGNAL: see metrics_http.cpp.
void block_sigpipe() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::string base_url(const PushUrl& url) {
    const bool ipv6 = url.host.find(':') != std::string::npos;
    return std::string(url.https ? "https://" : "http://") +
           (ipv6 ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port);
}

}  // namespace

PushUrl parse_push_url(const std::string& url) {
    const auto bad = [&](const std::string& why) {
        return UsageError("--metrics-push " + url + ": " + why);
    };
    PushUrl parsed;
    std::string rest;
    if (starts_with(url, "http://")) {
        rest = url.substr(7);
        parsed.port = 80;
    } else if (starts_with(url, "https://")) {
        rest = url.substr(8);
        parsed.https = true;
        parsed.port = 443;
    } else {
        throw bad("needs a Pushgateway URL, http://HOST[:PORT] or https://HOST[:PORT]");
    }
    const auto slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    parsed.prefix = slash == std::string::npos ? "" : rest.substr(slash);
    if (parsed.prefix.find_first_of("?#") != std::string::npos) {
        throw bad("a query or fragment has no place in a Pushgateway URL");
    }
    while (!parsed.prefix.empty() && parsed.prefix.back() == '/') parsed.prefix.pop_back();
    if (authority.find('@') != std::string::npos) {
        throw bad("credentials in the URL are not supported");
    }
    std::string port_text;
    if (starts_with(authority, "[")) {
        const auto close = authority.find(']');
        if (close == std::string::npos) throw bad("unclosed '[' around an IPv6 address");
        parsed.host = authority.substr(1, close - 1);
        const std::string after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':') throw bad("expected :PORT after ']'");
        if (!after.empty()) port_text = after.substr(1);
        if (parsed.host.empty()) throw bad("no host");
    } else {
        const auto colon = authority.find(':');
        parsed.host = authority.substr(0, colon);
        if (colon != std::string::npos) {
            port_text = authority.substr(colon + 1);
            if (port_text.find(':') != std::string::npos) {
                throw bad("write an IPv6 address in brackets, e.g. http://[::1]:9091");
            }
        }
    }
    if (parsed.host.empty()) throw bad("no host");
    if (!port_text.empty() || authority.back() == ':') {
        char* end = nullptr;
        const long port = std::strtol(port_text.c_str(), &end, 10);
        if (port_text.empty() || *end != '\0' || port < 1 || port > 65535) {
            throw bad("bad port '" + port_text + "'");
        }
        parsed.port = static_cast<int>(port);
    }
    return parsed;
}

std::string push_group_path(const std::vector<std::pair<std::string, std::string>>& labels) {
    std::string path = "/metrics";
    for (const auto& [name, value] : labels) {
        if (value.empty() || value.find('/') != std::string::npos) {
            path += "/" + name + "@base64/" + (value.empty() ? "=" : base64url(value));
        } else {
            path += "/" + name + "/" + percent_encoded(value);
        }
    }
    return path;
}

std::string local_host_name() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
    return name;
}

namespace {

// job, host and command; and the rank of a distributed run, so ranks do not replace each
// other's group.
std::vector<std::pair<std::string, std::string>> group_labels(const MetricsPushOptions& o) {
    std::vector<std::pair<std::string, std::string>> labels{
        {"job", "tbbpipe"}, {"host", o.host}, {"command", o.command}};
    if (!o.rank.empty()) labels.emplace_back("rank", o.rank);
    return labels;
}

}  // namespace

MetricsPusher::MetricsPusher(MetricsPushOptions options, RenderFn render, WarnFn warn)
    : options_(std::move(options)),
      render_(std::move(render)),
      warn_(std::move(warn)),
      url_(parse_push_url(options_.url)),
      path_(url_.prefix + push_group_path(group_labels(options_))),
      group_url_(base_url(url_) + path_),
      client_(url_.https, url_.host, url_.port) {
    thread_ = std::thread([this] { loop(); });
}

MetricsPusher::~MetricsPusher() {
    stop_and_join(std::chrono::steady_clock::now());
}

void MetricsPusher::finish() {
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    {
        std::lock_guard lock(mutex_);
        if (state_ == State::kRunning) {
            state_ = State::kFinal;
            deadline_ = deadline;
        }
    }
    wake_.notify_all();
    stop_and_join(deadline);
}

void MetricsPusher::stop_and_join(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    wake_.wait_until(lock, deadline, [&] { return ended_; });
    state_ = State::kAborted;  // no push starts from here
    while (!ended_) {
        lock.unlock();
        // Cuts the push under way. Again until the thread ends: a push that was still
        // connecting (within its own limit, which ends by the deadline) is cut once connected.
        client_.abort();
        lock.lock();
        wake_.wait_for(lock, kAbortRetry, [&] { return ended_; });
    }
    lock.unlock();
    if (thread_.joinable()) thread_.join();
}

void MetricsPusher::loop() {
    block_sigpipe();
    client_.look_up(options_.timeout);  // early, so a slow name server delays no push that matters
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait_for(lock, options_.interval, [&] { return state_ != State::kRunning; });
        if (state_ == State::kAborted) break;
        const bool final = state_ == State::kFinal;
        auto limit = options_.timeout;
        if (final) {
            // What is left of finish()'s wait, so the connection limit ends by its deadline.
            limit = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline_ - std::chrono::steady_clock::now());
            if (limit.count() <= 0) break;
        }
        lock.unlock();
        push(limit);  // no lock held: renders, sends and may warn
        lock.lock();
        if (final) break;
    }
    ended_ = true;
    lock.unlock();
    wake_.notify_all();
}

void MetricsPusher::push(std::chrono::milliseconds limit) {
    std::string problem;
    try {
        problem = client_.put(path_, render_(), kPrometheusText, limit);
    } catch (const std::exception& e) {
        problem = e.what();
    }
    if (problem.empty() || warned_) return;
    warned_ = true;
    try {
        warn_("metrics push to " + group_url_ + " failed: " + problem +
              "; the run goes on (later push failures are not reported)");
    } catch (...) {
        // Nowhere left to say it.
    }
}

}  // namespace tbbpipe::cli
