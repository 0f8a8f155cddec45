// summary.md: what a person reads first. Leads with the knee of every curve and, for the thread
// parameter, speedup and parallel efficiency; states the rules used so the numbers can be
// checked against results.csv.
#include <sstream>

#include "lab/knee.hpp"
#include "lab/lab_reports.hpp"

namespace tbbpipe::lab {
namespace {

std::string mib(double kib_or_bytes, double per_mib) {
    return fixed(kib_or_bytes / per_mib, 1);
}

std::string code(const std::string& text) {
    return "`" + text + "`";
}

void context_table(std::ostringstream& md, const RunContext& c,
                   const std::vector<std::pair<std::string, std::string>>& extra_rows) {
    md << "| | |\n| --- | --- |\n";
    md << "| started | " << c.started_utc << " |\n";
    md << "| tbbpipe | " << code(c.tbbpipe_path) << " (" << md_cell(c.tbbpipe_version) << ") |\n";
    md << "| commit | " << code(md_cell(c.commit.empty() ? "unknown" : c.commit))
       << " (the source tbbpipe-lab was built from) |\n";
    md << "| data | ";
    if (c.dataset.source == "generated") {
        md << "generated " << code(c.dataset.spec) << ": ";
    } else {
        md << "the files of " << code(c.dataset.dir) << ": ";
    }
    md << c.dataset.files << " files, " << mib(static_cast<double>(c.dataset.bytes), 1 << 20)
       << " MiB (" << c.dataset.bytes << " bytes)";
    if (c.dataset.source == "generated") md << ", in " << code(c.dataset.dir);
    md << " |\n";
    for (const auto& [name, value] : extra_rows) md << "| " << name << " | " << value << " |\n";
    md << "| host | " << md_cell(c.hostname.empty() ? "unknown" : c.hostname) << ", " << c.cores
       << " cores; 1-minute load average " << fixed(c.load_start, 2) << " at the start, "
       << fixed(c.load_end, 2) << " at the end |\n";
    md << "| lab command | " << code(md_cell(c.command_line)) << " |\n\n";
}

std::string percent_of(std::uint64_t part, std::uint64_t whole) {
    return whole ? fixed(100.0 * static_cast<double>(part) / static_cast<double>(whole), 1) : "";
}

void sweep_section(std::ostringstream& md, const SweepResult& r, const SweepParameter& p,
                   const SweepCurve& c) {
    const bool threads = is_thread_parameter(p.name);
    const bool pack = r.mode == "pack";
    md << "## " << p.name << "\n\n";
    md << "Values " << (p.numeric ? "in ascending order" : "in the order given") << ".";
    if (r.grid) md << " With --grid each row is the fastest point with that value.";
    md << "\n\n| " << md_cell(p.name)
       << " | median s | min s | max s | MB/s | CPU s | peak RSS MiB |";
    if (pack) md << " stored % |";
    if (threads) md << " speedup vs 1 | efficiency |";
    if (r.grid) md << " other settings |";
    md << "\n| --- |";
    const int columns = 7 + (pack ? 1 : 0) + (threads ? 2 : 0) + (r.grid ? 1 : 0);
    for (int i = 1; i < columns; ++i) md << (r.grid && i == columns - 1 ? " --- |" : " ---: |");
    md << '\n';
    for (std::size_t k = 0; k < c.values.size(); ++k) {
        const bool is_knee = c.knee && *c.knee == k;
        md << "| " << (is_knee ? "**" + md_cell(c.values[k]) + "** (knee)" : md_cell(c.values[k]));
        const SweepPoint* pt = c.point_index[k] ? &r.points[*c.point_index[k]] : nullptr;
        if (!pt || !pt->m.ok()) {
            md << " | failed: " << md_cell(pt ? pt->m.error : "not run") << " |";
            for (int i = 2; i < columns; ++i) md << " |";
            md << '\n';
            continue;
        }
        const Measurement& m = pt->m;
        md << " | " << fixed(m.median_s, 3) << " | " << fixed(m.min_s, 3) << " | "
           << fixed(m.max_s, 3) << " | " << fixed(pt->mb_s, 1) << " | " << fixed(m.median_cpu_s, 2)
           << " | " << mib(static_cast<double>(m.peak_rss_kib), 1024) << " |";
        if (pack) md << ' ' << percent_of(pt->stored_bytes, r.ctx.dataset.bytes) << " |";
        if (threads) {
            md << ' ' << (pt->speedup ? fixed(*pt->speedup, 2) + "x" : "") << " | "
               << (pt->efficiency ? fixed(100 * *pt->efficiency, 0) + "%" : "") << " |";
        }
        if (r.grid) {
            std::string others;
            for (const auto& [name, value] : pt->settings) {
                if (name != p.name) others += (others.empty() ? "" : ", ") + name + "=" + value;
            }
            md << ' ' << md_cell(others) << " |";
        }
        md << '\n';
    }
    md << '\n';
    if (!c.knee) {
        md << "**No knee:** no value of " << p.name << " ran successfully.\n\n";
    } else {
        const double share = c.mb_s[*c.best] > 0 ? c.mb_s[*c.knee] / c.mb_s[*c.best] : 0;
        md << "**Knee: " << p.name << " = " << c.values[*c.knee] << "** ("
           << fixed(c.mb_s[*c.knee], 1) << " MB/s, " << fixed(100 * share, 0)
           << "% of the best: " << p.name << " = " << c.values[*c.best] << " at "
           << fixed(c.mb_s[*c.best], 1) << " MB/s).\n\n";
    }
    if (threads) {
        std::string scaling;
        for (std::size_t k = 0; k < c.values.size(); ++k) {
            const SweepPoint* pt = c.point_index[k] ? &r.points[*c.point_index[k]] : nullptr;
            if (!pt || !pt->speedup || c.values[k] == "1") continue;
            scaling += (scaling.empty() ? "" : "; ") + c.values[k] + " threads: speedup " +
                       fixed(*pt->speedup, 2) + "x, parallel efficiency " +
                       fixed(100 * *pt->efficiency, 0) + "%";
        }
        if (scaling.empty()) {
            md << "**Scaling:** no successful " << p.name << " = 1 point to compare with, so no "
               << "speedup or efficiency; add 1 to the values.\n\n";
        } else {
            md << "**Scaling against 1 thread** (speedup = median wall at 1 / median wall at N; "
                  "parallel efficiency = speedup / N): "
               << scaling << ".";
            if (r.ctx.cores > 0) {
                md << " This machine has " << r.ctx.cores
                   << " cores: beyond that, efficiency must fall.";
            }
            md << "\n\n";
        }
    }
    if (!c.plot.image.empty()) {
        md << "![" << p.name << "](" << c.plot.image << ")\n\n";
    } else {
        md << "Plot not drawn: " << c.plot.note << ".\n\n";
    }
}

void noise_section(std::ostringstream& md, int repeat,
                   const std::vector<std::pair<std::string, const Measurement*>>& runs) {
    std::string noisy;
    for (const auto& [label, m] : runs) {
        if (m->noisy()) {
            noisy += (noisy.empty() ? "" : ", ") + code(label) + " (" +
                     fixed(100 * m->spread(), 0) + "%)";
        }
    }
    md << "## Noise\n\n";
    if (repeat < 2) {
        md << "One repetition per point: no spread to judge the noise by; use --repeat 3 or "
              "more before trusting small differences.\n";
    } else if (noisy.empty()) {
        md << "Every point's spread, (slowest - fastest) / median, is at most "
           << fixed(100 * kNoisySpread, 0) << "%.\n";
    } else {
        md << "Spread above " << fixed(100 * kNoisySpread, 0)
           << "% (the machine was busy, or the run is too short to time): " << noisy
           << ". Rerun with more --repeat or more data before trusting these rows. On a VM, a "
              "run that writes files can pay extra system time for memory the run before it "
              "freed (compare sys_s in results.csv): when a row's times split into fast and slow, "
              "its min column is the better estimate of the tool's own cost.\n";
    }
}

}  // namespace

std::string sweep_markdown(const SweepResult& r) {
    std::ostringstream md;
    md << "# tbbpipe-lab sweep: " << r.mode << "\n\n";
    context_table(
        md, r.ctx,
        {{"timed command", code(r.command_shape)},
         {"encryption", r.encrypted ? "AES-256-GCM with a key from `tbbpipe keygen`"
                                    : "none (--plain): compression and hashing only"},
         {"repetitions",
          std::to_string(r.ctx.repeat) +
              " per point, interleaved across points (shuffled after the first pass), after one "
              "untimed warm-up run; medians reported"},
         {"sweep", r.grid ? "every combination of the parameters (--grid)"
                          : "one parameter at a time, the others at tbbpipe's defaults"}});
    md << "MB/s is 10^6 bytes of plaintext (the dataset) per second of median wall time. Peak RSS "
          "is the child's `ru_maxrss` from `wait4`, worst repetition; it cannot read below the "
          "lab's own "
       << mib(static_cast<double>(r.ctx.rss_floor_kib), 1024)
       << " MiB (Linux carries the spawning process's high-water mark into the child). Each "
          "point's outputs were checked once ("
       << (r.mode == "pack" ? "`tbbpipe verify`" : "byte-compared with the original files")
       << ") and every run's outputs were deleted after it.\n\n";
    md << "**Knee rule:** " << kKneeRule << ".\n\n";
    for (std::size_t i = 0; i < r.params.size() && i < r.curves.size(); ++i) {
        sweep_section(md, r, r.params[i], r.curves[i]);
    }
    std::string failures;
    std::vector<std::pair<std::string, const Measurement*>> runs;
    for (const auto& pt : r.points) {
        std::string label;
        for (const auto& [name, value] : pt.settings) {
            label += (label.empty() ? "" : " ") + name + "=" + value;
        }
        runs.emplace_back(label, &pt.m);
        if (!pt.m.ok()) failures += "- " + code(label) + ": " + md_cell(pt.m.error) + "\n";
    }
    if (!failures.empty()) md << "## Failed points\n\n" << failures << '\n';
    noise_section(md, r.ctx.repeat, runs);
    return md.str();
}

std::string compare_markdown(const CompareResult& r) {
    std::ostringstream md;
    md << "# tbbpipe-lab compare\n\n";
    context_table(
        md, r.ctx,
        {{"repetitions",
          std::to_string(r.ctx.repeat) +
              " per line, interleaved across lines (shuffled after the first pass), after one "
              "untimed preparation run of each pack line; medians reported"}});
    md << "**Ratio** = peer median wall time / tbbpipe median wall time: above 1 means tbbpipe "
          "is faster. Peers with age are compared with tbbpipe with a key (AES-256-GCM), peers "
          "without encryption with tbbpipe without a key. The peers read a tar stream of the "
          "same files and write one archive (unpack: extract it); tbbpipe packs each file to "
          "FILE.tbp (unpack: restores each file). Everything writes into a scratch folder that "
          "is deleted after each run, and nothing flushes to disk: tbbpipe runs with "
          "`--no-fsync`, the peers never fsync. Every unpack line's output was byte-compared "
          "with the original files once. MB/s is 10^6 bytes of plaintext per second; peak RSS "
          "is the largest single process of the line (`wait4`), at least the lab's own "
       << mib(static_cast<double>(r.ctx.rss_floor_kib), 1024) << " MiB.\n\n";
    for (const char* direction : {"pack", "unpack"}) {
        md << "## " << direction << "\n\n";
        md << "| line | median s | min s | max s | MB/s | CPU s | peak RSS MiB |"
           << (std::string(direction) == "pack" ? " stored % |" : "")
           << " compared with | ratio |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
           << (std::string(direction) == "pack" ? " ---: |" : "") << " --- | ---: |\n";
        for (const auto& l : r.lines) {
            if (l.direction != direction || !l.skipped.empty()) continue;
            const bool pack = std::string(direction) == "pack";
            md << "| " << (l.is_tbbpipe ? "**" + md_cell(l.name) + "**" : md_cell(l.name));
            if (!l.m.ok()) {
                md << " | failed: " << md_cell(l.m.error) << " | | | | | |" << (pack ? " |" : "")
                   << " | |\n";
                continue;
            }
            md << " | " << fixed(l.m.median_s, 3) << " | " << fixed(l.m.min_s, 3) << " | "
               << fixed(l.m.max_s, 3) << " | " << fixed(l.mb_s, 1) << " | "
               << fixed(l.m.median_cpu_s, 2) << " | "
               << mib(static_cast<double>(l.m.peak_rss_kib), 1024) << " |";
            if (pack) md << ' ' << percent_of(l.stored_bytes, r.ctx.dataset.bytes) << " |";
            md << ' ' << md_cell(l.baseline) << " | " << (l.ratio ? fixed(*l.ratio, 2) + "x" : "")
               << " |\n";
        }
        md << '\n';
    }
    std::string skipped;
    for (const auto& l : r.lines) {
        if (!l.skipped.empty()) {
            skipped += "- " + code(l.name) + " (" + l.direction + "): " + l.skipped + "\n";
        }
    }
    if (!skipped.empty()) md << "## Skipped\n\n" << skipped << '\n';
    for (const auto& p : r.plots) {
        if (!p.image.empty()) {
            md << "![" << p.image << "](" << p.image << ")\n\n";
        } else {
            md << "Plot not drawn: " << p.note << ".\n\n";
        }
    }
    md << "## Commands\n\n| line | command |\n| --- | --- |\n";
    for (const auto& l : r.lines) {
        if (l.skipped.empty())
            md << "| " << md_cell(l.name) << " | " << code(md_cell(l.command)) << " |\n";
    }
    md << '\n';
    std::vector<std::pair<std::string, const Measurement*>> runs;
    for (const auto& l : r.lines) {
        if (l.skipped.empty()) runs.emplace_back(l.name + " (" + l.direction + ")", &l.m);
    }
    noise_section(md, r.ctx.repeat, runs);
    return md.str();
}

}  // namespace tbbpipe::lab
