// Pack every file below a folder into a mirrored tree of .tbp containers, in one job: all files
// go through the engine's graph together. Usage: pack_folder SRC DST
#include <tbbpipe/tbbpipe.hpp>

#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: pack_folder SRC DST\n";
        return 2;
    }
    const fs::path src = argv[1];
    const fs::path dst = argv[2];

    tbbpipe::Job job;  // pack is the default operation; no secret: compressed and hashed only
    for (const auto& entry : fs::recursive_directory_iterator(src)) {
        if (!entry.is_regular_file()) continue;
        const fs::path out = dst / fs::relative(entry.path(), src);
        fs::create_directories(out.parent_path());
        job.files.push_back({entry.path().string(), out.string() + ".tbp"});
    }

    tbbpipe::Engine engine;  // default budgets: all cores, max(64 MiB, 8 MiB per core) of buffers
    tbbpipe::Result<tbbpipe::JobHandle> submitted = engine.submit(std::move(job));
    if (!submitted.ok()) {
        std::cerr << submitted.status().message() << '\n';
        return 1;
    }
    const tbbpipe::JobResult& result = submitted.value().wait();
    for (const auto& file : result.files) {
        std::cout << file.input << ": " << (file.status.is_ok() ? "ok" : file.status.message())
                  << " (" << file.bytes_in << " -> " << file.bytes_out << " bytes)\n";
    }
    return result.status.is_ok() ? 0 : 1;
}
