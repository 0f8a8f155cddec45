#include "engine/metrics.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <variant>

namespace tbbpipe {
namespace engine {
namespace {

// Fine buckets: log-linear, kSubBuckets linear steps per power of two, from 2^kMinExp s
// (~60 ns, below the 100 ns the header promises) to 2^kMaxExp s (128 s). Bucket i holds values in
// (edge(i), edge(i+1)] -- upper-inclusive like Prometheus `le` -- so every power of two in range
// is exactly an edge and the exposition buckets are exact sums of fine buckets.
constexpr int kSubBucketBits = 4;
constexpr int kSubBuckets = 1 << kSubBucketBits;  // 16: at most 1/16 relative bucket width
constexpr int kMinExp = -24;
constexpr int kMaxExp = 7;
constexpr std::size_t kFineBuckets = static_cast<std::size_t>(kMaxExp - kMinExp) * kSubBuckets;
// Exposition buckets: le = 2^-20 s (~0.95 us) ... 2^4 s (16 s).
constexpr int kFirstBoundExp = -20;
constexpr int kLastBoundExp = 4;
constexpr std::size_t kBounds = static_cast<std::size_t>(kLastBoundExp - kFirstBoundExp) + 1;
static_assert(kMinExp <= kFirstBoundExp && kLastBoundExp < kMaxExp);

constexpr std::size_t kShards = 16;

constexpr int kMantissaBits = 52;
constexpr int kExponentBias = 1023;

// Lower (exclusive) edge of fine bucket i; exact, since it is 2^e * (1 + sub/16).
double fine_edge(std::size_t i) {
    const int exp = static_cast<int>(i / kSubBuckets) + kMinExp;
    const int sub = static_cast<int>(i % kSubBuckets);
    return std::ldexp(1.0 + static_cast<double>(sub) / kSubBuckets, exp);
}

const double kLowest = std::ldexp(1.0, kMinExp);
const double kHighest = std::ldexp(1.0, kMaxExp);

// The fine bucket of a non-negative, non-NaN duration. Reads the exponent and the top mantissa
// bits straight from the IEEE-754 representation: no log(), no loop, no table.
std::size_t fine_index(double seconds) noexcept {
    if (seconds <= kLowest) return 0;
    if (seconds > kHighest) return kFineBuckets - 1;
    // One ulp below the value: buckets become (lo, hi] instead of [lo, hi), so a value equal to a
    // power of two lands in the bucket that ends there, matching Prometheus' `le` (<=).
    const std::uint64_t bits = std::bit_cast<std::uint64_t>(seconds) - 1;
    const int exp = static_cast<int>(bits >> kMantissaBits) - kExponentBias;
    const auto sub =
        static_cast<std::size_t>((bits >> (kMantissaBits - kSubBucketBits)) & (kSubBuckets - 1));
    const std::size_t index = static_cast<std::size_t>(exp - kMinExp) * kSubBuckets + sub;
    assert(index < kFineBuckets);
    return index;
}

// Assigned round-robin on a thread's first record() into any histogram, then fixed for the
// thread's life: with up to kShards threads (the oneTBB workers of one arena) no two threads
// share a shard; beyond that shards are shared, which stays correct (all fields are atomics) and
// only costs contention.
std::atomic<std::size_t> g_next_shard{0};

std::size_t this_thread_shard() noexcept {
    // Constant-initialised thread_local: no TLS wrapper or guard, one compare per call.
    thread_local std::size_t shard = kShards;
    if (shard == kShards) {
        // relaxed: only uniqueness of the ticket matters, and fetch_add gives it in any order.
        shard = g_next_shard.fetch_add(1, std::memory_order_relaxed) % kShards;
    }
    return shard;
}

// relaxed throughout: like Counter, the max is an observation, not a synchronisation point.
void raise_max_double(std::atomic<double>& max, double v) noexcept {
    double seen = max.load(std::memory_order_relaxed);
    while (v > seen && !max.compare_exchange_weak(seen, v, std::memory_order_relaxed)) {
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Gauge

void Gauge::set(std::int64_t v) noexcept {
    value_.store(v, std::memory_order_relaxed);
    raise_max(v);
}

void Gauge::add(std::int64_t delta) noexcept {
    raise_max(value_.fetch_add(delta, std::memory_order_relaxed) + delta);
}

void Gauge::raise_max(std::int64_t v) noexcept {
    std::int64_t seen = max_.load(std::memory_order_relaxed);
    while (v > seen && !max_.compare_exchange_weak(seen, v, std::memory_order_relaxed)) {
    }
}

// ---------------------------------------------------------------------------------------------
// Histogram

// One cache-line-aligned block per shard so that two threads recording into different shards
// never write the same line. There is no per-shard count: the count is the sum of the bucket
// counts, which saves one atomic RMW per record() and makes `+Inf == _count` hold by construction
// even for a snapshot taken mid-record().
struct alignas(64) HistogramShard {
    std::array<std::atomic<std::uint64_t>, kFineBuckets> buckets{};
    // Sum as a double (C++20 atomic<double>::fetch_add, a CAS loop on x86-64): exact to double
    // rounding for any duration, where integer nanoseconds would drop sub-ns values and the
    // clamped tails.
    std::atomic<double> sum{0.0};
    std::atomic<double> max{0.0};
};

struct Histogram::Shards {
    std::array<HistogramShard, kShards> shard;
};

Histogram::Histogram() : shards_(std::make_unique<Shards>()) {}
Histogram::~Histogram() = default;

void Histogram::record(double seconds) noexcept {
    if (std::isnan(seconds)) return;  // a NaN would poison sum forever; it is not a duration
    if (seconds < 0) seconds = 0;     // nor is a negative value (a clock misuse): count it as 0
    HistogramShard& s = shards_->shard[this_thread_shard()];
    // relaxed: each field is merged independently by snapshot(); no field orders another.
    s.buckets[fine_index(seconds)].fetch_add(1, std::memory_order_relaxed);
    s.sum.fetch_add(seconds, std::memory_order_relaxed);
    raise_max_double(s.max, seconds);
}

// Runs concurrently with record(): each atomic is read once, so every field is a valid value from
// some moment during the merge, but fields are not read at one instant. Bucket counts, count and
// cumulative are mutually consistent (all come from the same bucket reads); sum and max may
// include or miss a few records in flight. Counts only grow from one snapshot to the next.
HistogramSnapshot Histogram::snapshot() const {
    HistogramSnapshot snap;
    snap.fine_edges.resize(kFineBuckets);
    snap.fine_counts.assign(kFineBuckets, 0);
    for (std::size_t i = 0; i < kFineBuckets; ++i) snap.fine_edges[i] = fine_edge(i);
    for (const HistogramShard& s : shards_->shard) {
        for (std::size_t i = 0; i < kFineBuckets; ++i) {
            snap.fine_counts[i] += s.buckets[i].load(std::memory_order_relaxed);
        }
        snap.sum += s.sum.load(std::memory_order_relaxed);
        snap.max = std::max(snap.max, s.max.load(std::memory_order_relaxed));
    }

    snap.bounds.reserve(kBounds);
    snap.cumulative.reserve(kBounds + 1);
    std::uint64_t running = 0;
    std::size_t next = 0;
    for (int e = kFirstBoundExp; e <= kLastBoundExp; ++e) {
        // Fine buckets below index `end` hold exactly the values <= 2^e.
        const auto end = static_cast<std::size_t>(e - kMinExp) * kSubBuckets;
        for (; next < end; ++next) running += snap.fine_counts[next];
        snap.bounds.push_back(std::ldexp(1.0, e));
        snap.cumulative.push_back(running);
    }
    for (; next < kFineBuckets; ++next) running += snap.fine_counts[next];
    snap.cumulative.push_back(running);
    snap.count = running;
    return snap;
}

}  // namespace engine

// The snapshot types are the public API's (tbbpipe/metrics.hpp).
double HistogramSnapshot::percentile(double q) const {
    std::uint64_t total = 0;
    for (const std::uint64_t c : fine_counts) total += c;
    if (total == 0 || fine_edges.size() != fine_counts.size() || std::isnan(q)) return 0;
    q = std::clamp(q, 0.0, 1.0);
    // The rank of the order statistic, 1-based: ceil(q * n), at least 1.
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total))));
    std::uint64_t below = 0;
    for (std::size_t i = 0; i < fine_counts.size(); ++i) {
        const std::uint64_t c = fine_counts[i];
        if (c == 0 || below + c < rank) {
            below += c;
            continue;
        }
        // Bucket (lo, hi]: assume its values are spread evenly and take the rank's share. The
        // last bucket also holds everything clamped above 2^kMaxExp, so it reaches up to max.
        const double lo = fine_edges[i];
        double hi = i + 1 < fine_edges.size() ? fine_edges[i + 1] : engine::kHighest;
        if (i + 1 == fine_edges.size() && std::isfinite(max)) hi = std::max(hi, max);
        const double fraction = static_cast<double>(rank - below) / static_cast<double>(c);
        const double estimate = lo + (hi - lo) * fraction;
        // Never above the largest value recorded (also makes a single sample exact).
        return std::min(estimate, max);
    }
    return max;  // unreachable while total matches fine_counts
}

namespace engine {

// ---------------------------------------------------------------------------------------------
// Registry

namespace {

bool valid_metric_name(std::string_view name) {
    if (name.empty()) return false;
    const auto first_ok = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    };
    if (!first_ok(name.front())) return false;
    return std::all_of(name.begin() + 1, name.end(),
                       [&](char c) { return first_ok(c) || (c >= '0' && c <= '9'); });
}

// A label set as the header describes it: `name="value"` pairs separated by commas, no spaces,
// label names [a-zA-Z_][a-zA-Z0-9_]* not starting with "__" (reserved), values escaped as the
// exposition format wants (\\, \", \n; no raw newline). Rejected here rather than emitted as text
// a scraper would refuse. Histograms also may not use `le`, which their buckets add.
void check_labels(const std::string& name, const std::string& labels, MetricType type) {
    const auto fail = [&](const std::string& why) {
        throw std::invalid_argument("metric " + name + ": labels '" + labels + "': " + why);
    };
    std::vector<std::string_view> seen;
    std::string_view rest = labels;
    while (!rest.empty()) {
        std::size_t n = 0;
        while (n < rest.size() &&
               ((rest[n] >= 'a' && rest[n] <= 'z') || (rest[n] >= 'A' && rest[n] <= 'Z') ||
                rest[n] == '_' || (n > 0 && rest[n] >= '0' && rest[n] <= '9'))) {
            ++n;
        }
        const std::string_view label = rest.substr(0, n);
        if (label.empty()) fail("expected a label name");
        if (label.starts_with("__")) fail("label names starting with __ are reserved");
        if (type == MetricType::kHistogram && label == "le") fail("histograms own the le label");
        if (std::find(seen.begin(), seen.end(), label) != seen.end()) fail("duplicate label");
        seen.push_back(label);
        rest.remove_prefix(n);
        if (!rest.starts_with("=\"")) fail("expected =\" after a label name");
        rest.remove_prefix(2);
        bool closed = false;
        while (!rest.empty() && !closed) {
            const char c = rest.front();
            rest.remove_prefix(1);
            if (c == '"') {
                closed = true;
            } else if (c == '\n') {
                fail("raw newline in a label value (write \\n)");
            } else if (c == '\\') {
                if (rest.empty() ||
                    (rest.front() != '\\' && rest.front() != '"' && rest.front() != 'n')) {
                    fail("only \\\\, \\\" and \\n escapes are allowed");
                }
                rest.remove_prefix(1);
            }
        }
        if (!closed) fail("unterminated label value");
        if (rest.empty()) break;
        if (rest.front() != ',' || rest.size() == 1) fail("expected , between labels");
        rest.remove_prefix(1);
    }
}

// The sample names a family puts in the exposition; two families must not share any.
std::vector<std::string> exposed_names(const std::string& name, MetricType type) {
    switch (type) {
        case MetricType::kCounter: return {name};
        case MetricType::kGauge: return {name, name + "_max"};
        case MetricType::kHistogram:
            return {name, name + "_bucket", name + "_sum", name + "_count"};
    }
    return {name};
}

std::int64_t steady_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct MetricsRegistry::Entry {
    std::string name;
    std::string help;
    std::string labels;
    MetricType type;
    // Built in place and never moved: callers hold references into it.
    std::variant<Counter, Gauge, Histogram> metric;

    template <class M>
    Entry(std::string n, std::string h, std::string l, MetricType t, std::in_place_type_t<M> m)
        : name(std::move(n)), help(std::move(h)), labels(std::move(l)), type(t), metric(m) {}
};

MetricsRegistry::MetricsRegistry() : created_ns_(steady_now_ns()) {}
MetricsRegistry::~MetricsRegistry() = default;

namespace {

const char* type_name(MetricType type) {
    switch (type) {
        case MetricType::kCounter: return "counter";
        case MetricType::kGauge: return "gauge";
        case MetricType::kHistogram: return "histogram";
    }
    return "untyped";
}

template <class M>
constexpr MetricType type_of() {
    if constexpr (std::is_same_v<M, Counter>) return MetricType::kCounter;
    if constexpr (std::is_same_v<M, Gauge>) return MetricType::kGauge;
    return MetricType::kHistogram;
}

}  // namespace

// Registration is rare (once per metric, before a run) and registries hold tens of metrics, so a
// linear scan under the lock is simpler than an index and costs nothing measurable.
template <class M>
M& MetricsRegistry::find_or_add(const std::string& name, const std::string& help,
                                const std::string& labels) {
    constexpr MetricType type = type_of<M>();
    if (!valid_metric_name(name)) {
        throw std::invalid_argument("metric name '" + name +
                                    "' does not match [a-zA-Z_:][a-zA-Z0-9_:]*");
    }
    check_labels(name, labels, type);
    const std::vector<std::string> mine = exposed_names(name, type);

    const std::lock_guard lock(mutex_);
    for (const auto& e : entries_) {
        if (e->name == name) {
            // One family, one type: Prometheus has no way to expose a family as two types.
            if (e->type != type) {
                throw std::invalid_argument("metric " + name + " is already registered as a " +
                                            type_name(e->type) + ", not a " + type_name(type));
            }
            if (e->labels == labels) return std::get<M>(e->metric);
            continue;
        }
        for (const std::string& theirs : exposed_names(e->name, e->type)) {
            if (std::find(mine.begin(), mine.end(), theirs) != mine.end()) {
                throw std::invalid_argument("metric " + name + " would expose " + theirs +
                                            ", which " + type_name(e->type) + " " + e->name +
                                            " already exposes");
            }
        }
    }
    entries_.push_back(std::make_unique<Entry>(name, help, labels, type, std::in_place_type<M>));
    return std::get<M>(entries_.back()->metric);
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const std::string& labels) {
    return find_or_add<Counter>(name, help, labels);
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const std::string& labels) {
    return find_or_add<Gauge>(name, help, labels);
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const std::string& labels) {
    return find_or_add<Histogram>(name, help, labels);
}

MetricsSnapshot MetricsRegistry::snapshot() const {
    MetricsSnapshot snap;
    const std::lock_guard lock(mutex_);
    snap.uptime_seconds = static_cast<double>(steady_now_ns() - created_ns_) * 1e-9;
    snap.samples.reserve(entries_.size());
    for (const auto& e : entries_) {
        MetricSample s;
        s.name = e->name;
        s.help = e->help;
        s.labels = e->labels;
        s.type = e->type;
        if (const auto* c = std::get_if<Counter>(&e->metric)) {
            s.value = static_cast<double>(c->value());
        } else if (const auto* g = std::get_if<Gauge>(&e->metric)) {
            s.value = static_cast<double>(g->value());
            s.max = static_cast<double>(g->max());
        } else {
            s.histogram = std::get<Histogram>(e->metric).snapshot();
        }
        snap.samples.push_back(std::move(s));
    }
    return snap;
}

}  // namespace engine

const MetricSample* MetricsSnapshot::find(const std::string& name,
                                          const std::string& labels) const {
    for (const MetricSample& s : samples) {
        if (s.name == name && s.labels == labels) return &s;
    }
    return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Exposition

namespace {

// Shortest text that parses back to the same double; Prometheus spells the specials +Inf, -Inf,
// NaN.
void append_number(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
    } else if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
    } else {
        char buf[32];
        const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
        assert(ec == std::errc());
        out.append(buf, end);
    }
}

void append_count(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    assert(ec == std::errc());
    out.append(buf, end);
}

// HELP text escapes only backslash and newline (format 0.0.4).
void append_help(std::string& out, const std::string& name, const std::string& help,
                 const char* type) {
    out += "# HELP ";
    out += name;
    out += ' ';
    for (const char c : help) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

// `name{labels[,extra]} ` (no braces when both are empty); labels were validated at registration.
void append_series(std::string& out, const std::string& name, const std::string& labels,
                   std::string_view extra = {}) {
    out += name;
    if (!labels.empty() || !extra.empty()) {
        out += '{';
        out += labels;
        if (!labels.empty() && !extra.empty()) out += ',';
        out += extra;
        out += '}';
    }
    out += ' ';
}

}  // namespace

std::string to_prometheus_text(const MetricsSnapshot& snapshot) {
    std::string out;
    // Families in first-registration order; each family's samples stay together, as the format
    // requires, even when their registrations were interleaved with other families.
    std::vector<std::vector<const MetricSample*>> families;
    for (const MetricSample& s : snapshot.samples) {
        const auto it = std::find_if(families.begin(), families.end(),
                                     [&](const auto& f) { return f.front()->name == s.name; });
        if (it == families.end()) {
            families.push_back({&s});
        } else {
            it->push_back(&s);
        }
    }

    std::string le;
    for (const auto& family : families) {
        const MetricSample& first = *family.front();
        append_help(out, first.name, first.help, engine::type_name(first.type));
        for (const MetricSample* s : family) {
            switch (s->type) {
                case MetricType::kCounter:
                case MetricType::kGauge:
                    append_series(out, s->name, s->labels);
                    append_number(out, s->value);
                    out += '\n';
                    break;
                case MetricType::kHistogram: {
                    const HistogramSnapshot& h = s->histogram;
                    const std::string bucket = s->name + "_bucket";
                    for (std::size_t i = 0; i < h.cumulative.size(); ++i) {
                        le = "le=\"";
                        if (i < h.bounds.size()) {
                            append_number(le, h.bounds[i]);
                        } else {
                            le += "+Inf";
                        }
                        le += '"';
                        append_series(out, bucket, s->labels, le);
                        append_count(out, h.cumulative[i]);
                        out += '\n';
                    }
                    append_series(out, s->name + "_sum", s->labels);
                    append_number(out, h.sum);
                    out += '\n';
                    append_series(out, s->name + "_count", s->labels);
                    append_count(out, h.count);
                    out += '\n';
                    break;
                }
            }
        }
        if (first.type == MetricType::kGauge) {
            const std::string max_name = first.name + "_max";
            append_help(out, max_name, first.help + " (largest value held)", "gauge");
            for (const MetricSample* s : family) {
                append_series(out, max_name, s->labels);
                append_number(out, s->max);
                out += '\n';
            }
        }
    }
    return out;
}

}  // namespace tbbpipe
