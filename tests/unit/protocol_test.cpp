// The channel protocol rules (src/reactor/protocol.hpp), without sockets:
// what each state admits from the wire at the header, where a complete frame
// moves it, and what the application may post in it.
#include "reactor/protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tofu::detail::protocol {
namespace {

constexpr Limits limits{100};

const State all_states[] = {State::connecting,  State::hello_sent, State::awaiting_hello, State::hello_received,
                            State::established, State::bye_sent,   State::bye_received,   State::closing,
                            State::listening,   State::closed};
const OpCode wire_opcodes[] = {OpCode::Request,       OpCode::Response,   OpCode::Signal,     OpCode::HelloRequest,
                               OpCode::HelloResponse, OpCode::ByeRequest, OpCode::ByeResponse};

wire::FrameHeader frame(OpCode op, std::uint16_t headers = 0, std::uint16_t body = 0,
                        Origin origin = Origin::application) {
    wire::FrameHeader f;
    f.header.opcode = op;
    f.header.origin = origin;
    f.opcode_bits = static_cast<std::uint8_t>(op);
    f.headers_size = headers;
    f.body_size = body;
    return f;
}

std::string name(State state) { return std::to_string(static_cast<int>(state)); }

TEST(Protocol, HandshakeStatesAdmitOnlyTheirHello) {
    for (OpCode op : wire_opcodes) {
        EXPECT_EQ(admit(State::awaiting_hello, frame(op), limits),
                  op == OpCode::HelloRequest ? Status::success : Status::not_allowed)
            << to_string(op);
        EXPECT_EQ(admit(State::hello_sent, frame(op), limits),
                  op == OpCode::HelloResponse ? Status::success : Status::not_allowed)
            << to_string(op);
        // The server application has not answered: the peer must wait.
        EXPECT_EQ(admit(State::hello_received, frame(op), limits), Status::not_allowed) << to_string(op);
    }
}

TEST(Protocol, EstablishedStatesAdmitEverythingButAHello) {
    for (State state : {State::established, State::bye_sent, State::bye_received, State::closing}) {
        for (OpCode op : wire_opcodes) {
            const bool hello = op == OpCode::HelloRequest || op == OpCode::HelloResponse;
            EXPECT_EQ(admit(state, frame(op), limits), hello ? Status::not_allowed : Status::success)
                << name(state) << " " << to_string(op);
        }
    }
}

TEST(Protocol, NoStateAdmitsAFrameClaimingTheEngineAsItsOrigin) {
    for (State state : all_states) {
        for (OpCode op : wire_opcodes) {
            EXPECT_EQ(admit(state, frame(op, 0, 0, Origin::engine), limits), Status::invalid_message)
                << name(state) << " " << to_string(op);
        }
    }
}

TEST(Protocol, HelloSizeIsBoundedAtTheHeader) {
    for (State state : {State::awaiting_hello, State::hello_sent}) {
        const OpCode hello = state == State::awaiting_hello ? OpCode::HelloRequest : OpCode::HelloResponse;
        EXPECT_EQ(admit(state, frame(hello, 40, 60), limits), Status::success);
        EXPECT_EQ(admit(state, frame(hello, 100, 0), limits), Status::success);
        EXPECT_EQ(admit(state, frame(hello, 0, 100), limits), Status::success);
        EXPECT_EQ(admit(state, frame(hello, 101, 0), limits), Status::invalid_headers_len);
        EXPECT_EQ(admit(state, frame(hello, 41, 60), limits), Status::invalid_body_len);
        EXPECT_EQ(admit(state, frame(hello, 0, 101), limits), Status::invalid_body_len);
        EXPECT_EQ(admit(state, frame(hello, 65535, 65535), limits), Status::invalid_headers_len);
    }
    // Once established, only the wire's own limits apply.
    EXPECT_EQ(admit(State::established, frame(OpCode::Request, 65535, 65535), limits), Status::success);
}

TEST(Protocol, ConnectingListeningAndClosedAdmitNothing) {
    for (State state : {State::connecting, State::listening, State::closed}) {
        for (OpCode op : wire_opcodes) {
            EXPECT_NE(admit(state, frame(op), limits), Status::success) << name(state) << " " << to_string(op);
        }
    }
}

TEST(Protocol, ArrivalsMoveTheHandshakeAndTheBye) {
    EXPECT_EQ(arrive(State::awaiting_hello, OpCode::HelloRequest).next, State::hello_received);
    EXPECT_EQ(arrive(State::hello_sent, OpCode::HelloResponse).next, State::established);

    const Arrival bye = arrive(State::established, OpCode::ByeRequest);
    EXPECT_EQ(bye.next, State::bye_received);
    EXPECT_TRUE(bye.peer_said_bye);
    EXPECT_FALSE(bye.close_after);

    const Arrival crossed = arrive(State::bye_sent, OpCode::ByeRequest);
    EXPECT_EQ(crossed.next, State::bye_sent) << "crossed byes keep our state";
    EXPECT_TRUE(crossed.peer_said_bye);

    for (State state : {State::established, State::bye_sent, State::bye_received, State::closing}) {
        const Arrival answer = arrive(state, OpCode::ByeResponse);
        EXPECT_TRUE(answer.close_after) << name(state);
        EXPECT_FALSE(answer.peer_said_bye);
        for (OpCode op : {OpCode::Request, OpCode::Response, OpCode::Signal}) {
            const Arrival data = arrive(state, op);
            EXPECT_EQ(data.next, state);
            EXPECT_FALSE(data.close_after || data.peer_said_bye);
        }
    }
}

TEST(Protocol, PendingIsTheServerBeforeTheHelloArrived) {
    for (State state : all_states) EXPECT_EQ(pending(state), state == State::awaiting_hello) << name(state);
}

TEST(Protocol, PostsFollowTheState) {
    struct Case {
        State state;
        bool peer_said_bye;
        OpCode op;
        Status status;
        State next;
    };
    const Case cases[] = {
        {State::hello_received, false, OpCode::HelloResponse, Status::success, State::established},
        {State::established, false, OpCode::HelloResponse, Status::not_allowed, State::established},
        {State::hello_sent, false, OpCode::Request, Status::not_allowed, State::hello_sent},
        {State::hello_received, false, OpCode::Signal, Status::not_allowed, State::hello_received},
        {State::established, false, OpCode::Request, Status::success, State::established},
        {State::established, false, OpCode::Response, Status::success, State::established},
        {State::bye_received, true, OpCode::Signal, Status::success, State::bye_received},
        {State::bye_sent, false, OpCode::Request, Status::not_allowed, State::bye_sent},
        {State::established, false, OpCode::ByeRequest, Status::success, State::bye_sent},
        {State::bye_sent, false, OpCode::ByeRequest, Status::not_allowed, State::bye_sent},
        {State::established, false, OpCode::ByeResponse, Status::not_allowed, State::established},
        {State::bye_received, true, OpCode::ByeResponse, Status::success, State::closing},
        {State::bye_sent, true, OpCode::ByeResponse, Status::success, State::closing},
        {State::closing, true, OpCode::ByeResponse, Status::not_allowed, State::closing},
        {State::established, false, OpCode::WelcomeResponse, Status::not_allowed, State::established},
    };
    for (const Case& c : cases) {
        const Verdict verdict = post(c.state, c.peer_said_bye, c.op);
        EXPECT_EQ(verdict.status, c.status) << name(c.state) << " " << to_string(c.op);
        EXPECT_EQ(verdict.next, c.next) << name(c.state) << " " << to_string(c.op);
    }
}

TEST(Protocol, OnlyAByeResponseEndsTheConnectionOnceWritten) {
    for (OpCode op : wire_opcodes) EXPECT_EQ(closes_after_write(op), op == OpCode::ByeResponse) << to_string(op);
}

} // namespace
} // namespace tofu::detail::protocol
