#pragma once
// Status codes shared with the Zig tofu: one byte on the wire, same numbering.
#include <tofu/export.hpp>

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string_view>

namespace tofu {

// [[nodiscard]]: every function returning a Status is, so none is ignored.
// (clang-format 14 would glue the brace to the type after the attribute.)
// clang-format off
enum class [[nodiscard]] Status : std::uint8_t {
    // clang-format on
    success = 0,
    not_implemented_yet = 1,
    wrong_address = 2,
    not_allowed = 3,
    null_message = 4,
    invalid_message = 5,
    invalid_op_code = 6,
    invalid_headers_len = 7,
    invalid_body_len = 8,
    invalid_more_usage = 9,
    invalid_channel_number = 10,
    invalid_mchn_group = 11,
    invalid_message_id = 12,
    invalid_address = 13,
    uds_path_not_found = 14,
    notification_disabled = 15,
    notification_failed = 16,
    peer_disconnected = 17,
    communication_failed = 18,
    pool_empty = 19,
    allocation_failed = 20,
    receiver_update = 21,
    channel_closed = 22,
    shutdown_started = 23,
    connect_failed = 24,
    listen_failed = 25,
    accept_failed = 26,
    send_failed = 27,
    recv_failed = 28,
    setsockopt_failed = 29,
    processing_failed = 30,
    unknown_error = 31,
};

inline constexpr int status_count = 32;

// Any byte above 31 reads as unknown_error, so a newer peer cannot make us
// hold an enum value outside the declared range.
constexpr Status status_from_byte(std::uint8_t byte) noexcept {
    return byte > static_cast<std::uint8_t>(Status::unknown_error) ? Status::unknown_error : static_cast<Status>(byte);
}

constexpr std::uint8_t to_byte(Status status) noexcept { return static_cast<std::uint8_t>(status); }

TOFU_API std::string_view to_string(Status status) noexcept;
TOFU_API std::optional<Status> status_from_string(std::string_view name) noexcept;
TOFU_API std::ostream& operator<<(std::ostream& out, Status status);

} // namespace tofu
