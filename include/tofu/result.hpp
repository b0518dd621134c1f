#pragma once
/// \file
/// An expected-like result: a value, or the Status that says why there is none.
/// C++20 has no std::expected; this is the small subset the API needs.
#include <tofu/export.hpp>
#include <tofu/status.hpp>

#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace tofu {

/// The operating system's error codes (errno on POSIX systems, Win32/WSA
/// codes on Windows) with their text as the OS words it. On POSIX systems a
/// code compares equal to its std::errc.
TOFU_API const std::error_category& os_category() noexcept;

/// A Status as an exception, with what the OS said when a system call failed.
///
/// Thrown only by Result::value() on an error result and by the throwing
/// Engine constructor: paths the application chose, never the network.
class TOFU_API Error : public std::runtime_error {
public:
    /// what() is `tofu: ` and the status's name, then the OS's words if any.
    explicit Error(Status status, std::error_code os_error = {})
        : Error(status, std::string("tofu: ") + std::string(to_string(status)), os_error) {}
    /// what() is `what` (e.g. the reason an engine could not start), then the
    /// OS's words if any.
    Error(Status status, const std::string& what, std::error_code os_error = {})
        : std::runtime_error(os_error ? what + ": " + os_error.message() : what), status_(status), os_error_(os_error) {
    }
    /// The status that was thrown.
    Status status() const noexcept { return status_; }
    /// What the OS said, when a system call failed; empty otherwise.
    std::error_code os_error() const noexcept { return os_error_; }

private:
    Status status_;
    std::error_code os_error_;
};

/// A `T`, or the Status that says why there is none.
template <class T>
class [[nodiscard]] Result {
public:
    /// A result holding `value`.
    Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
    /// An error result; `error` is expected not to be Status::success.
    Result(Status error) : state_(std::in_place_index<1>, error) {}
    /// A failure a system call caused, with what the OS said.
    Result(Status error, std::error_code os_error) : state_(std::in_place_index<1>, error), os_error_(os_error) {}

    /// Whether a value is present.
    bool has_value() const noexcept { return state_.index() == 0; }
    /// has_value().
    explicit operator bool() const noexcept { return has_value(); }

    /// success when a value is present
    Status status() const noexcept { return has_value() ? Status::success : *std::get_if<1>(&state_); }
    /// What the OS said when a system call caused the failure; empty otherwise.
    std::error_code os_error() const noexcept { return os_error_; }

    /// The value; throws Error with status() when there is none.
    T& value() & {
        check();
        return std::get<0>(state_);
    }
    /// The value; throws Error with status() when there is none.
    const T& value() const& {
        check();
        return std::get<0>(state_);
    }
    /// The value; throws Error with status() when there is none.
    T&& value() && {
        check();
        return std::get<0>(std::move(state_));
    }
    /// The value's members; throws Error when there is none.
    T* operator->() { return &value(); }
    /// value()
    T& operator*() & { return value(); }

private:
    void check() const {
        if (!has_value()) throw Error(std::get<1>(state_), os_error_);
    }
    std::variant<T, Status> state_;
    std::error_code os_error_;
};

/// Success, or the Status that says why not.
template <>
class [[nodiscard]] Result<void> {
public:
    /// A successful result.
    Result() = default;
    /// The result `status` (success or not).
    Result(Status status) : status_(status) {}
    /// A failure a system call caused, with what the OS said.
    Result(Status status, std::error_code os_error) : status_(status), os_error_(os_error) {}
    /// Whether the result is a success.
    bool has_value() const noexcept { return status_ == Status::success; }
    /// has_value().
    explicit operator bool() const noexcept { return has_value(); }
    /// The status: success, or why not.
    Status status() const noexcept { return status_; }
    /// What the OS said when a system call caused the failure; empty otherwise.
    std::error_code os_error() const noexcept { return os_error_; }
    /// Throws Error with status() unless the result is a success.
    void value() const {
        if (!has_value()) throw Error(status_, os_error_);
    }

private:
    Status status_ = Status::success;
    std::error_code os_error_;
};

} // namespace tofu
