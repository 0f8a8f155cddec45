#include "core/status_error.hpp"

#include <cerrno>
#include <exception>
#include <new>

#include "core/no_block.hpp"

namespace tbbpipe {

const char* status_code_name(StatusCode code) {
    switch (code) {
        case StatusCode::kOk: return "ok";
        case StatusCode::kInvalidArgument: return "invalid argument";
        case StatusCode::kNotFound: return "not found";
        case StatusCode::kPermissionDenied: return "permission denied";
        case StatusCode::kAlreadyExists: return "already exists";
        case StatusCode::kIoError: return "I/O error";
        case StatusCode::kCorruptData: return "corrupt data";
        case StatusCode::kAuthFailed: return "authentication failed";
        case StatusCode::kCancelled: return "cancelled";
        case StatusCode::kResourceExhausted: return "resource exhausted";
        case StatusCode::kFailedPrecondition: return "failed precondition";
        case StatusCode::kInternal: return "internal error";
    }
    return "unknown";
}

StatusCode status_code_from_errno(int err) {
    switch (err) {
        case ENOENT: return StatusCode::kNotFound;
        case EACCES:
        case EPERM: return StatusCode::kPermissionDenied;
        case EEXIST: return StatusCode::kAlreadyExists;
        // A folder where a file was expected, or a file in a path's middle: the operation
        // failed on what is on disk, not on how the command was written.
        case EISDIR:
        case ENOTDIR: return StatusCode::kFailedPrecondition;
        case ENOMEM: return StatusCode::kResourceExhausted;
        default: return StatusCode::kIoError;
    }
}

Status status_from_current_exception() {
    try {
        throw;
    } catch (const StatusError& e) {
        return e.status();
    } catch (const std::bad_alloc&) {
        return {StatusCode::kResourceExhausted, "out of memory"};
    } catch (const std::exception& e) {
        return {StatusCode::kInternal, e.what()};
    } catch (const WouldBlock&) {
        // Only a step that cannot be retried elsewhere lets it escape: a bug, named as one.
        return {StatusCode::kInternal, "a step that must not block would have"};
    } catch (...) {
        return {StatusCode::kInternal, "unknown exception"};
    }
}

}  // namespace tbbpipe
