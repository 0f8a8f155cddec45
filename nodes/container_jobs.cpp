#include "nodes/container_jobs.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "engine/status.hpp"
#include "nodes/codec.hpp"
#include "nodes/file_io.hpp"
#include "nodes/pack_stages.hpp"
#include "nodes/unpack_stages.hpp"

namespace tbbpipe::nodes {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

struct stat stat_fd(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        throw PipelineError(status_code_from_errno(errno),
                            std::string("cannot stat: ") + std::strerror(errno));
    }
    return st;
}

// Runs body, turning a PipelineError into the outcome's status.
template <typename Body>
FileOutcome guarded(Body&& body) {
    const auto start = Clock::now();
    FileOutcome outcome;
    try {
        body(outcome);
    } catch (const PipelineError& e) {
        outcome.status = e.status();
    } catch (const std::bad_alloc&) {
        outcome.status = {StatusCode::kResourceExhausted, "out of memory"};
    } catch (const std::exception& e) {
        outcome.status = {StatusCode::kInternal, e.what()};
    } catch (...) {
        outcome.status = {StatusCode::kInternal, "unknown exception"};
    }
    outcome.seconds = seconds_since(start);
    return outcome;
}

void read_header_bytes(int fd, bool seekable, std::uint8_t* buf, const std::atomic<bool>* cancel) {
    const std::size_t got =
        seekable ? pread_full(fd, buf, kHeaderSize, 0) : read_full(fd, buf, kHeaderSize, cancel);
    if (got != kHeaderSize) {
        throw PipelineError(StatusCode::kCorruptData,
                            got == 0 ? "empty input (not a tbbpipe container)"
                                     : "truncated: too short for a tbbpipe header");
    }
}

// Refuses an output path that names the input itself (it would be replaced by its own output).
void refuse_same_file(const std::string& output, const struct stat& input) {
    struct stat out_st {};
    if (::stat(output.c_str(), &out_st) == 0 && out_st.st_dev == input.st_dev &&
        out_st.st_ino == input.st_ino) {
        throw PipelineError(StatusCode::kInvalidArgument,
                            "refusing to overwrite the input with its own output");
    }
}

// Forwards chunks to the real writer and reports progress per chunk written.
class ProgressSink final : public engine::ChunkSink {
public:
    ProgressSink(engine::ChunkSink& inner, engine::FileEvents* events, const std::string& file,
                 std::uint64_t total)
        : inner_(inner), events_(events), file_(file), total_(total) {}
    void write(const engine::Chunk& chunk) override {
        inner_.write(chunk);
        done_ += chunk.input_size;
        if (events_) {
            events_->post({engine::FileEvent::Kind::kProgress, file_, done_, total_, {}});
        }
    }

private:
    engine::ChunkSink& inner_;
    engine::FileEvents* events_;
    const std::string& file_;
    std::uint64_t total_;
    std::uint64_t done_ = 0;
};

std::uint64_t regular_size(const std::string& path) {
    struct stat st {};
    if (path == "-" || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace

ContainerJobs::ContainerJobs(const EngineSettings& settings, const std::atomic<bool>* cancel)
    : settings_(settings), cancel_(cancel) {
    if (settings.metrics) {
        pipeline_metrics_ = std::make_unique<engine::PipelineMetrics>(*settings.metrics);
        pipeline_metrics_->memory_limit_bytes.set(
            static_cast<std::int64_t>(settings.memory_budget));
        files_ok_ =
            &settings.metrics->counter("tbbpipe_files_total", "Files processed", "status=\"ok\"");
        files_failed_ = &settings.metrics->counter("tbbpipe_files_total", "Files processed",
                                                   "status=\"failed\"");
    }
}

template <typename Body>
FileOutcome ContainerJobs::observed(const std::string& file, std::uint64_t total, Body&& body) {
    using Kind = engine::FileEvent::Kind;
    if (settings_.events) settings_.events->post({Kind::kStarted, file, 0, total, {}});
    FileOutcome outcome = body();
    if (settings_.events) {
        settings_.events->post({outcome.status.is_ok() ? Kind::kFinished : Kind::kFailed, file,
                                outcome.bytes_in, total, outcome.status});
    }
    if (files_ok_) (outcome.status.is_ok() ? files_ok_ : files_failed_)->add();
    return outcome;
}

ContainerJobs::~ContainerJobs() = default;

engine::Pipeline& ContainerJobs::pipeline_for(std::uint32_t chunk_size) {
    if (!pipeline_ || pipeline_chunk_size_ != chunk_size) {
        pipeline_.reset();  // free the old buffers before the new engine can allocate any
        // A chunk in flight holds an input and an output buffer of up to the largest record.
        const std::size_t per_chunk = 2 * (kRecordHeaderSize + max_stored_size(chunk_size, true));
        if (settings_.memory_budget < per_chunk) {
            throw PipelineError(StatusCode::kResourceExhausted,
                                "memory limit of " + std::to_string(settings_.memory_budget) +
                                    " bytes is below one chunk's buffers (" +
                                    std::to_string(per_chunk) + " bytes for " +
                                    std::to_string(chunk_size) + "-byte chunks)");
        }
        engine::PipelineConfig config;
        config.cpu_tokens = settings_.cpu_tokens;
        config.io_tokens = settings_.io_tokens;
        config.metrics = pipeline_metrics_.get();
        config.chunk_tokens = engine::chunk_tokens_for_budget(
            settings_.memory_budget, per_chunk, settings_.cpu_tokens, settings_.io_tokens);
        pipeline_ = std::make_unique<engine::Pipeline>(config);
        pipeline_chunk_size_ = chunk_size;
    }
    last_pipeline_ = pipeline_.get();
    return *pipeline_;
}

FileOutcome ContainerJobs::pack(const std::string& input, const std::string& output,
                                const PackSettings& settings, const UserSecret& secret,
                                bool overwrite) {
    return observed(input, regular_size(input), [&] {
        return guarded([&](FileOutcome& outcome) {
            FileHandle in = open_input(input);
            const struct stat st_before = stat_fd(in.fd());
            const bool regular = S_ISREG(st_before.st_mode);

            Header header;
            header.compression = settings.compression;
            const int level =
                settings.level ? settings.level : level_range(settings.compression).fallback;
            header.level = static_cast<std::int8_t>(std::min(level, 127));  // informational only
            header.chunk_size = settings.chunk_size;
            SecretBytes file_key(kFileKeySize);
            if (secret.present()) {
                header.cipher = settings.cipher;
                header.kdf = secret.kind;
                if (secret.kind == KdfId::kScrypt) {
                    if (!pack_kdf_) {
                        Header kdf = header;
                        kdf.scrypt = settings.scrypt;
                        random_bytes(kdf.salt.data(), kdf.salt.size());
                        pack_kek_ = derive_kek(secret, kdf);
                        pack_kdf_ = kdf;
                    }
                    header.scrypt = pack_kdf_->scrypt;
                    header.salt = pack_kdf_->salt;
                } else {
                    header.scrypt = {};
                    pack_kek_ = derive_kek(secret, header);
                }
                header.key_id = key_id_for(pack_kek_);
                random_bytes(header.wrap_nonce.data(), header.wrap_nonce.size());
                random_bytes(file_key.data(), file_key.size());
                const auto fixed = encode_header(header);  // the wrap binds bytes [0,48)
                aead_seal(header.cipher, pack_kek_, header.wrap_nonce.data(), fixed.data(), 48,
                          file_key.data(), kFileKeySize, header.wrapped_key.data());
            } else {
                header.scrypt = {};
            }
            auto bytes = encode_header(header);
            const Digest header_digest = sha256(bytes.data(), kHeaderAuthOffset);
            std::unique_ptr<FileKeys> keys;
            if (secret.present()) {
                keys = std::make_unique<FileKeys>(derive_file_keys(file_key, header_digest));
                header.auth = hmac_sha256(keys->header_mac, bytes.data(), kHeaderAuthOffset);
            } else {
                header.auth = header_digest;
            }
            bytes = encode_header(header);

            std::unique_ptr<OutputFile> out_file;
            int out_fd = STDOUT_FILENO;
            if (output != "-") {
                refuse_same_file(output, st_before);
                out_file = std::make_unique<OutputFile>(output, overwrite, settings_.durable);
                out_fd = out_file->fd();
            }
            write_full(out_fd, bytes.data(), bytes.size(), "output", cancel_);

            SealContext context;
            context.compression = settings.compression;
            context.level = level;
            context.cipher = header.cipher;
            context.chunk_size = settings.chunk_size;
            context.header_digest = header_digest;
            context.payload_key = keys ? &keys->payload : nullptr;
            PackTransform transform(context);
            ContainerWriter writer(out_fd, context, keys ? &keys->footer : nullptr, cancel_);

            engine::Pipeline& pipeline = pipeline_for(settings.chunk_size);
            std::unique_ptr<engine::ChunkSource> source;
            if (regular) {
                source = std::make_unique<FileChunkReader>(in.fd(), st_before.st_size,
                                                           settings.chunk_size);
            } else {
                source = std::make_unique<StreamChunkReader>(in.fd(), settings.chunk_size, cancel_);
            }
            ProgressSink progress(writer, settings_.events, input, regular_size(input));
            outcome.run = pipeline.run(*source, transform, progress, cancel_);
            outcome.chunks = outcome.run.chunks_written;
            outcome.plaintext_bytes = outcome.bytes_in = writer.plaintext_bytes();
            if (!outcome.run.status.is_ok())
                throw PipelineError(outcome.run.status.code(), outcome.run.status.message());
            if (regular) {
                const struct stat st_after = stat_fd(in.fd());
                if (st_after.st_size != st_before.st_size) {
                    throw PipelineError(StatusCode::kIoError, "file changed size while being read");
                }
            }
            FooterBody metadata;
            if (input != "-") {
                metadata.name = base_name(input);
                metadata.mode = static_cast<std::uint32_t>(st_before.st_mode & 07777);
                metadata.mtime_sec = st_before.st_mtim.tv_sec;
                metadata.mtime_nsec = static_cast<std::uint32_t>(st_before.st_mtim.tv_nsec);
            }
            if (metadata.name.size() > kMaxNameLength) metadata.name.resize(kMaxNameLength);
            outcome.bytes_out = writer.finish(std::move(metadata));
            if (out_file) {
                if (regular)
                    out_file->set_metadata(static_cast<std::uint32_t>(st_before.st_mode & 0777), 0,
                                           0);
                out_file->commit();
                outcome.fsyncs = out_file->syncs();
            }
        });
    });
}

FileOutcome ContainerJobs::unpack(const std::string& input, const std::string& output,
                                  const UserSecret& secret, bool overwrite) {
    return restore(input, &output, secret, overwrite);
}

FileOutcome ContainerJobs::verify(const std::string& input, const UserSecret& secret) {
    return restore(input, nullptr, secret, false);
}

FileOutcome ContainerJobs::restore(const std::string& input, const std::string* output,
                                   const UserSecret& secret, bool overwrite) {
    return observed(input, regular_size(input), [&] {
        return guarded([&](FileOutcome& outcome) {
            FileHandle in = open_input(input);
            const struct stat st = stat_fd(in.fd());
            const bool seekable = S_ISREG(st.st_mode);
            std::uint8_t raw_header[kHeaderSize];
            read_header_bytes(in.fd(), seekable, raw_header, cancel_);
            const OpenedHeader opened =
                authenticate_header(raw_header, kHeaderSize, &secret, true, &kek_cache_);

            std::optional<FooterBody> footer;
            if (seekable)
                footer = read_footer(in.fd(), static_cast<std::uint64_t>(st.st_size), opened);

            std::unique_ptr<OutputFile> out_file;
            int out_fd = -1;
            if (output) {
                if (*output == "-") {
                    out_fd = STDOUT_FILENO;
                } else {
                    refuse_same_file(*output, st);
                    out_file = std::make_unique<OutputFile>(*output, overwrite, settings_.durable);
                    out_fd = out_file->fd();
                }
            }

            std::unique_ptr<engine::ChunkSource> source;
            StreamRecordReader* stream = nullptr;
            if (footer) {
                source = std::make_unique<IndexedRecordReader>(in.fd(), opened, *footer);
            } else {
                auto reader = std::make_unique<StreamRecordReader>(in.fd(), opened, cancel_);
                stream = reader.get();
                source = std::move(reader);
            }
            UnpackTransform transform(opened, footer ? &*footer : nullptr);
            PlaintextWriter writer(out_fd, stream != nullptr, cancel_);
            ProgressSink progress(writer, settings_.events, input,
                                  seekable ? static_cast<std::uint64_t>(st.st_size) : 0);
            outcome.run =
                pipeline_for(opened.header.chunk_size).run(*source, transform, progress, cancel_);
            outcome.chunks = outcome.run.chunks_written;
            outcome.plaintext_bytes = writer.bytes();
            outcome.bytes_out = out_fd >= 0 ? writer.bytes() : 0;
            if (!outcome.run.status.is_ok()) {
                throw PipelineError(outcome.run.status.code(), outcome.run.status.message());
            }
            if (stream) {
                if (!stream->footer()) {
                    throw PipelineError(StatusCode::kCorruptData,
                                        "truncated: the footer is missing");
                }
                check_streamed_digests(*stream->footer(), writer.digests());
                footer = stream->footer();
            }
            outcome.bytes_in = seekable ? static_cast<std::uint64_t>(st.st_size)
                               : footer->entries.empty()
                                   ? 0
                                   : footer->entries.back().offset + kRecordHeaderSize +
                                         footer->entries.back().stored_size;
            if (out_file) {
                out_file->set_metadata(footer->mode, footer->mtime_sec, footer->mtime_nsec);
                out_file->commit();
                outcome.fsyncs = out_file->syncs();
            }
        });
    });
}

ContainerInfo ContainerJobs::inspect(const std::string& input, const UserSecret& secret) {
    FileHandle in = open_input(input);
    const struct stat st = stat_fd(in.fd());
    if (!S_ISREG(st.st_mode)) {
        throw PipelineError(StatusCode::kInvalidArgument,
                            "info needs a regular file, not a stream");
    }
    std::uint8_t raw_header[kHeaderSize];
    read_header_bytes(in.fd(), true, raw_header, cancel_);
    ContainerInfo info{authenticate_header(raw_header, kHeaderSize, &secret, false, &kek_cache_),
                       static_cast<std::uint64_t>(st.st_size),
                       {},
                       {}};
    if (info.container_size < kHeaderSize + kTrailerSize) {
        throw PipelineError(StatusCode::kCorruptData, "truncated: no trailer");
    }
    std::uint8_t raw_trailer[kTrailerSize];
    if (pread_full(in.fd(), raw_trailer, kTrailerSize, info.container_size - kTrailerSize) !=
        kTrailerSize) {
        throw PipelineError(StatusCode::kIoError, "file shrank while being read");
    }
    info.trailer = decode_trailer(raw_trailer);
    if (!info.opened.header.encrypted() || info.opened.keys) {
        info.footer = read_footer(in.fd(), info.container_size, info.opened);
    }
    return info;
}

}  // namespace tbbpipe::nodes
