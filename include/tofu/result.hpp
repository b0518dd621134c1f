#pragma once
// An expected-like result: a value, or the Status that says why there is none.
// C++20 has no std::expected; this is the small subset the API needs.
#include <tofu/export.hpp>
#include <tofu/status.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace tofu {

// Thrown only by Result::value() on an error result and by the throwing
// Engine constructor: paths the application chose, never the network.
class TOFU_API Error : public std::runtime_error {
public:
    explicit Error(Status status)
        : std::runtime_error(std::string("tofu: ") + std::string(to_string(status))), status_(status) {}
    Error(Status status, const std::string& what) : std::runtime_error(what), status_(status) {}
    Status status() const noexcept { return status_; }

private:
    Status status_;
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
    Result(Status error) : state_(std::in_place_index<1>, error) {}

    bool has_value() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    // success when a value is present
    Status status() const noexcept { return has_value() ? Status::success : *std::get_if<1>(&state_); }

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
        if (!has_value()) throw Error(std::get<1>(state_));
    }
    std::variant<T, Status> state_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Status status) : status_(status) {}
    bool has_value() const noexcept { return status_ == Status::success; }
    explicit operator bool() const noexcept { return has_value(); }
    Status status() const noexcept { return status_; }
    void value() const {
        if (!has_value()) throw Error(status_);
    }

private:
    Status status_ = Status::success;
};

} // namespace tofu
