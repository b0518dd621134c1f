// Backpressure, never loss (protocol §1): a receiver whose pool runs dry stops
// reading, tells its group once per episode (pool_empty), and resumes when
// the application returns memory, from any thread, with no byte lost and no
// new traffic needed to wake it.
#include "harness.hpp"

#include <condition_variable>
#include <deque>

namespace tofu::conformance {
namespace {

class Backpressure : public BackendTest {};

// A hand-off queue: the receiving thread pushes, the returner pops.
class Handoff {
public:
    void push(Message::Ptr message) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(message));
        }
        ready_.notify_one();
    }
    void close() {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        ready_.notify_one();
    }
    // Empty when closed and drained.
    Message::Ptr pop() {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return closed_ || !queue_.empty(); });
        if (queue_.empty()) return Message::Ptr();
        Message::Ptr message = std::move(queue_.front());
        queue_.pop_front();
        return message;
    }

private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<Message::Ptr> queue_;
    bool closed_ = false;
};

// 100,000 messages of random sizes (90% small, 10% large up to the maximum;
// about 1 GB) over three connections into a receiver with an 8-message,
// 4 MiB pool that takes them slowly and returns them one at a time from
// another thread: all arrive, in order per connection, byte-exact, and the
// receiver never holds more than its limits.
TEST_P(Backpressure, HundredThousandMessagesThroughAnEightMessagePool) {
    const std::size_t total = scaled(100000, 300, "messages streamed");
    constexpr std::uint32_t connections = 3;
    Options receiver_options;
    receiver_options.max_messages = 8;
    receiver_options.memory_limit = std::size_t{4} << 20;
    ServerAndClient p(options(receiver_options), options(), "receiver", "sender");
    ASSERT_TRUE(p.listener);
    Link links[connections];
    std::map<ChannelNumber, std::uint32_t> stream_of;
    std::uint64_t per_stream[connections];
    for (std::uint32_t k = 0; k < connections; ++k) {
        links[k] = p.connect();
        ASSERT_TRUE(links[k]);
        stream_of[links[k].server] = k;
        per_stream[k] = total / connections + (k == 0 ? total % connections : 0);
    }

    const Clock::time_point start = Clock::now();
    std::vector<std::thread> senders;
    for (std::uint32_t k = 0; k < connections; ++k) {
        senders.emplace_back([&, k] {
            if (!send_stream(p.client_engine, p.client, links[k].client, k, 0, per_stream[k], mixed_shape,
                             OpCode::Signal, std::chrono::seconds(120))) {
                return;
            }
            Message::Ptr bye = get_blocking(p.client_engine, Clock::now() + kWait);
            ASSERT_TRUE(bye);
            bye->set_opcode(OpCode::ByeRequest);
            bye->set_channel(links[k].client);
            p.client.post_ok(bye);
        });
    }

    // The returner: verifies, answers the byes, gives memory back one
    // message at a time, pausing now and then so the pool runs dry.
    StreamChecker checker(connections, mixed_shape);
    Handoff handoff;
    std::uint64_t max_in_use = 0;
    std::uint64_t max_bytes = 0;
    std::uint32_t byes = 0;
    std::thread returner([&] {
        std::uint64_t n = 0;
        while (Message::Ptr message = handoff.pop()) {
            max_in_use = std::max(max_in_use, p.server_engine.stats().messages_in_use);
            max_bytes = std::max(max_bytes, p.server_engine.stats().bytes_in_use);
            const auto stream = stream_of.find(message->channel());
            if (stream == stream_of.end()) {
                ADD_FAILURE() << "a message on an unknown channel: " << describe(message);
                continue;
            }
            if (message->opcode() == OpCode::ByeRequest) {
                const std::uint32_t k = stream->second;
                EXPECT_EQ(checker.received(k), per_stream[k]) << "the bye comes after every message of its connection";
                message->reply(OpCode::ByeResponse);
                p.server.post_ok(message);
                ++byes;
                continue;
            }
            EXPECT_EQ(stream->second, identity_of(*message).value_or(Identity{99, 0}).stream)
                << "a message arrived on another connection's channel";
            checker.accept(*message);
            message.reset();
            if (++n % 5000 == 0) std::this_thread::sleep_for(2ms); // the slow receiver
        }
    });

    std::set<ChannelNumber> closed;
    while (closed.size() < connections && checker.failures() == 0) {
        Message::Ptr message = p.server.next();
        if (!message) break;
        if (is_closed_notification(*message)) {
            EXPECT_EQ(cause_of(*message), Status::success) << describe(message);
            closed.insert(message->channel());
            continue;
        }
        ASSERT_FALSE(message->from_engine()) << describe(message);
        handoff.push(std::move(message));
    }
    handoff.close();
    returner.join();
    for (auto& t : senders) t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

    for (std::uint32_t k = 0; k < connections; ++k) {
        EXPECT_EQ(checker.received(k), per_stream[k]) << "connection " << k;
    }
    EXPECT_EQ(byes, connections);
    EXPECT_EQ(checker.failures(), 0u);
    EXPECT_GT(p.server.pool_empty_count(), 0u) << "an 8-message pool under this load must run dry";
    const EngineStats pool = p.server_engine.stats();
    EXPECT_LE(pool.peak_bytes, receiver_options.memory_limit);
    EXPECT_LE(max_bytes, receiver_options.memory_limit);
    EXPECT_LE(max_in_use, receiver_options.max_messages);
    EXPECT_LE(pool.messages_created, receiver_options.max_messages);
    std::cout << "[  stream  ] " << checker.total() << " messages in " << seconds << " s, "
              << p.server.pool_empty_count() << " pool_empty episodes, receiver peak " << pool.peak_bytes << " bytes"
              << std::endl;

    // The senders' side of the byes.
    std::set<ChannelNumber> sender_closed;
    while (sender_closed.size() < connections) {
        Message::Ptr message = p.client.next();
        ASSERT_TRUE(message);
        if (is_closed_notification(*message)) {
            EXPECT_EQ(cause_of(*message), Status::success);
            sender_closed.insert(message->channel());
        } else {
            EXPECT_EQ(message->opcode(), OpCode::ByeResponse) << describe(message);
        }
    }
    p.expect_quiet();
}

// The pool runs out at a message boundary (no message object for the next
// frame): one pool_empty, nothing else while the application holds
// everything; then, with no new traffic at all, each returned message lets
// the next one in, until every message arrived.
TEST_P(Backpressure, ExhaustionAtMessageBoundaryResumesOnReturnAlone) {
    Options receiver_options;
    receiver_options.max_messages = 8; // 1 in reserve: the application can hold 7
    ServerAndClient p(whole_pool(receiver_options), options(), "receiver", "sender");
    const Link link = p.connect();
    ASSERT_TRUE(link);

    const std::size_t count = 3000; // ~1 MB: most of it waits in the kernel
    ASSERT_TRUE(send_stream(p.client_engine, p.client, link.client, 0, 0, count, small_shape));

    Message::Ptr notice;
    std::vector<Message::Ptr> held = hold_until_pool_empty(p.server, &notice);
    ASSERT_TRUE(notice);
    EXPECT_EQ(notice->opcode(), OpCode::Signal);
    EXPECT_TRUE(notice->from_engine());
    EXPECT_EQ(notice->status(), Status::pool_empty);
    EXPECT_EQ(held.size(), receiver_options.max_messages - 1) << "the reserve is kept for notifications";
    notice.reset();
    // Still exhausted: no data and no second pool_empty in this episode.
    EXPECT_FALSE(p.server.poll(300ms)) << "nothing may arrive while the application holds every message";
    EXPECT_EQ(p.server.pool_empty_count(), 1u);
    EngineStats paused = p.server_engine.stats();
    EXPECT_EQ(paused.channels_paused, 1u);
    EXPECT_EQ(paused.pause_episodes, 1u);
    EXPECT_TRUE(wait_for_stats(p.server_engine, [](const EngineStats& s) { return s.paused_time.count() > 0; }))
        << "the running episode counts its time";

    ASSERT_TRUE(give_back_one_at_a_time(p.server, held, small_shape, count, ReturnFrom::another_thread));
    p.server.expect_quiet();
    const EngineStats resumed = p.server_engine.stats();
    EXPECT_EQ(resumed.channels_paused, 0u);
    EXPECT_GE(resumed.pause_episodes, 1u);
    EXPECT_GE(resumed.paused_time, paused.paused_time);
    EXPECT_EQ(p.server_engine.stats().paused_time, resumed.paused_time) << "no episode runs: the time stands still";
}

// The pool runs out exactly when a bare frame (16 bytes: no text headers, no
// body, like every ByeRequest) has been read: nothing of it is left to read,
// nothing else will come. Returning memory must still deliver it.
TEST_P(Backpressure, BareFrameReadWhilePoolIsEmptyIsDeliveredOnReturn) {
    Options receiver_options;
    receiver_options.max_messages = 8; // the application can hold 7
    ServerAndClient p(whole_pool(receiver_options), options(), "receiver", "sender");
    const Link link = p.connect();
    ASSERT_TRUE(link);

    for (OpCode op : {OpCode::Signal, OpCode::ByeRequest}) {
        SCOPED_TRACE(std::string("bare ") + std::string(to_string(op)));
        // Fill the application's share of the pool; the channel is not
        // parked yet (it has not needed an eighth message).
        std::vector<Message::Ptr> held;
        ASSERT_TRUE(
            send_stream(p.client_engine, p.client, link.client, 0, 0, receiver_options.max_messages - 1, small_shape));
        while (held.size() < receiver_options.max_messages - 1) {
            Message::Ptr message = p.server.next();
            ASSERT_TRUE(message);
            held.push_back(std::move(message));
        }
        // One bare frame: read in full, then no message to put it in.
        const std::size_t episodes = p.server.pool_empty_count();
        Message::Ptr bare = make(p.client_engine, op, link.client, "", 4711);
        p.client.post_ok(bare);
        Message::Ptr notice = p.server.receive();
        ASSERT_TRUE(notice);
        ASSERT_TRUE(is_pool_empty(*notice)) << describe(notice);
        EXPECT_EQ(p.server.pool_empty_count(), episodes + 1);
        notice.reset();

        std::thread([&] { held.front().reset(); }).join(); // one message back, no new traffic
        Message::Ptr got = p.server.next();
        ASSERT_TRUE(got) << "a bare " << to_string(op)
                         << " read while the pool was empty is never delivered (decoder left waiting for bytes)";
        EXPECT_EQ(got->opcode(), op);
        EXPECT_EQ(got->message_id(), 4711u);
        EXPECT_TRUE(got->body().empty() && got->raw_headers().empty());
        held.clear();
        if (op == OpCode::ByeRequest) {
            got->reply(OpCode::ByeResponse);
            p.server.post_ok(got);
            p.server.expect_closed(link.server, Status::success);
            ASSERT_TRUE(expect_bye_answered(p.client, link.client));
        }
    }
    p.expect_quiet();
}

// The pool runs out in the middle of a message: a maximum-size frame whose
// buffers cannot be reserved under the memory limit. It parks half-read;
// each returned message lets exactly the next one complete.
TEST_P(Backpressure, ExhaustionInTheMiddleOfAMessageResumesOnReturnAlone) {
    Options receiver_options;
    receiver_options.max_messages = 64;
    receiver_options.memory_limit = 2 * max_frame_size; // the minimum: one big message fits, not two
    ServerAndClient p(whole_pool(receiver_options), options(), "receiver", "sender");
    const Link link = p.connect();
    ASSERT_TRUE(link);

    constexpr std::size_t count = 4;
    ASSERT_TRUE(send_stream(p.client_engine, p.client, link.client, 0, 0, count, max_shape));
    StreamChecker checker(1, max_shape);
    Message::Ptr held = p.server.next();
    ASSERT_TRUE(held);
    checker.accept(*held);
    for (std::size_t i = 1; i < count; ++i) {
        // The next frame cannot get its buffers: one pool_empty, then silence.
        const std::size_t episodes = p.server.pool_empty_count();
        Message::Ptr message = p.server.receive();
        ASSERT_TRUE(message);
        ASSERT_TRUE(is_pool_empty(*message)) << "expected pool_empty, got " << describe(message);
        EXPECT_EQ(p.server.pool_empty_count(), episodes + 1);
        message.reset();
        EXPECT_FALSE(p.server.poll(200ms)) << "a second big message cannot fit under the limit";
        EXPECT_LE(p.server_engine.stats().bytes_in_use, receiver_options.memory_limit);

        std::thread([&] { held.reset(); }).join(); // memory back, from another thread
        held = p.server.next();
        ASSERT_TRUE(held) << "message " << i << " must complete once memory is back";
        checker.accept(*held);
    }
    EXPECT_EQ(checker.total(), count);
    EXPECT_LE(p.server_engine.stats().peak_bytes, receiver_options.memory_limit);
    held.reset();
    p.server.expect_quiet();
}

// The memory limit must hold two maximum frames; the message limit must
// leave room beside the reserve.
TEST_P(Backpressure, EngineRefusesPoolsTooSmallForOneMaximumMessage) {
    Options too_little;
    too_little.memory_limit = 2 * max_frame_size - 1;
    EXPECT_EQ(Engine::create(options(too_little)).status(), Status::not_allowed);
    Options just_enough;
    just_enough.memory_limit = 2 * max_frame_size;
    just_enough.max_messages = 2;
    Result<Engine> engine = Engine::create(options(just_enough));
    ASSERT_TRUE(engine.has_value()) << engine.status();
    Options one_message;
    one_message.max_messages = 1;
    EXPECT_EQ(Engine::create(options(one_message)).status(), Status::not_allowed);
}

// The engine keeps clamp(max_messages / 8, 1, 16) messages for its own
// notifications: an application that takes every message it can get still
// learns that a channel closed.
TEST_P(Backpressure, ReserveKeepsNotificationsFlowing) {
    Options small;
    small.max_messages = 64; // reserve 8: the application can hold 56
    ServerAndClient p(options(small), options(), "greedy", "peer");
    ASSERT_TRUE(p.listener);
    const Link first = p.connect();
    const Link second = p.connect();
    ASSERT_TRUE(first);
    ASSERT_TRUE(second);
    p.round_trip_from_client(first, "settle");
    p.round_trip_from_client(second, "settle");

    std::vector<Message::Ptr> hoard;
    while (Message::Ptr message = p.server_engine.get(Alloc::Always)) hoard.push_back(std::move(message));
    // At most max_messages minus the notification reserve (the engine may
    // keep more back, e.g. for inbound data), and a fair share of it.
    EXPECT_LE(hoard.size(), small.max_messages - small.max_messages / 8);
    EXPECT_GE(hoard.size(), small.max_messages / 2);
    EXPECT_FALSE(p.server_engine.get(Alloc::PoolOnly));

    // The peer goes away: the notification comes out of the reserve.
    Message::Ptr abort = make(p.client_engine, OpCode::ByeSignal, first.client);
    p.client.post_ok(abort);
    p.client.expect_closed(first.client, Status::channel_closed);
    p.server.expect_closed(first.server, Status::peer_disconnected);
    // Our own abort, carried by a hoarded message, is notified as well.
    Message::Ptr own = std::move(hoard.back());
    hoard.pop_back();
    own->set_opcode(OpCode::ByeSignal);
    own->set_channel(second.server);
    p.server.post_ok(own);
    p.server.expect_closed(second.server, Status::channel_closed);
    p.client.expect_closed(second.client, Status::peer_disconnected);
    hoard.clear();
    p.expect_quiet();
}

TOFU_CONFORMANCE_INSTANTIATE(Backpressure);

} // namespace
} // namespace tofu::conformance
