#pragma once
// An expected-like result: a value, or the Status that says why there is none.
// C++20 has no std::expected; this is the small subset the API needs.
#include <tofu/export.hpp>
#include <tofu/status.hpp>

#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace tofu {

// The operating system's error codes (errno on POSIX systems, Win32/WSA codes
// on Windows) with their text as the OS words it. On POSIX systems a code
// compares equal to its std::errc.
TOFU_API const std::error_category& os_category() noexcept;

// Thrown only by Result::value() on an error result and by the throwing
// Engine constructor: paths the application chose, never the network.
class TOFU_API Error : public std::runtime_error {
public:
    explicit Error(Status status, std::error_code os_error = {})
        : Error(status, std::string("tofu: ") + std::string(to_string(status)), os_error) {}
    Error(Status status, const std::string& what, std::error_code os_error = {})
        : std::runtime_error(os_error ? what + ": " + os_error.message() : what), status_(status), os_error_(os_error) {
    }
    Status status() const noexcept { return status_; }
    // What the OS said, when a system call failed; empty otherwise.
    std::error_code os_error() const noexcept { return os_error_; }

private:
    Status status_;
    std::error_code os_error_;
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
    Result(Status error) : state_(std::in_place_index<1>, error) {}
    // A failure a system call caused, with what the OS said.
    Result(Status error, std::error_code os_error) : state_(std::in_place_index<1>, error), os_error_(os_error) {}

    bool has_value() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    // success when a value is present
    Status status() const noexcept { return has_value() ? Status::success : *std::get_if<1>(&state_); }
    // What the OS said when a system call caused the failure; empty otherwise.
    std::error_code os_error() const noexcept { return os_error_; }

    T& value() & {
        check();
        return std::get<0>(state_);
    }
    const T& value() const& {
        check();
        return std::get<0>(state_);
    }
    T&& value() && {
        check();
        return std::get<0>(std::move(state_));
    }
    T* operator->() { return &value(); }
    T& operator*() & { return value(); }

private:
    void check() const {
        if (!has_value()) throw Error(std::get<1>(state_), os_error_);
    }
    std::variant<T, Status> state_;
    std::error_code os_error_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Status status) : status_(status) {}
    Result(Status status, std::error_code os_error) : status_(status), os_error_(os_error) {}
    bool has_value() const noexcept { return status_ == Status::success; }
    explicit operator bool() const noexcept { return has_value(); }
    Status status() const noexcept { return status_; }
    std::error_code os_error() const noexcept { return os_error_; }
    void value() const {
        if (!has_value()) throw Error(status_, os_error_);
    }

private:
    Status status_ = Status::success;
    std::error_code os_error_;
};

} // namespace tofu
