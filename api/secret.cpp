// Secret and new keys (tbbpipe/secret.hpp).
#include "tbbpipe/secret.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/status_error.hpp"
#include "format/cipher.hpp"
#include "format/secret_bytes.hpp"
#include "jobs/file_io.hpp"
#include "jobs/output_file.hpp"

namespace tbbpipe {
namespace {

constexpr std::size_t kMaxPassphrase = 4096;

// At most `limit` bytes of a small file; more is an error (a key file must not be a disk image).
Result<format::SecretBytes> read_small_file(const std::string& path, std::size_t limit,
                                            const char* what) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return Status{status_code_from_errno(errno),
                      path + ": cannot open the " + what + ": " + std::strerror(errno)};
    }
    jobs::FileHandle handle(fd);
    format::SecretBytes buffer(limit + 1);
    try {
        buffer.resize(jobs::read_full(fd, buffer.data(), buffer.size()));
    } catch (const StatusError& e) {
        return Status{e.code(), path + ": " + e.what()};
    }
    if (buffer.size() > limit) {
        return Status{StatusCode::kInvalidArgument, path + ": the " + what + " is too large"};
    }
    return buffer;
}

}  // namespace

Secret::Secret() = default;

Secret Secret::key(std::span<const std::uint8_t> bytes) {
    format::SecretBytes b;
    b.Assign(bytes.data(), bytes.size());
    return SecretAccess::make(KeyDerivation::kKeyFile, b);
}

Result<Secret> Secret::key_file(const std::string& path) {
    Result<format::SecretBytes> bytes = read_small_file(path, 64, "key file");
    if (!bytes.ok()) return bytes.status();
    if (bytes.value().size() != format::kFileKeySize) {
        return Status{StatusCode::kInvalidArgument,
                      path + ": a key file holds exactly 32 bytes, not " +
                          std::to_string(bytes.value().size())};
    }
    return SecretAccess::make(KeyDerivation::kKeyFile, bytes.value());
}

Secret Secret::passphrase(std::string_view text) {
    format::SecretBytes b;
    b.Assign(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
    return SecretAccess::make(KeyDerivation::kScrypt, b);
}

Result<Secret> Secret::passphrase_file(const std::string& path) {
    Result<format::SecretBytes> bytes = read_small_file(path, kMaxPassphrase, "passphrase file");
    if (!bytes.ok()) return bytes.status();
    format::SecretBytes& text = bytes.value();
    // One trailing newline (LF or CRLF) belongs to the file, not to the passphrase.
    std::size_t n = text.size();
    if (n && text[n - 1] == '\n') --n;
    if (n && text[n - 1] == '\r') --n;
    text.resize(n);
    if (text.empty()) return Status{StatusCode::kInvalidArgument, path + ": empty passphrase"};
    return SecretAccess::make(KeyDerivation::kScrypt, text);
}

bool Secret::present() const {
    return kind_ != KeyDerivation::kNone;
}

KeyDerivation Secret::kind() const {
    return kind_;
}

Status validate(const Secret& secret) {
    const std::size_t size = SecretAccess::bytes(secret).size();
    if (secret.kind() == KeyDerivation::kKeyFile && size != format::kFileKeySize) {
        return {StatusCode::kInvalidArgument,
                "a key holds exactly 32 bytes, not " + std::to_string(size)};
    }
    if (secret.kind() == KeyDerivation::kScrypt && size == 0) {
        return {StatusCode::kInvalidArgument, "empty passphrase"};
    }
    return Status::ok();
}

Status write_new_key(const std::string& path, bool overwrite) {
    try {
        format::SecretBytes key(format::kFileKeySize);
        format::random_bytes(key.data(), key.size());
        jobs::OutputFile out(path, overwrite, /*durable=*/true);  // created 0600 by mkstemp
        out.set_metadata(0600, 0, 0);
        jobs::write_full(out.fd(), key.data(), key.size(), "key");
        out.commit();
        return Status::ok();
    } catch (...) {
        Status failed = status_from_current_exception();
        // "k already exists" names the file already; every other message gets its name.
        if (failed.code() == StatusCode::kAlreadyExists) return failed;
        return {failed.code(), path + ": " + failed.message()};
    }
}

Status write_new_key_to(int fd) {
    try {
        format::SecretBytes key(format::kFileKeySize);
        format::random_bytes(key.data(), key.size());
        jobs::write_full(fd, key.data(), key.size(), "key");
        return Status::ok();
    } catch (...) {
        return status_from_current_exception();
    }
}

}  // namespace tbbpipe
