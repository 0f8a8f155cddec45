// Status: the error currency at every boundary of tbbpipe.
//
// Inside a node body an error travels as a PipelineError exception; the engine catches it at the
// graph boundary and hands the caller a Status. Only apps/ turns a Status into text on a terminal
// and an exit code.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace tbbpipe {

/// The canonical error codes, most specific first when several apply.
enum class StatusCode {
    kOk = 0,
    kInvalidArgument,     ///< bad option or unusable input path
    kNotFound,            ///< an input does not exist
    kPermissionDenied,    ///< the OS refused access
    kAlreadyExists,       ///< the output exists and overwriting was not allowed
    kIoError,             ///< read/write failed, or a file changed while it was read
    kCorruptData,         ///< the container is malformed, truncated or tampered with
    kAuthFailed,          ///< wrong key or passphrase, or an authentication tag did not verify
    kCancelled,           ///< the run was interrupted
    kResourceExhausted,   ///< a configured limit would be exceeded
    kFailedPrecondition,  ///< a path is not what the operation needs (a folder without -r, a
                          ///< symbolic link inside an output tree)
    kInternal,            ///< a broken invariant inside tbbpipe
};

/// Short, stable name of a code ("corrupt data", ...), for messages and JSON.
const char* status_code_name(StatusCode code);

/// A code plus a human message. The message never contains key material.
/// Thread-safety: a value type; distinct objects may be used from distinct threads.
class [[nodiscard]] Status {
public:
    Status() = default;
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

    static Status ok() { return {}; }
    bool is_ok() const { return code_ == StatusCode::kOk; }
    StatusCode code() const { return code_; }
    const std::string& message() const { return message_; }

private:
    StatusCode code_ = StatusCode::kOk;
    std::string message_;
};

/// Thrown inside node bodies; the engine converts it into the run's Status.
class PipelineError : public std::runtime_error {
public:
    PipelineError(StatusCode code, const std::string& message)
        : std::runtime_error(message), code_(code) {}
    StatusCode code() const { return code_; }
    Status status() const { return {code_, what()}; }

private:
    StatusCode code_;
};

/// Maps an errno value from a failed system call to the most specific code.
StatusCode status_code_from_errno(int err);

/// The Status for the exception being handled: call only inside a catch block. A PipelineError
/// keeps its status; bad_alloc is kResourceExhausted; anything else is kInternal.
Status status_from_current_exception();

}  // namespace tbbpipe
