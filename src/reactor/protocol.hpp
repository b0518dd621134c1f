#pragma once
// The channel protocol of protocol §3 as pure functions: what each state of a
// stream channel accepts from the application and from the wire, and where
// it moves. No sockets, no memory, no time: the reactor asks, this answers
// (unit-tested on its own in tests/unit/protocol_test.cpp).
#include "message/codec.hpp"

#include <tofu/message.hpp>

#include <cstddef>

namespace tofu::detail::protocol {

enum class State {
    connecting,     // client: connect in flight, HelloRequest queued
    hello_sent,     // client: waiting for the peer's HelloResponse
    awaiting_hello, // server: accepted, waiting for the peer's HelloRequest
    hello_received, // server: the application decides (HelloResponse / ByeSignal)
    established,
    bye_sent,     // our ByeRequest is queued or sent; waiting for ByeResponse
    bye_received, // the peer's ByeRequest arrived; we answer with ByeResponse
    closing,      // our ByeResponse is queued: close once it is written
    listening,
    closed,
};

// An accepted connection whose HelloRequest has not reached the application:
// the application does not know its channel number, so it ends silently.
constexpr bool pending(State state) noexcept { return state == State::awaiting_hello; }

constexpr bool handshake_done(State state) noexcept {
    return state == State::established || state == State::bye_sent || state == State::bye_received ||
           state == State::closing;
}

struct Limits {
    std::size_t max_hello_bytes = 0; // text headers + body of a HelloRequest / HelloResponse
};

// A frame header just read from the peer (already a well-formed tofu header:
// wire::check_incoming passed). Success, or the status its channel closes
// with. Decided before any memory is spent on the frame.
Status admit(State state, const wire::FrameHeader& frame, const Limits& limits) noexcept;

// A complete frame that admit() accepted.
struct Arrival {
    State next;
    bool peer_said_bye; // a ByeRequest: the application owes a ByeResponse
    bool close_after;   // a ByeResponse: deliver it, then the connection closes
};
Arrival arrive(State state, OpCode op) noexcept;

// A message the application posts on an existing stream channel.
struct Verdict {
    Status status; // success or not_allowed
    State next;
};
Verdict post(State state, bool peer_said_bye, OpCode op) noexcept;

// Once written in full, a ByeResponse ends the connection on both sides.
constexpr bool closes_after_write(OpCode op) noexcept { return op == OpCode::ByeResponse; }

} // namespace tofu::detail::protocol
