// Readiness scenarios that break edge-triggered reactors (silent stalls) and
// spinning level-triggered ones (docs/design.md §3 and §7), with engine
// peers only, so they run on every platform. The raw-socket variants (exact
// writes, FIN/RST, CPU measurements) are in readiness_posix_test.cpp.
#include "harness.hpp"

#ifdef __linux__
#include <filesystem>
#endif

namespace tofu::conformance {
namespace {

class Readiness : public BackendTest {};

Shape block_shape(std::uint32_t, std::uint64_t) { return {0, 64000}; }

// (a) Zero-window stall. The receiver's application holds every message, so
// the receiver stops reading; the sender fills every buffer on the way until
// its socket would block (32 MB cannot fit); two seconds of total silence;
// then memory comes back one message at a time. No new edge will ever come
// from the kernel for data that is already queued: resuming must find it.
TEST_P(Readiness, ZeroWindowStallResumesAfterSilence) {
    ServerAndClient p(whole_pool({.max_messages = 8}), options(), "receiver", "sender");
    const Link link = p.connect();
    ASSERT_TRUE(link);

    const std::size_t count = 512;
    ASSERT_TRUE(send_stream(p.client_engine, p.client, link.client, 0, 0, count, block_shape));
    std::vector<Message::Ptr> held = hold_until_pool_empty(p.server);
    ASSERT_GT(p.server.pool_empty_count(), 0u) << "the stream stopped before the pool ran dry";
    std::this_thread::sleep_for(2s); // the scenario: a long stall, nothing moves
    EXPECT_FALSE(p.server.poll(0ms)) << "nothing may arrive while the pool is exhausted";

    ASSERT_TRUE(give_back_one_at_a_time(p.server, held, block_shape, count, ReturnFrom::this_thread));
    p.server.expect_quiet();
}

// (b) Budget cut with no further data: a tiny per-iteration I/O budget on
// both sides and one burst well past it, then nothing. A reactor that waits
// for the kernel to report the rest again (edge-triggered without a ready
// list) never delivers it.
TEST_P(Readiness, BudgetCutBurstThenSilenceIsFullyDelivered) {
    Options small_budget;
    small_budget.io_budget_bytes = 4096;
    ServerAndClient p(options(small_budget), options(small_budget), "receiver", "sender");
    const Link link = p.connect();
    ASSERT_TRUE(link);

    // Burst 1: three budgets' worth in twelve messages of ~1 KiB.
    // Burst 2: three maximum-size messages, each many budgets long.
    const ShapeFn shapes[] = {[](std::uint32_t, std::uint64_t) { return Shape{0, 1000}; }, max_shape};
    const std::size_t counts[] = {12, 3};
    for (std::uint32_t burst = 0; burst < 2; ++burst) {
        SCOPED_TRACE("burst " + std::to_string(burst));
        ASSERT_TRUE(send_stream(p.client_engine, p.client, link.client, 0, 0, counts[burst], shapes[burst]));
        StreamChecker checker(1, shapes[burst]);
        while (checker.total() < counts[burst] && checker.failures() == 0) {
            Message::Ptr next = p.server.next();
            ASSERT_TRUE(next) << "only " << checker.total() << " of " << counts[burst] << " arrived";
            checker.accept(*next);
        }
    }
    p.expect_quiet();
}

#ifdef __linux__
std::size_t open_descriptors() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}
#endif

// (c) Interest toggle storm: a receiver pool of the minimum size (one
// message for inbound data), every message returned at once, ten seconds of
// streaming: read interest goes off and on for every message. No loss, no
// descriptor leak, pool memory flat.
TEST_P(Readiness, InterestToggleStormLosesNothingAndLeaksNothing) {
    const auto duration = std::chrono::milliseconds(scaled(10000, 500, "toggle storm milliseconds"));
    Options receiver_options;
    receiver_options.max_messages = 2;                  // 1 for data, 1 in reserve
    receiver_options.memory_limit = 2 * max_frame_size; // the minimum
    receiver_options.initial_messages = 0;
    ServerAndClient p(whole_pool(receiver_options), options(), "receiver", "sender");
    const Link link = p.connect();
    ASSERT_TRUE(link);

#ifdef __linux__
    const std::size_t descriptors = open_descriptors();
#endif
    std::atomic<std::uint64_t> sent{0};
    std::thread streamer([&] {
        const Clock::time_point end = Clock::now() + duration;
        std::uint64_t seq = 0;
        while (Clock::now() < end) {
            if (!send_stream(p.client_engine, p.client, link.client, 0, seq, 64, mixed_shape)) return;
            seq += 64;
        }
        sent = seq;
        Message::Ptr bye = get_blocking(p.client_engine, Clock::now() + kWait);
        ASSERT_TRUE(bye);
        bye->set_opcode(OpCode::ByeRequest);
        bye->set_channel(link.client);
        p.client.post_ok(bye);
    });

    StreamChecker checker(1, mixed_shape);
    std::uint64_t peak_in_use = 0;
    bool done = false;
    while (!done && checker.failures() == 0) {
        Message::Ptr message = p.server.next();
        if (!message) break;
        peak_in_use = std::max(peak_in_use, p.server_engine.stats().messages_in_use);
        if (message->opcode() == OpCode::ByeRequest) {
            message->reply(OpCode::ByeResponse);
            p.server.post_ok(message);
            continue;
        }
        if (is_closed_notification(*message)) {
            EXPECT_EQ(cause_of(*message), Status::success);
            done = true;
            continue;
        }
        checker.accept(*message);
#ifdef __linux__
        if (checker.total() % 2000 == 0) {
            EXPECT_EQ(open_descriptors(), descriptors) << "descriptors must stay flat";
        }
#endif
    }
    streamer.join();
    EXPECT_TRUE(done);
    EXPECT_EQ(checker.total(), sent.load());
    EXPECT_GT(p.server.pool_empty_count(), 0u);
    EXPECT_LE(peak_in_use, receiver_options.max_messages);
    EXPECT_LE(p.server_engine.stats().peak_bytes, receiver_options.memory_limit);
    EXPECT_LE(p.server_engine.stats().messages_created, receiver_options.max_messages);
    std::cout << "[  storm   ] " << checker.total() << " messages, " << p.server.pool_empty_count()
              << " pool_empty episodes" << std::endl;
    ASSERT_TRUE(expect_bye_answered(p.client, link.client));
    p.server.expect_quiet();
#ifdef __linux__
    EXPECT_EQ(open_descriptors(), descriptors - 2) << "both ends of the closed connection are gone, nothing else";
#endif
}

TOFU_CONFORMANCE_INSTANTIATE(Readiness);

} // namespace
} // namespace tofu::conformance
