#include <tofu/status.hpp>

#include <array>
#include <ostream>

namespace tofu {
namespace {

constexpr std::array<std::string_view, status_count> status_names{
    "success",
    "not_implemented_yet",
    "wrong_address",
    "not_allowed",
    "null_message",
    "invalid_message",
    "invalid_op_code",
    "invalid_headers_len",
    "invalid_body_len",
    "invalid_more_usage",
    "invalid_channel_number",
    "invalid_mchn_group",
    "invalid_message_id",
    "invalid_address",
    "uds_path_not_found",
    "notification_disabled",
    "notification_failed",
    "peer_disconnected",
    "communication_failed",
    "pool_empty",
    "allocation_failed",
    "receiver_update",
    "channel_closed",
    "shutdown_started",
    "connect_failed",
    "listen_failed",
    "accept_failed",
    "send_failed",
    "recv_failed",
    "setsockopt_failed",
    "processing_failed",
    "unknown_error",
};

} // namespace

std::string_view to_string(Status status) noexcept { return status_names[to_byte(status_from_byte(to_byte(status)))]; }

std::optional<Status> status_from_string(std::string_view name) noexcept {
    for (std::size_t i = 0; i < status_names.size(); ++i) {
        if (status_names[i] == name) return static_cast<Status>(i);
    }
    return std::nullopt;
}

std::ostream& operator<<(std::ostream& out, Status status) { return out << to_string(status); }

} // namespace tofu
