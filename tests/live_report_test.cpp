// What the progress line and the dashboard draw, as functions of the numbers (no terminal, no
// timing): the ETA's rate moves slowly, the line drops parts to fit a narrow terminal, and every
// dashboard line is cut to the width. The pty tests in habits_test check the real CLI.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/live_report.hpp"

namespace tbbpipe::cli {
namespace {

TEST(EtaRate, OneSlowTickMovesTheEtaALittleNotAllTheWay) {
    EtaRate rate;
    double bytes = 0;
    for (int tick = 1; tick <= 50; ++tick) {  // 5 s at 100 MB/s, sampled every 100 ms
        bytes += 10e6;
        rate.add(tick * 0.1, bytes);
    }
    EXPECT_NEAR(rate.bytes_per_second(), 100e6, 1e6);
    const double before = rate.eta(bytes, 2e9);
    rate.add(5.1, bytes);  // a tick with no progress at all
    const double after = rate.eta(bytes, 2e9);
    EXPECT_GT(after, before);
    EXPECT_LT(after, before * 1.1) << "one stalled tick must not swing the ETA";
    // A lasting change is followed within a few windows.
    for (int tick = 52; tick <= 150; ++tick) {
        bytes += 5e6;  // 50 MB/s
        rate.add(tick * 0.1, bytes);
    }
    EXPECT_NEAR(rate.bytes_per_second(), 50e6, 3e6);
}

TEST(EtaRate, StartsFromTheMeanAndIsUnknownWithoutARateOrWithNothingLeft) {
    EtaRate rate;
    EXPECT_LT(rate.eta(0, 100), 0);
    rate.add(0.5, 0);  // nothing yet
    EXPECT_LT(rate.eta(0, 100), 0);
    rate.add(1.0, 50e6);  // the mean so far: 50 MB/s
    EXPECT_NEAR(rate.bytes_per_second(), 50e6, 1);
    EXPECT_NEAR(rate.eta(50e6, 150e6), 2.0, 1e-9);
    EXPECT_LT(rate.eta(150e6, 150e6), 0);
}

RunProgress halfway() {
    RunProgress p;
    p.bytes_done = 512.0 * 1024 * 1024;
    p.bytes_total = 1024ull * 1024 * 1024;
    p.files_done = 7;
    p.files_total = 48;
    p.mb_per_s = 640;
    p.eta_seconds = 83;
    return p;
}

TEST(ProgressLine, DropsWhatMattersLeastToFitTheTerminal) {
    const RunProgress p = halfway();
    EXPECT_EQ(LiveReport::render_progress(p, 0),
              "512.0 MiB / 1.0 GiB (50.0%)  640 MB/s  ETA 1:23  files 7/48");
    EXPECT_EQ(LiveReport::render_progress(p, 50), "50.0%  640 MB/s  ETA 1:23  files 7/48");
    EXPECT_EQ(LiveReport::render_progress(p, 30), "50.0%  640 MB/s  ETA 1:23");
    EXPECT_EQ(LiveReport::render_progress(p, 20), "50.0%  ETA 1:23");
    EXPECT_EQ(LiveReport::render_progress(p, 10), "50.0%  ET");
    for (std::size_t columns = 2; columns < 80; ++columns) {
        EXPECT_LT(LiveReport::render_progress(p, columns).size(), columns) << columns;
    }
    RunProgress stream = p;  // no total: no percent, no ETA
    stream.bytes_total = 0;
    stream.eta_seconds = -1;
    EXPECT_EQ(LiveReport::render_progress(stream, 0), "512.0 MiB  640 MB/s  files 7/48");
    RunProgress hours = p;
    hours.eta_seconds = 3 * 3600 + 125;
    EXPECT_NE(LiveReport::render_progress(hours, 0).find("ETA 3:02:05"), std::string::npos);
}

TEST(Dashboard, ShowsProgressAndEveryLineFitsTheWidth) {
    const MetricsSnapshot empty;
    const std::string wide = LiveReport::render_dashboard(empty, halfway(), 1, 2, 0, 0, 0);
    EXPECT_NE(wide.find("progress    512.0 MiB / 1.0 GiB (50.0%)   ETA 1:23   files 7/48\n"),
              std::string::npos)
        << wide;
    const std::string narrow = LiveReport::render_dashboard(empty, halfway(), 1, 2, 0, 0, 40);
    std::istringstream lines(narrow);
    std::size_t count = 0;
    for (std::string line; std::getline(lines, line); ++count) EXPECT_LT(line.size(), 40u) << line;
    EXPECT_EQ(count, 13u);  // the same lines, cut: none wrapped, none lost
}

}  // namespace
}  // namespace tbbpipe::cli
