// Messages after the handshake: `more` streams, per-channel FIFO order,
// maximum-size messages byte for byte, update_receiver from many threads in
// the middle of network traffic, several groups on one engine, two engines
// in one process.
#include "harness.hpp"

namespace tofu::conformance {
namespace {

class Messaging : public BackendTest {};

// A `more` stream: one message id, the flag on every message but the last,
// in order, both ways.
TEST_P(Messaging, MoreStreamsKeepIdFlagAndOrder) {
    ServerAndClient p(options(), options());
    const Link link = p.connect();
    ASSERT_TRUE(link);
    for (OpCode op : {OpCode::Request, OpCode::Signal}) {
        const std::uint64_t id = op == OpCode::Request ? 900 : 901;
        constexpr int parts = 10;
        for (int i = 0; i < parts; ++i) {
            Message::Ptr part = make(p.client_engine, op, link.client, "part " + std::to_string(i), id, i + 1 < parts);
            EXPECT_EQ(p.client.post_ok(part).message_id, id);
        }
        for (int i = 0; i < parts; ++i) {
            Message::Ptr got = p.server.next();
            ASSERT_TRUE(got);
            EXPECT_EQ(got->opcode(), op) << describe(got);
            EXPECT_EQ(got->message_id(), id);
            EXPECT_EQ(got->more(), i + 1 < parts) << "part " << i;
            EXPECT_EQ(got->body_text(), "part " + std::to_string(i));
            if (op == OpCode::Request && i + 1 == parts) {
                // Answer with a Response stream on the same id.
                for (int r = 0; r < 4; ++r) {
                    Message::Ptr answer =
                        make(p.server_engine, OpCode::Response, link.server, "answer " + std::to_string(r), id, r < 3);
                    p.server.post_ok(answer);
                }
            }
        }
    }
    for (int r = 0; r < 4; ++r) {
        Message::Ptr got = p.client.next();
        ASSERT_TRUE(got);
        EXPECT_EQ(got->opcode(), OpCode::Response) << describe(got);
        EXPECT_EQ(got->message_id(), 900u);
        EXPECT_EQ(got->more(), r < 3);
        EXPECT_EQ(got->body_text(), "answer " + std::to_string(r));
    }
    p.expect_quiet();
}

// Three connections, interleaved posts from three threads: each connection's
// messages arrive in the order they were posted, every byte intact.
TEST_P(Messaging, PerChannelFifoOrderAcrossConnections) {
    ServerAndClient p(options(), options());
    const Link links[3] = {p.connect(), p.connect(), p.connect()};
    for (const Link& link : links) {
        ASSERT_TRUE(link);
    }
    const std::size_t per_link = scaled(3000, 100, "messages per connection");

    std::vector<std::thread> senders;
    for (std::uint32_t k = 0; k < 3; ++k) {
        senders.emplace_back([&, k] {
            send_stream(p.client_engine, p.client, links[k].client, k, 0, per_link, mixed_shape, OpCode::Request);
        });
    }
    StreamChecker checker(3, mixed_shape);
    std::map<ChannelNumber, std::uint32_t> stream_of{{links[0].server, 0}, {links[1].server, 1}, {links[2].server, 2}};
    for (std::size_t i = 0; i < 3 * per_link && checker.failures() == 0; ++i) {
        Message::Ptr got = p.server.next();
        if (!got) break;
        const auto id = identity_of(*got);
        ASSERT_TRUE(id) << describe(got);
        EXPECT_EQ(stream_of[got->channel()], id->stream) << "a message arrived on another connection's channel";
        EXPECT_EQ(got->message_id(), id->seq + 1);
        checker.accept(*got);
    }
    for (auto& t : senders) t.join();
    for (std::uint32_t k = 0; k < 3; ++k) {
        EXPECT_EQ(checker.received(k), per_link) << "connection " << k;
    }
    p.server.expect_quiet();
}

// 65,535 bytes of text headers and 65,535 bytes of body, both ways, exact.
TEST_P(Messaging, MaximumSizeMessagesBothWaysByteExact) {
    ServerAndClient p(options(), options());
    const Link link = p.connect();
    ASSERT_TRUE(link);
    for (int round = 0; round < 3; ++round) {
        for (bool from_client : {true, false}) {
            Group& from = from_client ? p.client : p.server;
            Group& to = from_client ? p.server : p.client;
            const ChannelNumber channel = from_client ? link.client : link.server;
            const auto stream = static_cast<std::uint32_t>(from_client ? 1 : 2);
            Message::Ptr big = get_message(from.engine());
            ASSERT_TRUE(big);
            ASSERT_EQ(fill(*big, stream, static_cast<std::uint64_t>(round), max_shape(stream, 0)), Status::success);
            ASSERT_EQ(big->raw_headers().size(), max_headers_size);
            ASSERT_EQ(big->body().size(), max_body_size);
            big->set_opcode(round == 1 ? OpCode::Signal : OpCode::Request);
            big->set_channel(channel);
            const BinaryHeader posted = from.post_ok(big);
            Message::Ptr got = to.next();
            ASSERT_TRUE(got);
            EXPECT_EQ(got->message_id(), posted.message_id);
            EXPECT_EQ(got->raw_headers().size(), max_headers_size);
            EXPECT_EQ(got->body().size(), max_body_size);
            EXPECT_EQ(check_payload(*got, Identity{stream, static_cast<std::uint64_t>(round)}, max_shape(stream, 0)),
                      "");
        }
    }
    p.expect_quiet();
}

// update_receiver from 8 threads while a peer streams into the same group:
// every update with a message arrives (status receiver_update, from the
// engine), each thread's in its own order, and the network stream stays in
// order too. Bare wake-ups coalesce: at least one arrives, never more than
// were asked for, and none is refused (they do not take pool memory).
TEST_P(Messaging, UpdateReceiverFromEightThreadsAmidNetworkTraffic) {
    ServerAndClient p(options(), options());
    const Link link = p.connect();
    ASSERT_TRUE(link);
    constexpr std::uint32_t threads = 8;
    const std::size_t updates = scaled(2000, 50, "updates per thread");
    const std::size_t network = scaled(5000, 100, "network messages");
    constexpr std::size_t wakeup_every = 10; // every tenth update is a bare wake-up

    std::atomic<bool> go{false};
    std::vector<std::thread> workers;
    std::vector<std::size_t> wakeups_sent(threads + 1, 0);
    for (std::uint32_t t = 1; t <= threads; ++t) {
        workers.emplace_back([&, t] {
            while (!go.load()) std::this_thread::yield();
            std::uint64_t seq = 0;
            for (std::size_t i = 0; i < updates; ++i) {
                if (i % wakeup_every == wakeup_every - 1) {
                    EXPECT_EQ(p.server.raw().update_receiver(Message::Ptr()), Status::success);
                    ++wakeups_sent[t];
                    continue;
                }
                Message::Ptr update =
                    build_blocking(p.server_engine, t, seq, small_shape(t, seq), Clock::now() + kWait);
                ASSERT_TRUE(update) << "thread " << t;
                update->set_opcode(OpCode::Signal);
                ++seq;
                EXPECT_EQ(p.server.raw().update_receiver(std::move(update)), Status::success);
            }
        });
    }
    std::thread sender([&] {
        while (!go.load()) std::this_thread::yield();
        send_stream(p.client_engine, p.client, link.client, 0, 0, network, small_shape);
    });
    go = true;

    StreamChecker checker(threads + 1, small_shape);
    std::size_t wakeups = 0;
    const std::size_t payloads = network + threads * (updates - updates / wakeup_every);
    const auto is_wakeup = [](const Message& message) {
        return message.from_engine() && message.status() == Status::receiver_update && !message.find_header("t");
    };
    while (checker.total() < payloads && checker.failures() == 0) {
        Message::Ptr got = p.server.next();
        if (!got) break;
        if (got->from_engine()) {
            ASSERT_EQ(got->status(), Status::receiver_update) << describe(got);
            if (is_wakeup(*got)) {
                EXPECT_EQ(got->opcode(), OpCode::Signal) << "a bare wake-up is a Signal";
                ++wakeups;
                continue;
            }
            const auto id = identity_of(*got);
            EXPECT_TRUE(id && id->stream != 0) << describe(got);
        } else {
            EXPECT_EQ(got->channel(), link.server);
            const auto id = identity_of(*got);
            EXPECT_TRUE(id && id->stream == 0) << describe(got);
        }
        checker.accept(*got);
    }
    for (auto& w : workers) w.join();
    sender.join();
    // A wake-up may still be queued; then nothing more.
    while (Message::Ptr got = p.server.poll(kQuiet)) {
        EXPECT_TRUE(is_wakeup(*got)) << describe(got);
        ++wakeups;
    }
    std::size_t asked = 0;
    for (std::size_t n : wakeups_sent) asked += n;
    EXPECT_EQ(checker.received(0), network);
    for (std::uint32_t t = 1; t <= threads; ++t) {
        EXPECT_EQ(checker.received(t), updates - updates / wakeup_every);
    }
    EXPECT_GE(wakeups, 1u);
    EXPECT_LE(wakeups, asked);
    std::cout << "[ wake-ups ] " << asked << " asked for, " << wakeups << " delivered" << std::endl;
}

// An update with a message keeps its content; an empty one is a Signal; both
// say receiver_update and come from the engine, in FIFO order. Bare wake-ups
// coalesce while one is queued, and take nothing from the engine's pool.
TEST_P(Messaging, UpdateReceiverWithMessageAndBareWakeup) {
    Engine engine(options());
    Group group(engine, "g");
    Message::Ptr update = make(engine, OpCode::Request, 0, "from another thread", 31);
    ASSERT_EQ(update->add_header("k", "v"), Status::success);
    EXPECT_EQ(group.raw().update_receiver(std::move(update)), Status::success);
    const std::size_t in_use = engine.stats().messages_in_use;
    EXPECT_EQ(group.raw().update_receiver(Message::Ptr()), Status::success);
    std::thread([&] { EXPECT_EQ(group.raw().update_receiver(Message::Ptr()), Status::success); }).join();
    EXPECT_EQ(engine.stats().messages_in_use, in_use) << "a bare wake-up takes no message from the engine's pool";

    Message::Ptr first = group.next();
    ASSERT_TRUE(first);
    EXPECT_TRUE(first->from_engine());
    EXPECT_EQ(first->status(), Status::receiver_update);
    EXPECT_EQ(first->opcode(), OpCode::Request);
    EXPECT_EQ(first->message_id(), 31u);
    EXPECT_EQ(first->body_text(), "from another thread");
    EXPECT_EQ(first->find_header("k").value_or(""), "v");
    Message::Ptr wake = group.next();
    ASSERT_TRUE(wake);
    EXPECT_TRUE(wake->from_engine());
    EXPECT_EQ(wake->status(), Status::receiver_update);
    EXPECT_EQ(wake->opcode(), OpCode::Signal);
    group.expect_quiet(); // the second wake-up came while the first was queued

    // Once received, the next wake-up is queued again, even while the
    // application still holds the first one.
    EXPECT_EQ(group.raw().update_receiver(Message::Ptr()), Status::success);
    Message::Ptr again = group.next();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status(), Status::receiver_update);
    // A wake-up message is the group's, not the engine's: it cannot be posted.
    again->set_opcode(OpCode::Signal);
    again->set_channel(1);
    EXPECT_EQ(group.raw().post(again).status(), Status::invalid_message);
    group.expect_quiet();
}

// A zero timeout polls: nothing queued is an empty Ptr, not an error; a
// queued message comes back at once; once the engine is gone, the queue is
// drained first and then shutdown_started is the answer.
TEST_P(Messaging, WaitReceiveWithZeroTimeoutPolls) {
    std::optional<Engine> engine(std::in_place, options());
    Group group(*engine, "g");
    Result<Message::Ptr> nothing = group.raw().wait_receive(std::chrono::nanoseconds::zero());
    ASSERT_TRUE(nothing) << to_string(nothing.status());
    EXPECT_FALSE(*nothing);

    EXPECT_EQ(group.raw().update_receiver(Message::Ptr()), Status::success);
    std::thread([&] {
        EXPECT_EQ(group.raw().update_receiver(make(*engine, OpCode::Request, 0, "x", 7)), Status::success);
    }).join();
    Result<Message::Ptr> wake = group.raw().wait_receive(std::chrono::nanoseconds::zero());
    ASSERT_TRUE(wake && *wake);
    EXPECT_EQ((*wake)->opcode(), OpCode::Signal);

    engine.reset();
    Result<Message::Ptr> update = group.raw().wait_receive(std::chrono::nanoseconds::zero());
    ASSERT_TRUE(update && *update) << "queued before shutdown: still delivered";
    EXPECT_EQ((*update)->message_id(), 7u);
    group.drain_after_shutdown();
    EXPECT_EQ(group.raw().wait_receive(std::chrono::nanoseconds::zero()).status(), Status::shutdown_started);
}

// The engine's own notifications do not wait for bare wake-ups: with the
// application holding every message it can get, a burst of wake-ups still
// leaves the reserve to the channel_closed of a peer that went away.
TEST_P(Messaging, BareWakeupsLeaveTheNotificationReserveAlone) {
    ServerAndClient p(options({.max_messages = 16}), options(), "g", "peer");
    const Link link = p.connect();
    ASSERT_TRUE(link);
    std::vector<Message::Ptr> hoard;
    while (Message::Ptr message = p.server_engine.get(Alloc::Always)) hoard.push_back(std::move(message));
    for (int i = 0; i < 100; ++i) EXPECT_EQ(p.server.raw().update_receiver(Message::Ptr()), Status::success);

    Message::Ptr abort = make(p.client_engine, OpCode::ByeSignal, link.client);
    p.client.post_ok(abort);
    p.client.expect_closed(link.client, Status::channel_closed);
    Message::Ptr wake = p.server.next();
    ASSERT_TRUE(wake);
    EXPECT_EQ(wake->status(), Status::receiver_update) << describe(wake);
    p.server.expect_closed(link.server, Status::peer_disconnected);
    hoard.clear();
    p.expect_quiet();
}

// Several groups on one engine: each receives only its own channels'
// messages; numbers are engine-wide; a group cannot post on another's
// channel; destroying a group closes its channels and nobody else's.
TEST_P(Messaging, SeveralGroupsOnOneEngine) {
    Engine engine(options());
    Group server(engine, "server");
    Group b(engine, "b");
    const Listener listener = listen(server, tcp("127.0.0.1", 0));
    ASSERT_TRUE(listener);
    const Link lb = connect(b, server, listener.address, "I am b");
    ASSERT_TRUE(lb);
    Link lc;
    {
        Group c(engine, "c");
        lc = connect(c, server, listener.address, "I am c");
        ASSERT_TRUE(lc);
        const std::set<ChannelNumber> numbers{listener.channel, lb.client, lb.server, lc.client, lc.server};
        EXPECT_EQ(numbers.size(), 5u) << "channel numbers are unique within the engine";

        round_trip(b, lb.client, server, lb.server, "b asks");
        round_trip(c, lc.client, server, lc.server, "c asks");
        round_trip(server, lc.server, c, lc.client, "server asks c");

        Message::Ptr intruder = make(engine, OpCode::Signal, lb.client, "not yours");
        EXPECT_EQ(c.post(intruder).status(), Status::invalid_mchn_group);
        EXPECT_TRUE(intruder);
        Message::Ptr intruder2 = make(engine, OpCode::Signal, lc.server, "not yours either");
        EXPECT_EQ(b.post(intruder2).status(), Status::invalid_mchn_group);
        b.expect_quiet(100ms);
        c.expect_quiet(100ms);
    } // group c is destroyed: its channel closes, the server sees the peer go
    server.expect_closed(lc.server, Status::peer_disconnected);
    round_trip(b, lb.client, server, lb.server, "b is untouched");
    round_trip(server, lb.server, b, lb.client, "both ways");
    server.expect_quiet();
    b.expect_quiet();
}

// Two engines in one process, each a server and a client of the other.
TEST_P(Messaging, TwoEnginesTalkToEachOtherBothWays) {
    Engine one(options());
    Engine two(options());
    Group g1(one, "one");
    Group g2(two, "two");
    const Listener l1 = listen(g1, tcp("127.0.0.1", 0));
    const Listener l2 = listen(g2, tcp("127.0.0.1", 0));
    ASSERT_TRUE(l1);
    ASSERT_TRUE(l2);
    const Link a = connect(g1, g2, l2.address, "one calls two");
    const Link b = connect(g2, g1, l1.address, "two calls one");
    ASSERT_TRUE(a);
    ASSERT_TRUE(b);
    for (int i = 0; i < 20; ++i) {
        round_trip(g1, a.client, g2, a.server, "a " + std::to_string(i));
        round_trip(g2, a.server, g1, a.client, "a' " + std::to_string(i));
        round_trip(g2, b.client, g1, b.server, "b " + std::to_string(i));
        round_trip(g1, b.server, g2, b.client, "b' " + std::to_string(i));
    }
    g1.expect_quiet();
    g2.expect_quiet();
}

// Message id 0 is replaced by an engine-assigned id, unique and increasing
// across the whole process (several engines included); a non-zero id is kept
// and travels unchanged.
TEST_P(Messaging, AssignedMessageIdsIncreaseProcessWide) {
    ServerAndClient p(options(), options());
    const Link link = p.connect();
    ASSERT_TRUE(link);
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < 20; ++i) {
        Group& from = i % 2 == 0 ? p.client : p.server;
        const ChannelNumber channel = i % 2 == 0 ? link.client : link.server;
        Message::Ptr signal = make(from.engine(), OpCode::Signal, channel, "id " + std::to_string(i));
        ids.push_back(from.post_ok(signal).message_id);
        Message::Ptr got = (i % 2 == 0 ? p.server : p.client).next();
        ASSERT_TRUE(got);
        EXPECT_EQ(got->message_id(), ids.back()) << "the receiver sees the sender's id";
    }
    for (std::size_t i = 1; i < ids.size(); ++i) {
        EXPECT_GT(ids[i], ids[i - 1]) << "ids from two engines of one process still increase";
    }
    Message::Ptr chosen = make(p.client_engine, OpCode::Signal, link.client, "chosen", 3);
    EXPECT_EQ(p.client.post_ok(chosen).message_id, 3u);
    Message::Ptr got = p.server.next();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->message_id(), 3u);
}

// Operations that do not fit the channel's state come back, not_allowed:
// traffic on a listener, a HelloResponse after the handshake, a ByeResponse
// nobody asked for. The channel stays usable.
TEST_P(Messaging, OperationsThatDoNotFitTheStateComeBackNotAllowed) {
    ServerAndClient p(options(), options());
    const Link link = p.connect();
    ASSERT_TRUE(link);
    struct Case {
        OpCode op;
        ChannelNumber channel;
        std::uint64_t id;
        const char* what;
    };
    const Case cases[] = {
        {OpCode::Request, p.listener.channel, 0, "Request on a listener"},
        {OpCode::Signal, p.listener.channel, 0, "Signal on a listener"},
        {OpCode::HelloResponse, link.server, 9, "HelloResponse after the handshake"},
        {OpCode::ByeResponse, link.server, 9, "ByeResponse without a ByeRequest"},
    };
    for (const Case& c : cases) {
        Message::Ptr message = make(p.server_engine, c.op, c.channel, c.what, c.id);
        const BinaryHeader posted = p.server.post_ok(message);
        Message::Ptr back = p.server.next();
        ASSERT_TRUE(back) << c.what;
        EXPECT_TRUE(back->from_engine()) << c.what;
        EXPECT_EQ(back->status(), Status::not_allowed) << c.what << ": " << describe(back);
        EXPECT_EQ(back->opcode(), c.op) << c.what;
        EXPECT_EQ(back->message_id(), posted.message_id) << c.what;
        EXPECT_EQ(back->body_text(), c.what);
    }
    p.round_trip_from_client(link, "still usable");
    p.expect_quiet();
}

TOFU_CONFORMANCE_INSTANTIATE(Messaging);

} // namespace
} // namespace tofu::conformance
