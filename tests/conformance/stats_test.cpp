// Engine::stats(), Engine::channel_stats() and ChannelGroup::stats() count
// what really happened: every frame each way, whole, on both engines.
#include "group.hpp"

namespace tofu::conformance {
namespace {

class Stats : public BackendTest {};

// Frame bytes of `message` as the wire carries it.
std::uint64_t frame_bytes(const Message& message) {
    return wire_header_size + message.raw_headers().size() + message.body().size();
}

TEST_P(Stats, EveryFrameIsCountedOnBothEnginesAndItsChannel) {
    Options counted;
    counted.channel_stats = true;
    ServerAndClient p(options(counted), options(counted));
    const Link link = p.connect();
    ASSERT_TRUE(link);
    constexpr std::uint64_t round_trips = 5;
    for (std::uint64_t i = 0; i < round_trips; ++i) p.round_trip_from_client(link, "ping " + std::to_string(i));

    // The hello exchange and the round trips: as many frames each way.
    constexpr std::uint64_t frames = 1 + round_trips;
    ASSERT_TRUE(wait_for_stats(
        p.server_engine,
        [&](const EngineStats& s) { return s.messages_received == frames && s.messages_sent == frames; }))
        << p.server_engine.stats().messages_received << " received, " << p.server_engine.stats().messages_sent
        << " sent";
    ASSERT_TRUE(wait_for_stats(p.client_engine, [&](const EngineStats& s) {
        return s.messages_received == frames && s.messages_sent == frames;
    }));
    const EngineStats server = p.server_engine.stats();
    const EngineStats client = p.client_engine.stats();
    EXPECT_EQ(server.bytes_received, client.bytes_sent) << "what one engine wrote, the other read";
    EXPECT_EQ(client.bytes_received, server.bytes_sent);
    EXPECT_GT(server.bytes_received, frames * wire_header_size) << "the hello carries headers and a body";
    EXPECT_EQ(server.connections_accepted, 1u);
    EXPECT_EQ(server.connections_made, 0u);
    EXPECT_EQ(client.connections_made, 1u);
    EXPECT_EQ(client.connections_accepted, 0u);

    // One channel each: its counters are the engine's.
    const std::optional<ChannelStats> server_channel = p.server_engine.channel_stats(link.server);
    const std::optional<ChannelStats> client_channel = p.client_engine.channel_stats(link.client);
    ASSERT_TRUE(server_channel && client_channel);
    EXPECT_EQ(server_channel->messages_received, server.messages_received);
    EXPECT_EQ(server_channel->bytes_received, server.bytes_received);
    EXPECT_EQ(server_channel->messages_sent, server.messages_sent);
    EXPECT_EQ(server_channel->bytes_sent, server.bytes_sent);
    EXPECT_EQ(client_channel->bytes_sent, server_channel->bytes_received);
    EXPECT_EQ(client_channel->bytes_received, server_channel->bytes_sent);

    // One more Signal of a known size moves the counters by exactly it.
    Message::Ptr signal = make(p.client_engine, OpCode::Signal, link.client, "counted");
    const std::uint64_t signal_bytes = frame_bytes(*signal);
    p.client.post_ok(signal);
    Message::Ptr arrived = p.server.next();
    ASSERT_TRUE(arrived) << "the signal did not arrive";
    EXPECT_EQ(frame_bytes(*arrived), signal_bytes);
    const std::optional<ChannelStats> after = p.server_engine.channel_stats(link.server);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->messages_received, server_channel->messages_received + 1);
    EXPECT_EQ(after->bytes_received, server_channel->bytes_received + signal_bytes);
    EXPECT_EQ(p.server_engine.stats().bytes_received, server.bytes_received + signal_bytes);
}

TEST_P(Stats, ChannelCountersAreKeptOnlyWhenAskedFor) {
    ServerAndClient p(options(), options());
    const Link link = p.connect();
    ASSERT_TRUE(link);
    EXPECT_FALSE(p.server_engine.channel_stats(link.server)) << "Options::channel_stats is off";
    EXPECT_GT(p.server_engine.stats().messages_received, 0u) << "the engine's own counters are always kept";

    Options counted;
    counted.channel_stats = true;
    Engine engine(options(counted));
    EXPECT_FALSE(engine.channel_stats(1)) << "no channel has that number";
}

TEST_P(Stats, PoolCountersAreInTheSnapshot) {
    Engine engine(options());
    Message::Ptr held = engine.get(Alloc::Always);
    ASSERT_TRUE(held);
    ASSERT_EQ(held->append_body(std::string(1000, 'x')), Status::success);
    const EngineStats stats = engine.stats();
    EXPECT_GE(stats.messages_in_use, 1u);
    EXPECT_GE(stats.messages_created, stats.messages_in_use);
    EXPECT_GE(stats.bytes_in_use, 1000u);
    EXPECT_GE(stats.peak_bytes, stats.bytes_in_use);
    held.reset();
    EXPECT_EQ(engine.stats().messages_in_use, stats.messages_in_use - 1);
}

TEST_P(Stats, GroupQueueDepthFollowsDeliveriesAndReceives) {
    Engine engine(options());
    Group group(engine, "group");
    for (int i = 0; i < 3; ++i) {
        Message::Ptr message = engine.get(Alloc::Always);
        ASSERT_TRUE(message);
        ASSERT_EQ(group.raw().update_receiver(std::move(message)), Status::success);
    }
    GroupStats stats = group.raw().stats();
    EXPECT_EQ(stats.delivered, 3u);
    EXPECT_EQ(stats.received, 0u);
    EXPECT_EQ(stats.queued, 3u);

    ASSERT_TRUE(group.next());
    stats = group.raw().stats();
    EXPECT_EQ(stats.received, 1u);
    EXPECT_EQ(stats.queued, 2u);
    ASSERT_TRUE(group.next());
    ASSERT_TRUE(group.next());
    EXPECT_EQ(group.raw().stats().queued, 0u);
    EXPECT_EQ(group.raw().stats().delivered, 3u);
}

TOFU_CONFORMANCE_INSTANTIATE(Stats);

} // namespace
} // namespace tofu::conformance
