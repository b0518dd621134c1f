// Invariant checks are on in the test builds, and a broken one stops the
// process saying which (src/common/invariant.hpp).
#include "common/invariant.hpp"
#include "poller/poller.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string_view>

#ifndef _WIN32
#include <unistd.h>
#endif

namespace tofu {
namespace {

#ifndef _WIN32
// The checks are compiled in only with TOFU_CHECK_INVARIANTS (every test
// preset sets it): without, there is nothing to test here; in CI that is a
// failure, since the suites are meant to run with the checks on.
bool invariants_compiled_in() {
#if defined(TOFU_CHECK_INVARIANTS) && TOFU_CHECK_INVARIANTS
    return true;
#else
    const char* ci = std::getenv("CI");
    EXPECT_FALSE(ci != nullptr && std::string_view(ci) == "true") << "CI builds must set TOFU_CHECK_INVARIANTS";
    return false;
#endif
}
#endif

TEST(Invariant, OnInTestBuildsAndStopsTheProcessSayingWhich) {
#ifdef _WIN32
    GTEST_SKIP() << "death tests fork; the Windows build runs under Wine";
#else
    if (!invariants_compiled_in()) GTEST_SKIP() << "built without TOFU_CHECK_INVARIANTS";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    const int channels = 2;
    EXPECT_DEATH(TOFU_INVARIANT(channels == 3), "invariant broken at .*invariant_test.cpp:[0-9]+: channels == 3");
    TOFU_INVARIANT(channels == 2); // a condition that holds costs nothing else
#endif
}

// The poll backend's slot bookkeeping: a descriptor registered twice would
// leave two entries for one socket in the pollfd array.
TEST(Invariant, PollBackendRefusesADescriptorRegisteredTwice) {
#ifdef _WIN32
    GTEST_SKIP() << "no poll backend on Windows";
#else
    if (!invariants_compiled_in()) GTEST_SKIP() << "built without TOFU_CHECK_INVARIANTS";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    int pipe_ends[2];
    ASSERT_EQ(::pipe(pipe_ends), 0);
    Result<std::unique_ptr<poller::Poller>> made = poller::make_poller(Backend::poll);
    ASSERT_TRUE(made.has_value()) << made.status();
    poller::Poller& poll = *made.value();
    ASSERT_EQ(poll.add(pipe_ends[0], 1, {.read = true}), Status::success);
    EXPECT_DEATH((void)poll.add(pipe_ends[0], 2, {.read = true}), "invariant broken .*!slot.in_use");
    poll.remove(pipe_ends[0], 1);
    EXPECT_EQ(poll.add(pipe_ends[0], 3, {.read = true}), Status::success) << "removed, it may come back";
    poll.remove(pipe_ends[0], 3);
    ::close(pipe_ends[0]);
    ::close(pipe_ends[1]);
#endif
}

} // namespace
} // namespace tofu
