#pragma once
// The library's way into a Message's engine side: what the public header
// keeps private so that applications cannot break the pool's accounting or a
// queue's links.
#include <tofu/message.hpp>

namespace tofu::detail {

struct MessageAccess {
    static Message*& next(Message& message) noexcept { return message.next_; }
    static Message* next(const Message& message) noexcept { return message.next_; }
    static std::array<std::byte, wire_header_size>& wire_header(Message& message) noexcept {
        return message.wire_header_;
    }
    static MessageBuffer& headers(Message& message) noexcept { return message.headers_; }
    static MessageBuffer& body(Message& message) noexcept { return message.body_; }
    static Pool& pool(const Message& message) noexcept { return *message.pool_; }
};

} // namespace tofu::detail
