// Secrets: the key material that turns encryption on, and new keys.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "tbbpipe/options.hpp"
#include "tbbpipe/result.hpp"
#include "tbbpipe/status.hpp"

namespace tbbpipe {

/// A key: 32 bytes (a key file's contents), or a passphrase (stretched with scrypt; an engine
/// derives once per passphrase and salt). An empty Secret means "no encryption".
///
/// Ownership and thread-safety: a value type whose copies share one read-only copy of the bytes,
/// wiped from memory when the last copy goes; distinct objects may be used from distinct threads.
/// @code
///   auto key = tbbpipe::Secret::key_file("my.key");   // Result<Secret>
///   if (!key.ok()) return fail(key.status());
///   job.secret = key.value();
/// @endcode
class Secret {
public:
    /// No secret: jobs pack unencrypted containers and refuse encrypted ones.
    Secret();
    /// A key of exactly 32 bytes; another length is refused when a job is submitted.
    static Secret key(std::span<const std::uint8_t> bytes);
    /// Reads a key file (exactly 32 bytes, as write_new_key makes). kNotFound / kPermissionDenied
    /// when it cannot be opened, kInvalidArgument when it does not hold 32 bytes; the message
    /// names the file.
    static Result<Secret> key_file(const std::string& path);
    /// A passphrase, used as given (empty is refused when a job is submitted).
    static Secret passphrase(std::string_view text);
    /// Reads a passphrase file (at most 4096 bytes); one trailing newline (LF or CRLF) belongs to
    /// the file, not to the passphrase. kInvalidArgument for an empty or too long passphrase.
    static Result<Secret> passphrase_file(const std::string& path);

    /// Whether there is a secret at all.
    bool present() const;
    /// kKeyFile, kScrypt (a passphrase), or kNone.
    KeyDerivation kind() const;

    struct Bytes;  // defined inside the library

private:
    friend struct SecretAccess;
    std::shared_ptr<const Bytes> bytes_;
    KeyDerivation kind_ = KeyDerivation::kNone;
};

/// Checks a secret as a job would use it: a key of exactly 32 bytes, a passphrase that is not
/// empty (kInvalidArgument otherwise). An absent secret is fine.
Status validate(const Secret& secret);

/// Writes a new random 32-byte key to `path`, created with mode 0600 and renamed into place only
/// when complete. kAlreadyExists (naming the file) unless `overwrite`.
Status write_new_key(const std::string& path, bool overwrite);
/// Writes a new random 32-byte key to an open descriptor (a pipe, standard output).
Status write_new_key_to(int fd);

}  // namespace tbbpipe
