#include "group.hpp"

namespace tofu::conformance {

Group::Group(Engine& engine, std::string name) : engine_(&engine), name_(std::move(name)), group_(make_group(engine)) {}

BinaryHeader Group::post_ok(Message::Ptr& message) {
    const std::string what = describe(message);
    Result<BinaryHeader> posted = group_.post(message);
    EXPECT_TRUE(posted.has_value()) << name_ << ": post(" << what << ") failed: " << posted.status();
    if (!posted) return BinaryHeader{};
    EXPECT_FALSE(message) << name_ << ": a posted message handle must be empty";
    return posted.value();
}

Message::Ptr Group::poll(std::chrono::nanoseconds timeout) {
    Result<Message::Ptr> result = group_.wait_receive(timeout);
    if (!result) {
        ended_ = result.status();
        return Message::Ptr();
    }
    Message::Ptr message = std::move(result.value());
    if (message) observe(*message);
    return message;
}

Message::Ptr Group::receive(std::chrono::nanoseconds timeout) {
    Message::Ptr message = poll(timeout);
    if (!message) {
        ADD_FAILURE() << name_ << ": nothing received within the safety timeout" << ended_note();
    }
    return message;
}

Message::Ptr Group::next(std::chrono::nanoseconds timeout) {
    const Clock::time_point deadline = Clock::now() + timeout;
    for (;;) {
        const auto left = std::max<Clock::duration>(deadline - Clock::now(), Clock::duration::zero());
        Message::Ptr message = poll(left);
        if (!message) {
            ADD_FAILURE() << name_ << ": nothing received within the safety timeout" << ended_note();
            return message;
        }
        if (!is_pool_empty(*message)) return message;
    }
}

Message::Ptr Group::expect_closed(ChannelNumber channel, Limit cause, std::chrono::nanoseconds timeout) {
    Message::Ptr message = next(timeout);
    EXPECT_TRUE(message && is_closed_notification(*message) && message->channel() == channel &&
                limit_of(*message) == cause)
        << name_ << ": expected channel_closed of channel " << channel << " with ~cause " << to_string(cause)
        << ", got " << describe(message);
    return message;
}

Message::Ptr Group::expect_closed(ChannelNumber channel, Status cause, std::chrono::nanoseconds timeout) {
    Message::Ptr message = next(timeout);
    EXPECT_TRUE(message && is_closed_notification(*message) && message->channel() == channel &&
                cause_of(*message) == cause)
        << name_ << ": expected channel_closed of channel " << channel << " with ~cause " << cause << ", got "
        << describe(message);
    return message;
}

void Group::expect_quiet(std::chrono::milliseconds window) {
    while (Message::Ptr message = poll(window)) {
        if (!is_pool_empty(*message)) {
            ADD_FAILURE() << name_ << ": unexpected late message " << describe(message);
        }
    }
}

std::vector<Message::Ptr> Group::drain_after_shutdown() {
    std::vector<Message::Ptr> rest;
    const Clock::time_point deadline = Clock::now() + kWait;
    while (!ended_ && Clock::now() < deadline) {
        if (Message::Ptr message = poll(kWait)) rest.push_back(std::move(message));
    }
    EXPECT_EQ(ended_.value_or(Status::success), Status::shutdown_started)
        << name_ << ": wait_receive must end with shutdown_started once the engine is gone";
    return rest;
}

int Group::closed_count(ChannelNumber channel) const {
    auto it = closed_.find(channel);
    return it == closed_.end() ? 0 : it->second.count;
}

std::optional<Status> Group::closed_cause(ChannelNumber channel) const {
    auto it = closed_.find(channel);
    if (it == closed_.end()) return std::nullopt;
    return it->second.cause;
}

void Group::expect_each_opened_closed_once() const {
    for (ChannelNumber channel : opened_) {
        EXPECT_EQ(closed_count(channel), 1)
            << name_ << ": channel " << channel << " was opened and must be closed exactly once";
    }
}

ChannelGroup Group::make_group(Engine& engine) {
    Result<ChannelGroup> group = engine.create_group();
    if (!group) throw Error(group.status(), "create_group failed");
    return std::move(group).value();
}

std::string Group::ended_note() const {
    return ended_ ? std::string(" (wait_receive ended: ") + std::string(to_string(*ended_)) + ")" : std::string();
}

void Group::observe(const Message& message) {
    const ChannelNumber channel = message.channel();
    if (is_closed_notification(message)) {
        Closed& record = closed_[channel];
        if (++record.count > 1) {
            ADD_FAILURE() << name_ << ": a second channel_closed for channel " << channel << ": " << describe(&message);
        }
        record.cause = cause_of(message).value_or(Status::unknown_error);
        EXPECT_TRUE(cause_of(message).has_value() || limit_of(message).has_value())
            << name_ << ": ~cause names neither a status nor a limit: " << describe(&message);
        return;
    }
    if (message.from_engine() && message.status() == Status::channel_closed && message.opcode() == OpCode::ByeSignal) {
        ADD_FAILURE() << name_ << ": channel_closed notification without ~cause: " << describe(&message);
    }
    if (is_pool_empty(message)) {
        ++pool_empty_;
        EXPECT_EQ(message.opcode(), OpCode::Signal) << name_ << ": pool_empty is a Signal";
        return;
    }
    if (message.from_engine() && message.status() == Status::receiver_update) return;
    if (closed_.count(channel) != 0) {
        ADD_FAILURE() << name_ << ": a message for channel " << channel
                      << " after its channel_closed: " << describe(&message);
    }
    if (!message.from_engine() &&
        (message.opcode() == OpCode::HelloRequest || message.opcode() == OpCode::HelloResponse)) {
        opened_.insert(channel);
    }
    if (message.from_engine() && message.opcode() == OpCode::WelcomeResponse && message.status() == Status::success) {
        opened_.insert(channel);
    }
}

std::vector<Message::Ptr> hold_until_pool_empty(Group& group, Message::Ptr* notice) {
    std::vector<Message::Ptr> held;
    while (group.pool_empty_count() == 0) {
        Message::Ptr message = group.receive();
        if (!message) break;
        if (!is_pool_empty(*message)) {
            held.push_back(std::move(message));
        } else if (notice != nullptr) {
            *notice = std::move(message);
        }
    }
    return held;
}

Listener listen(Group& group, const Address& where) {
    Message::Ptr welcome = get_message(group.engine());
    if (!welcome) return {};
    EXPECT_EQ(listen_on(*welcome, where), Status::success);
    const BinaryHeader posted = group.post_ok(welcome);
    if (posted.channel == unassigned_channel) return {};
    Message::Ptr response = group.next();
    if (!response) return {};
    EXPECT_EQ(response->opcode(), OpCode::WelcomeResponse) << describe(response);
    EXPECT_TRUE(response->from_engine()) << describe(response);
    EXPECT_EQ(response->status(), Status::success) << "listen on " << where.to_string() << ": " << describe(response);
    EXPECT_EQ(response->channel(), posted.channel) << describe(response);
    EXPECT_EQ(response->message_id(), posted.message_id) << describe(response);
    Result<Address> bound = address_of(*response);
    EXPECT_TRUE(bound.has_value()) << "WelcomeResponse without a parsable ~listen_on: " << bound.status();
    if (response->status() != Status::success || !bound) return {};
    return {posted.channel, bound.value()};
}

Link connect(Group& client, Group& server, const Address& to, std::string_view hello_body) {
    Message::Ptr hello = get_message(client.engine());
    if (!hello) return {};
    EXPECT_EQ(connect_to(*hello, to), Status::success);
    if (!hello_body.empty()) {
        EXPECT_EQ(hello->append_body(hello_body), Status::success);
    }
    const BinaryHeader posted = client.post_ok(hello);
    if (posted.channel == unassigned_channel) return {};
    EXPECT_NE(posted.message_id, 0u);

    Message::Ptr request = server.next();
    if (!request) return {};
    EXPECT_EQ(request->opcode(), OpCode::HelloRequest) << describe(request);
    EXPECT_FALSE(request->from_engine()) << describe(request);
    EXPECT_EQ(request->message_id(), posted.message_id) << describe(request);
    EXPECT_EQ(request->body_text(), hello_body) << describe(request);
    const ChannelNumber server_channel = request->channel();
    EXPECT_NE(server_channel, unassigned_channel);
    EXPECT_NE(server_channel, reserved_channel);
    if (request->opcode() != OpCode::HelloRequest) return {};
    request->reply(OpCode::HelloResponse);
    server.post_ok(request);

    Message::Ptr response = client.next();
    if (!response) return {};
    EXPECT_EQ(response->opcode(), OpCode::HelloResponse) << describe(response);
    EXPECT_FALSE(response->from_engine()) << describe(response);
    EXPECT_EQ(response->status(), Status::success) << describe(response);
    EXPECT_EQ(response->channel(), posted.channel) << describe(response);
    EXPECT_EQ(response->message_id(), posted.message_id) << describe(response);
    if (response->opcode() != OpCode::HelloResponse) return {};
    return {posted.channel, server_channel};
}

void round_trip(Group& from, ChannelNumber from_channel, Group& to, ChannelNumber to_channel, std::string_view text) {
    Message::Ptr request = make(from.engine(), OpCode::Request, from_channel, text);
    if (!request) return;
    const BinaryHeader posted = from.post_ok(request);
    // The request as `to` sees it, then the answer as `from` does: the same
    // id and text, each on its own side's channel.
    const auto expect_carried = [&](const Message::Ptr& got, OpCode op, ChannelNumber channel) {
        EXPECT_EQ(got->opcode(), op) << describe(got);
        EXPECT_EQ(got->channel(), channel) << describe(got);
        EXPECT_EQ(got->message_id(), posted.message_id) << describe(got);
        EXPECT_EQ(got->body_text(), text) << describe(got);
    };
    Message::Ptr got = to.next();
    ASSERT_TRUE(got);
    expect_carried(got, OpCode::Request, to_channel);
    got->reply(OpCode::Response);
    to.post_ok(got);
    Message::Ptr answer = from.next();
    ASSERT_TRUE(answer);
    expect_carried(answer, OpCode::Response, from_channel);
}

bool expect_bye_answered(Group& group, ChannelNumber channel) {
    Message::Ptr response = group.next();
    if (!response) return false;
    EXPECT_EQ(response->opcode(), OpCode::ByeResponse) << describe(response);
    group.expect_closed(channel, Status::success);
    return true;
}

void abort_and_expect_closed(Group& a, ChannelNumber a_channel, Group& b, ChannelNumber b_channel) {
    Message::Ptr abort = make(a.engine(), OpCode::ByeSignal, a_channel);
    a.post_ok(abort);
    a.expect_closed(a_channel, Status::channel_closed);
    b.expect_closed(b_channel, Status::peer_disconnected);
}

ServerAndClient::ServerAndClient(const Options& server_options, const Options& client_options, std::string server_name,
                                 std::string client_name)
    : server_engine(server_options), client_engine(client_options), server(server_engine, std::move(server_name)),
      client(client_engine, std::move(client_name)), listener(listen(server, tcp("127.0.0.1", 0))) {}

Link ServerAndClient::connect(std::string_view hello_body) {
    if (!listener) {
        ADD_FAILURE() << server.name() << ": no listener to connect to";
        return {};
    }
    return conformance::connect(client, server, listener.address, hello_body);
}

ServerAndClient::Ends ServerAndClient::ends(const Link& link, bool client_first) {
    const End client_end{client, link.client};
    const End server_end{server, link.server};
    return client_first ? Ends{client_end, server_end} : Ends{server_end, client_end};
}

void ServerAndClient::round_trip_from_client(const Link& link, std::string_view text) {
    round_trip(client, link.client, server, link.server, text);
}

void ServerAndClient::round_trip_from_server(const Link& link, std::string_view text) {
    round_trip(server, link.server, client, link.client, text);
}

void ServerAndClient::expect_quiet() {
    server.expect_quiet();
    client.expect_quiet();
}

} // namespace tofu::conformance
