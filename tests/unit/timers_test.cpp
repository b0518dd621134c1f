// The reactor's deadline heap (src/reactor/timers.hpp), on a driven clock:
// expiry order, moving deadlines either way, removal, and a randomized
// comparison with a plain model.
#include "reactor/timers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

namespace tofu::detail {
namespace {

using namespace std::chrono_literals;

const Clock::time_point t0 = Clock::driven().now();

std::vector<Timers::Expiry> expire_all(Timers& timers, Clock::time_point now) {
    std::vector<Timers::Expiry> fired;
    while (auto expiry = timers.expire(now)) fired.push_back(*expiry);
    return fired;
}

// Exactly one deadline is due at `now`: the one of `token` for `kind`.
void expect_only(Timers& timers, Clock::time_point now, std::uint64_t token, Timeout kind) {
    const auto fired = expire_all(timers, now);
    ASSERT_EQ(fired.size(), 1u);
    EXPECT_EQ(fired[0].token, token);
    EXPECT_EQ(fired[0].kind, kind);
}

TEST(Timers, NothingQueuedMeansNever) {
    Timers timers;
    EXPECT_EQ(timers.next(), Clock::never());
    EXPECT_FALSE(timers.expire(t0 + 1000h));
}

TEST(Timers, ExpireInDeadlineOrderWithTheKindThatFired) {
    Timers timers;
    Timers::Slot a{.token = 1}, b{.token = 2}, c{.token = 3};
    timers.set(a, Timeout::frame, t0 + 30ms);
    timers.set(b, Timeout::connect, t0 + 10ms);
    timers.set(c, Timeout::handshake, t0 + 20ms);
    EXPECT_EQ(timers.next(), t0 + 10ms);
    EXPECT_TRUE(expire_all(timers, t0 + 9ms).empty());
    const auto fired = expire_all(timers, t0 + 25ms);
    ASSERT_EQ(fired.size(), 2u);
    EXPECT_EQ(fired[0].token, 2u);
    EXPECT_EQ(fired[0].kind, Timeout::connect);
    EXPECT_EQ(fired[1].token, 3u);
    EXPECT_EQ(fired[1].kind, Timeout::handshake);
    EXPECT_FALSE(b.armed(Timeout::connect)) << "a deadline is cleared as it fires";
    EXPECT_EQ(timers.next(), t0 + 30ms);
    EXPECT_EQ(timers.size(), 1u);
}

TEST(Timers, OneSlotHoldsSeveralKindsAndFiresEachInTurn) {
    Timers timers;
    Timers::Slot slot{.token = 9};
    timers.set(slot, Timeout::handshake, t0 + 50ms);
    timers.set(slot, Timeout::frame, t0 + 20ms);
    EXPECT_EQ(timers.size(), 1u);
    ASSERT_NO_FATAL_FAILURE(expect_only(timers, t0 + 20ms, 9, Timeout::frame));
    EXPECT_TRUE(slot.armed(Timeout::handshake));
    ASSERT_NO_FATAL_FAILURE(expect_only(timers, t0 + 60ms, 9, Timeout::handshake));
    EXPECT_EQ(timers.size(), 0u);
}

TEST(Timers, ALaterDeadlineComesUpEarlyAndIsRequeuedNotFired) {
    Timers timers;
    Timers::Slot slot{.token = 4};
    timers.set(slot, Timeout::frame, t0 + 10ms);
    timers.set(slot, Timeout::frame, t0 + 100ms); // moved later: a field write
    EXPECT_EQ(timers.next(), t0 + 10ms) << "the heap keeps the earlier key until it comes up";
    EXPECT_TRUE(expire_all(timers, t0 + 50ms).empty());
    EXPECT_EQ(timers.next(), t0 + 100ms);
    expect_only(timers, t0 + 100ms, 4, Timeout::frame);
}

TEST(Timers, AnEarlierDeadlineMovesTheSlotUp) {
    Timers timers;
    Timers::Slot a{.token = 1}, b{.token = 2};
    timers.set(a, Timeout::frame, t0 + 50ms);
    timers.set(b, Timeout::frame, t0 + 40ms);
    timers.set(a, Timeout::connect, t0 + 5ms);
    EXPECT_EQ(timers.next(), t0 + 5ms);
    expect_only(timers, t0 + 5ms, 1, Timeout::connect);
}

TEST(Timers, ClearedDeadlinesNeverFire) {
    Timers timers;
    Timers::Slot slot{.token = 5};
    timers.set(slot, Timeout::handshake, t0 + 10ms);
    timers.clear(slot, Timeout::handshake);
    EXPECT_TRUE(expire_all(timers, t0 + 1h).empty());
    EXPECT_EQ(timers.size(), 0u) << "a slot with nothing due leaves the heap when it comes up";
}

TEST(Timers, RemovedSlotsLeaveTheHeapAtOnce) {
    Timers timers;
    std::vector<Timers::Slot> slots(10);
    for (std::size_t i = 0; i < slots.size(); ++i) {
        slots[i].token = i;
        timers.set(slots[i], Timeout::frame, t0 + std::chrono::milliseconds(10 * (i + 1)));
    }
    for (std::size_t i : {0u, 4u, 9u, 5u}) timers.remove(slots[i]);
    EXPECT_EQ(timers.size(), 6u);
    const auto fired = expire_all(timers, t0 + 1h);
    std::vector<std::uint64_t> tokens;
    for (const auto& e : fired) tokens.push_back(e.token);
    EXPECT_EQ(tokens, (std::vector<std::uint64_t>{1, 2, 3, 6, 7, 8}));
}

// Random sets, clears, removals and expiries against a map of what is due.
TEST(Timers, AgreesWithAPlainModel) {
    std::mt19937_64 random(20261202);
    Timers timers;
    constexpr std::size_t channels = 64;
    std::vector<Timers::Slot> slots(channels);
    std::map<std::pair<std::size_t, int>, Clock::time_point> model; // (slot, kind) -> due
    for (std::size_t i = 0; i < channels; ++i) slots[i].token = i;
    Clock::time_point now = t0;
    for (int step = 0; step < 20000; ++step) {
        const std::size_t i = random() % channels;
        const auto kind = static_cast<Timeout>(random() % timeout_kinds);
        switch (random() % 6) {
        case 0:
        case 1:
        case 2: {
            const Clock::time_point due = now + std::chrono::milliseconds(random() % 100);
            timers.set(slots[i], kind, due);
            model[{i, static_cast<int>(kind)}] = due;
            break;
        }
        case 3:
            timers.clear(slots[i], kind);
            model.erase({i, static_cast<int>(kind)});
            break;
        case 4:
            timers.remove(slots[i]);
            for (int k = 0; k < static_cast<int>(timeout_kinds); ++k) {
                model.erase({i, k});
                timers.clear(slots[i], static_cast<Timeout>(k));
            }
            break;
        case 5: {
            now += std::chrono::milliseconds(random() % 20);
            std::vector<std::pair<std::size_t, int>> due_now;
            for (const auto& [key, due] : model) {
                if (due <= now) due_now.push_back(key);
            }
            std::vector<std::pair<std::size_t, int>> fired;
            Clock::time_point last = Clock::time_point::min();
            while (auto expiry = timers.expire(now)) {
                const std::pair<std::size_t, int> key{expiry->token, static_cast<int>(expiry->kind)};
                ASSERT_TRUE(model.count(key)) << "fired something not due";
                const Clock::time_point due = model[key];
                ASSERT_LE(due, now);
                ASSERT_LE(last, due) << "earliest first";
                last = due;
                fired.push_back(key);
                model.erase(key);
            }
            std::sort(fired.begin(), fired.end());
            ASSERT_EQ(fired, due_now) << "step " << step;
            break;
        }
        }
        if (timers.next() != Clock::never()) {
            Clock::time_point earliest = Clock::never();
            for (const auto& [key, due] : model) earliest = std::min(earliest, due);
            ASSERT_LE(timers.next(), earliest) << "the heap never wakes the reactor too late";
        } else {
            ASSERT_TRUE(model.empty());
        }
    }
}

TEST(Clock, DrivenClockStandsStillUntilAdvanced) {
    Clock clock = Clock::driven();
    const Clock::time_point start = clock.now();
    EXPECT_TRUE(clock.is_driven());
    EXPECT_EQ(clock.now(), start);
    clock.advance(1500ms);
    EXPECT_EQ(clock.now() - start, 1500ms);
    Clock real;
    EXPECT_FALSE(real.is_driven());
    const Clock::time_point before = real.now();
    EXPECT_LE(before, Clock().now());
}

} // namespace
} // namespace tofu::detail
