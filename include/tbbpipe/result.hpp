// Result<T>: a value or the Status that says why there is none. The library's API returns these
// (or a plain Status); it never throws across its boundary, never prints and never exits.
#pragma once

#include <optional>
#include <utility>

#include "engine/status.hpp"

namespace tbbpipe {

/// Thread-safety: a value type; distinct objects may be used from distinct threads.
template <typename T>
class Result {
public:
    Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit, like std::optional
    Result(Status status) : status_(std::move(status)) {}  // NOLINT
    bool ok() const { return value_.has_value(); }
    const Status& status() const { return status_; }
    T& value() & { return *value_; }
    const T& value() const& { return *value_; }
    T&& value() && { return std::move(*value_); }

private:
    Status status_;
    std::optional<T> value_;
};

}  // namespace tbbpipe
