// Result<T>: a value or the Status that says why there is none. The library's API returns these
// (or a plain Status); it never throws across its boundary, never prints and never exits.
#pragma once

#include <cstdlib>
#include <optional>
#include <utility>

#include "tbbpipe/status.hpp"

namespace tbbpipe {

/// A value of type T, or the Status that says why there is none.
/// Thread-safety: a value type; distinct objects may be used from distinct threads.
/// value() on a Result that is not ok() is a programming error: it aborts (never throws).
/// @code
///   tbbpipe::Result<tbbpipe::ContainerInfo> info = tbbpipe::inspect_container("a.tbp");
///   if (!info.ok()) return report(info.status());
///   use(info.value());
/// @endcode
template <typename T>
class [[nodiscard]] Result {
public:
    /// A value.
    Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit, like std::optional
    /// An error. An ok Status here is itself an error (there is no value): kInternal.
    Result(Status status)  // NOLINT: implicit
        : status_(status.is_ok() ? Status{StatusCode::kInternal, "a Result without a value"}
                                 : std::move(status)) {}
    /// Whether there is a value.
    bool ok() const { return value_.has_value(); }
    /// Why there is no value (ok when there is one).
    const Status& status() const { return status_; }
    /// The value; aborts when there is none.
    T& value() & { return checked(); }
    const T& value() const& { return const_cast<Result*>(this)->checked(); }
    T value() && { return std::move(checked()); }

private:
    T& checked() {
        if (!value_) std::abort();  // see value()
        return *value_;
    }
    Status status_;
    std::optional<T> value_;
};

}  // namespace tbbpipe
