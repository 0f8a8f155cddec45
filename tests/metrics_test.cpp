// Metrics unit tests: histogram percentiles against exact order statistics, exact totals under
// concurrent recording, snapshots racing recorders, and the Prometheus text exposition parsed back
// line by line (and checked by promtool when it is installed).
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <latch>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "engine/metrics.hpp"

namespace tbbpipe::engine {
namespace {

constexpr int kThreads = 8;
constexpr int kOpsPerThread = 100'000;

// The exact q-order statistic as percentile() defines it: the value of rank ceil(q * n).
double exact_percentile(const std::vector<double>& sorted, double q) {
    const auto rank = std::max<std::size_t>(
        1, static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size()))));
    return sorted[rank - 1];
}

void expect_percentiles_close(const std::vector<double>& values, const char* what) {
    Histogram h;
    for (const double v : values) h.record(v);
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const HistogramSnapshot snap = h.snapshot();
    ASSERT_EQ(snap.count, values.size()) << what;
    for (const double q : {0.5, 0.95, 0.99}) {
        const double exact = exact_percentile(sorted, q);
        const double estimate = snap.percentile(q);
        EXPECT_NEAR(estimate, exact, 0.07 * exact) << what << " q=" << q;
    }
    EXPECT_EQ(snap.percentile(1.0), sorted.back()) << what << ": P100 is the exact max";
    EXPECT_LE(snap.percentile(0.999), sorted.back()) << what;
}

TEST(HistogramPercentile, UniformMicrosToMillis) {
    std::mt19937_64 rng(1);
    std::uniform_real_distribution<double> dist(1e-6, 1e-2);
    std::vector<double> values(100'000);
    for (double& v : values) v = dist(rng);
    expect_percentiles_close(values, "uniform 1us..10ms");
}

TEST(HistogramPercentile, LogNormal) {
    std::mt19937_64 rng(2);
    std::lognormal_distribution<double> dist(std::log(200e-6), 1.0);  // median 200 us
    std::vector<double> values(100'000);
    for (double& v : values) v = dist(rng);
    expect_percentiles_close(values, "log-normal");
}

TEST(HistogramPercentile, BimodalMix) {
    std::mt19937_64 rng(3);
    std::normal_distribution<double> fast(50e-6, 5e-6);  // cache hits
    std::normal_distribution<double> slow(20e-3, 2e-3);  // disk
    std::bernoulli_distribution is_slow(0.3);
    std::vector<double> values(100'000);
    for (double& v : values) v = std::max(1e-6, is_slow(rng) ? slow(rng) : fast(rng));
    expect_percentiles_close(values, "bimodal");
}

TEST(HistogramPercentile, EmptyIsZero) {
    Histogram h;
    const HistogramSnapshot snap = h.snapshot();
    EXPECT_EQ(snap.count, 0u);
    EXPECT_EQ(snap.percentile(0.5), 0.0);
    EXPECT_EQ(snap.percentile(0.99), 0.0);
    EXPECT_EQ(HistogramSnapshot{}.percentile(0.5), 0.0);
}

TEST(HistogramPercentile, SingleValueIsThatValue) {
    for (const double v : {3.7e-5, 0.25, 1e-9, 500.0}) {  // in range, and clamped at both ends
        Histogram h;
        h.record(v);
        const HistogramSnapshot snap = h.snapshot();
        for (const double q : {0.01, 0.5, 0.99, 1.0}) {
            EXPECT_DOUBLE_EQ(snap.percentile(q), v) << "value " << v << " q=" << q;
        }
    }
}

TEST(Histogram, ClampedValuesKeepExactSumAndMax) {
    Histogram h;
    h.record(1e-9);          // below the first fine bucket
    h.record(1000.0);        // above the last
    h.record(-1.0);          // not a duration: counted as 0
    h.record(std::nan(""));  // dropped
    const HistogramSnapshot snap = h.snapshot();
    EXPECT_EQ(snap.count, 3u);
    EXPECT_DOUBLE_EQ(snap.sum, 1000.0 + 1e-9);
    EXPECT_EQ(snap.max, 1000.0);
    EXPECT_EQ(snap.cumulative.front(), 2u);                  // 0 and 1e-9 are <= 2^-20
    EXPECT_EQ(snap.cumulative[snap.bounds.size() - 1], 2u);  // 1000 s is above 16 s
    EXPECT_EQ(snap.cumulative.back(), 3u);
}

TEST(Histogram, ExpositionBucketsArePowersOfTwoWithLeSemantics) {
    Histogram h;
    const HistogramSnapshot empty = h.snapshot();
    ASSERT_EQ(empty.bounds.size(), 25u);
    ASSERT_EQ(empty.cumulative.size(), 26u);
    EXPECT_EQ(empty.bounds.front(), std::ldexp(1.0, -20));
    EXPECT_EQ(empty.bounds.back(), 16.0);
    ASSERT_EQ(empty.fine_edges.size(), empty.fine_counts.size());
    EXPECT_TRUE(std::is_sorted(empty.fine_edges.begin(), empty.fine_edges.end()));

    // A value exactly on a bound belongs to that bound (le means <=); one ulp above does not.
    h.record(std::ldexp(1.0, -10));
    h.record(std::nextafter(std::ldexp(1.0, -10), 1.0));
    h.record(std::ldexp(1.0, 4));
    const HistogramSnapshot snap = h.snapshot();
    for (std::size_t i = 0; i < snap.bounds.size(); ++i) {
        const double b = snap.bounds[i];
        const std::uint64_t expected = (b >= std::ldexp(1.0, -10) ? 1u : 0u) +
                                       (b > std::ldexp(1.0, -10) ? 1u : 0u) + (b >= 16.0 ? 1u : 0u);
        EXPECT_EQ(snap.cumulative[i], expected) << "le=" << b;
    }
    // The exposition buckets are exact aggregates of the fine buckets.
    for (std::size_t i = 0; i < snap.bounds.size(); ++i) {
        std::uint64_t fine = 0;
        for (std::size_t j = 0; j + 1 < snap.fine_edges.size(); ++j) {
            if (snap.fine_edges[j + 1] <= snap.bounds[i]) fine += snap.fine_counts[j];
        }
        EXPECT_EQ(snap.cumulative[i], fine) << "le=" << snap.bounds[i];
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrency

template <class Body>
void run_threads(Body body) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(body, t);
    for (std::thread& th : threads) th.join();
}

TEST(MetricsConcurrency, CounterTotalIsExact) {
    Counter c;
    run_threads([&](int) {
        for (int i = 0; i < kOpsPerThread; ++i) c.add();
    });
    EXPECT_EQ(c.value(), std::uint64_t{kThreads} * kOpsPerThread);
    c.add(5);
    EXPECT_EQ(c.value(), std::uint64_t{kThreads} * kOpsPerThread + 5);
}

TEST(MetricsConcurrency, GaugeTotalAndMaxAreExact) {
    Gauge up;
    run_threads([&](int) {
        for (int i = 0; i < kOpsPerThread; ++i) up.add(1);
    });
    EXPECT_EQ(up.value(), std::int64_t{kThreads} * kOpsPerThread);
    EXPECT_EQ(up.max(), std::int64_t{kThreads} * kOpsPerThread);

    // Balanced take/give: back to zero, and the max is what could ever be held at once.
    Gauge held;
    run_threads([&](int) {
        for (int i = 0; i < kOpsPerThread; ++i) {
            held.add(1);
            held.add(-1);
        }
    });
    EXPECT_EQ(held.value(), 0);
    EXPECT_GE(held.max(), 1);
    EXPECT_LE(held.max(), kThreads);

    // set() raises the max but does not lower it.
    Gauge g;
    g.set(42);
    g.set(7);
    EXPECT_EQ(g.value(), 7);
    EXPECT_EQ(g.max(), 42);
}

TEST(MetricsConcurrency, HistogramCountExactSumClose) {
    Histogram h;
    run_threads([&](int t) {
        for (int i = 0; i < kOpsPerThread; ++i) h.record(1e-6 * (t + 1) + 1e-9 * (i % 1000));
    });
    double expected_sum = 0;
    for (int t = 0; t < kThreads; ++t) {
        for (int i = 0; i < kOpsPerThread; ++i) expected_sum += 1e-6 * (t + 1) + 1e-9 * (i % 1000);
    }
    const HistogramSnapshot snap = h.snapshot();
    EXPECT_EQ(snap.count, std::uint64_t{kThreads} * kOpsPerThread);
    EXPECT_EQ(snap.cumulative.back(), snap.count);
    EXPECT_NEAR(snap.sum, expected_sum, expected_sum * 1e-9);
    EXPECT_DOUBLE_EQ(snap.max, 1e-6 * kThreads + 1e-9 * 999);
}

// More threads than shards: several threads share each shard, so every field must be an atomic
// read-modify-write (a shard per thread would hide a plain load + store).
TEST(MetricsConcurrency, SharedShardsStayExact) {
    constexpr int kManyThreads = 48;
    constexpr int kOps = 200'000;
    Histogram h;
    std::latch start(kManyThreads);  // all threads record at once, not one after another
    std::vector<std::thread> threads;
    for (int t = 0; t < kManyThreads; ++t) {
        threads.emplace_back([&] {
            start.arrive_and_wait();
            for (int i = 0; i < kOps; ++i) h.record(0.5);  // exact in binary: the sum is exact
        });
    }
    for (std::thread& th : threads) th.join();
    const HistogramSnapshot snap = h.snapshot();
    EXPECT_EQ(snap.count, std::uint64_t{kManyThreads} * kOps);
    EXPECT_EQ(snap.sum, 0.5 * kManyThreads * kOps);
}

TEST(MetricsConcurrency, SnapshotWhileRecordingIsMonotonic) {
    MetricsRegistry registry;
    Histogram& h = registry.histogram("race_seconds", "racing");
    Counter& c = registry.counter("race_total", "racing");
    std::atomic<bool> done{false};
    std::uint64_t snapshots = 0;
    bool monotonic = true;
    bool consistent = true;
    std::thread reader([&] {
        std::uint64_t last_count = 0;
        double last_counter = 0;
        while (!done.load(std::memory_order_acquire) || snapshots < 3) {
            const MetricsSnapshot snap = registry.snapshot();
            const MetricSample* hs = snap.find("race_seconds");
            const MetricSample* cs = snap.find("race_total");
            if (!hs || !cs) {
                consistent = false;
                break;
            }
            const HistogramSnapshot& hist = hs->histogram;
            if (hist.count < last_count || cs->value < last_counter) monotonic = false;
            if (hist.cumulative.back() != hist.count) consistent = false;
            if (!std::is_sorted(hist.cumulative.begin(), hist.cumulative.end())) consistent = false;
            last_count = hist.count;
            last_counter = cs->value;
            ++snapshots;
        }
    });
    run_threads([&](int t) {
        for (int i = 0; i < kOpsPerThread; ++i) {
            h.record(1e-5 * (1 + (i + t) % 100));
            c.add();
        }
    });
    done.store(true, std::memory_order_release);
    reader.join();
    EXPECT_TRUE(monotonic);
    EXPECT_TRUE(consistent);
    EXPECT_GE(snapshots, 3u);
    const MetricsSnapshot final_snap = registry.snapshot();
    EXPECT_EQ(final_snap.find("race_seconds")->histogram.count,
              std::uint64_t{kThreads} * kOpsPerThread);
    EXPECT_EQ(final_snap.find("race_total")->value, double{kThreads} * kOpsPerThread);
}

// ---------------------------------------------------------------------------------------------
// Registry

TEST(MetricsRegistry, ReturnsTheSameMetricForTheSameNameAndLabels) {
    MetricsRegistry registry;
    Counter& a = registry.counter("files_total", "Files", "status=\"ok\"");
    Counter& b = registry.counter("files_total", "Files", "status=\"ok\"");
    Counter& c = registry.counter("files_total", "Files", "status=\"failed\"");
    EXPECT_EQ(&a, &b);
    EXPECT_NE(&a, &c);
    a.add(3);
    c.add(1);
    const MetricsSnapshot snap = registry.snapshot();
    ASSERT_EQ(snap.samples.size(), 2u);
    EXPECT_EQ(snap.samples[0].labels, "status=\"ok\"");  // registration order
    EXPECT_EQ(snap.find("files_total", "status=\"ok\"")->value, 3.0);
    EXPECT_EQ(snap.find("files_total", "status=\"failed\"")->value, 1.0);
    EXPECT_EQ(snap.find("files_total"), nullptr);
    EXPECT_GE(snap.uptime_seconds, 0.0);
}

TEST(MetricsRegistry, UptimeAdvances) {
    MetricsRegistry registry;
    const double first = registry.snapshot().uptime_seconds;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const double second = registry.snapshot().uptime_seconds;
    EXPECT_GE(second - first, 0.015);
}

TEST(MetricsRegistry, InvalidNamesThrow) {
    MetricsRegistry registry;
    for (const char* bad : {"", "1abc", "has-dash", "has space", "dot.ted", "ünï"}) {
        EXPECT_THROW(registry.counter(bad, "h"), std::invalid_argument) << bad;
    }
    EXPECT_NO_THROW(registry.counter("ok_name:sub_1", "h"));
    EXPECT_NO_THROW(registry.gauge("_leading", "h"));
    EXPECT_NO_THROW(registry.histogram(":colon", "h"));
}

TEST(MetricsRegistry, MalformedLabelsThrow) {
    MetricsRegistry registry;
    for (const char* bad :
         {"kind=cpu", "kind=\"cpu", "kind=\"a\"b\"", "kind=\"x\",", "=\"x\"", "1k=\"x\"",
          "__name=\"x\"", "k=\"x\",k=\"y\"", "k=\"a\nb\"", "k=\"a\\tb\"", "k=\"x\" "}) {
        EXPECT_THROW(registry.counter("c_total", "h", bad), std::invalid_argument) << bad;
    }
    EXPECT_THROW(registry.histogram("h_seconds", "h", "le=\"1\""), std::invalid_argument);
    EXPECT_NO_THROW(registry.gauge("g", "h", "le=\"1\""));  // only histograms own `le`
    EXPECT_NO_THROW(registry.counter("c_total", "h", "a=\"1\",b_2=\"q\\\"\\\\\\n\""));
}

TEST(MetricsRegistry, SameNameDifferentTypeThrows) {
    MetricsRegistry registry;
    registry.counter("work", "h");
    EXPECT_THROW(registry.gauge("work", "h"), std::invalid_argument);
    EXPECT_THROW(registry.histogram("work", "h"), std::invalid_argument);
    // A family has one type whatever its labels.
    EXPECT_THROW(registry.gauge("work", "h", "kind=\"x\""), std::invalid_argument);
    // Names the exposition derives collide too.
    registry.gauge("depth", "h");
    EXPECT_THROW(registry.counter("depth_max", "h"), std::invalid_argument);
    registry.histogram("lat_seconds", "h");
    EXPECT_THROW(registry.counter("lat_seconds_count", "h"), std::invalid_argument);
    EXPECT_THROW(registry.gauge("lat_seconds_bucket", "h"), std::invalid_argument);
    EXPECT_EQ(registry.snapshot().samples.size(), 3u);
}

// ---------------------------------------------------------------------------------------------
// Exposition, parsed back

struct ParsedSample {
    std::string name;
    std::map<std::string, std::string> labels;  // unescaped values
    std::string value;
};

struct Parsed {
    std::vector<std::pair<std::string, std::string>> help;  // name, unescaped text
    std::vector<std::pair<std::string, std::string>> type;
    std::vector<ParsedSample> samples;
    std::vector<std::string> errors;

    double number(const std::string& name, const std::map<std::string, std::string>& labels) const {
        for (const ParsedSample& s : samples) {
            if (s.name == name && s.labels == labels) return std::stod(s.value);
        }
        ADD_FAILURE() << "no sample " << name;
        return NAN;
    }
};

std::string unescape(const std::string& s, bool quotes_allowed, std::string* error) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out += s[i];
            continue;
        }
        if (++i == s.size()) {
            *error = "dangling backslash";
            break;
        }
        if (s[i] == 'n') {
            out += '\n';
        } else if (s[i] == '\\' || (quotes_allowed && s[i] == '"')) {
            out += s[i];
        } else {
            *error = std::string("bad escape \\") + s[i];
        }
    }
    return out;
}

// The subset of format 0.0.4 that to_prometheus_text emits: `# HELP n text`, `# TYPE n t`, and
// `n{a="v",...} value` or `n value`. Anything else is recorded as an error.
Parsed parse_exposition(const std::string& text) {
    Parsed p;
    if (!text.empty() && text.back() != '\n') p.errors.push_back("no final newline");
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t eol = text.find('\n', pos);
        const std::string line = text.substr(pos, eol - pos);
        pos = eol == std::string::npos ? text.size() : eol + 1;
        std::string error;
        if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
            const std::string rest = line.substr(7);
            const std::size_t sp = rest.find(' ');
            if (sp == std::string::npos) {
                p.errors.push_back("comment without text: " + line);
                continue;
            }
            auto& list = line[2] == 'H' ? p.help : p.type;
            list.emplace_back(rest.substr(0, sp), line[2] == 'H'
                                                      ? unescape(rest.substr(sp + 1), false, &error)
                                                      : rest.substr(sp + 1));
        } else if (line.empty() || line[0] == '#') {
            p.errors.push_back("unexpected line: " + line);
        } else {
            ParsedSample s;
            std::size_t i = 0;
            while (i < line.size() && line[i] != '{' && line[i] != ' ') s.name += line[i++];
            if (i < line.size() && line[i] == '{') {
                ++i;
                while (i < line.size() && line[i] != '}') {
                    std::string key;
                    while (i < line.size() && line[i] != '=') key += line[i++];
                    if (line.compare(i, 2, "=\"") != 0) {
                        error = "label without =\"";
                        break;
                    }
                    i += 2;
                    std::string raw;
                    while (i < line.size() && line[i] != '"') {
                        if (line[i] == '\\' && i + 1 < line.size()) raw += line[i++];
                        raw += line[i++];
                    }
                    ++i;  // closing quote
                    if (!s.labels.emplace(key, unescape(raw, true, &error)).second) {
                        error = "duplicate label " + key;
                    }
                    if (i < line.size() && line[i] == ',') ++i;
                }
                ++i;  // closing brace
            }
            if (i >= line.size() || line[i] != ' ') {
                error = "no space before the value";
            } else {
                s.value = line.substr(i + 1);
                if (s.value.empty() || s.value.find(' ') != std::string::npos) error = "bad value";
                try {
                    if (s.value != "+Inf" && s.value != "-Inf" && s.value != "NaN") {
                        std::size_t used = 0;
                        std::stod(s.value, &used);
                        if (used != s.value.size()) error = "trailing junk in value";
                    }
                } catch (const std::exception&) {
                    error = "unparseable value";
                }
            }
            p.samples.push_back(std::move(s));
        }
        if (!error.empty()) p.errors.push_back(error + ": " + line);
    }
    return p;
}

// A registry with every kind of metric, labels that need escaping, and a help text with a
// backslash and a newline.
struct ExampleRegistry {
    MetricsRegistry registry;
    ExampleRegistry() {
        registry.counter("tbbpipe_chunks_total", "Chunks written").add(41);
        registry.gauge("tbbpipe_cpu_tokens_in_use", "CPU tokens held", "pool=\"a\"").set(3);
        Histogram& h = registry.histogram("tbbpipe_transform_seconds",
                                          "Transform time\\per chunk\nsecond line");
        for (int i = 1; i <= 1000; ++i) h.record(1e-6 * i);
        h.record(100.0);  // beyond the last bound: only +Inf holds it
        registry.counter("tbbpipe_files_total", "Files processed", "status=\"ok\"").add(7);
        // Same families again, other labels, registered after other families.
        registry.gauge("tbbpipe_cpu_tokens_in_use", "CPU tokens held", "pool=\"b\"").add(-2);
        registry
            .histogram("tbbpipe_transform_seconds", "ignored", "path=\"C:\\\\tmp\\\"x\\\"\\nnext\"")
            .record(0.5);
        registry.counter("tbbpipe_files_total", "Files processed", "status=\"failed\"").add(1);
    }
};

TEST(PrometheusText, RoundTripsThroughAParser) {
    ExampleRegistry ex;
    const MetricsSnapshot snap = ex.registry.snapshot();
    const std::string text = to_prometheus_text(snap);
    const Parsed p = parse_exposition(text);
    EXPECT_TRUE(p.errors.empty()) << ::testing::PrintToString(p.errors) << "\n" << text;

    // One HELP and one TYPE per family, HELP then TYPE, in first-registration order.
    const std::vector<std::string> families = {"tbbpipe_chunks_total", "tbbpipe_cpu_tokens_in_use",
                                               "tbbpipe_cpu_tokens_in_use_max",
                                               "tbbpipe_transform_seconds", "tbbpipe_files_total"};
    ASSERT_EQ(p.help.size(), families.size()) << text;
    ASSERT_EQ(p.type.size(), families.size()) << text;
    for (std::size_t i = 0; i < families.size(); ++i) {
        EXPECT_EQ(p.help[i].first, families[i]);
        EXPECT_EQ(p.type[i].first, families[i]);
    }
    EXPECT_EQ(p.type[0].second, "counter");
    EXPECT_EQ(p.type[1].second, "gauge");
    EXPECT_EQ(p.type[2].second, "gauge");
    EXPECT_EQ(p.type[3].second, "histogram");
    EXPECT_EQ(p.help[2].second, "CPU tokens held (largest value held)");
    EXPECT_EQ(p.help[3].second, "Transform time\\per chunk\nsecond line");  // escaped, then back
    EXPECT_NE(text.find("# HELP tbbpipe_transform_seconds Transform time\\\\per chunk\\nsecond "
                        "line\n# TYPE"),
              std::string::npos)
        << "a backslash and a newline in help must be escaped\n"
        << text;

    // Each family's samples are contiguous and follow its TYPE line.
    std::set<std::string> closed;
    std::string current;
    for (const ParsedSample& s : p.samples) {
        std::string family = s.name;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            if (family == "tbbpipe_transform_seconds" + std::string(suffix)) {
                family = "tbbpipe_transform_seconds";
            }
        }
        if (family != current) {
            EXPECT_FALSE(closed.count(family)) << family << " is split";
            closed.insert(current);
            current = family;
        }
    }

    // Values.
    EXPECT_EQ(p.number("tbbpipe_chunks_total", {}), 41);
    EXPECT_EQ(p.number("tbbpipe_files_total", {{"status", "ok"}}), 7);
    EXPECT_EQ(p.number("tbbpipe_files_total", {{"status", "failed"}}), 1);
    EXPECT_EQ(p.number("tbbpipe_cpu_tokens_in_use", {{"pool", "a"}}), 3);
    EXPECT_EQ(p.number("tbbpipe_cpu_tokens_in_use", {{"pool", "b"}}), -2);
    EXPECT_EQ(p.number("tbbpipe_cpu_tokens_in_use_max", {{"pool", "a"}}), 3);
    EXPECT_EQ(p.number("tbbpipe_cpu_tokens_in_use_max", {{"pool", "b"}}), 0);

    // Histograms: every bound plus +Inf, non-decreasing, +Inf == _count, _sum as recorded, and
    // the label value with a backslash, quotes and a newline survives escaping.
    const std::string tricky = "C:\\tmp\"x\"\nnext";
    for (const std::map<std::string, std::string>& labels :
         {std::map<std::string, std::string>{},
          std::map<std::string, std::string>{{"path", tricky}}}) {
        const MetricSample* s =
            snap.find("tbbpipe_transform_seconds",
                      labels.empty() ? "" : "path=\"C:\\\\tmp\\\"x\\\"\\nnext\"");
        ASSERT_NE(s, nullptr);
        std::vector<std::pair<std::string, double>> buckets;
        for (const ParsedSample& ps : p.samples) {
            if (ps.name != "tbbpipe_transform_seconds_bucket") continue;
            std::map<std::string, std::string> rest = ps.labels;
            const auto le = rest.find("le");
            ASSERT_NE(le, rest.end());
            const std::string bound = le->second;
            rest.erase(le);
            if (rest == labels) buckets.emplace_back(bound, std::stod(ps.value));
        }
        ASSERT_EQ(buckets.size(), 26u);
        EXPECT_EQ(buckets.back().first, "+Inf");
        for (std::size_t i = 1; i < buckets.size(); ++i) {
            EXPECT_LE(buckets[i - 1].second, buckets[i].second) << "le=" << buckets[i].first;
            if (i + 1 < buckets.size()) {
                EXPECT_LT(std::stod(buckets[i - 1].first), std::stod(buckets[i].first));
            }
        }
        EXPECT_EQ(std::stod(buckets.front().first), std::ldexp(1.0, -20));
        EXPECT_EQ(std::stod(buckets[24].first), 16.0);
        const double count = p.number("tbbpipe_transform_seconds_count", labels);
        EXPECT_EQ(buckets.back().second, count);
        EXPECT_EQ(count, static_cast<double>(s->histogram.count));
        EXPECT_EQ(p.number("tbbpipe_transform_seconds_sum", labels), s->histogram.sum);
    }
    const double unlabelled_count = p.number("tbbpipe_transform_seconds_count", {});
    EXPECT_EQ(unlabelled_count, 1001);
    EXPECT_NEAR(p.number("tbbpipe_transform_seconds_sum", {}), 100.0 + 1e-6 * 500 * 1001, 1e-9);
    EXPECT_EQ(p.number("tbbpipe_transform_seconds_count", {{"path", tricky}}), 1);
}

TEST(PrometheusText, ExactLines) {
    MetricsRegistry registry;
    registry.counter("a_total", "A").add(2);
    registry.gauge("g", "G", "k=\"v\"").set(-5);
    const std::string text = to_prometheus_text(registry.snapshot());
    EXPECT_EQ(text,
              "# HELP a_total A\n# TYPE a_total counter\na_total 2\n"
              "# HELP g G\n# TYPE g gauge\ng{k=\"v\"} -5\n"
              "# HELP g_max G (largest value held)\n# TYPE g_max gauge\ng_max{k=\"v\"} 0\n");
}

TEST(PrometheusText, SpecialNumbers) {
    MetricsSnapshot snap;
    MetricSample s;
    s.name = "x";
    s.type = MetricType::kGauge;
    s.value = std::numeric_limits<double>::infinity();
    s.max = std::nan("");
    snap.samples.push_back(s);
    s.name = "y";
    s.value = -std::numeric_limits<double>::infinity();
    s.max = 0.1;
    snap.samples.push_back(s);
    const std::string text = to_prometheus_text(snap);
    EXPECT_NE(text.find("\nx +Inf\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nx_max NaN\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\ny -Inf\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\ny_max 0.1\n"), std::string::npos) << text;  // shortest round trip
}

TEST(PrometheusText, PromtoolAccepts) {
    if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
        GTEST_SKIP() << "promtool not on PATH (Debian package: prometheus); skipping the "
                        "external format check";
    }
    ExampleRegistry ex;
    const std::string text = to_prometheus_text(ex.registry.snapshot());
    const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                       ("metrics_test_" + std::to_string(::getpid()) + ".prom");
    {
        std::ofstream out(file, std::ios::binary);
        out << text;
        ASSERT_TRUE(out.good());
    }
    const std::string command = "promtool check metrics < '" + file.string() + "'";
    const int rc = std::system(command.c_str());
    std::filesystem::remove(file);
    EXPECT_EQ(rc, 0) << command << "\n" << text;
}

}  // namespace
}  // namespace tbbpipe::engine
