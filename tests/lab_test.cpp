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
#include <sstream>
#include <variant>

#include "apps/lab/dataset_spec.hpp"
#include "apps/lab/knee.hpp"
#include "apps/lab/sweep_runner.hpp"
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
