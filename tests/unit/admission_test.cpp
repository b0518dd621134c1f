// Admission (src/reactor/admission.hpp) without sockets: per-listener caps
// name the oldest pending connection of that listener, the handshake budget
// names the oldest one holding part of it.
#include "reactor/admission.hpp"

#include <gtest/gtest.h>

#include <array>

namespace tofu::detail {
namespace {

Channel make(ChannelNumber number) {
    Channel channel;
    channel.number = number;
    channel.generation = number;
    return channel;
}

TEST(Admission, AtTheCapTheOldestPendingOfThatListenerMakesRoom) {
    Admission admission({1000, 10, 2});
    Channel listener_a = make(1);
    Channel listener_b = make(2);
    std::array<Channel, 4> pending{make(10), make(11), make(12), make(13)};
    admission.enter(pending[0], listener_a);
    admission.enter(pending[1], listener_b);
    EXPECT_EQ(admission.over_cap(listener_a), nullptr);
    admission.enter(pending[2], listener_a);
    EXPECT_EQ(listener_a.pending_count, 2u);
    EXPECT_EQ(admission.over_cap(listener_a), &pending[0]);
    EXPECT_EQ(admission.over_cap(listener_b), nullptr) << "another listener's connections do not count";

    admission.leave(pending[0], &listener_a);
    EXPECT_EQ(admission.over_cap(listener_a), nullptr);
    admission.enter(pending[3], listener_a);
    EXPECT_EQ(admission.over_cap(listener_a), &pending[2]);
    EXPECT_EQ(admission.size(), 3u);
    admission.leave(pending[2], nullptr);     // its listener is gone: nothing to count down
    admission.leave(pending[2], &listener_a); // twice: no effect
    EXPECT_EQ(admission.size(), 2u);
}

TEST(Admission, TheHandshakeBudgetNamesTheOldestHolder) {
    Admission admission({300, 2, 100});
    Channel listener = make(1);
    std::array<Channel, 3> pending{make(10), make(11), make(12)};
    for (Channel& channel : pending) admission.enter(channel, listener);
    EXPECT_TRUE(admission.fits(300));
    EXPECT_FALSE(admission.fits(301));
    admission.hold(pending[1], 200);
    EXPECT_EQ(admission.oldest_holding(), &pending[1]) << "pending[0] holds nothing";
    EXPECT_TRUE(admission.fits(100));
    EXPECT_FALSE(admission.fits(101));
    admission.hold(pending[2], 50);
    EXPECT_FALSE(admission.fits(1)) << "two messages is the budget";
    admission.release(pending[1]); // its hello was delivered
    EXPECT_EQ(admission.oldest_holding(), &pending[2]);
    EXPECT_TRUE(admission.fits(250));
    admission.leave(pending[2], &listener); // closed: what it held comes back
    EXPECT_TRUE(admission.fits(300));
    EXPECT_EQ(admission.oldest_holding(), nullptr);
}

} // namespace
} // namespace tofu::detail
