#pragma once
// Reading and making messages: what an engine notification says (its
// `~cause`, pool_empty), a one-line description for failure output, and
// messages from an engine's pool, waiting while it is empty.
#include "fixture.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tofu::conformance {

inline std::span<const std::byte> as_bytes(std::string_view text) {
    return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

// The `~cause` of a channel_closed: a Status name, or an engine Limit name.
std::optional<Status> cause_of(const Message& message);
std::optional<Limit> limit_of(const Message& message);

// The engine's "this channel is gone" notification (not a returned message).
bool is_closed_notification(const Message& message);

bool is_pool_empty(const Message& message);

std::string describe(const Message* message);
inline std::string describe(const Message::Ptr& message) { return describe(message.get()); }

// A message from `engine`'s pool; a test failure when the pool is exhausted.
Message::Ptr get_message(Engine& engine);

// Waits (with a short back-off: there is no "memory returned" event for an
// application) until the pool gives a message; empty after `deadline`.
Message::Ptr get_blocking(Engine& engine, Clock::time_point deadline);

Message::Ptr make(Engine& engine, OpCode op, ChannelNumber channel, std::string_view body = {}, std::uint64_t id = 0,
                  bool more = false);

} // namespace tofu::conformance
