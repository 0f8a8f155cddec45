// Submit many jobs without ever blocking the caller: try_submit() says "queue full" (with the
// capacity) when admission is saturated, and the caller applies backpressure by waiting for its
// oldest job before trying again.
#include <tbbpipe/tbbpipe.hpp>

#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>

int main() {
    const auto dir = std::filesystem::temp_directory_path() / "tbbpipe-nonblocking-example";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);

    tbbpipe::EngineConfig config;
    config.queue_capacity = 2;  // small on purpose, to show the backpressure
    tbbpipe::Engine engine(config);

    std::deque<tbbpipe::JobHandle> in_flight;
    int refusals = 0;
    for (int i = 0; i < 12; ++i) {
        const auto input = dir / ("part" + std::to_string(i));
        std::ofstream(input) << std::string(200000 + i, static_cast<char>('a' + i % 26));
        tbbpipe::Job job;
        job.files = {{input.string(), input.string() + ".tbp"}};
        for (;;) {
            auto submitted = engine.try_submit(job);
            if (submitted.ok()) {
                in_flight.push_back(submitted.value());
                break;
            }
            if (submitted.status().code() != tbbpipe::StatusCode::kResourceExhausted) {
                std::cerr << submitted.status().message() << '\n';
                return 1;
            }
            ++refusals;  // "queue full (capacity 2 jobs)": wait for the oldest, then retry
            in_flight.front().wait();
            in_flight.pop_front();
        }
    }
    bool ok = true;
    for (const auto& handle : in_flight) ok = ok && handle.wait().status.is_ok();
    const tbbpipe::ShutdownReport report = engine.shutdown(std::chrono::seconds(30));
    std::cout << "12 jobs, " << refusals << " refusals while the queue was full, shutdown "
              << (report.timed_out ? "timed out" : "clean") << '\n';
    std::filesystem::remove_all(dir);
    return ok && !report.timed_out ? 0 : 1;
}
