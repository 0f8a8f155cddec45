// inspect_container (tbbpipe/container.hpp): a container's header, trailer and index, without
// reading its records.
#include <sys/stat.h>

#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "format/open.hpp"
#include "jobs/container_file.hpp"
#include "jobs/file_io.hpp"
#include "tbbpipe/container.hpp"

namespace tbbpipe {
namespace {

ContainerInfo inspect(const std::string& path, const Secret& secret) {
    jobs::FileHandle in = jobs::open_input(path);
    struct stat st {};
    if (::fstat(in.fd(), &st) != 0) {
        throw StatusError(status_code_from_errno(errno), "cannot stat");
    }
    if (!S_ISREG(st.st_mode)) {
        throw StatusError(StatusCode::kInvalidArgument, "info needs a regular file, not a stream");
    }
    const std::vector<std::uint8_t> raw = jobs::read_header_bytes(in.fd(), true);
    format::KekCache cache;
    const format::OpenedHeader opened =
        format::authenticate_header(raw.data(), raw.size(), secret, false, &cache);
    const format::Header& h = opened.header;
    ContainerInfo info;
    info.format_version = format::get_u16(raw.data() + 8);
    info.container_bytes = static_cast<std::uint64_t>(st.st_size);
    info.compression = h.compression;
    info.level = h.level;
    info.cipher = h.cipher;
    info.key_derivation = h.kdf;
    info.scrypt = {h.scrypt.log2_n, h.scrypt.r, h.scrypt.p};
    info.stages = opened.stages.spec;
    info.stages_recorded = opened.stages_recorded;
    info.hash = h.hash;
    info.chunk_size = h.chunk_size;
    info.header_digest = opened.header_digest;
    if (info.container_bytes < opened.data_offset + format::kTrailerSize) {
        throw StatusError(StatusCode::kCorruptData, "truncated: no trailer");
    }
    std::uint8_t raw_trailer[format::kTrailerSize];
    if (jobs::pread_full(in.fd(), raw_trailer, format::kTrailerSize,
                         info.container_bytes - format::kTrailerSize) != format::kTrailerSize) {
        throw StatusError(StatusCode::kIoError, "file shrank while being read");
    }
    info.chunk_count = format::decode_trailer(raw_trailer).chunk_count;
    if (h.encrypted() && !opened.keys) return info;  // the index stays closed without the key
    const format::FooterBody footer = jobs::read_footer(in.fd(), info.container_bytes, opened);
    info.authenticated = true;
    info.original_bytes = footer.original_size;
    info.name = footer.name;
    info.mode = footer.mode;
    info.mtime_sec = footer.mtime_sec;
    info.mtime_nsec = footer.mtime_nsec;
    info.root_digest = footer.root;
    info.chunks.reserve(footer.entries.size());
    for (const format::IndexEntry& e : footer.entries) {
        info.chunks.push_back({e.offset, e.raw_size, e.stored_size,
                               (e.flags & format::kFlagCompressed) != 0, e.digest});
    }
    return info;
}

}  // namespace

Result<ContainerInfo> inspect_container(const std::string& path, const Secret& secret) {
    try {
        return inspect(path, secret);
    } catch (...) {
        return status_from_current_exception();
    }
}

}  // namespace tbbpipe
