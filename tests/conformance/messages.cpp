#include "messages.hpp"

#include <sstream>

namespace tofu::conformance {

std::optional<Status> cause_of(const Message& message) {
    const std::optional<std::string_view> value = message.find_header(cause_header);
    if (!value) return std::nullopt;
    return status_from_string(*value);
}

std::optional<Limit> limit_of(const Message& message) {
    const std::optional<std::string_view> value = message.find_header(cause_header);
    if (!value) return std::nullopt;
    for (std::size_t i = 1; i < limit_count; ++i) {
        if (to_string(static_cast<Limit>(i)) == *value) return static_cast<Limit>(i);
    }
    return std::nullopt;
}

bool is_closed_notification(const Message& message) {
    return message.from_engine() && message.status() == Status::channel_closed &&
           message.opcode() == OpCode::ByeSignal && message.find_header("~cause").has_value();
}

bool is_pool_empty(const Message& message) { return message.from_engine() && message.status() == Status::pool_empty; }

std::string describe(const Message* message) {
    if (message == nullptr) return "<no message>";
    std::ostringstream out;
    out << to_string(message->opcode()) << " ch=" << message->channel() << " status=" << message->status()
        << (message->from_engine() ? " from_engine" : " from_app") << (message->more() ? " more" : "")
        << " id=" << message->message_id() << " headers=" << message->raw_headers().size()
        << " body=" << message->body().size();
    if (auto cause = message->find_header("~cause")) out << " ~cause=" << *cause;
    if (!message->body().empty() && message->body().size() <= 48) out << " \"" << message->body_text() << "\"";
    return out.str();
}

Message::Ptr get_message(Engine& engine) {
    Message::Ptr message = engine.get(Alloc::Always);
    EXPECT_TRUE(message) << "the test's own engine pool is exhausted";
    return message;
}

Message::Ptr get_blocking(Engine& engine, Clock::time_point deadline) {
    for (unsigned attempt = 0;; ++attempt) {
        if (Message::Ptr message = engine.get(Alloc::Always)) return message;
        if (Clock::now() > deadline) return Message::Ptr();
        if (attempt < 64) std::this_thread::yield();
        else std::this_thread::sleep_for(50us);
    }
}

Message::Ptr make(Engine& engine, OpCode op, ChannelNumber channel, std::string_view body, std::uint64_t id,
                  bool more) {
    Message::Ptr message = get_message(engine);
    if (!message) return message;
    message->set_opcode(op);
    message->set_channel(channel);
    message->set_message_id(id);
    message->set_more(more);
    if (!body.empty()) {
        EXPECT_EQ(message->append_body(body), Status::success);
    }
    return message;
}

} // namespace tofu::conformance
