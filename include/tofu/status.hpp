#pragma once
/// \file
/// Status codes shared with the Zig tofu: one byte on the wire, same numbering.
#include <tofu/export.hpp>

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string_view>

namespace tofu {

// clang-format 14 would glue the brace to the type after the attribute.
// clang-format off
/// Why an operation failed, or what a message the engine hands back says;
/// one byte on the wire (docs/protocol.md §2).
///
/// [[nodiscard]]: every function returning a Status is, so none is ignored.
enum class [[nodiscard]] Status : std::uint8_t {
    // clang-format on
    /// It worked. As the `~cause` of a channel_closed notification: a
    /// graceful Bye.
    success = 0,
    /// This build or platform lacks it: a backend not compiled in, a Linux
    /// abstract socket name elsewhere, Unix sockets where the OS has none.
    not_implemented_yet = 1,
    /// An address that is not `tcp|host|port` or `uds|path`: unknown kind or
    /// missing parts.
    wrong_address = 2,
    /// Not allowed in the channel's state (a Request, Response, Signal or
    /// ByeRequest before the handshake, a message to a listener), or Options
    /// the engine refuses.
    not_allowed = 3,
    /// An empty Message::Ptr where a message is needed.
    null_message = 4,
    /// A message from another engine's pool, a malformed text header name or
    /// value, or a peer's frame claiming to come from an engine.
    invalid_message = 5,
    /// An opcode out of range or one the sender may not use (WelcomeResponse
    /// posted; from a peer, one that never travels on the wire).
    invalid_op_code = 6,
    /// Text headers past 65,535 bytes or not `name:value\r\n` lines, or a
    /// peer's hello past Options::max_hello_bytes.
    invalid_headers_len = 7,
    /// A body past 65,535 bytes, or a peer's hello past
    /// Options::max_hello_bytes.
    invalid_body_len = 8,
    /// `more` set on an operation other than Request, Response or Signal.
    invalid_more_usage = 9,
    /// The channel number names no channel of this engine, or a
    /// WelcomeRequest or HelloRequest already carries one.
    invalid_channel_number = 10,
    /// The channel belongs to another group of the engine.
    invalid_mchn_group = 11,
    /// A Response with message id 0.
    invalid_message_id = 12,
    /// The address has its parts but cannot be used (port, path length, a
    /// connect to port 0, ...).
    invalid_address = 13,
    /// The Unix socket path (for a listener, its directory) does not exist.
    uds_path_not_found = 14,
    /// Kept for the Zig tofu's numbering; this library does not produce it.
    notification_disabled = 15,
    /// Kept for the Zig tofu's numbering; this library does not produce it.
    notification_failed = 16,
    /// The peer closed the connection, or refused the hello with ByeSignal.
    peer_disconnected = 17,
    /// The poller or a socket failed where no more precise status applies;
    /// also the status of a channel an engine limit closed (`~cause` names
    /// the limit).
    communication_failed = 18,
    /// Backpressure: a channel stopped reading because the pool had no room,
    /// or update_receiver found no free wake-up message.
    pool_empty = 19,
    /// The pool's limits (or the heap) had no room, or no channel number is
    /// free.
    allocation_failed = 20,
    /// A message, or a bare wake-up, put in a group's queue by
    /// ChannelGroup::update_receiver.
    receiver_update = 21,
    /// The one notification every ended channel produces (its `~cause`
    /// says why); also a message for a channel that is gone.
    channel_closed = 22,
    /// The engine is stopping: what it still holds comes back with this, and
    /// new work is refused.
    shutdown_started = 23,
    /// A connect did not complete (refused, unreachable, or past
    /// Options::connect_timeout); the HelloRequest comes back with it.
    connect_failed = 24,
    /// Creating, binding or listening on the listener's socket failed.
    listen_failed = 25,
    /// accept() failed in a way that ends the listener, not one connection.
    accept_failed = 26,
    /// A send on the socket failed (not a disconnect).
    send_failed = 27,
    /// A receive on the socket failed (not a disconnect).
    recv_failed = 28,
    /// Setting a socket option failed.
    setsockopt_failed = 29,
    /// Kept for the Zig tofu's numbering; this library does not produce it.
    processing_failed = 30,
    /// Status byte 31, and what any larger byte reads as (status_from_byte());
    /// this library does not produce it itself.
    unknown_error = 31,
};

/// How many statuses there are (tables indexed by to_byte() have this size).
inline constexpr int status_count = 32;

/// The Status a wire byte carries.
///
/// Any byte above 31 reads as unknown_error, so a newer peer cannot make us
/// hold an enum value outside the declared range.
constexpr Status status_from_byte(std::uint8_t byte) noexcept {
    return byte > static_cast<std::uint8_t>(Status::unknown_error) ? Status::unknown_error : static_cast<Status>(byte);
}

/// The wire byte of `status` (its number).
constexpr std::uint8_t to_byte(Status status) noexcept { return static_cast<std::uint8_t>(status); }

/// The status's name as declared, e.g. `"channel_closed"`.
TOFU_API std::string_view to_string(Status status) noexcept;
/// The status with that name (as to_string() spells it), if there is one.
TOFU_API std::optional<Status> status_from_string(std::string_view name) noexcept;
/// Writes the status's name.
TOFU_API std::ostream& operator<<(std::ostream& out, Status status);

} // namespace tofu
