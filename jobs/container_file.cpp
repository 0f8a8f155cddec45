#include "jobs/container_file.hpp"

#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "jobs/file_io.hpp"

namespace tbbpipe::jobs {
namespace {

[[noreturn]] void corrupt(const std::string& what) {
    throw StatusError(StatusCode::kCorruptData, what);
}

}  // namespace

std::vector<std::uint8_t> read_header_bytes(int fd, bool seekable, const std::stop_token& stop,
                                            const InputFacts& facts) {
    using format::kHeaderSize;
    using format::kStageListPrefixSize;
    std::vector<std::uint8_t> bytes(kHeaderSize + kStageListPrefixSize);
    const auto read_at = [&](std::size_t offset, std::size_t n) {
        return seekable ? pread_full(fd, bytes.data() + offset, n, offset, facts)
                        : read_full(fd, bytes.data() + offset, n, stop);
    };
    const std::size_t got = read_at(0, kHeaderSize);
    if (got != kHeaderSize) {
        corrupt(got == 0 ? "empty input (not a tbbpipe container)"
                         : "truncated: too short for a tbbpipe header");
    }
    const format::Header header = format::decode_header(bytes.data(), kHeaderSize);
    if ((header.flags & format::kHeaderFlagStageList) == 0) {
        bytes.resize(kHeaderSize);
        return bytes;
    }
    if (read_at(kHeaderSize, kStageListPrefixSize) != kStageListPrefixSize) {
        corrupt("truncated: the stage list is cut short");
    }
    const std::size_t list_size = format::stage_list_size(bytes.data() + kHeaderSize);
    bytes.resize(kHeaderSize + list_size);
    const std::size_t rest = list_size - kStageListPrefixSize;
    if (read_at(kHeaderSize + kStageListPrefixSize, rest) != rest) {
        corrupt("truncated: the stage list is cut short");
    }
    return bytes;
}

format::FooterBody read_footer(int fd, std::uint64_t container_size,
                               const format::OpenedHeader& opened, const InputFacts& facts) {
    using format::kFooterPrefixSize;
    using format::kTrailerSize;
    if (container_size < opened.data_offset + kTrailerSize + kFooterPrefixSize) {
        corrupt("container truncated (" + std::to_string(container_size) + " bytes)");
    }
    std::uint8_t raw_trailer[kTrailerSize];
    if (pread_full(fd, raw_trailer, kTrailerSize, container_size - kTrailerSize, facts) !=
        kTrailerSize) {
        throw StatusError(StatusCode::kIoError, "file shrank while being read");
    }
    const format::Trailer trailer = format::decode_trailer(raw_trailer);
    format::check_trailer(opened, trailer, container_size);

    std::vector<std::uint8_t> footer(trailer.footer_size);
    if (pread_full(fd, footer.data(), footer.size(), trailer.footer_offset, facts) !=
        footer.size()) {
        throw StatusError(StatusCode::kIoError, "file shrank while being read");
    }
    if (format::get_u32(footer.data()) != format::kFooterMagic ||
        format::get_u32(footer.data() + 4) != trailer.footer_size - kFooterPrefixSize) {
        corrupt("footer at offset " + std::to_string(trailer.footer_offset) + ": bad prefix");
    }
    return format::open_footer(opened, footer.data() + kFooterPrefixSize,
                               trailer.footer_size - static_cast<std::uint32_t>(kFooterPrefixSize),
                               trailer.footer_offset, trailer.chunk_count);
}

}  // namespace tbbpipe::jobs
