// protocol §2: the status byte keeps tofu's numbering and names.
#include <tofu/status.hpp>

#include <gtest/gtest.h>

#include <array>
#include <sstream>
#include <string_view>
#include <utility>

namespace tofu {
namespace {

// Written out from protocol §2, not derived from the implementation.
constexpr std::array<std::pair<int, std::string_view>, 32> spec_statuses{{
    {0, "success"},
    {1, "not_implemented_yet"},
    {2, "wrong_address"},
    {3, "not_allowed"},
    {4, "null_message"},
    {5, "invalid_message"},
    {6, "invalid_op_code"},
    {7, "invalid_headers_len"},
    {8, "invalid_body_len"},
    {9, "invalid_more_usage"},
    {10, "invalid_channel_number"},
    {11, "invalid_mchn_group"},
    {12, "invalid_message_id"},
    {13, "invalid_address"},
    {14, "uds_path_not_found"},
    {15, "notification_disabled"},
    {16, "notification_failed"},
    {17, "peer_disconnected"},
    {18, "communication_failed"},
    {19, "pool_empty"},
    {20, "allocation_failed"},
    {21, "receiver_update"},
    {22, "channel_closed"},
    {23, "shutdown_started"},
    {24, "connect_failed"},
    {25, "listen_failed"},
    {26, "accept_failed"},
    {27, "send_failed"},
    {28, "recv_failed"},
    {29, "setsockopt_failed"},
    {30, "processing_failed"},
    {31, "unknown_error"},
}};

TEST(Status, CountMatchesSpec) { EXPECT_EQ(status_count, 32); }

TEST(Status, NumbersAndNamesMatchSpec) {
    for (const auto& [number, name] : spec_statuses) {
        SCOPED_TRACE(name);
        const Status status = status_from_byte(static_cast<std::uint8_t>(number));
        EXPECT_EQ(static_cast<int>(to_byte(status)), number);
        EXPECT_EQ(to_string(status), name);
        const std::optional<Status> parsed = status_from_string(name);
        ASSERT_TRUE(parsed.has_value());
        EXPECT_EQ(static_cast<int>(to_byte(*parsed)), number);
    }
}

TEST(Status, EnumeratorsHaveSpecValues) {
    // A few spot checks on the enumerators themselves (a renumbered enum
    // would still round-trip above).
    EXPECT_EQ(to_byte(Status::success), 0);
    EXPECT_EQ(to_byte(Status::invalid_op_code), 6);
    EXPECT_EQ(to_byte(Status::invalid_headers_len), 7);
    EXPECT_EQ(to_byte(Status::invalid_more_usage), 9);
    EXPECT_EQ(to_byte(Status::invalid_address), 13);
    EXPECT_EQ(to_byte(Status::pool_empty), 19);
    EXPECT_EQ(to_byte(Status::receiver_update), 21);
    EXPECT_EQ(to_byte(Status::channel_closed), 22);
    EXPECT_EQ(to_byte(Status::processing_failed), 30);
    EXPECT_EQ(to_byte(Status::unknown_error), 31);
}

TEST(Status, StringRoundTrip) {
    for (int i = 0; i < status_count; ++i) {
        const Status status = static_cast<Status>(i);
        const std::optional<Status> back = status_from_string(to_string(status));
        ASSERT_TRUE(back.has_value()) << i;
        EXPECT_EQ(*back, status);
    }
}

TEST(Status, UnknownNamesAreRejected) {
    EXPECT_FALSE(status_from_string("").has_value());
    EXPECT_FALSE(status_from_string("Success").has_value());
    EXPECT_FALSE(status_from_string("success ").has_value());
    EXPECT_FALSE(status_from_string("no_such_status").has_value());
}

TEST(Status, LargeBytesReadAsUnknownError) {
    for (int byte = 31; byte <= 255; ++byte) {
        EXPECT_EQ(status_from_byte(static_cast<std::uint8_t>(byte)), Status::unknown_error) << byte;
    }
    for (int byte = 0; byte < 31; ++byte) {
        EXPECT_NE(status_from_byte(static_cast<std::uint8_t>(byte)), Status::unknown_error) << byte;
    }
    static_assert(status_from_byte(200) == Status::unknown_error);
}

TEST(Status, StreamPrintsName) {
    for (const auto& [number, name] : spec_statuses) {
        std::ostringstream out;
        out << static_cast<Status>(number);
        EXPECT_EQ(out.str(), name);
    }
}

} // namespace
} // namespace tofu
