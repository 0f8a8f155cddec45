// tbbpipe-lab tests: the rules (spec parsing, size plans, knee, scaling) as unit tests, then the
// real tbbpipe-lab binary driving the real tbbpipe on a few MiB. Nothing asserts a speed: the
// machine is shared, so only shapes, names and exit codes are checked.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <regex>
#include <sstream>
#include <variant>

#include "apps/lab/dataset_spec.hpp"
#include "apps/lab/knee.hpp"
#include "apps/lab/lab_reports.hpp"
#include "apps/lab/sweep_runner.hpp"
#include "apps/lab/trial_runner.hpp"
#include "tests/test_support.hpp"

namespace tbbpipe {
namespace {

using testing::ScratchDir;

// ---- a minimal JSON reader: enough to check the shape of results.json -----------------------

struct Json;
using JsonObject = std::map<std::string, Json>;
using JsonArray = std::vector<Json>;
struct Json {
    std::variant<std::nullptr_t, bool, double, std::string, std::shared_ptr<JsonArray>,
                 std::shared_ptr<JsonObject>>
        v;
    bool is_object() const { return std::holds_alternative<std::shared_ptr<JsonObject>>(v); }
    bool is_array() const { return std::holds_alternative<std::shared_ptr<JsonArray>>(v); }
    bool is_string() const { return std::holds_alternative<std::string>(v); }
    bool is_number() const { return std::holds_alternative<double>(v); }
    const JsonObject& obj() const { return *std::get<std::shared_ptr<JsonObject>>(v); }
    const JsonArray& arr() const { return *std::get<std::shared_ptr<JsonArray>>(v); }
    const std::string& str() const { return std::get<std::string>(v); }
    double num() const { return std::get<double>(v); }
    const Json& at(const std::string& key) const { return obj().at(key); }
};

class JsonReader {
public:
    explicit JsonReader(const std::string& text) : s_(text) {}
    Json document() {
        Json j = value();
        space();
        if (i_ != s_.size()) fail("trailing text");
        return j;
    }

private:
    [[noreturn]] void fail(const std::string& what) {
        throw std::runtime_error("JSON: " + what + " at " + std::to_string(i_));
    }
    void space() {
        while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    bool eat(const std::string& word) {
        if (s_.compare(i_, word.size(), word) != 0) return false;
        i_ += word.size();
        return true;
    }
    std::string string() {
        if (!eat("\"")) fail("expected a string");
        std::string out;
        while (i_ < s_.size() && s_[i_] != '"') {
            if (s_[i_] == '\\') {
                ++i_;
                if (i_ >= s_.size()) fail("bad escape");
                const char c = s_[i_];
                if (c == 'u') {
                    i_ += 4;  // control characters only: their text does not matter here
                    out += '?';
                } else {
                    out += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
                }
            } else {
                out += s_[i_];
            }
            ++i_;
        }
        if (!eat("\"")) fail("unterminated string");
        return out;
    }
    Json value() {
        space();
        if (i_ >= s_.size()) fail("unexpected end");
        const char c = s_[i_];
        if (c == '{') {
            ++i_;
            auto o = std::make_shared<JsonObject>();
            space();
            if (!eat("}")) {
                do {
                    space();
                    const std::string k = string();
                    space();
                    if (!eat(":")) fail("expected ':'");
                    (*o)[k] = value();
                    space();
                } while (eat(","));
                if (!eat("}")) fail("expected '}'");
            }
            return Json{o};
        }
        if (c == '[') {
            ++i_;
            auto a = std::make_shared<JsonArray>();
            space();
            if (!eat("]")) {
                do {
                    a->push_back(value());
                    space();
                } while (eat(","));
                if (!eat("]")) fail("expected ']'");
            }
            return Json{a};
        }
        if (c == '"') return Json{string()};
        if (eat("null")) return Json{nullptr};
        if (eat("true")) return Json{true};
        if (eat("false")) return Json{false};
        std::size_t used = 0;
        const double d = std::stod(s_.substr(i_, 40), &used);
        if (used == 0) fail("expected a value");
        i_ += used;
        return Json{d};
    }

    const std::string& s_;
    std::size_t i_ = 0;
};

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
    // The lab quotes only fields with commas or quotes (error texts); enough for these checks.
    std::vector<std::vector<std::string>> rows;
    std::istringstream in(slurp(path));
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> fields(1);
        bool quoted = false;
        for (std::size_t i = 0; i < line.size(); ++i) {
            const char c = line[i];
            if (c == '"' && quoted && i + 1 < line.size() && line[i + 1] == '"') {
                fields.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = !quoted;
            } else if (c == ',' && !quoted) {
                fields.emplace_back();
            } else {
                fields.back() += c;
            }
        }
        rows.push_back(fields);
    }
    return rows;
}

std::size_t column(const std::vector<std::string>& header, const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    EXPECT_NE(it, header.end()) << "no column " << name;
    return static_cast<std::size_t>(it - header.begin());
}

bool exists(const std::string& path) {
    return std::filesystem::exists(path);
}

bool gnuplot_installed() {
    return std::system("command -v gnuplot >/dev/null 2>&1") == 0;
}

// ---- unit: the rules ---------------------------------------------------------------------------

TEST(LabRules, DatasetSpecParsesEveryKeyAndRefusesNonsenseByName) {
    const auto spec =
        lab::parse_dataset_spec("total=4MiB,files=3,dist=uniform,compress=0.5,seed=9");
    EXPECT_EQ(spec.total, 4u << 20);
    EXPECT_EQ(spec.files, 3u);
    EXPECT_EQ(spec.dist, lab::SizeDistribution::kUniform);
    EXPECT_DOUBLE_EQ(spec.compress, 0.5);
    EXPECT_EQ(spec.seed, 9u);
    EXPECT_EQ(lab::parse_dataset_spec(spec.to_string()).to_string(), spec.to_string());
    // compress is the share of compressible bytes; 0.75 is perf's default mix exactly.
    const auto mix = lab::parse_dataset_spec("total=1M,compress=0.75").mix();
    EXPECT_EQ(mix.random * 3, mix.text + mix.binary);
    EXPECT_EQ(mix.text, 2 * mix.binary);

    const std::vector<std::pair<std::string, std::string>> bad = {
        {"files=3", "total"},
        {"total=4MiB,foo=1", "foo"},
        {"total=4MiB,dist=zipf", "zipf"},
        {"total=4MiB,compress=1.5", "compress"},
        {"total=4Q", "4Q"},
        {"total=4MiB,files=0", "files"},
        {"total=4MiB,,files=2", "empty"},
        {"total=4MiB,total=5MiB", "twice"},
        {"total=4MiB,dist=fixed,sigma=2", "sigma"},
        {"total", "key=value"}};
    for (const auto& [text, word] : bad) {
        try {
            (void)lab::parse_dataset_spec(text);
            ADD_FAILURE() << "accepted " << text;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(word), std::string::npos)
                << text << ": " << e.what();
        }
    }
}

TEST(LabRules, FileSizesSumExactlyAndAreDeterministic) {
    for (const char* text :
         {"total=1000003,files=7,dist=fixed", "total=64MiB,files=64,dist=uniform",
          "total=64MiB,files=64,dist=lognormal,sigma=2", "total=5,files=5"}) {
        const auto spec = lab::parse_dataset_spec(text);
        const auto sizes = lab::plan_file_sizes(spec);
        ASSERT_EQ(sizes.size(), spec.files) << text;
        EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), std::uint64_t{0}), spec.total)
            << text;
        EXPECT_EQ(sizes, lab::plan_file_sizes(spec)) << text;
    }
    const auto fixed =
        lab::plan_file_sizes(lab::parse_dataset_spec("total=1000003,files=7,dist=fixed"));
    EXPECT_LE(*std::max_element(fixed.begin(), fixed.end()) -
                  *std::min_element(fixed.begin(), fixed.end()),
              1u);
    // Lognormal is skewed: the largest of 64 files is well above the mean.
    const auto skewed = lab::plan_file_sizes(lab::parse_dataset_spec("total=64MiB,files=64"));
    EXPECT_GT(*std::max_element(skewed.begin(), skewed.end()), 2u << 20);
    // A different seed is a different plan.
    EXPECT_NE(skewed, lab::plan_file_sizes(lab::parse_dataset_spec("total=64MiB,files=64,seed=2")));
}

TEST(LabRules, KneeIsTheFirstValueWithinNinetyPercentOfTheBest) {
    EXPECT_EQ(lab::find_knee({400, 780, 800, 810}), 1u);  // 780 >= 729
    EXPECT_EQ(lab::find_knee({400, 700, 800, 810}), 2u);  // 700 < 729
    EXPECT_EQ(lab::find_knee({810, 400, 300}), 0u);       // falling curve: the first value
    EXPECT_EQ(lab::find_knee({0, 500, 0}), 1u);           // failed points are skipped
    EXPECT_EQ(lab::find_knee({0, 0}), std::nullopt);
    EXPECT_EQ(lab::find_knee({}), std::nullopt);
    EXPECT_EQ(lab::find_best({400, 810, 800}), 1u);
}

TEST(LabRules, ScalingIsSpeedupAndEfficiencyAgainstOneThread) {
    const auto s = lab::scaling_vs_one(2.0, 1.25, 2);
    ASSERT_TRUE(s);
    EXPECT_DOUBLE_EQ(s->speedup, 1.6);
    EXPECT_DOUBLE_EQ(s->efficiency, 0.8);
    EXPECT_FALSE(lab::scaling_vs_one(0, 1, 2));
    EXPECT_TRUE(lab::is_thread_parameter("cpu-tokens"));
    EXPECT_FALSE(lab::is_thread_parameter("io-tokens"));
}

TEST(LabRules, SizesAndCountsSweepAscendingOthersAsGiven) {
    bool numeric = false;
    EXPECT_EQ(lab::order_values({"4MiB", "256K", "1M"}, &numeric),
              (std::vector<std::string>{"256K", "1M", "4MiB"}));
    EXPECT_TRUE(numeric);
    EXPECT_EQ(lab::order_values({"lifo", "fifo"}, &numeric),
              (std::vector<std::string>{"lifo", "fifo"}));
    EXPECT_FALSE(numeric);
}

TEST(LabRules, AnalysisPairsEachThreadCountWithOneThreadAtTheSameSettings) {
    lab::SweepResult r;
    r.params = {{"cpu-tokens", {"1", "2", "4"}, true}, {"chunk-size", {"64K", "1M"}, true}};
    // A grid: chunk-size x cpu-tokens, wall times chosen so the numbers are easy to check.
    const std::map<std::pair<std::string, std::string>, double> wall = {
        {{"64K", "1"}, 4.0}, {{"64K", "2"}, 2.5}, {{"64K", "4"}, 2.0},
        {{"1M", "1"}, 3.0},  {{"1M", "2"}, 1.6},  {{"1M", "4"}, 1.5}};
    for (const auto& [key, seconds] : wall) {
        lab::SweepPoint p;
        p.settings = {{"cpu-tokens", key.second}, {"chunk-size", key.first}};
        p.m.wall_s = {seconds};
        p.m.median_s = p.m.min_s = p.m.max_s = seconds;
        p.mb_s = 100 / seconds;
        r.points.push_back(p);
    }
    lab::analyse_sweep(r);
    for (const auto& p : r.points) {
        const double one = wall.at({p.value_of("chunk-size"), "1"});
        const double threads = std::stod(p.value_of("cpu-tokens"));
        ASSERT_TRUE(p.speedup);
        EXPECT_DOUBLE_EQ(*p.speedup, one / p.m.median_s);
        EXPECT_DOUBLE_EQ(*p.efficiency, one / p.m.median_s / threads);
    }
    ASSERT_EQ(r.curves.size(), 2u);
    // cpu-tokens curve takes the fastest point per value (1M): 33.3, 62.5, 66.7 MB/s.
    EXPECT_EQ(r.curves[0].knee, 1u);
    EXPECT_EQ(r.curves[0].best, 2u);
    // chunk-size curve: 64K best 50 MB/s, 1M best 66.7 MB/s -> 1M.
    EXPECT_EQ(r.curves[1].knee, 1u);
}

// ---- unit: the console and the plots, from results built by hand ------------------------------

constexpr std::uint64_t kDataBytes = 100'000'000;  // MB/s = 100 / wall seconds

lab::RunContext test_context(int repeat = 3) {
    lab::RunContext c;
    c.started_utc = "2026-11-29 10:00:00 UTC";
    c.hostname = "labhost";
    c.cores = 2;
    c.commit = "0123abcd4567";
    c.repeat = repeat;
    c.dataset.bytes = kDataBytes;
    c.dataset.files = 4;
    c.load_start = 0.5;
    c.load_end = 0.7;
    return c;
}

const char* const kMachineLine =
    "host labhost, 2 cores | commit 0123abcd4567 | 2026-11-29 10:00:00 UTC";

lab::Measurement measured(const std::vector<double>& wall, long rss_kib = 20480) {
    lab::Measurement m;
    m.wall_s = wall;
    m.median_s = lab::median_of(wall);
    m.min_s = *std::min_element(wall.begin(), wall.end());
    m.max_s = *std::max_element(wall.begin(), wall.end());
    m.peak_rss_kib = rss_kib;
    return m;
}

// A one-parameter pack sweep: value -> wall times (and stored bytes, peak RSS), analysed as the
// runner does.
struct PointIn {
    std::string value;
    std::vector<double> wall;
    std::uint64_t stored = 0;
    long rss_kib = 20480;
};

lab::SweepResult one_parameter_sweep(const std::string& name, const std::vector<PointIn>& in,
                                     int repeat = 3) {
    lab::SweepResult r;
    r.ctx = test_context(repeat);
    r.mode = "pack";
    lab::SweepParameter p;
    p.name = name;
    for (const auto& pt : in) p.values.push_back(pt.value);
    p.values = lab::order_values(p.values, &p.numeric);
    r.params = {p};
    for (const auto& pt : in) {
        lab::SweepPoint point;
        point.settings = {{name, pt.value}};
        point.m = measured(pt.wall, pt.rss_kib);
        point.mb_s = lab::mb_per_s(kDataBytes, point.m.median_s);
        point.stored_bytes = pt.stored;
        r.points.push_back(point);
    }
    lab::analyse_sweep(r);
    return r;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// Index of the first line starting with prefix; fails the test when there is none.
std::size_t line_starting(const std::vector<std::string>& lines, const std::string& prefix) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].rfind(prefix, 0) == 0) return i;
    }
    ADD_FAILURE() << "no line starts with '" << prefix << "'";
    return lines.size();
}

std::size_t count_of(const std::string& text, const std::string& word) {
    std::size_t n = 0;
    for (auto pos = text.find(word); pos != std::string::npos; pos = text.find(word, pos + 1)) ++n;
    return n;
}

// The rows of a plot's .dat file, split on spaces outside double quotes; the header (first
// line, "# name name ...") gives the column names.
struct PlotData {
    std::vector<std::string> names;
    std::vector<std::vector<std::string>> rows;
    std::string at(std::size_t row, const std::string& name) const {
        const auto it = std::find(names.begin(), names.end(), name);
        if (it == names.end()) {
            ADD_FAILURE() << "no column " << name;
            return {};
        }
        return rows.at(row).at(static_cast<std::size_t>(it - names.begin()));
    }
};

PlotData parse_plot_data(const std::string& text) {
    PlotData d;
    const auto lines = lines_of(text);
    std::istringstream header(lines.at(0).substr(1));
    for (std::string word; header >> word && word[0] != '(';) d.names.push_back(word);
    for (std::size_t i = 1; i < lines.size(); ++i) {
        std::vector<std::string> fields(1);
        bool quoted = false;
        for (const char c : lines[i]) {
            if (c == '"') {
                quoted = !quoted;
            } else if (c == ' ' && !quoted) {
                fields.emplace_back();
            } else {
                fields.back() += c;
            }
        }
        d.rows.push_back(fields);
    }
    return d;
}

TEST(LabConsole, NoisyRowGetsAWarningLineAndAQuietRowDoesNot) {
    const lab::Measurement quiet = measured({1.00, 1.02, 1.01});
    EXPECT_NEAR(quiet.stddev(), 0.01, 1e-9);
    EXPECT_FALSE(quiet.noisy());
    const lab::Measurement noisy = measured({1.0, 1.3, 1.1});
    EXPECT_TRUE(noisy.noisy());  // (1.3 - 1.0) / 1.1 = 27%

    const auto r = one_parameter_sweep("chunk-size", {{"64K", {1.00, 1.02, 1.01}, 60'000'000},
                                                      {"1M", {1.0, 1.3, 1.1}, 61'000'000}});
    const std::string out = lab::sweep_console(r, "out");
    const auto lines = lines_of(out);
    // Every row: median ± sigma and the spread; the quiet one is followed by the next row.
    const std::size_t q = line_starting(lines, "chunk-size=64K ");
    ASSERT_LT(q + 1, lines.size());
    EXPECT_NE(lines[q].find("1.010 s ± 0.010 s"), std::string::npos) << lines[q];
    EXPECT_NE(lines[q].find("2.0%"), std::string::npos) << lines[q];
    EXPECT_NE(lines[q].find("60.0%"), std::string::npos) << lines[q];  // stored
    EXPECT_EQ(lines[q + 1].find("Warning"), std::string::npos) << lines[q + 1];
    // The noisy row: its spread, and the warning line under it.
    const std::size_t n = line_starting(lines, "chunk-size=1M ");
    ASSERT_LT(n + 1, lines.size());
    EXPECT_NE(lines[n].find("1.100 s ± "), std::string::npos) << lines[n];
    EXPECT_NE(lines[n].find("27.3%"), std::string::npos) << lines[n];
    for (const char* word : {"Warning", "noisy", "27.3%", "--repeat", "quieter machine"}) {
        EXPECT_NE(lines[n + 1].find(word), std::string::npos) << word << ": " << lines[n + 1];
    }
    EXPECT_EQ(count_of(out, "Warning"), 1u) << out;
    EXPECT_NE(out.find("1 of 2 rows are noisy"), std::string::npos) << out;
    EXPECT_NE(out.find("chunk-size: knee 64K"), std::string::npos) << out;

    // One run per point: no sigma, no spread to judge by, so no warning but a note saying so.
    const auto once = one_parameter_sweep("chunk-size", {{"64K", {1.0}}, {"1M", {1.3}}}, 1);
    const std::string single = lab::sweep_console(once, "out");
    EXPECT_EQ(single.find("±"), std::string::npos) << single;
    EXPECT_EQ(single.find("Warning"), std::string::npos) << single;
    EXPECT_NE(single.find("one run per point"), std::string::npos) << single;
}

lab::CompareLine compare_line(const std::string& name, const std::string& direction, bool tbbpipe,
                              bool encrypted, const std::vector<double>& wall,
                              std::uint64_t stored) {
    lab::CompareLine l;
    l.name = name;
    l.direction = direction;
    l.is_tbbpipe = tbbpipe;
    l.encrypted = encrypted;
    l.m = measured(wall);
    l.mb_s = lab::mb_per_s(kDataBytes, l.m.median_s);
    l.stored_bytes = stored;
    return l;
}

// The shape run_compare makes: tbbpipe with and without a key, then the peers, pack and unpack.
lab::CompareResult small_comparison() {
    lab::CompareResult r;
    r.ctx = test_context();
    r.lines = {
        compare_line("tbbpipe pack (AES-256-GCM)", "pack", true, true, {0.50, 0.51, 0.52},
                     62'500'000),
        compare_line("tbbpipe pack (no key)", "pack", true, false, {0.40, 0.41, 0.42}, 62'500'000),
        compare_line("tar | lz4 -1", "pack", false, false, {0.80, 0.81, 0.82}, 62'000'000),
        compare_line("tar | zstd -1 -T0", "pack", false, false, {0.60, 0.62, 0.61}, 50'000'000),
        compare_line("tar | zstd -1 -T0 | age", "pack", false, true, {0.75, 0.76, 0.77},
                     50'100'000),
        compare_line("tbbpipe unpack (AES-256-GCM)", "unpack", true, true, {0.30, 0.31, 0.32}, 0),
        compare_line("tbbpipe unpack (no key)", "unpack", true, false, {0.25, 0.26, 0.27}, 0),
        compare_line("lz4 -d | tar -x", "unpack", false, false, {0.40, 0.41, 0.42}, 0),
        compare_line("zstd -d | tar -x", "unpack", false, false, {0.35, 0.36, 0.37}, 0),
        compare_line("age -d | zstd -d | tar -x", "unpack", false, true, {0.45, 0.46, 0.47}, 0)};
    lab::CompareLine pigz;
    pigz.name = "tar | pigz -1";
    pigz.direction = "pack";
    pigz.skipped = "pigz is not installed";
    r.lines.push_back(pigz);
    // Ratios as set_ratios computes them: peer median / tbbpipe median, same direction and key.
    for (auto& l : r.lines) {
        if (l.is_tbbpipe || !l.skipped.empty()) continue;
        for (const auto& base : r.lines) {
            if (base.is_tbbpipe && base.direction == l.direction && base.encrypted == l.encrypted) {
                l.baseline = base.name;
                l.ratio = l.m.median_s / base.m.median_s;
            }
        }
    }
    return r;
}

TEST(LabConsole, CompareShowsEachToolsCompressionRatioBesideItsSpeed) {
    const std::string out = lab::compare_console(small_comparison(), "out");
    const auto lines = lines_of(out);
    EXPECT_NE(lines[line_starting(lines, "pack ")].find("compression"), std::string::npos) << out;
    // data bytes / stored bytes, with the stored share, on the row that shows the speed.
    const std::vector<std::tuple<std::string, std::string, std::string>> rows = {
        {"tbbpipe pack (no key) ", "243.9", "1.60:1 (62.5%)"},
        {"tar | lz4 -1 ", "123.5", "1.61:1 (62.0%)"},
        {"tar | zstd -1 -T0 ", "163.9", "2.00:1 (50.0%)"},
        {"tar | zstd -1 -T0 | age ", "131.6", "2.00:1 (50.1%)"}};
    for (const auto& [name, mb_s, compression] : rows) {
        const std::string& row = lines[line_starting(lines, name)];
        EXPECT_NE(row.find(mb_s), std::string::npos) << row;
        EXPECT_NE(row.find(compression), std::string::npos) << row;
        EXPECT_LT(row.find(mb_s), row.find(compression)) << row;
    }
    EXPECT_NE(
        lines[line_starting(lines, "tar | zstd -1 -T0 ")].find("1.49x tbbpipe's time (no key)"),
        std::string::npos);
    // Unpack rows have no compression of their own; skipped lines say why.
    EXPECT_EQ(lines[line_starting(lines, "zstd -d | tar -x ")].find(":1"), std::string::npos);
    EXPECT_NE(out.find("tar | pigz -1  skipped: pigz is not installed"), std::string::npos);
    EXPECT_EQ(out.find("Warning"), std::string::npos) << out;  // every spread is under 10%
}

TEST(LabPlots, SizesGetUnitsAndSizeParametersALogAxis) {
    EXPECT_EQ(lab::size_label(65536), "64K");
    EXPECT_EQ(lab::size_label(1 << 20), "1M");
    EXPECT_EQ(lab::size_label(16 << 20), "16M");
    EXPECT_EQ(lab::size_label(1536 * 1024), "1.5M");
    EXPECT_EQ(lab::size_label(1u << 30), "1G");
    EXPECT_EQ(lab::size_label(1000), "1000");
    EXPECT_TRUE(lab::is_size_parameter("chunk-size", {"64K", "1M"}));
    EXPECT_TRUE(lab::is_size_parameter("chunk-size", {"65536", "1048576"}));
    EXPECT_TRUE(lab::is_size_parameter("memory-limit", {"32M", "64M"}));
    EXPECT_FALSE(lab::is_size_parameter("io-tokens", {"1", "2", "4"}));
    EXPECT_FALSE(lab::is_size_parameter("chunk-size", {"auto", "1M"}));
    EXPECT_FALSE(lab::is_size_parameter("scheduler", {"fair", "fifo"}));
}

TEST(LabPlots, ThreadSweepDrawsTheIdealSpeedupLine) {
    const auto r = one_parameter_sweep(
        "cpu-tokens", {{"1", {4.0, 4.0, 4.0}}, {"2", {2.5, 2.5, 2.5}}, {"4", {2.0, 2.0, 2.0}}});
    const lab::PlotSpec spec = lab::sweep_plot_spec(r, 0);
    EXPECT_EQ(spec.axis, lab::PlotAxis::kLinear);  // at their counts: the ideal line is straight
    const PlotData d = parse_plot_data(lab::plot_data(spec));
    ASSERT_EQ(d.rows.size(), 3u);
    // 25 MB/s at one thread: ideal = 25 x threads.
    EXPECT_EQ(d.at(0, "ideal_mb_s"), "25.000");
    EXPECT_EQ(d.at(1, "ideal_mb_s"), "50.000");
    EXPECT_EQ(d.at(2, "ideal_mb_s"), "100.000");
    EXPECT_EQ(d.at(2, "x"), "4");
    EXPECT_EQ(d.at(2, "efficiency"), "0.5000");
    const std::string gp = lab::plot_script(spec, "png");
    const auto ideal =
        std::find(d.names.begin(), d.names.end(), "ideal_mb_s") - d.names.begin() + 1;
    EXPECT_NE(gp.find("using 2:" + std::to_string(ideal) + " with linespoints"), std::string::npos)
        << gp;
    EXPECT_NE(gp.find("title 'ideal speedup"), std::string::npos) << gp;
    EXPECT_NE(gp.find("'parallel efficiency"), std::string::npos) << gp;
    EXPECT_NE(gp.find("set xtics ('1' 1, '2' 2, '4' 4)"), std::string::npos) << gp;

    // Without a 1-thread point there is nothing to scale from: no ideal line.
    const auto no_one = one_parameter_sweep("cpu-tokens", {{"2", {2.5}}, {"4", {2.0}}});
    EXPECT_EQ(lab::plot_script(lab::sweep_plot_spec(no_one, 0), "png").find("ideal"),
              std::string::npos);
}

TEST(LabPlots, ChunkSizeSweepShowsPeakRssAndStoredOnALogSizeAxis) {
    const auto r =
        one_parameter_sweep("chunk-size", {{"16M", {1.2, 1.2, 1.2}, 61'000'000, 90 * 1024},
                                           {"64K", {1.1, 1.1, 1.1}, 64'000'000, 12 * 1024},
                                           {"1M", {1.0, 1.0, 1.0}, 62'000'000, 30 * 1024}});
    const lab::PlotSpec spec = lab::sweep_plot_spec(r, 0);
    EXPECT_EQ(spec.axis, lab::PlotAxis::kLogSize);
    const std::string gp = lab::plot_script(spec, "png");
    for (const char* text :
         {"set logscale x 2", "set xtics ('64K' 65536, '1M' 1048576, '16M' 16777216)",
          "set multiplot", "set ylabel 'peak RSS, MiB", "set y2label 'stored, % of the data'",
          "title 'peak RSS (MiB)'", "title 'stored %", "(bytes, log scale)"}) {
        EXPECT_NE(gp.find(text), std::string::npos) << text << "\n" << gp;
    }
    const PlotData d = parse_plot_data(lab::plot_data(spec));
    ASSERT_EQ(d.rows.size(), 3u);  // ascending: 64K, 1M, 16M
    EXPECT_EQ(d.at(0, "x"), "65536");
    EXPECT_EQ(d.at(0, "peak_rss_mib"), "12.00");
    EXPECT_EQ(d.at(0, "stored_pct"), "64.00");
    EXPECT_EQ(d.at(2, "peak_rss_mib"), "90.00");
    EXPECT_EQ(d.at(2, "stored_pct"), "61.00");
    // The series plot those columns, RSS on the left axis and stored % on the right.
    const auto col = [&d](const std::string& name) {
        return std::to_string(std::find(d.names.begin(), d.names.end(), name) - d.names.begin() +
                              1);
    };
    EXPECT_NE(gp.find("using 2:" + col("peak_rss_mib") + " with linespoints"), std::string::npos);
    EXPECT_NE(gp.find("using 2:" + col("stored_pct") + " axes x1y2"), std::string::npos);
}

TEST(LabPlots, EveryPlotNamesTheMachineCommitAndDate) {
    const auto threads = one_parameter_sweep("cpu-tokens", {{"1", {2.0}}, {"2", {1.2}}});
    const auto chunks = one_parameter_sweep("chunk-size", {{"64K", {1.0}}, {"1M", {1.1}}});
    const auto compare = small_comparison();
    std::vector<lab::PlotSpec> specs = {
        lab::sweep_plot_spec(threads, 0), lab::sweep_plot_spec(chunks, 0),
        *lab::compare_plot_spec(compare, "pack"), *lab::compare_plot_spec(compare, "unpack")};
    for (const auto& spec : specs) {
        const std::string gp = lab::plot_script(spec, "svg");
        EXPECT_NE(gp.find(std::string("set label 102 '") + kMachineLine + "' at screen"),
                  std::string::npos)
            << spec.stem << "\n"
            << gp;
    }
    EXPECT_EQ(lab::machine_label(test_context()), kMachineLine);
}

TEST(LabPlots, TbbpipeBarsStandOutAndKeyPairsAreGrouped) {
    const auto spec = lab::compare_plot_spec(small_comparison(), "pack");
    ASSERT_TRUE(spec);
    // With a key: tbbpipe's bar, then the age peer; without: tbbpipe's, then its peers. The
    // skipped pigz line has no bar.
    EXPECT_EQ(spec->labels, (std::vector<std::string>{
                                "tbbpipe pack (AES-256-GCM)", "tar | zstd -1 -T0 | age",
                                "tbbpipe pack (no key)", "tar | lz4 -1", "tar | zstd -1 -T0"}));
    const PlotData d = parse_plot_data(lab::plot_data(*spec));
    const std::vector<std::string> tbbpipe = {"1", "0", "1", "0", "0"};
    const std::vector<std::string> x = {"0", "1", "3", "4", "5"};  // a slot between the groups
    for (std::size_t i = 0; i < d.rows.size(); ++i) {
        EXPECT_EQ(d.at(i, "tbbpipe"), tbbpipe[i]) << i;
        EXPECT_EQ(d.at(i, "x"), x[i]) << i;
    }
    EXPECT_EQ(d.at(1, "note"), "1.49x");  // 0.76 / 0.51: the peer's time against its pair
    EXPECT_EQ(d.at(0, "note"), "");

    const std::string gp = lab::plot_script(*spec, "png");
    const std::regex boxes(
        "\\(\\$6 == ([01]) \\? \\$3 : 1/0\\) with boxes lc rgb '(#[0-9a-f]{6})' "
        "title '([a-z]+)'");
    std::map<std::string, std::pair<std::string, std::string>> styles;  // title -> filter, colour
    for (auto it = std::sregex_iterator(gp.begin(), gp.end(), boxes); it != std::sregex_iterator();
         ++it) {
        styles[(*it)[3]] = {(*it)[1], (*it)[2]};
    }
    ASSERT_EQ(styles.size(), 2u) << gp;
    EXPECT_EQ(styles["tbbpipe"].first, "1");
    EXPECT_EQ(styles["peers"].first, "0");
    EXPECT_NE(styles["tbbpipe"].second, styles["peers"].second);
    EXPECT_NE(gp.find("'with a key' at 0.5,"), std::string::npos) << gp;
    EXPECT_NE(gp.find("'without a key' at 4,"), std::string::npos) << gp;
    EXPECT_NE(gp.find("set arrow 11 from 2, graph 0 to 2, graph 1 nohead"), std::string::npos)
        << gp;
}

// "set label 1 'knee: ...' at X, Y" and "set arrow 1 from X, Y1 to X, Y2".
struct KneeMarks {
    double label_x = 0, label_y = 0, from_x = 0, from_y = 0, to_x = 0, to_y = 0, y_top = 0;
    std::string justify;
};

KneeMarks knee_marks(const std::string& gp) {
    KneeMarks k;
    std::smatch m;
    const std::regex label("set label 1 'knee: [^']*' at ([-0-9.e+]+), ([-0-9.e+]+) (left|right)");
    const std::regex arrow(
        "set arrow 1 from ([-0-9.e+]+), ([-0-9.e+]+) to ([-0-9.e+]+), ([-0-9.e+]+) head");
    const std::regex range("set yrange \\[0:([-0-9.e+]+)\\]");
    EXPECT_TRUE(std::regex_search(gp, m, label)) << gp;
    if (m.size() == 4) {
        k.label_x = std::stod(m[1]);
        k.label_y = std::stod(m[2]);
        k.justify = m[3];
    }
    EXPECT_TRUE(std::regex_search(gp, m, arrow)) << gp;
    if (m.size() == 5) {
        k.from_x = std::stod(m[1]);
        k.from_y = std::stod(m[2]);
        k.to_x = std::stod(m[3]);
        k.to_y = std::stod(m[4]);
    }
    EXPECT_TRUE(std::regex_search(gp, m, range)) << gp;
    if (m.size() == 2) k.y_top = std::stod(m[1]);
    return k;
}

TEST(LabPlots, KneeLabelSitsAboveTheDataWithAnArrowDownToTheKnee) {
    // Knee 256K (92 MB/s >= 90% of the best, 100 MB/s at 1M), error bars up to 125 MB/s.
    const auto r = one_parameter_sweep("chunk-size", {{"64K", {2.0, 2.0, 2.0}},
                                                      {"256K", {1.087, 1.0, 1.2}},
                                                      {"1M", {1.0, 0.8, 1.1}},
                                                      {"4M", {1.5, 1.5, 1.5}}});
    const lab::PlotSpec spec = lab::sweep_plot_spec(r, 0);
    ASSERT_EQ(spec.knee, 1u);
    const KneeMarks k = knee_marks(lab::plot_script(spec, "png"));
    const double highest = *std::max_element(spec.high.begin(), spec.high.end());
    EXPECT_NEAR(highest, 125, 1e-9);
    // The label is above every point and error bar, inside the plot, beside the knee's value.
    EXPECT_GT(k.label_y, highest);
    EXPECT_LT(k.label_y, k.y_top);
    EXPECT_EQ(k.label_x, 262144);
    EXPECT_EQ(k.justify, "left");
    // The arrow runs from under the label down to just above the knee's error bar.
    EXPECT_EQ(k.from_x, 262144);
    EXPECT_EQ(k.to_x, 262144);
    EXPECT_GT(k.from_y, highest);
    EXPECT_LE(k.from_y, k.label_y);
    EXPECT_GT(k.to_y, spec.high[1]);
    EXPECT_LT(k.to_y, k.from_y);

    // A knee at the last value puts its text to the left, where there is room.
    const auto rising = one_parameter_sweep("io-tokens", {{"1", {2.0}}, {"2", {1.0}}});
    const KneeMarks last = knee_marks(lab::plot_script(lab::sweep_plot_spec(rising, 0), "png"));
    EXPECT_EQ(last.justify, "right");
    EXPECT_EQ(last.label_x, 1);  // io-tokens is not a size: evenly spaced, by index
}

TEST(LabPlots, EachKindRendersWithoutAComplaintFromGnuplot) {
    if (!gnuplot_installed()) GTEST_SKIP() << "gnuplot is not installed";
    ScratchDir dir;
    const auto threads = one_parameter_sweep(
        "cpu-tokens", {{"1", {4.0, 4.1, 3.9}}, {"2", {2.5, 2.6, 2.4}}, {"4", {2.0, 2.2, 2.1}}});
    const auto chunks =
        one_parameter_sweep("chunk-size", {{"64K", {1.1, 1.2, 1.1}, 64'000'000, 12 * 1024},
                                           {"1M", {1.0, 1.05, 0.98}, 62'000'000, 30 * 1024},
                                           {"16M", {1.3, 1.3, 1.4}, 61'000'000, 90 * 1024}});
    const auto compare = small_comparison();
    const std::vector<std::pair<lab::PlotSpec, std::string>> plots = {
        {lab::sweep_plot_spec(threads, 0), "png"},
        {lab::sweep_plot_spec(chunks, 0), "svg"},
        {*lab::compare_plot_spec(compare, "pack"), "png"}};
    for (const auto& [spec, format] : plots) {
        const lab::PlotFiles files = lab::write_plot(spec, dir.path(), format, dir.path());
        ASSERT_EQ(files.image, spec.stem + "." + format) << files.note;
        EXPECT_GT(std::filesystem::file_size(dir / files.image), 1000u);
        // gnuplot warns on stderr about what it could not draw (a bad range, a missing column).
        EXPECT_EQ(slurp(dir / "gnuplot-stderr.txt"), "") << spec.stem;
    }
}

// ---- the binaries ------------------------------------------------------------------------------

struct LabRun {
    int code = -1;
    std::string out;
    std::string err;
};

class LabCliTest : public ::testing::Test {
protected:
    // Runs tbbpipe-lab with args (shell words) in the scratch folder; env is prefixed as is.
    LabRun lab(const std::string& args, const std::string& env = "") {
        const std::string cmd = "cd '" + dir_.path() + "' && " + env + " '" TBBPIPE_LAB "' " +
                                args + " >'" + logs_ / "out" + "' 2>'" + logs_ / "err" + "'";
        const int status = std::system(("/bin/bash -c " + quote(cmd)).c_str());
        LabRun r;
        r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        r.out = slurp(logs_ / "out");
        r.err = slurp(logs_ / "err");
        return r;
    }
    static std::string quote(const std::string& s) {
        std::string q = "'";
        for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return q + "'";
    }
    std::string out(const std::string& name) const { return dir_ / ("out/" + name); }

    ScratchDir dir_;
    ScratchDir logs_;
};

TEST_F(LabCliTest, HelpDocumentsCommandsSpecAndExitCodes) {
    const LabRun r = lab("--help");
    EXPECT_EQ(r.code, 0);
    for (const char* text : {"sweep", "compare", "generate", "--param", "--data", "total=SIZE",
                             "dist=D", "compress=C", "knee", "Exit codes", "gnuplot"}) {
        EXPECT_NE(r.out.find(text), std::string::npos) << text;
    }
}

TEST_F(LabCliTest, TinyCpuTokenSweepWritesCsvJsonSummaryAndPlot) {
    const LabRun r =
        lab("sweep --data total=4MiB,files=4 --param cpu-tokens=1,2 --repeat 1 "
            "--out out --tbbpipe '" TBBPIPE_CLI "'");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("cpu-tokens: knee"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("cpu-tokens=2 "), std::string::npos) << r.out;  // a row per point
    EXPECT_NE(r.out.find("one run per point"), std::string::npos) << r.out;

    const auto rows = read_csv(out("results.csv"));
    ASSERT_EQ(rows.size(), 3u);  // header + one row per value
    const auto& h = rows[0];
    for (const char* name :
         {"point", "mode", "cpu-tokens", "status", "repeat", "median_s", "min_s", "max_s", "mb_s",
          "peak_rss_kib", "speedup", "efficiency", "stored_bytes", "error"}) {
        EXPECT_NE(std::find(h.begin(), h.end(), name), h.end()) << name;
    }
    for (std::size_t i = 1; i < rows.size(); ++i) {
        ASSERT_EQ(rows[i].size(), h.size()) << i;
        EXPECT_EQ(rows[i][column(h, "status")], "ok");
        EXPECT_EQ(rows[i][column(h, "mode")], "pack");
        EXPECT_GT(std::stod(rows[i][column(h, "median_s")]), 0);
        EXPECT_GT(std::stod(rows[i][column(h, "mb_s")]), 0);
        EXPECT_GT(std::stol(rows[i][column(h, "peak_rss_kib")]), 0);
        // Encrypted lz4 of the mixed data is smaller than the input.
        EXPECT_LT(std::stoull(rows[i][column(h, "stored_bytes")]), 4u << 20);
        EXPECT_FALSE(rows[i][column(h, "efficiency")].empty());
    }
    EXPECT_EQ(rows[1][column(h, "cpu-tokens")], "1");
    EXPECT_EQ(rows[2][column(h, "cpu-tokens")], "2");
    EXPECT_EQ(rows[1][column(h, "speedup")], "1.000");

    const Json j = JsonReader(slurp(out("results.json"))).document();
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j.at("command").str(), "sweep");
    EXPECT_EQ(j.at("dataset").at("bytes").num(), 4 << 20);
    EXPECT_EQ(j.at("dataset").at("files").num(), 4);
    ASSERT_EQ(j.at("parameters").arr().size(), 1u);
    const Json& p = j.at("parameters").arr()[0];
    EXPECT_EQ(p.at("name").str(), "cpu-tokens");
    EXPECT_TRUE(p.at("knee").is_string());
    EXPECT_EQ(p.at("curve").arr().size(), 2u);
    ASSERT_EQ(j.at("points").arr().size(), 2u);
    for (const Json& pt : j.at("points").arr()) {
        EXPECT_EQ(pt.at("status").str(), "ok");
        EXPECT_TRUE(pt.at("wall_s").at("median").is_number());
        EXPECT_EQ(pt.at("wall_s").at("samples").arr().size(), 1u);
        EXPECT_TRUE(pt.at("efficiency").is_number());
    }

    const std::string md = slurp(out("summary.md"));
    EXPECT_NE(md.find("**Knee: cpu-tokens = "), std::string::npos) << md;
    EXPECT_NE(md.find("Knee rule"), std::string::npos);
    EXPECT_NE(md.find("parallel efficiency"), std::string::npos);
    EXPECT_NE(md.find("speedup"), std::string::npos);

    EXPECT_TRUE(exists(out("plot-cpu-tokens.gp")));
    EXPECT_TRUE(exists(out("plot-cpu-tokens.dat")));
    if (gnuplot_installed()) {
        EXPECT_TRUE(exists(out("plot-cpu-tokens.png")));
        EXPECT_NE(md.find("![cpu-tokens](plot-cpu-tokens.png)"), std::string::npos);
    }
    // Scratch outputs and keys are gone; the dataset stays for the next run.
    for (const auto& entry : std::filesystem::directory_iterator(out(""))) {
        EXPECT_EQ(entry.path().filename().string().find(".tbbpipe-lab-work"), std::string::npos);
    }
    EXPECT_TRUE(exists(out("data/dataset.txt")));
}

TEST_F(LabCliTest, WithoutGnuplotTheScriptIsWrittenAndTheSummarySaysSo) {
    // A PATH that has bash but no gnuplot; the tbbpipe binary is next to tbbpipe-lab (default).
    std::filesystem::create_directories(dir_ / "bin");
    std::filesystem::create_symlink("/bin/bash", dir_ / "bin/bash");
    const LabRun r =
        lab("sweep --data total=2MiB,files=2,dist=fixed --mode unpack "
            "--param chunk-size=64K,256K --repeat 1 --plain -q --out out",
            "PATH='" + dir_ / "bin" + "'");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;  // -q
    EXPECT_TRUE(exists(out("plot-chunk-size.gp")));
    EXPECT_FALSE(exists(out("plot-chunk-size.png")));
    const std::string md = slurp(out("summary.md"));
    EXPECT_NE(md.find("gnuplot is not installed"), std::string::npos) << md;
    EXPECT_NE(md.find("**Knee: chunk-size = "), std::string::npos) << md;
    const auto rows = read_csv(out("results.csv"));
    ASSERT_EQ(rows.size(), 3u);
    for (std::size_t i = 1; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i][column(rows[0], "status")], "ok");
        EXPECT_EQ(rows[i][column(rows[0], "mode")], "unpack");
    }
}

TEST_F(LabCliTest, BadSpecOrOptionsExitTwoWithAClearMessage) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"sweep --data total=4MiB,bogus=1 --param cpu-tokens=1,2 --out out", "unknown key 'bogus'"},
        {"sweep --data files=3 --param cpu-tokens=1,2 --out out", "total=SIZE is required"},
        {"sweep --data total=4MiB,dist=zipf --param cpu-tokens=1,2 --out out", "dist='zipf'"},
        {"sweep --data total=4MiB --out out", "--param"},
        {"sweep --data total=4MiB --param cpu-tokens=1,2", "--out"},
        {"sweep --data total=4MiB --param output-dir=a,b --out out", "output-dir"},
        {"sweep --input nowhere --param cpu-tokens=1,2 --out out", "nowhere"},
        {"sweep --data total=4MiB --param cpu-tokens=1,2 --out out --tbbpipe /nonexistent/tbbpipe",
         "/nonexistent/tbbpipe"},
        {"compare --out out", "--data SPEC or --input DIR"},
        {"frobnicate", "unknown command"}};
    for (const auto& [args, message] : cases) {
        const LabRun r = lab(args);
        EXPECT_EQ(r.code, 2) << args << ": " << r.err;
        EXPECT_NE(r.err.find("tbbpipe-lab: "), std::string::npos) << args;
        EXPECT_NE(r.err.find(message), std::string::npos) << args << ": " << r.err;
    }
    EXPECT_FALSE(exists(out("results.csv")));
}

TEST_F(LabCliTest, AFailingPointIsReportedNotFatalAndExitsOne) {
    // A flag tbbpipe does not know: every point fails with tbbpipe's own message; the reports
    // are still written.
    const LabRun r =
        lab("sweep --data total=1MiB,files=1 --param no-such-flag=1,2 --repeat 1 -q "
            "--out out --tbbpipe '" TBBPIPE_CLI "'");
    EXPECT_EQ(r.code, 1) << r.err;
    const auto rows = read_csv(out("results.csv"));
    ASSERT_EQ(rows.size(), 3u);
    for (std::size_t i = 1; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i][column(rows[0], "status")], "failed");
        EXPECT_NE(rows[i][column(rows[0], "error")].find("no-such-flag"), std::string::npos)
            << rows[i][column(rows[0], "error")];
    }
    EXPECT_NE(slurp(out("summary.md")).find("Failed points"), std::string::npos);
}

TEST_F(LabCliTest, CompareRunsOrSkipsEveryPeerAndReportsRatios) {
    const LabRun r = lab(
        "compare --data total=2MiB,files=3 --repeat 1 -q --out out --tbbpipe '" TBBPIPE_CLI "'");
    ASSERT_EQ(r.code, 0) << r.err << r.out;
    const auto rows = read_csv(out("results.csv"));
    ASSERT_EQ(rows.size(), 15u);  // header + 7 pack + 7 unpack lines
    const auto& h = rows[0];
    int tbbpipe_ok = 0;
    for (std::size_t i = 1; i < rows.size(); ++i) {
        const std::string& status = rows[i][column(h, "status")];
        const std::string& line = rows[i][column(h, "line")];
        EXPECT_TRUE(status == "ok" || status == "skipped") << line << ": " << status;
        if (line.rfind("tbbpipe", 0) == 0) {
            EXPECT_EQ(status, "ok") << line;
            ++tbbpipe_ok;
        } else if (status == "ok") {
            EXPECT_GT(std::stod(rows[i][column(h, "ratio")]), 0) << line;
            EXPECT_FALSE(rows[i][column(h, "baseline")].empty()) << line;
        } else {
            EXPECT_NE(rows[i][column(h, "note")].find("not installed"), std::string::npos) << line;
        }
    }
    EXPECT_EQ(tbbpipe_ok, 4);
    const Json j = JsonReader(slurp(out("results.json"))).document();
    EXPECT_EQ(j.at("command").str(), "compare");
    EXPECT_EQ(j.at("lines").arr().size(), 14u);
    EXPECT_NE(slurp(out("summary.md")).find("Ratio"), std::string::npos);
    // The console: the compression of what tbbpipe stored, beside its speed.
    std::smatch m;
    EXPECT_TRUE(std::regex_search(r.out, m,
                                  std::regex("tbbpipe pack \\(no key\\) +[0-9.]+ s +- +[0-9.]+ "
                                             "+[0-9.]+:1 \\([0-9.]+%\\)")))
        << r.out;
}

TEST_F(LabCliTest, CompareWithNoPeerInstalledSkipsThemAndSucceeds) {
    std::filesystem::create_directories(dir_ / "bin");
    std::filesystem::create_symlink("/bin/bash", dir_ / "bin/bash");
    const LabRun r =
        lab("compare --data total=1MiB,files=2 --repeat 1 -q --out out --tbbpipe '" TBBPIPE_CLI "'",
            "PATH='" + dir_ / "bin" + "'");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto rows = read_csv(out("results.csv"));
    ASSERT_EQ(rows.size(), 15u);
    int skipped = 0;
    for (std::size_t i = 1; i < rows.size(); ++i) {
        if (rows[i][column(rows[0], "status")] == "skipped") ++skipped;
    }
    EXPECT_EQ(skipped, 10);  // every peer, both ways
    const std::string md = slurp(out("summary.md"));
    EXPECT_NE(md.find("## Skipped"), std::string::npos);
    EXPECT_NE(md.find("tar is not installed"), std::string::npos) << md;
}

}  // namespace
}  // namespace tbbpipe
