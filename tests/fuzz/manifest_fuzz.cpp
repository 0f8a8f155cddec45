// libFuzzer target: a set's manifest and the names containers record, on arbitrary bytes.
//
// Three readers of hostile bytes added by issue 12:
// * decode_manifest on the input as a manifest body (what an unencrypted manifest's plaintext
//   could be after its checksum was recomputed by whoever rewrote it);
// * check_sets on the input as the manifest file at a set's root: the whole-container opening
//   from memory (authenticate_header with the fuzz key, trailer, footer, every record), then the
//   body, then the lookup of a file's path;
// * names_agree on the input split in two, as a stored name and the name a file is restored as.
// Bad bytes must come back as a StatusError (or a report that says so); anything else is a bug,
// and so is an allocation larger than the input could justify.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/status_error.hpp"
#include "format/cipher.hpp"
#include "format/manifest.hpp"
#include "jobs/file_io.hpp"
#include "jobs/set_manifest.hpp"
#include "jobs/unpack_file.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using namespace tbbpipe;

// One folder for the whole run: the manifest is rewritten in it for each input.
const std::string& set_root() {
    static const std::string root = [] {
        std::string pattern = "/tmp/tbbpipe-manifest-fuzz-XXXXXX";
        if (!::mkdtemp(pattern.data())) fuzz::fuzz_fail("mkdtemp failed");
        return pattern;
    }();
    return root;
}

void write_manifest_file(const std::uint8_t* data, std::size_t size) {
    const std::string path = set_root() + "/" + format::kManifestName;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) fuzz::fuzz_fail("cannot write the manifest file");
    jobs::write_full(fd, data, size, "manifest");
    ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    fuzz::AllocationWatch::install();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Allocations may follow what the bytes say only as far as the bytes are there: a manifest's
    // entries, a container's chunks (up to 64 MiB each, the format's cap, and the reader's
    // buffers for one record).
    fuzz::AllocationWatch::reset();
    try {
        const format::Manifest m = format::decode_manifest(data, size);
        for (const format::ManifestEntry& e : m.entries) {
            if (!format::valid_manifest_path(e.path)) fuzz::fuzz_fail("invalid path accepted");
            if (format::find_entry(m, e.path) != &e) fuzz::fuzz_fail("lookup misses an entry");
        }
        // What decodes must encode to the same bytes: the body is canonical.
        if (format::encode_manifest(m) != std::vector<std::uint8_t>(data, data + size)) {
            fuzz::fuzz_fail("a manifest that decodes is not canonical");
        }
    } catch (const StatusError&) {
    }
    if (fuzz::AllocationWatch::largest() > 2 * size + 4096) {
        fuzz::fuzz_fail("decode_manifest allocated more than the input justifies");
    }

    write_manifest_file(data, size);
    Job::File file;
    file.input = set_root() + "/a.tbp";
    file.set_root = set_root();
    FileResult result;
    std::vector<jobs::FileEntry> entries(1);
    entries[0].file = &file;
    entries[0].result = &result;
    format::KekCache cache;
    jobs::Manifests manifests;
    const std::vector<SetReport> sets =
        jobs::check_sets(entries, fuzz::fuzz_key(), &cache, manifests);
    if (sets.size() != 1) fuzz::fuzz_fail("one set, one report");
    if (sets[0].manifest == !sets[0].status.is_ok() && sets[0].manifest) {
        fuzz::fuzz_fail("a manifest both read and failed");
    }
    if (sets[0].status.code() == StatusCode::kInternal) {
        fuzz::fuzz_fail("internal error on a hostile manifest", sets[0].status.message().c_str());
    }

    const std::size_t half = size / 2;
    const std::string stored(reinterpret_cast<const char*>(data), half);
    const std::string expected(reinterpret_cast<const char*>(data) + half, size - half);
    const bool agree = jobs::UnpackFile::names_agree(stored, expected);
    if (agree != jobs::UnpackFile::names_agree(expected, stored)) {
        fuzz::fuzz_fail("names_agree is not symmetric");
    }
    if (!jobs::UnpackFile::names_agree(stored, stored))
        fuzz::fuzz_fail("a name disagrees with itself");
    return 0;
}
