// Raw-socket peers that break the protocol (protocol §4: "a protocol violator:
// its channel is closed with a status, and every other channel carries on
// untouched").
#include "raw_peer.hpp"

namespace tofu::conformance {
namespace {

using namespace raw;

class ProtocolViolation : public BackendTest {
protected:
    // One server engine and group with a listener, and a well-behaved
    // bystander on it: an engine client, and a raw client past its hello.
    void SetUp() override {
        BackendTest::SetUp();
        if (IsSkipped()) return;
        server_engine_.emplace(options());
        client_engine_.emplace(options());
        server_.emplace(*server_engine_, "server");
        client_.emplace(*client_engine_, "bystander");
        listener_ = listen(*server_, tcp("127.0.0.1", 0));
        ASSERT_TRUE(listener_);
        bystander_ = connect(*client_, *server_, listener_.address);
        ASSERT_TRUE(bystander_);
        raw_bystander_ = RawPeer::connect(listener_.address);
        ASSERT_TRUE(raw_bystander_);
        raw_bystander_channel_ = raw_handshake(raw_bystander_, *server_, 1000);
        ASSERT_NE(raw_bystander_channel_, 0);
    }

    // Both bystanders are untouched: the engine client round-trips, the raw
    // one gets its Request delivered and the answer back on the wire.
    void expect_bystanders_untouched(int round) {
        round_trip(*client_, bystander_.client, *server_, bystander_.server, "still fine " + std::to_string(round));
        const std::string body = "raw still fine " + std::to_string(round);
        const Bytes request =
            frame({.opcode = op(OpCode::Request), .id = 5000u + static_cast<unsigned>(round), .body = as_bytes(body)});
        ASSERT_TRUE(raw_bystander_.send_all(request));
        Message::Ptr got = server_->next();
        ASSERT_TRUE(got);
        EXPECT_EQ(got->channel(), raw_bystander_channel_) << describe(got);
        EXPECT_EQ(got->body_text(), body);
        got->reply(OpCode::Response);
        server_->post_ok(got);
        const std::optional<ParsedFrame> answer = raw_bystander_.read_frame();
        ASSERT_TRUE(answer);
        EXPECT_EQ(answer->opcode, op(OpCode::Response));
        EXPECT_EQ(answer->id, 5000u + static_cast<unsigned>(round));
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(answer->body.data()), answer->body.size()), body);
    }

    // A new raw connection sends `bytes` (after a hello when `handshake`):
    // exactly its channel closes, with `cause`, and the engine hangs up on
    // it. Before the hello reached the application, the connection was
    // never a channel to it: no channel_closed, a refusal in the stats.
    void expect_violation(const Bytes& bytes, bool handshake, Status cause, const std::string& what) {
        SCOPED_TRACE(what);
        RawPeer violator = RawPeer::connect(listener_.address);
        ASSERT_TRUE(violator);
        ChannelNumber channel = 0;
        if (handshake) {
            channel = raw_handshake(violator, *server_, 77);
            ASSERT_NE(channel, 0);
        }
        const EngineStats before = server_engine_->stats();
        ASSERT_TRUE(violator.send_all(bytes));
        if (handshake) {
            Message::Ptr closed = server_->next();
            ASSERT_TRUE(closed);
            ASSERT_TRUE(is_closed_notification(*closed)) << "expected channel_closed, got " << describe(closed);
            EXPECT_EQ(cause_of(*closed), cause) << describe(closed);
            EXPECT_EQ(closed->channel(), channel);
        } else {
            EXPECT_TRUE(wait_for_stats(*server_engine_,
                                       [&](const EngineStats& now) {
                                           return now.connections_refused == before.connections_refused + 1 &&
                                                  now.closed_by(cause) == before.closed_by(cause) + 1;
                                       }))
                << "a refusal with cause " << cause << " in the stats";
        }
        EXPECT_TRUE(violator.wait_closed()) << "the engine must hang up on a violator";
        expect_bystanders_untouched(++round_);
    }

    void TearDown() override {
        if (server_) server_->expect_quiet(100ms);
        if (client_) client_->expect_quiet(100ms);
    }

    std::optional<Engine> server_engine_;
    std::optional<Engine> client_engine_;
    std::optional<Group> server_;
    std::optional<Group> client_;
    Listener listener_;
    Link bystander_;
    RawPeer raw_bystander_;
    ChannelNumber raw_bystander_channel_ = 0;
    int round_ = 0;
};

// Garbage instead of a hello: random bytes whose opcode nibble is invalid,
// and a well-formed header announcing a text block of binary junk.
TEST_P(ProtocolViolation, GarbageBeforeHello) {
    Bytes junk = pseudo_random(1024, 1);
    junk[2] = static_cast<std::byte>(std::to_integer<unsigned>(junk[2]) | 0x0F); // opcode 15
    expect_violation(junk, false, Status::invalid_op_code, "random bytes, opcode 15");

    const Bytes binary = pseudo_random(200, 2);
    Bytes announced = frame({.opcode = op(OpCode::HelloRequest),
                             .id = 3,
                             .headers = std::string_view(reinterpret_cast<const char*>(binary.data()), 200)});
    expect_violation(announced, false, Status::invalid_headers_len, "hello whose header block is binary junk");
}

// Anything but a HelloRequest first on an accepted connection.
TEST_P(ProtocolViolation, FrameBeforeHello) {
    for (OpCode code : {OpCode::Request, OpCode::Signal, OpCode::Response, OpCode::HelloResponse, OpCode::ByeRequest,
                        OpCode::ByeResponse}) {
        expect_violation(frame({.opcode = op(code), .id = 9, .body = as_bytes("early")}), false, Status::not_allowed,
                         std::string("first frame ") + std::string(to_string(code)));
    }
}

// Opcodes 7..15 never travel on the wire (ByeSignal and the Welcome pair are
// engine-local, 10..15 do not exist).
TEST_P(ProtocolViolation, InvalidOpcodeAfterHandshake) {
    for (std::uint8_t code : {7, 8, 9, 10, 12, 15}) {
        expect_violation(frame({.opcode = code, .id = 11}), true, Status::invalid_op_code,
                         "opcode " + std::to_string(code));
    }
    // And before the handshake too.
    expect_violation(frame({.opcode = 9, .id = 11}), false, Status::invalid_op_code, "WelcomeResponse as first frame");
}

TEST_P(ProtocolViolation, MalformedTextHeadersAfterHandshake) {
    for (std::string_view block :
         {std::string_view("no-colon\r\n"), std::string_view("name:value"), std::string_view(":no-name\r\n"),
          std::string_view("no-value:\r\n"), std::string_view("a:b\r\nbroken")}) {
        expect_violation(frame({.opcode = op(OpCode::Signal), .id = 12, .headers = block}), true,
                         Status::invalid_headers_len, "header block \"" + std::string(block) + "\"");
    }
}

TEST_P(ProtocolViolation, MoreFlagOutsideStreams) {
    expect_violation(frame({.opcode = op(OpCode::HelloRequest), .more = true, .id = 13}), false,
                     Status::invalid_more_usage, "more on HelloRequest");
    expect_violation(frame({.opcode = op(OpCode::ByeRequest), .more = true, .id = 14}), true,
                     Status::invalid_more_usage, "more on ByeRequest");
    expect_violation(frame({.opcode = op(OpCode::ByeResponse), .more = true, .id = 15}), true,
                     Status::invalid_more_usage, "more on ByeResponse");
}

TEST_P(ProtocolViolation, SecondHelloAfterHandshake) {
    expect_violation(frame({.opcode = op(OpCode::HelloRequest), .id = 16}), true, Status::not_allowed,
                     "HelloRequest again");
    expect_violation(frame({.opcode = op(OpCode::HelloResponse), .id = 17}), true, Status::not_allowed,
                     "HelloResponse from the client");
}

// A valid stream from a raw peer still works byte for byte, `more` and all:
// the wire format is the one protocol §4 describes.
TEST_P(ProtocolViolation, HandWrittenFramesAreUnderstood) {
    RawPeer peer = RawPeer::connect(listener_.address);
    ASSERT_TRUE(peer);
    const ChannelNumber channel = raw_handshake(peer, *server_, 0x0102030405060708ull);
    ASSERT_NE(channel, 0);
    Bytes stream;
    append_frame(stream, {.opcode = op(OpCode::Request),
                          .more = true,
                          .status = 3,
                          .channel = 999,
                          .id = 42,
                          .headers = "a:1\r\nb:two\r\n",
                          .body = as_bytes("first")});
    append_frame(stream, {.opcode = op(OpCode::Request), .id = 42, .body = as_bytes("second")});
    append_frame(stream, {.opcode = op(OpCode::Signal), .id = 0xFFFFFFFFFFFFFFFFull});
    ASSERT_TRUE(peer.send_all(stream));
    Message::Ptr first = server_->next();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->opcode(), OpCode::Request);
    EXPECT_TRUE(first->more());
    EXPECT_EQ(first->message_id(), 42u);
    EXPECT_EQ(first->channel(), channel) << "the receiver's own number replaces the sender's";
    EXPECT_EQ(first->find_header("a").value_or(""), "1");
    EXPECT_EQ(first->find_header("b").value_or(""), "two");
    EXPECT_EQ(first->body_text(), "first");
    Message::Ptr second = server_->next();
    ASSERT_TRUE(second);
    EXPECT_FALSE(second->more());
    EXPECT_EQ(second->body_text(), "second");
    Message::Ptr third = server_->next();
    ASSERT_TRUE(third);
    EXPECT_EQ(third->opcode(), OpCode::Signal);
    EXPECT_EQ(third->message_id(), 0xFFFFFFFFFFFFFFFFull);
    EXPECT_TRUE(third->body().empty());

    // And the engine's frames read back by hand.
    second->reply(OpCode::Response);
    second->set_more(true);
    server_->post_ok(second);
    const std::optional<ParsedFrame> answer = peer.read_frame();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->opcode, op(OpCode::Response));
    EXPECT_TRUE(answer->more);
    EXPECT_FALSE(answer->engine_origin);
    EXPECT_EQ(answer->id, 42u);
    EXPECT_EQ(answer->channel, channel);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(answer->body.data()), answer->body.size()), "second");

    // A graceful bye from the raw side.
    ASSERT_TRUE(peer.send_all(frame({.opcode = op(OpCode::ByeRequest), .id = 50})));
    Message::Ptr bye = server_->next();
    ASSERT_TRUE(bye);
    EXPECT_EQ(bye->opcode(), OpCode::ByeRequest) << describe(bye);
    bye->reply(OpCode::ByeResponse);
    server_->post_ok(bye);
    const std::optional<ParsedFrame> bye_response = peer.read_frame();
    ASSERT_TRUE(bye_response);
    EXPECT_EQ(bye_response->opcode, op(OpCode::ByeResponse));
    EXPECT_EQ(bye_response->id, 50u);
    EXPECT_TRUE(peer.wait_closed());
    server_->expect_closed(channel, Status::success);
    expect_bystanders_untouched(1);
}

TOFU_CONFORMANCE_INSTANTIATE(ProtocolViolation);

} // namespace
} // namespace tofu::conformance
