// One container being unpacked or verified inside a batch.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/status.hpp"
#include "nodes/container_jobs.hpp"
#include "nodes/container_reader.hpp"
#include "nodes/file_job.hpp"
#include "nodes/unpack_stages.hpp"

namespace tbbpipe::nodes {
namespace {

class UnpackWork final : public JobWork {
public:
    UnpackWork(const UnpackPlan& plan, FileJob& job, BatchOp op)
        : plan_(plan), file_(*job.file), op_(op) {
        in_ = job.stream_input.valid() ? std::move(job.stream_input)
                                       : open_input(file_.input, !job.stream);
        if (::fstat(in_.fd(), &st_) != 0) {
            throw PipelineError(status_code_from_errno(errno),
                                std::string("cannot stat the input: ") + std::strerror(errno));
        }
        seekable_ = S_ISREG(st_.st_mode);
        const std::vector<std::uint8_t> raw =
            job.stream_header ? std::move(*job.stream_header)  // read by the planner, to size
                              : read_header_bytes(in_.fd(), seekable_, plan.cancel);
        opened_ = authenticate_header(raw.data(), raw.size(), plan.secret, true, plan.kek_cache);
        // Before any chunk: a container whose stages this engine lacks fails here, by name.
        if (opened_.stages_recorded) resolve_recorded_stages(opened_.stages, *plan.stages);
        if (seekable_) {
            footer_ = read_footer(in_.fd(), static_cast<std::uint64_t>(st_.st_size), opened_);
            reader_ = std::make_unique<IndexedRecordReader>(in_.fd(), opened_, *footer_);
        } else {
            auto reader = std::make_unique<StreamRecordReader>(in_.fd(), opened_, plan.cancel);
            stream_ = reader.get();
            reader_ = std::move(reader);
        }
        transform_.emplace(opened_, footer_ ? &*footer_ : nullptr);
    }

    void claim(engine::Chunk& chunk) override {
        if (!reader_->claim(chunk)) {
            throw PipelineError(StatusCode::kCorruptData, "no chunks before the footer");
        }
    }
    void fill(engine::Chunk& chunk) override { reader_->fill(chunk); }
    void transform(engine::Chunk& chunk) override { transform_->transform(chunk); }

    void write(const engine::Chunk& chunk) override {
        if (!writer_) open_output();
        writer_->write(chunk);
    }

    std::unique_ptr<OutputFile> finish(FileOutcome& outcome) override {
        if (stream_) {
            if (!stream_->footer()) {
                throw PipelineError(StatusCode::kCorruptData, "truncated: the footer is missing");
            }
            check_streamed_digests(*stream_->footer(), writer_->digests());
            footer_ = stream_->footer();
        }
        outcome.plaintext_bytes = writer_->bytes();
        outcome.bytes_out = op_ == BatchOp::kUnpack ? writer_->bytes() : 0;
        outcome.bytes_in = seekable_ ? static_cast<std::uint64_t>(st_.st_size)
                           : footer_->entries.empty()
                               ? 0
                               : footer_->entries.back().offset + kRecordHeaderSize +
                                     footer_->entries.back().stored_size;
        in_.reset();
        if (out_) out_->set_metadata(footer_->mode, footer_->mtime_sec, footer_->mtime_nsec);
        return std::move(out_);
    }

    void abandon() noexcept override { out_.reset(); }

private:
    void open_output() {
        int fd = -1;  // verify: the writer only counts and keeps digests
        if (op_ == BatchOp::kUnpack) {
            if (file_.output_fd >= 0) {
                fd = file_.output_fd;
            } else if (file_.output == "-") {
                fd = STDOUT_FILENO;
            } else {
                refuse_same_file(file_.output, st_.st_dev, st_.st_ino);
                out_ = std::make_unique<OutputFile>(file_.output, plan_.overwrite, plan_.durable);
                fd = out_->fd();
            }
        }
        writer_.emplace(fd, stream_ != nullptr, plan_.cancel);
    }

    const UnpackPlan& plan_;
    const BatchFile& file_;
    const BatchOp op_;
    FileHandle in_;
    struct stat st_ {};
    bool seekable_ = false;
    OpenedHeader opened_;
    std::optional<FooterBody> footer_;
    std::unique_ptr<engine::ChunkSource> reader_;
    StreamRecordReader* stream_ = nullptr;  // reader_, when the input is a stream
    std::optional<UnpackTransform> transform_;
    std::unique_ptr<OutputFile> out_;
    std::optional<PlaintextWriter> writer_;
};

}  // namespace

std::unique_ptr<JobWork> make_unpack_work(const UnpackPlan& plan, FileJob& job, BatchOp op) {
    return std::make_unique<UnpackWork>(plan, job, op);
}

}  // namespace tbbpipe::nodes
