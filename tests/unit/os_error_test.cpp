// What the OS said, as the engine writes it into a `~os_error` header.
#include "net/os_error.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <string_view>

#ifdef _WIN32
#include <winsock2.h>
#endif

namespace tofu::net {
namespace {

#ifdef _WIN32
constexpr int refused = WSAECONNREFUSED;
#else
constexpr int refused = ECONNREFUSED;
#endif

std::string described(int code, std::size_t room = 256) {
    std::string text(room, '#');
    text.resize(describe_os_error(code, {text.data(), text.size()}));
    return text;
}

TEST(OsError, CodeThenTheSystemsOwnWords) {
    const std::string text = described(refused);
    const std::string code = std::to_string(refused) + " ";
    ASSERT_EQ(text.rfind(code, 0), 0u) << text;
    const std::string words = text.substr(code.size());
    EXPECT_GE(words.size(), 8u) << "a sentence, not a number: " << text;
    EXPECT_NE(words.find_first_not_of("0123456789 "), std::string::npos) << text;
}

TEST(OsError, OneLineWithoutATrailingFullStop) {
    for (const int code : {refused, 1, 2, 13}) {
        const std::string text = described(code);
        EXPECT_EQ(text.find_first_of("\r\n"), std::string::npos) << text;
        ASSERT_FALSE(text.empty());
        EXPECT_NE(text.back(), '.') << text;
        EXPECT_NE(text.back(), ' ') << text;
    }
}

TEST(OsError, TruncatedToTheRoomGiven) {
    char room[8];
    const std::size_t length = describe_os_error(refused, room);
    EXPECT_EQ(length, sizeof(room) - 1);
    EXPECT_EQ(room[length], '\0');
    EXPECT_EQ(std::string_view(room, length), described(refused).substr(0, length));
    EXPECT_EQ(describe_os_error(refused, {}), 0u);
}

TEST(OsError, AnUnknownCodeStillSaysItsNumber) {
    const std::string text = described(987654);
    EXPECT_EQ(text.rfind("987654 ", 0), 0u) << text;
}

} // namespace
} // namespace tofu::net
