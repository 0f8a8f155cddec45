// MetricsPusher: --metrics-push, a run's Prometheus text PUT to a Pushgateway during the run and
// once at its end, so a batch job's final figures reach Prometheus after the process is gone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "metrics_http.hpp"

namespace tbbpipe::cli {

/// A Pushgateway's address, from --metrics-push.
struct PushUrl {
    bool https = false;
    std::string host;    ///< a name or an IP literal (IPv6 without brackets)
    int port = 0;        ///< 80 or 443 when the URL gives none
    std::string prefix;  ///< the URL's path, without a trailing '/' ("" or "/gateway")
};

/// Parses "http://HOST[:PORT][/PATH]" (or https://, or an IPv6 HOST in brackets); throws
/// UsageError for anything else, a query, a fragment or credentials in it.
PushUrl parse_push_url(const std::string& url);

/// The Pushgateway path of a group, "/metrics/job/tbbpipe/host/web1/command/pack": each value
/// percent-encoded, or in the gateway's base64 form ("host@base64/d2Vi") when it holds a '/' or
/// is empty, which a path segment cannot carry.
std::string push_group_path(const std::vector<std::pair<std::string, std::string>>& labels);

/// This machine's name (gethostname), "localhost" if it has none.
std::string local_host_name();

struct MetricsPushOptions {
    std::string url;                       ///< as parse_push_url takes it
    std::string command;                   ///< the "command" grouping label: pack, unpack or verify
    std::string host = local_host_name();  ///< the "host" grouping label
    std::string rank;                      ///< a distributed run's "rank" grouping label; "": none
    std::chrono::milliseconds interval{5000};  ///< between the end of a push and the next
    std::chrono::milliseconds timeout{2000};   ///< connection, each read and write; finish()
};

/// PUTs render() to the gateway, group job="tbbpipe" + host + command, every interval on its own
/// thread (never on the caller's), and once more in finish(). A push replaces the group's
/// previous one; pushes never overlap. The first failure (unreachable, no answer in time, an
/// HTTP error) calls warn() once, from the pushing thread with no lock held; later ones are not
/// reported.
/// Thread-safety: construct, finish() and destroy on one thread; render() and warn() are called
/// on the pushing thread.
/// @code
///   MetricsPusher push({.url = "http://127.0.0.1:9091", .command = "pack"},
///                      [&] { return to_prometheus_text(engine.metrics()); },
///                      [](const std::string& w) { std::cerr << w << '\n'; });
///   run();
///   push.finish();  // the final figures; returns within the timeout
/// @endcode
class MetricsPusher {
public:
    using RenderFn = std::function<std::string()>;
    using WarnFn = std::function<void(const std::string&)>;

    /// Throws UsageError for a bad URL.
    MetricsPusher(MetricsPushOptions options, RenderFn render, WarnFn warn);
    /// Without finish(): stops, cutting a push under way; no final push.
    ~MetricsPusher();
    MetricsPusher(const MetricsPusher&) = delete;
    MetricsPusher& operator=(const MetricsPusher&) = delete;

    /// Ends the periodic pushes and pushes render() once more, waiting for that at most the
    /// timeout (a push under way when it is called counts against it): one that has no answer
    /// by then is cut off. Call once.
    void finish();

    /// The URL pushes go to (for messages).
    const std::string& group_url() const { return group_url_; }

private:
    enum class State { kRunning, kFinal, kAborted };
    void loop();
    void push(std::chrono::milliseconds limit);
    // Waits for the thread until the deadline, then cuts pushes under way until it ends; joins.
    void stop_and_join(std::chrono::steady_clock::time_point deadline);

    const MetricsPushOptions options_;
    const RenderFn render_;
    const WarnFn warn_;
    const PushUrl url_;
    const std::string path_;
    const std::string group_url_;
    HttpPutClient client_;  // used by the pushing thread; abort() by the owner's
    bool warned_ = false;   // pushing thread only

    std::mutex mutex_;
    std::condition_variable wake_;                    // state_ changed, or the thread ended
    State state_ = State::kRunning;                   // guarded by mutex_
    std::chrono::steady_clock::time_point deadline_;  // of the final push; guarded by mutex_
    bool ended_ = false;                              // guarded by mutex_
    std::thread thread_;
};

}  // namespace tbbpipe::cli
