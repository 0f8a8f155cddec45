#include "jobs/run_context.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include "core/status_error.hpp"
#include "format/record.hpp"

namespace tbbpipe::jobs {

std::size_t chunk_buffer_bytes(std::uint32_t chunk_size) {
    return 2 * (format::kRecordHeaderSize + format::max_stored_size(chunk_size, true));
}

std::string chunk_name(std::uint64_t index, std::uint64_t offset) {
    return "chunk " + std::to_string(index) + " at offset " + std::to_string(offset);
}

std::unique_ptr<OutputFile> open_output(const RunContext& run, const FileEntry& entry,
                                        const struct stat& input, int* fd) {
    *fd = -1;
    if (run.operation == Operation::kVerify) return nullptr;  // verify writes nothing
    const Job::File& file = *entry.file;
    if (file.output_fd >= 0) {
        *fd = file.output_fd;
        widen_pipe(*fd);
        return nullptr;
    }
    const OutputPlace place{entry.output_root,
                            entry.output_root ? entry.output_relative : file.output, file.output};
    auto out = std::make_unique<OutputFile>(place, run.overwrite, run.durable, &input);
    *fd = out->fd();
    return out;
}

}  // namespace tbbpipe::jobs
