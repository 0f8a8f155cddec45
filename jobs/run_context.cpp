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

void refuse_same_file(const std::string& output, dev_t input_dev, ino_t input_ino) {
    struct stat out_st {};
    if (::stat(output.c_str(), &out_st) == 0 && out_st.st_dev == input_dev &&
        out_st.st_ino == input_ino) {
        throw StatusError(StatusCode::kInvalidArgument,
                          "refusing to overwrite the input with its own output");
    }
}

std::unique_ptr<OutputFile> open_output(const RunContext& run, const Job::File& file,
                                        dev_t input_dev, ino_t input_ino, int* fd) {
    *fd = -1;
    if (run.operation == Operation::kVerify) return nullptr;  // verify writes nothing
    if (file.output_fd >= 0) {
        *fd = file.output_fd;
        widen_pipe(*fd);
        return nullptr;
    }
    // Without overwrite an existing output is refused anyway (OutputFile), the input included.
    if (run.overwrite) refuse_same_file(file.output, input_dev, input_ino);
    auto out = std::make_unique<OutputFile>(file.output, run.overwrite, run.durable);
    *fd = out->fd();
    return out;
}

}  // namespace tbbpipe::jobs
