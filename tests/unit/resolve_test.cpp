// Resolution on the posting thread (net/resolve.hpp): what the address
// header becomes before the I/O thread sees it. /etc/hosts names only, never
// DNS: "localhost", and the reserved ".invalid" top-level domain (RFC 6761)
// that no resolver answers.
#include "net/resolve.hpp"

#include "pool/pool.hpp"
#include <tofu/address.hpp>

#include <gtest/gtest.h>

#include <string>

namespace tofu {
namespace {

class Resolve : public ::testing::Test {
protected:
    Message::Ptr hello(std::string_view address) {
        Message::Ptr message = pool_->get(Alloc::Always);
        message->set_opcode(OpCode::HelloRequest);
        EXPECT_EQ(message->add_header(connect_to_header, address), Status::success);
        return message;
    }
    Message::Ptr welcome(std::string_view address) {
        Message::Ptr message = pool_->get(Alloc::Always);
        message->set_opcode(OpCode::WelcomeRequest);
        EXPECT_EQ(message->add_header(listen_on_header, address), Status::success);
        return message;
    }

    Pool::Handle pool_ = Pool::create(PoolLimits{0, 8, std::size_t{1} << 20});
};

TEST_F(Resolve, NumericTofuFormsAreLeftAlone) {
    for (const char* address : {"tcp|127.0.0.1|7099", "tcp|::1|80", "tcp||80", "uds|/tmp/x.sock", "uds|@name"}) {
        SCOPED_TRACE(address);
        Message::Ptr message = hello(address);
        const std::string before(address);
        ASSERT_EQ(net::resolve_address_header(*message), Status::success);
        EXPECT_EQ(message->find_header(connect_to_header), std::optional<std::string_view>(before));
        EXPECT_FALSE(message->find_header(given_address_header).has_value());
    }
}

TEST_F(Resolve, UrlFormsBecomeTheTofuFormAndKeepWhatWasGiven) {
    const std::pair<const char*, const char*> cases[] = {
        {"tcp://127.0.0.1:7099", "tcp|127.0.0.1|7099"},
        {"tcp://[::1]:80", "tcp|::1|80"},
        {"tcp://*:80", "tcp||80"},
        {"ipc:///tmp/x.sock", "uds|/tmp/x.sock"},
        {"ipc://@name", "uds|@name"},
        {"tcp|[::1]|80", "tcp|::1|80"},
    };
    for (const auto& [given, numeric] : cases) {
        SCOPED_TRACE(given);
        Message::Ptr message = welcome(given);
        ASSERT_EQ(net::resolve_address_header(*message), Status::success);
        EXPECT_EQ(message->find_header(listen_on_header), std::optional<std::string_view>(numeric));
        EXPECT_EQ(message->find_header(given_address_header), std::optional<std::string_view>(given));
        EXPECT_EQ(message->validate_for_post(), Status::success);
    }
}

TEST_F(Resolve, LocalhostBecomesALoopbackLiteral) {
    for (const char* given : {"tcp://localhost:7099", "tcp|localhost|7099"}) {
        SCOPED_TRACE(given);
        Message::Ptr message = hello(given);
        ASSERT_EQ(net::resolve_address_header(*message), Status::success);
        Result<Address> address = address_of(*message);
        ASSERT_TRUE(address);
        EXPECT_TRUE(address->host == "127.0.0.1" || address->host == "::1") << address->host;
        EXPECT_EQ(address->port, 7099);
        EXPECT_EQ(message->find_header(given_address_header), std::optional<std::string_view>(given));
    }
}

TEST_F(Resolve, AnUnresolvableNameFailsWithTheResolversWords) {
    Message::Ptr message = hello("tcp://no-such-host.invalid:80");
    EXPECT_EQ(net::resolve_address_header(*message), Status::invalid_address);
    EXPECT_EQ(message->find_header(connect_to_header),
              std::optional<std::string_view>("tcp://no-such-host.invalid:80"));
    EXPECT_FALSE(message->find_header(given_address_header).has_value());
    const std::optional<std::string_view> error = message->find_header(resolve_error_header);
    ASSERT_TRUE(error.has_value());
    // "<code> <text>": a number, then the resolver's text.
    const std::size_t space = error->find(' ');
    ASSERT_NE(space, std::string_view::npos) << *error;
    ASSERT_GT(space, 0u) << *error;
    EXPECT_NE(std::stoi(std::string(error->substr(0, space))), 0) << *error;
    EXPECT_GT(error->size(), space + 1) << *error;
}

TEST_F(Resolve, AnEarlierFailureDoesNotTravel) {
    Message::Ptr message = hello("tcp|no-such-host.invalid|80");
    ASSERT_EQ(message->add_header("app", "kept"), Status::success);
    ASSERT_EQ(net::resolve_address_header(*message), Status::invalid_address);
    ASSERT_TRUE(message->find_header(resolve_error_header).has_value());

    ASSERT_EQ(connect_to(*message, tcp("127.0.0.1", 80)), Status::success);
    ASSERT_EQ(net::resolve_address_header(*message), Status::success);
    EXPECT_FALSE(message->find_header(resolve_error_header).has_value());
    EXPECT_EQ(message->find_header("app"), std::optional<std::string_view>("kept"));
    EXPECT_EQ(message->find_header(connect_to_header), std::optional<std::string_view>("tcp|127.0.0.1|80"));
}

TEST_F(Resolve, MalformedAddressesKeepTheParsersStatus) {
    Message::Ptr wrong = hello("tcp://::1:80");
    EXPECT_EQ(net::resolve_address_header(*wrong), Status::wrong_address);
    Message::Ptr invalid = hello("tcp://127.0.0.1:65536");
    EXPECT_EQ(net::resolve_address_header(*invalid), Status::invalid_address);
    EXPECT_FALSE(invalid->find_header(resolve_error_header).has_value());
    Message::Ptr none = pool_->get(Alloc::Always);
    none->set_opcode(OpCode::HelloRequest);
    EXPECT_EQ(net::resolve_address_header(*none), Status::wrong_address);
}

} // namespace
} // namespace tofu
