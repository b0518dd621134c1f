#include "reactor/protocol.hpp"

namespace tofu::detail::protocol {
namespace {

bool is_hello(OpCode op) noexcept { return op == OpCode::HelloRequest || op == OpCode::HelloResponse; }

// The only opcode the wire may carry in a handshake state; Request (never a
// handshake opcode) for the states where nothing may arrive at all.
OpCode handshake_opcode(State state) noexcept {
    switch (state) {
    case State::awaiting_hello: return OpCode::HelloRequest;
    case State::hello_sent: return OpCode::HelloResponse;
    default: return OpCode::Request;
    }
}

} // namespace

Status admit(State state, const wire::FrameHeader& frame, const Limits& limits) noexcept {
    // A conforming peer never claims to be an engine: an engine message can
    // only be made by the engine that delivers it.
    if (frame.header.origin == Origin::engine) return Status::invalid_message;
    const OpCode op = frame.header.opcode;
    if (state == State::awaiting_hello || state == State::hello_sent) {
        if (op != handshake_opcode(state)) return Status::not_allowed;
        if (frame.headers_size > limits.max_hello_bytes) return Status::invalid_headers_len;
        if (std::size_t{frame.headers_size} + frame.body_size > limits.max_hello_bytes) return Status::invalid_body_len;
        return Status::success;
    }
    // hello_received: the peer must wait for our HelloResponse.
    if (!handshake_done(state)) return Status::not_allowed;
    return is_hello(op) ? Status::not_allowed : Status::success;
}

Arrival arrive(State state, OpCode op) noexcept {
    Arrival arrival{state, false, op == OpCode::ByeResponse};
    if (state == State::awaiting_hello) arrival.next = State::hello_received;
    else if (state == State::hello_sent) arrival.next = State::established;
    if (op == OpCode::ByeRequest) {
        arrival.peer_said_bye = true;
        // Crossed byes (we are in bye_sent) keep our state: either ByeResponse closes.
        if (state == State::established) arrival.next = State::bye_received;
    }
    return arrival;
}

Verdict post(State state, bool peer_said_bye, OpCode op) noexcept {
    const Verdict refused{Status::not_allowed, state};
    switch (op) {
    case OpCode::HelloResponse:
        return state == State::hello_received ? Verdict{Status::success, State::established} : refused;
    case OpCode::Request:
    case OpCode::Response:
    case OpCode::Signal:
        return state == State::established || state == State::bye_received ? Verdict{Status::success, state} : refused;
    case OpCode::ByeRequest: return state == State::established ? Verdict{Status::success, State::bye_sent} : refused;
    case OpCode::ByeResponse:
        // Both sides may have said ByeRequest at once; either answer closes.
        return peer_said_bye && state != State::closing ? Verdict{Status::success, State::closing} : refused;
    default: return refused;
    }
}

} // namespace tofu::detail::protocol
