// One file being packed inside a batch: header and keys, chunk reads, seal, ordered writes.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/status.hpp"
#include "nodes/chunk_tuner.hpp"
#include "nodes/container_jobs.hpp"
#include "nodes/file_job.hpp"
#include "nodes/pack_stages.hpp"

namespace tbbpipe::nodes {
namespace {

struct stat stat_fd(int fd, const char* what) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        throw PipelineError(status_code_from_errno(errno),
                            std::string("cannot stat ") + what + ": " + std::strerror(errno));
    }
    return st;
}

class PackWork final : public JobWork {
public:
    PackWork(const PackPlan& plan, const FileJob& job)
        : plan_(plan),
          stream_(job.stream),
          file_(*job.file),
          small_(!job.stream && job.planned_size < plan.small_file_threshold &&
                 job.planned_size <= plan.nominal_chunk_size) {
        if (!small_) {
            // Chunks of one large file are read in parallel: the descriptor, header and keys
            // must exist before the first chunk is claimed.
            open_input();
            if (S_ISREG(st_before_.st_mode)) {
                auto reader = std::make_unique<FileChunkReader>(
                    in_.fd(), static_cast<std::uint64_t>(st_before_.st_size),
                    plan.nominal_chunk_size);
                file_reader_ = reader.get();
                reader_ = std::move(reader);
            } else {
                reader_ = std::make_unique<StreamChunkReader>(in_.fd(), plan.nominal_chunk_size,
                                                              plan.cancel);
            }
            seal_header();
        }
    }

    void claim(engine::Chunk& chunk) override {
        if (small_) {
            chunk.index = 0;
            chunk.offset = 0;
            chunk.last = true;
            return;
        }
        if (file_reader_ && plan_.tuner) file_reader_->set_chunk_size(plan_.tuner->current());
        if (!reader_->claim(chunk)) {
            throw PipelineError(StatusCode::kInternal, "claimed past the last chunk");
        }
    }

    void fill(engine::Chunk& chunk) override {
        if (!small_) {
            reader_->fill(chunk);
            return;
        }
        // The fast path: open, read the whole file in one go, close; the header and keys are
        // made here too (on an I/O thread, in parallel), not under the claim lock.
        open_input();
        if (!S_ISREG(st_before_.st_mode)) {
            throw PipelineError(StatusCode::kInvalidArgument, "not a regular file");
        }
        const auto size = static_cast<std::uint64_t>(st_before_.st_size);
        if (size >= plan_.small_file_threshold || size > plan_.nominal_chunk_size) {
            throw PipelineError(StatusCode::kIoError, "file changed size while being read");
        }
        // One byte more than expected: a file that grew shows itself here.
        std::uint8_t* buf = engine::Chunk::ensure(chunk.input, static_cast<std::size_t>(size) + 1);
        const std::size_t got = pread_full(in_.fd(), buf, static_cast<std::size_t>(size) + 1, 0);
        if (got != size) {
            throw PipelineError(StatusCode::kIoError, "file changed size while being read");
        }
        chunk.input_size = got;
        in_.reset();
        seal_header();
    }

    void transform(engine::Chunk& chunk) override { transform_->transform(chunk); }

    void write(const engine::Chunk& chunk) override {
        if (!writer_) open_output();
        writer_->write(chunk);
    }

    std::unique_ptr<OutputFile> finish(FileOutcome& outcome) override {
        if (!small_ && S_ISREG(st_before_.st_mode)) {
            const struct stat st_after = stat_fd(in_.fd(), "the input");
            if (st_after.st_size != st_before_.st_size) {
                throw PipelineError(StatusCode::kIoError, "file changed size while being read");
            }
        }
        FooterBody metadata;
        if (file_.input != "-" && !file_.anonymous) {
            metadata.name = base_name(file_.input);
            metadata.mode = static_cast<std::uint32_t>(st_before_.st_mode & 07777);
            metadata.mtime_sec = st_before_.st_mtim.tv_sec;
            metadata.mtime_nsec = static_cast<std::uint32_t>(st_before_.st_mtim.tv_nsec);
        }
        if (metadata.name.size() > kMaxNameLength) metadata.name.resize(kMaxNameLength);
        outcome.plaintext_bytes = outcome.bytes_in = writer_->plaintext_bytes();
        outcome.bytes_out = writer_->finish(std::move(metadata));
        in_.reset();
        if (out_ && S_ISREG(st_before_.st_mode)) {
            out_->set_metadata(static_cast<std::uint32_t>(st_before_.st_mode & 0777), 0, 0);
        }
        return std::move(out_);
    }

    void abandon() noexcept override { out_.reset(); }

private:
    void open_input() {
        in_ = nodes::open_input(file_.input, !stream_);
        st_before_ = stat_fd(in_.fd(), "the input");
    }

    // The header (with a fresh file key wrapped under the batch's KEK) and the seal context.
    void seal_header() {
        Header header = plan_.header_template;
        header.chunk_size = plan_.nominal_chunk_size;
        SecretBytes file_key(kFileKeySize);
        if (plan_.kek) {
            random_bytes(header.wrap_nonce.data(), header.wrap_nonce.size());
            random_bytes(file_key.data(), file_key.size());
            const auto fixed = encode_header(header);  // the wrap binds bytes [0,48)
            aead_seal(header.cipher, *plan_.kek, header.wrap_nonce.data(), fixed.data(), 48,
                      file_key.data(), kFileKeySize, header.wrapped_key.data());
        }
        // The header digest and its authentication cover bytes [0,112) and the stage list.
        const std::vector<std::uint8_t> stage_list = (header.flags & kHeaderFlagStageList)
                                                         ? encode_stage_list(plan_.stages->spec)
                                                         : std::vector<std::uint8_t>{};
        const std::vector<std::uint8_t> covered =
            header_auth_input(encode_header(header).data(), stage_list.data(), stage_list.size());
        const Digest header_digest = sha256(covered.data(), covered.size());
        if (plan_.kek) {
            keys_ = std::make_unique<FileKeys>(derive_file_keys(file_key, header_digest));
            header.auth = hmac_sha256(keys_->header_mac, covered.data(), covered.size());
        } else {
            header.auth = header_digest;
        }
        const auto fixed = encode_header(header);
        header_bytes_.assign(fixed.begin(), fixed.end());
        header_bytes_.insert(header_bytes_.end(), stage_list.begin(), stage_list.end());

        context_.compression = header.compression;
        context_.level = plan_.level;
        context_.cipher = header.cipher;
        context_.chunk_size = plan_.nominal_chunk_size;
        context_.header_digest = header_digest;
        context_.payload_key = keys_ ? &keys_->payload : nullptr;
        context_.stages = plan_.stages->recorded() ? plan_.stages : nullptr;
        context_.data_offset = header_bytes_.size();
        transform_.emplace(context_);
    }

    void open_output() {
        int fd = file_.output_fd >= 0 ? file_.output_fd : STDOUT_FILENO;
        if (file_.output_fd < 0 && file_.output != "-") {
            refuse_same_file(file_.output, st_before_.st_dev, st_before_.st_ino);
            out_ = std::make_unique<OutputFile>(file_.output, plan_.overwrite, plan_.durable);
            fd = out_->fd();
        }
        write_full(fd, header_bytes_.data(), header_bytes_.size(), "output", plan_.cancel);
        writer_.emplace(fd, context_, keys_ ? &keys_->footer : nullptr, plan_.cancel);
    }

    const PackPlan& plan_;
    const bool stream_;  // listed as a stream (stdin, a FIFO named explicitly)
    const BatchFile& file_;
    const bool small_;
    FileHandle in_;
    struct stat st_before_ {};
    std::unique_ptr<engine::ChunkSource> reader_;
    FileChunkReader* file_reader_ = nullptr;  // reader_, when the input is a regular file
    std::vector<std::uint8_t> header_bytes_;  // the header and, when recorded, the stage list
    std::unique_ptr<FileKeys> keys_;
    SealContext context_;
    std::optional<PackTransform> transform_;
    std::unique_ptr<OutputFile> out_;
    std::optional<ContainerWriter> writer_;
};

}  // namespace

std::unique_ptr<JobWork> make_pack_work(const PackPlan& plan, const FileJob& job) {
    return std::make_unique<PackWork>(plan, job);
}

void refuse_same_file(const std::string& output, dev_t input_dev, ino_t input_ino) {
    struct stat out_st {};
    if (::stat(output.c_str(), &out_st) == 0 && out_st.st_dev == input_dev &&
        out_st.st_ino == input_ino) {
        throw PipelineError(StatusCode::kInvalidArgument,
                            "refusing to overwrite the input with its own output");
    }
}

}  // namespace tbbpipe::nodes
