// Status: the error currency of the tbbpipe API. Every call that can fail returns a Status or a
// Result<T> (tbbpipe/result.hpp); the library never throws across its boundary, never prints and
// never exits. Only a program (the tbbpipe CLI, yours) turns a Status into text and an exit code.
#pragma once

#include <string>
#include <utility>

namespace tbbpipe {

/// The canonical error codes. A failure carries the most specific code that applies.
enum class StatusCode {
    kOk = 0,
    kInvalidArgument,     ///< a bad option or value, or an input that cannot be used as given
    kNotFound,            ///< an input does not exist
    kPermissionDenied,    ///< the operating system refused access
    kAlreadyExists,       ///< the output exists and overwriting was not allowed
    kIoError,             ///< a read or write failed, or a file changed while it was read
    kCorruptData,         ///< a container is malformed, truncated or tampered with
    kAuthFailed,          ///< wrong key or passphrase, or an authentication tag did not verify
    kCancelled,           ///< the job was cancelled (JobHandle::cancel, shutdown)
    kResourceExhausted,   ///< a configured limit would be exceeded, or memory ran out
    kFailedPrecondition,  ///< a path is not what the operation needs (a folder where a file
                          ///< was expected, a symbolic link inside an output tree, a stage that
                          ///< is not registered)
    kInternal,            ///< a broken invariant inside tbbpipe (a bug: please report it)
};

/// Short, stable name of a code ("corrupt data", "authentication failed", ...), for messages
/// and machine-readable output. Never null.
const char* status_code_name(StatusCode code);

/// A code and a message. The message names what failed (the file, and for bad data the chunk
/// and its byte offset) and never contains key material.
///
/// Thread-safety: a value type; distinct objects may be used from distinct threads.
/// @code
///   tbbpipe::Status s = engine.submit(job).status();
///   if (!s.is_ok()) std::cerr << status_code_name(s.code()) << ": " << s.message() << '\n';
/// @endcode
class [[nodiscard]] Status {
public:
    /// Success.
    Status() = default;
    /// A failure (or, with kOk, success with a note).
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

    /// Success, spelled out.
    static Status ok() { return {}; }
    /// Whether this is success.
    bool is_ok() const { return code_ == StatusCode::kOk; }
    /// The code; kOk on success.
    StatusCode code() const { return code_; }
    /// What happened, for a person; empty on success.
    const std::string& message() const { return message_; }

private:
    StatusCode code_ = StatusCode::kOk;
    std::string message_;
};

}  // namespace tbbpipe
