// results.csv: one row per measured point (sweep) or per line (compare), tidy: every swept
// parameter is its own column, empty where the point leaves it at tbbpipe's default.
#include <sstream>

#include "lab/lab_reports.hpp"

namespace tbbpipe::lab {
namespace {

std::string optional_fixed(const std::optional<double>& v, int decimals) {
    return v ? fixed(*v, decimals) : std::string();
}

// Timing columns shared by both tables; empty for a point that did not run to completion.
void timing_fields(std::ostringstream& out, const Measurement& m, int repeat) {
    out << repeat << ',';
    if (m.ok()) {
        out << fixed(m.median_s, 4) << ',' << fixed(m.min_s, 4) << ',' << fixed(m.max_s, 4) << ','
            << fixed(m.median_cpu_s, 3) << ',' << fixed(m.median_sys_s, 3) << ',' << m.peak_rss_kib;
    } else {
        out << ",,,,,";
    }
}

}  // namespace

std::string sweep_csv(const SweepResult& r) {
    std::ostringstream out;
    out << "point,mode";
    for (const auto& p : r.params) out << ',' << csv_field(p.name);
    out << ",status,repeat,median_s,min_s,max_s,cpu_s,sys_s,peak_rss_kib,mb_s,stored_bytes,speedup,"
           "efficiency,error\n";
    for (std::size_t i = 0; i < r.points.size(); ++i) {
        const SweepPoint& pt = r.points[i];
        out << i << ',' << r.mode;
        for (const auto& p : r.params) out << ',' << csv_field(pt.value_of(p.name));
        out << ',' << (pt.m.ok() ? "ok" : "failed") << ',';
        timing_fields(out, pt.m, r.ctx.repeat);
        out << ',' << (pt.m.ok() ? fixed(pt.mb_s, 2) : "") << ','
            << (pt.stored_bytes ? std::to_string(pt.stored_bytes) : "") << ','
            << optional_fixed(pt.speedup, 3) << ',' << optional_fixed(pt.efficiency, 3) << ','
            << csv_field(pt.m.error) << '\n';
    }
    return out.str();
}

std::string compare_csv(const CompareResult& r) {
    std::ostringstream out;
    out << "direction,line,status,repeat,median_s,min_s,max_s,cpu_s,sys_s,peak_rss_kib,mb_s,"
           "stored_bytes,stored_pct,baseline,ratio,command,note\n";
    for (const auto& l : r.lines) {
        const bool ok = l.skipped.empty() && l.m.ok();
        const char* status = !l.skipped.empty() ? "skipped" : ok ? "ok" : "failed";
        out << l.direction << ',' << csv_field(l.name) << ',' << status << ',';
        timing_fields(out, l.m, r.ctx.repeat);
        const bool stored = ok && l.stored_bytes && r.ctx.dataset.bytes;
        out << ',' << (ok ? fixed(l.mb_s, 2) : "") << ','
            << (stored ? std::to_string(l.stored_bytes) : "") << ','
            << (stored ? fixed(100.0 * static_cast<double>(l.stored_bytes) /
                                   static_cast<double>(r.ctx.dataset.bytes),
                               2)
                       : "")
            << ',' << csv_field(l.baseline) << ',' << optional_fixed(l.ratio, 3) << ','
            << csv_field(l.command) << ',' << csv_field(l.skipped.empty() ? l.m.error : l.skipped)
            << '\n';
    }
    return out.str();
}

}  // namespace tbbpipe::lab
