// StatusError: how an error travels inside tbbpipe, below the public API.
//
// Code in every layer throws a StatusError where it meets a failure; whoever owns a boundary (a
// flow-graph body, the job runner, a public call) catches it and hands on a Status. Nothing ever
// recognises an error by its message text: decisions are made on codes.
#pragma once

#include <stdexcept>
#include <string>

#include "tbbpipe/status.hpp"

namespace tbbpipe {

/// An exception carrying a Status. Thread-safety: a value type.
class StatusError : public std::runtime_error {
public:
    StatusError(StatusCode code, const std::string& message)
        : std::runtime_error(message), code_(code) {}
    StatusCode code() const { return code_; }
    Status status() const { return {code_, what()}; }

private:
    StatusCode code_;
};

/// The most specific code for an errno value from a failed system call.
StatusCode status_code_from_errno(int err);

/// The Status for the exception being handled: call only inside a catch block. A StatusError
/// keeps its status; bad_alloc is kResourceExhausted; anything else is kInternal.
Status status_from_current_exception();

}  // namespace tbbpipe
