// The message model (protocol §2): binary header, text headers, body, post rules.
#include "test_support.hpp"

#include "pool/pool.hpp"
#include <tofu/message.hpp>

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tofu {
namespace {

using test::as_span;

class MessageTest : public test::PooledTest {
protected:
    std::vector<std::pair<std::string, std::string>> all_headers(const Message& message) {
        std::vector<std::pair<std::string, std::string>> out;
        for (const TextHeader& h : message.headers()) out.emplace_back(h.name, h.value);
        return out;
    }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

TEST_F(MessageTest, FreshMessageIsBlank) {
    Message::Ptr m = get();
    EXPECT_EQ(m->channel(), unassigned_channel);
    EXPECT_EQ(m->opcode(), OpCode::Request);
    EXPECT_EQ(m->origin(), Origin::application);
    EXPECT_FALSE(m->from_engine());
    EXPECT_FALSE(m->more());
    EXPECT_EQ(m->status(), Status::success);
    EXPECT_EQ(m->message_id(), 0u);
    EXPECT_TRUE(m->raw_headers().empty());
    EXPECT_TRUE(m->body().empty());
    EXPECT_EQ(m->headers().begin(), m->headers().end());
    EXPECT_EQ(&detail::MessageAccess::pool(*m), pool_.get());
}

TEST_F(MessageTest, BinaryHeaderSettersAndGetters) {
    Message::Ptr m = get();
    m->set_channel(65534);
    m->set_opcode(OpCode::Signal);
    m->set_more(true);
    m->set_status(Status::channel_closed);
    m->set_message_id(0x0102030405060708ull);
    m->header().origin = Origin::engine;

    EXPECT_EQ(m->channel(), 65534);
    EXPECT_EQ(m->opcode(), OpCode::Signal);
    EXPECT_TRUE(m->more());
    EXPECT_EQ(m->status(), Status::channel_closed);
    EXPECT_EQ(m->message_id(), 0x0102030405060708ull);
    EXPECT_EQ(m->origin(), Origin::engine);
    EXPECT_TRUE(m->from_engine());

    const BinaryHeader& h = std::as_const(*m).header();
    EXPECT_EQ(h.channel, 65534);
    EXPECT_EQ(h.opcode, OpCode::Signal);
    EXPECT_TRUE(h.more);
    EXPECT_EQ(h.status, Status::channel_closed);
    EXPECT_EQ(h.message_id, 0x0102030405060708ull);

    m->set_more(false);
    EXPECT_FALSE(m->more());
}

TEST_F(MessageTest, OpCodeNames) {
    EXPECT_EQ(to_string(OpCode::Request), "Request");
    EXPECT_EQ(to_string(OpCode::Response), "Response");
    EXPECT_EQ(to_string(OpCode::Signal), "Signal");
    EXPECT_EQ(to_string(OpCode::HelloRequest), "HelloRequest");
    EXPECT_EQ(to_string(OpCode::HelloResponse), "HelloResponse");
    EXPECT_EQ(to_string(OpCode::ByeRequest), "ByeRequest");
    EXPECT_EQ(to_string(OpCode::ByeResponse), "ByeResponse");
    EXPECT_EQ(to_string(OpCode::ByeSignal), "ByeSignal");
    EXPECT_EQ(to_string(OpCode::WelcomeRequest), "WelcomeRequest");
    EXPECT_EQ(to_string(OpCode::WelcomeResponse), "WelcomeResponse");
}

TEST_F(MessageTest, AddHeadersIterateInOrderAndRawBlock) {
    Message::Ptr m = get();
    ASSERT_EQ(m->add_header("first", "1"), Status::success);
    ASSERT_EQ(m->add_header("second", "two words"), Status::success);
    ASSERT_EQ(m->add_header("~connect_to", "tcp|::1|80"), Status::success); // ':' allowed in a value
    ASSERT_EQ(m->add_header("first", "again"), Status::success);            // duplicates kept

    EXPECT_EQ(test::as_text(m->raw_headers()),
              "first:1\r\nsecond:two words\r\n~connect_to:tcp|::1|80\r\nfirst:again\r\n");
    EXPECT_EQ(all_headers(*m),
              (Headers{{"first", "1"}, {"second", "two words"}, {"~connect_to", "tcp|::1|80"}, {"first", "again"}}));

    // Iterator basics: post-increment, arrow.
    auto it = m->headers().begin();
    auto old = it++;
    EXPECT_EQ(old->name, "first");
    EXPECT_EQ(it->name, "second");
}

TEST_F(MessageTest, AddHeaderValidation) {
    Message::Ptr m = get();
    EXPECT_EQ(m->add_header("", "v"), Status::invalid_message);
    EXPECT_EQ(m->add_header("a:b", "v"), Status::invalid_message);
    EXPECT_EQ(m->add_header(":", "v"), Status::invalid_message);
    EXPECT_EQ(m->add_header("name", ""), Status::invalid_message);
    EXPECT_EQ(m->add_header("na\rme", "v"), Status::invalid_message);
    EXPECT_EQ(m->add_header("na\nme", "v"), Status::invalid_message);
    EXPECT_EQ(m->add_header("name", "v\r"), Status::invalid_message);
    EXPECT_EQ(m->add_header("name", "v\nx"), Status::invalid_message);
    EXPECT_EQ(m->add_header("name", "\r\n"), Status::invalid_message);
    // Nothing was written by the refused calls.
    EXPECT_TRUE(m->raw_headers().empty());
    EXPECT_EQ(m->set_header("", "v"), Status::invalid_message);
    EXPECT_EQ(m->set_header("n", "\n"), Status::invalid_message);
    EXPECT_TRUE(m->raw_headers().empty());
}

TEST_F(MessageTest, FindHeader) {
    Message::Ptr m = get();
    EXPECT_FALSE(m->find_header("a").has_value());
    ASSERT_EQ(m->add_header("alpha", "1"), Status::success);
    ASSERT_EQ(m->add_header("beta", "2"), Status::success);
    ASSERT_EQ(m->add_header("alpha", "3"), Status::success);
    ASSERT_EQ(m->find_header("alpha"), std::optional<std::string_view>("1")); // the first one
    ASSERT_EQ(m->find_header("beta"), std::optional<std::string_view>("2"));
    EXPECT_FALSE(m->find_header("alph").has_value());
    EXPECT_FALSE(m->find_header("alphaa").has_value());
    EXPECT_FALSE(m->find_header("gamma").has_value());
    m->clear_headers();
    EXPECT_FALSE(m->find_header("alpha").has_value());
    EXPECT_TRUE(m->raw_headers().empty());
}

TEST_F(MessageTest, SetHeaderReplacesInTheMiddle) {
    Message::Ptr m = get();
    ASSERT_EQ(m->add_header("a", "1"), Status::success);
    ASSERT_EQ(m->add_header("middle", "short"), Status::success);
    ASSERT_EQ(m->add_header("z", "26"), Status::success);

    // longer
    ASSERT_EQ(m->set_header("middle", std::string(300, 'L')), Status::success);
    EXPECT_EQ(all_headers(*m), (Headers{{"a", "1"}, {"middle", std::string(300, 'L')}, {"z", "26"}}));
    EXPECT_EQ(m->raw_headers().size(), 5u + (7u + 300u + 2u) + 6u); // a:1 / middle:L... / z:26

    // shorter
    ASSERT_EQ(m->set_header("middle", "s"), Status::success);
    EXPECT_EQ(test::as_text(m->raw_headers()), "a:1\r\nmiddle:s\r\nz:26\r\n");

    // same length, first and last
    ASSERT_EQ(m->set_header("a", "9"), Status::success);
    ASSERT_EQ(m->set_header("z", "twenty-six"), Status::success);
    EXPECT_EQ(test::as_text(m->raw_headers()), "a:9\r\nmiddle:s\r\nz:twenty-six\r\n");

    // absent: appended
    ASSERT_EQ(m->set_header("new", "n"), Status::success);
    EXPECT_EQ(test::as_text(m->raw_headers()), "a:9\r\nmiddle:s\r\nz:twenty-six\r\nnew:n\r\n");
}

TEST_F(MessageTest, SetHeaderOnlyReplacesTheFirstOfDuplicates) {
    Message::Ptr m = get();
    ASSERT_EQ(m->add_header("k", "1"), Status::success);
    ASSERT_EQ(m->add_header("k", "2"), Status::success);
    ASSERT_EQ(m->set_header("k", "one"), Status::success);
    EXPECT_EQ(test::as_text(m->raw_headers()), "k:one\r\nk:2\r\n");
}

TEST_F(MessageTest, HeaderBlockLimit) {
    Message::Ptr m = get();
    // One line of exactly 65,535 bytes: "h:" + value + "\r\n".
    const std::string value(max_headers_size - 4, 'v');
    ASSERT_EQ(m->add_header("h", value), Status::success);
    EXPECT_EQ(m->raw_headers().size(), max_headers_size);
    EXPECT_EQ(m->add_header("x", "y"), Status::invalid_headers_len);
    EXPECT_EQ(m->raw_headers().size(), max_headers_size);
    // Growing the value by one byte would pass the limit.
    EXPECT_EQ(m->set_header("h", value + "v"), Status::invalid_headers_len);
    EXPECT_EQ(m->raw_headers().size(), max_headers_size);
    // Shrinking is fine.
    ASSERT_EQ(m->set_header("h", "short"), Status::success);
    EXPECT_EQ(test::as_text(m->raw_headers()), "h:short\r\n");

    Message::Ptr other = get();
    EXPECT_EQ(other->add_header("h", std::string(max_headers_size - 3, 'v')), Status::invalid_headers_len);
    EXPECT_TRUE(other->raw_headers().empty());

    // Many lines up to the limit.
    Message::Ptr many = get();
    std::size_t total = 0;
    while (total + 10 <= max_headers_size) { // "n:vvvvvv\r\n" is 10 bytes
        ASSERT_EQ(many->add_header("n", "vvvvvv"), Status::success);
        total += 10;
    }
    const std::size_t left = max_headers_size - total; // 5
    ASSERT_EQ(many->add_header("n", std::string(left - 4, 'w')), Status::success);
    EXPECT_EQ(many->raw_headers().size(), max_headers_size);
    EXPECT_EQ(validate_text_headers(many->raw_headers()), Status::success);
    EXPECT_EQ(many->add_header("a", "b"), Status::invalid_headers_len);
}

TEST_F(MessageTest, BodyAppendViewClear) {
    Message::Ptr m = get();
    ASSERT_EQ(m->append_body("hello"), Status::success);
    ASSERT_EQ(m->append_body(as_span(", world")), Status::success);
    EXPECT_EQ(m->body_text(), "hello, world");
    EXPECT_EQ(m->body().size(), 12u);
    EXPECT_EQ(test::as_text(std::as_const(*m).body()), "hello, world");

    m->body()[0] = std::byte{'H'};
    EXPECT_EQ(m->body_text(), "Hello, world");

    const std::size_t capacity = detail::MessageAccess::body(*m).capacity();
    m->clear_body();
    EXPECT_TRUE(m->body().empty());
    EXPECT_EQ(detail::MessageAccess::body(*m).capacity(), capacity); // clear keeps capacity
    ASSERT_EQ(m->append_body(std::string_view{}), Status::success);
    EXPECT_TRUE(m->body().empty());
}

TEST_F(MessageTest, BodyReserveAndResize) {
    Message::Ptr m = get();
    ASSERT_EQ(m->reserve_body(1000), Status::success);
    EXPECT_GE(detail::MessageAccess::body(*m).capacity(), 1000u);
    EXPECT_TRUE(m->body().empty());
    const std::byte* data = detail::MessageAccess::body(*m).bytes().data();
    ASSERT_EQ(m->append_body(std::string(1000, 'a')), Status::success);
    EXPECT_EQ(detail::MessageAccess::body(*m).bytes().data(), data); // within the reserve: no move

    ASSERT_EQ(m->resize_body(10), Status::success);
    EXPECT_EQ(m->body_text(), std::string(10, 'a'));
    ASSERT_EQ(m->resize_body(20), Status::success);
    EXPECT_EQ(m->body().size(), 20u);
    EXPECT_EQ(m->body_text().substr(0, 10), std::string(10, 'a'));

    EXPECT_EQ(m->reserve_body(max_body_size + 1), Status::invalid_body_len);
    EXPECT_EQ(m->resize_body(max_body_size + 1), Status::invalid_body_len);
    EXPECT_EQ(m->body().size(), 20u);
}

TEST_F(MessageTest, BodyLimit) {
    Message::Ptr m = get();
    ASSERT_EQ(m->append_body(std::string(max_body_size, 'b')), Status::success); // exactly 65,535
    EXPECT_EQ(m->body().size(), max_body_size);
    EXPECT_EQ(m->append_body("x"), Status::invalid_body_len);
    EXPECT_EQ(m->body().size(), max_body_size);

    Message::Ptr n = get();
    ASSERT_EQ(n->append_body(std::string(max_body_size - 1, 'b')), Status::success);
    EXPECT_EQ(n->append_body("xy"), Status::invalid_body_len);
    ASSERT_EQ(n->append_body("x"), Status::success);
    EXPECT_EQ(n->body().size(), max_body_size);

    Message::Ptr o = get();
    EXPECT_EQ(o->append_body(std::string(max_body_size + 1, 'b')), Status::invalid_body_len);
    EXPECT_TRUE(o->body().empty());
    ASSERT_EQ(o->resize_body(max_body_size), Status::success);
    EXPECT_EQ(o->body().size(), max_body_size);
}

TEST_F(MessageTest, ValidateForPostOpcodes) {
    Message::Ptr m = get();
    for (OpCode op : {OpCode::Request, OpCode::Signal, OpCode::HelloRequest, OpCode::HelloResponse, OpCode::ByeRequest,
                      OpCode::ByeResponse, OpCode::ByeSignal, OpCode::WelcomeRequest}) {
        m->set_opcode(op);
        EXPECT_EQ(m->validate_for_post(), Status::success) << to_string(op);
    }
    m->set_opcode(OpCode::Response);
    m->set_message_id(7);
    EXPECT_EQ(m->validate_for_post(), Status::success);

    m->set_opcode(OpCode::WelcomeResponse);
    EXPECT_EQ(m->validate_for_post(), Status::invalid_op_code);
    for (unsigned raw = 10; raw < 256; ++raw) {
        m->header().opcode = static_cast<OpCode>(raw);
        EXPECT_EQ(m->validate_for_post(), Status::invalid_op_code) << raw;
    }
}

TEST_F(MessageTest, ValidateForPostResponseNeedsMessageId) {
    Message::Ptr m = get();
    m->set_opcode(OpCode::Response);
    m->set_message_id(0);
    EXPECT_EQ(m->validate_for_post(), Status::invalid_message_id);
    m->set_message_id(1);
    EXPECT_EQ(m->validate_for_post(), Status::success);
    // Only Response needs one.
    m->set_message_id(0);
    m->set_opcode(OpCode::Request);
    EXPECT_EQ(m->validate_for_post(), Status::success);
}

TEST_F(MessageTest, ValidateForPostMoreUsage) {
    Message::Ptr m = get();
    m->set_message_id(5);
    m->set_more(true);
    for (OpCode op : {OpCode::Request, OpCode::Response, OpCode::Signal}) {
        m->set_opcode(op);
        EXPECT_EQ(m->validate_for_post(), Status::success) << to_string(op);
    }
    for (OpCode op : {OpCode::HelloRequest, OpCode::HelloResponse, OpCode::ByeRequest, OpCode::ByeResponse,
                      OpCode::ByeSignal, OpCode::WelcomeRequest}) {
        m->set_opcode(op);
        EXPECT_EQ(m->validate_for_post(), Status::invalid_more_usage) << to_string(op);
    }
}

TEST_F(MessageTest, ReplyKeepsChannelIdAndPayload) {
    Message::Ptr m = get();
    m->set_channel(42);
    m->set_opcode(OpCode::Request);
    m->header().origin = Origin::engine;
    m->set_more(true);
    m->set_status(Status::peer_disconnected);
    m->set_message_id(0xABCDEFull);
    ASSERT_EQ(m->add_header("k", "v"), Status::success);
    ASSERT_EQ(m->append_body("question"), Status::success);

    m->reply(OpCode::Response);
    EXPECT_EQ(m->opcode(), OpCode::Response);
    EXPECT_EQ(m->channel(), 42);
    EXPECT_EQ(m->message_id(), 0xABCDEFull);
    EXPECT_EQ(m->origin(), Origin::application);
    EXPECT_FALSE(m->more());
    EXPECT_EQ(m->status(), Status::success);
    EXPECT_EQ(m->find_header("k"), std::optional<std::string_view>("v"));
    EXPECT_EQ(m->body_text(), "question");
    EXPECT_EQ(m->validate_for_post(), Status::success);
}

TEST_F(MessageTest, ResetOnReturnToPool) {
    Message* raw = nullptr;
    {
        Message::Ptr m = get();
        raw = m.get();
        m->set_channel(9);
        m->set_opcode(OpCode::ByeRequest);
        m->header().origin = Origin::engine;
        m->set_more(true);
        m->set_status(Status::send_failed);
        m->set_message_id(99);
        ASSERT_EQ(m->add_header("name", "value"), Status::success);
        ASSERT_EQ(m->append_body(std::string(5000, 'z')), Status::success);
        ASSERT_EQ(pool_->put(std::move(m)), Status::success);
        EXPECT_FALSE(m); // the handle is empty once returned
    }
    Message::Ptr again = pool_->get(Alloc::PoolOnly);
    ASSERT_TRUE(again);
    EXPECT_EQ(again.get(), raw); // the same object, recycled
    EXPECT_EQ(again->channel(), unassigned_channel);
    EXPECT_EQ(again->opcode(), OpCode::Request);
    EXPECT_EQ(again->origin(), Origin::application);
    EXPECT_FALSE(again->more());
    EXPECT_EQ(again->status(), Status::success);
    EXPECT_EQ(again->message_id(), 0u);
    EXPECT_TRUE(again->raw_headers().empty());
    EXPECT_FALSE(again->find_header("name").has_value());
    EXPECT_TRUE(again->body().empty());
    EXPECT_EQ(detail::MessageAccess::next(*again), nullptr);
    // capacity is kept for reuse
    EXPECT_GE(detail::MessageAccess::body(*again).capacity(), 5000u);
}

TEST_F(MessageTest, ResetByDestructorToo) {
    Message* raw = nullptr;
    {
        Message::Ptr m = get();
        raw = m.get();
        m->set_message_id(1234);
        ASSERT_EQ(m->append_body("x"), Status::success);
    }
    Message::Ptr again = pool_->get(Alloc::PoolOnly);
    ASSERT_EQ(again.get(), raw);
    EXPECT_EQ(again->message_id(), 0u);
    EXPECT_TRUE(again->body().empty());
}

TEST(TextHeaderValidation, Blocks) {
    EXPECT_EQ(validate_text_headers({}), Status::success);
    EXPECT_EQ(validate_text_headers(as_span("a:b\r\n")), Status::success);
    EXPECT_EQ(validate_text_headers(as_span("a:b:c\r\nd:e\r\n")), Status::success);
    EXPECT_EQ(validate_text_headers(as_span("a:b")), Status::invalid_headers_len);
    EXPECT_EQ(validate_text_headers(as_span("a:b\n")), Status::invalid_headers_len);
    EXPECT_EQ(validate_text_headers(as_span("a:b\r")), Status::invalid_headers_len);
    EXPECT_EQ(validate_text_headers(as_span("ab\r\n")), Status::invalid_headers_len);
    EXPECT_EQ(validate_text_headers(as_span(":b\r\n")), Status::invalid_headers_len);
    EXPECT_EQ(validate_text_headers(as_span("a:\r\n")), Status::invalid_headers_len);
    EXPECT_EQ(validate_text_headers(as_span("\r\n")), Status::invalid_headers_len);
    EXPECT_EQ(validate_text_headers(as_span("a:b\r\nc")), Status::invalid_headers_len);
    EXPECT_EQ(validate_text_headers(as_span("a:b\nc:d\r\n")), Status::invalid_headers_len);
}

} // namespace
} // namespace tofu
