// A split container's tail: each part's index (its records' headers and digests) and the footer
// and trailer made of all of them, in chunk order, exactly as IndexBuilder makes them for one
// process: the records' offsets follow from their sizes alone.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/status_error.hpp"
#include "format/byte_order.hpp"
#include "jobs/file_io.hpp"
#include "jobs/pack_file.hpp"
#include "jobs/split_plan.hpp"

namespace tbbpipe::jobs {
namespace {

constexpr char kPartMagic[8] = {'T', 'B', 'P', 'S', 'P', 'R', 'T', '1'};
constexpr std::size_t kPartFixedSize = 8 + 16 + 8 + 8;  // magic, plan id, first, count
constexpr std::size_t kPartRecordSize = 8 + 4 + 4 + 4 + 32;

[[noreturn]] void refuse(std::size_t part, const std::string& what) {
    throw StatusError(StatusCode::kInvalidArgument,
                      "part index " + std::to_string(part) + ": " + what);
}

}  // namespace

std::vector<std::uint8_t> encode_part_index(const SplitPlan::State& state,
                                            std::uint64_t first_chunk,
                                            const std::vector<PartRecord>& records) {
    std::vector<std::uint8_t> out(kPartFixedSize + records.size() * kPartRecordSize);
    std::uint8_t* p = out.data();
    std::memcpy(p, kPartMagic, 8);
    std::memcpy(p + 8, state.plan_id.data(), 16);
    format::put_u64(p + 24, first_chunk);
    format::put_u64(p + 32, records.size());
    p += kPartFixedSize;
    for (const PartRecord& r : records) {
        format::put_u64(p, r.record.index);
        format::put_u32(p + 8, r.record.flags);
        format::put_u32(p + 12, r.record.raw_size);
        format::put_u32(p + 16, r.record.stored_size);
        std::memcpy(p + 20, r.digest.data(), 32);
        p += kPartRecordSize;
    }
    // A checksum: the index travels between processes, and finish() trusts its digests.
    const format::Digest check = format::sha256(out.data(), out.size());
    out.insert(out.end(), check.begin(), check.end());
    return out;
}

SplitTail finish_split(const SplitPlan::State& state,
                       const std::vector<std::vector<std::uint8_t>>& part_indexes,
                       const Job::File& file) {
    struct stat st {};
    if (::stat(file.input.c_str(), &st) != 0) throw_errno("cannot stat", errno);
    if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != state.input_size) {
        throw StatusError(StatusCode::kIoError, "file changed size since it was planned (" +
                                                    std::to_string(state.input_size) +
                                                    " bytes then)");
    }
    const std::uint64_t count = state.chunk_count();
    const std::size_t bound =
        format::max_stored_size(state.chunk_size(), state.recipe.header.encrypted());
    format::IndexBuilder index(state.seal);
    std::uint64_t next = 0;  // the chunk the next part must start at
    for (std::size_t i = 0; i < part_indexes.size(); ++i) {
        const std::vector<std::uint8_t>& bytes = part_indexes[i];
        if (bytes.size() < kPartFixedSize + 32 || std::memcmp(bytes.data(), kPartMagic, 8) != 0) {
            refuse(i, "not a part index (too short or a wrong magic)");
        }
        const std::size_t body = bytes.size() - 32;
        if (!format::digests_equal(format::sha256(bytes.data(), body),
                                   stored_checksum(bytes.data() + body))) {
            refuse(i, "damaged (its checksum does not match)");
        }
        const std::uint8_t* p = bytes.data();
        if (std::memcmp(p + 8, state.plan_id.data(), 16) != 0) refuse(i, "from another plan");
        const std::uint64_t first = format::get_u64(p + 24);
        const std::uint64_t n = format::get_u64(p + 32);
        if (n == 0 || (body - kPartFixedSize) / kPartRecordSize != n ||
            (body - kPartFixedSize) % kPartRecordSize != 0) {
            refuse(i, "its size does not match its chunk count");
        }
        if (first != next) {
            refuse(i, "starts at chunk " + std::to_string(first) + ", not " + std::to_string(next) +
                          " (parts missing, overlapping or out of order)");
        }
        if (n > count - first) refuse(i, "goes past the last chunk");
        p += kPartFixedSize;
        for (std::uint64_t c = first; c < first + n; ++c, p += kPartRecordSize) {
            format::RecordHeader r;
            r.index = format::get_u64(p);
            r.flags = format::get_u32(p + 8);
            r.raw_size = format::get_u32(p + 12);
            r.stored_size = format::get_u32(p + 16);
            const bool last = c + 1 == count;
            if (r.index != c || r.raw_size != state.chunk_bytes(c) || r.stored_size > bound ||
                (r.flags & ~format::kKnownRecordFlags) != 0 ||
                ((r.flags & format::kFlagLast) != 0) != last) {
                refuse(i, "chunk " + std::to_string(c) + ": not what the plan makes of it");
            }
            format::Digest digest{};
            std::memcpy(digest.data(), p + 20, 32);
            index.add(r, digest);  // in chunk order: offsets and the root follow it
        }
        next = first + n;
    }
    if (next != count) {
        throw StatusError(
            StatusCode::kInvalidArgument,
            "the parts cover chunks 0.." + std::to_string(next) + " of " + std::to_string(count));
    }
    SplitTail tail;
    tail.tail = index.finish(recorded_metadata(file, st));
    tail.header = state.seal.header_bytes;
    tail.container_size = index.container_size();
    tail.tail_offset = tail.container_size - tail.tail.size();
    ContainerFacts& facts = tail.container;
    facts.recorded = true;
    facts.container_size = tail.container_size;
    facts.plaintext_size = index.plaintext_bytes();
    facts.hash = state.recipe.header.hash;
    std::memcpy(facts.header_digest.data(), state.seal.header_digest.data(), 32);
    std::memcpy(facts.root_digest.data(), index.root().data(), 32);
    return tail;
}

}  // namespace tbbpipe::jobs
