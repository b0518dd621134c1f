// The pause accounting of the engine counters, on explicit time points.
#include "engine/stats.hpp"

#include <gtest/gtest.h>

namespace tofu::detail {
namespace {

using namespace std::chrono_literals;

const Clock::time_point start = Clock::time_point(1h);

TEST(StatsCounters, APauseEpisodeRunsFromTheFirstPausedChannelToTheLastResumed) {
    StatsCounters counters(false);
    EXPECT_EQ(counters.snapshot(start).pause_episodes, 0u);
    counters.set_paused(1, start);
    counters.set_paused(2, start + 2ms); // a second channel joins the same episode
    EngineStats stats = counters.snapshot(start + 5ms);
    EXPECT_EQ(stats.pause_episodes, 1u);
    EXPECT_EQ(stats.channels_paused, 2u);
    EXPECT_EQ(stats.paused_time, 5ms) << "a running episode counts up to now";

    counters.set_paused(1, start + 6ms);
    counters.set_paused(0, start + 7ms);
    stats = counters.snapshot(start + 100ms);
    EXPECT_EQ(stats.channels_paused, 0u);
    EXPECT_EQ(stats.paused_time, 7ms) << "an ended episode stops counting";

    counters.set_paused(1, start + 200ms);
    counters.set_paused(0, start + 203ms);
    stats = counters.snapshot(start + 300ms);
    EXPECT_EQ(stats.pause_episodes, 2u);
    EXPECT_EQ(stats.paused_time, 10ms);
}

TEST(StatsCounters, TrafficIsCountedPerEngineAndPerChannelWhenAskedFor) {
    StatsCounters counters(true);
    counters.opened(7);
    counters.received(7, 100);
    counters.received(7, 20);
    counters.sent(7, 16);
    counters.received(8, 1);
    const std::optional<ChannelStats> channel = counters.channel(7);
    ASSERT_TRUE(channel);
    EXPECT_EQ(channel->messages_received, 2u);
    EXPECT_EQ(channel->bytes_received, 120u);
    EXPECT_EQ(channel->messages_sent, 1u);
    EXPECT_EQ(channel->bytes_sent, 16u);
    const EngineStats stats = counters.snapshot(start);
    EXPECT_EQ(stats.messages_received, 3u);
    EXPECT_EQ(stats.bytes_received, 121u);

    counters.opened(7); // the number is reused by a new channel
    EXPECT_EQ(counters.channel(7)->messages_received, 0u);
    EXPECT_EQ(counters.snapshot(start).messages_received, 3u) << "the engine's totals stay";

    EXPECT_FALSE(StatsCounters(false).channel(7)) << "no per-channel table unless asked for";
}

} // namespace
} // namespace tofu::detail
