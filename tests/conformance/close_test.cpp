// How channels end (protocol §3): graceful Bye from either side, abort with
// ByeSignal (connection and listener), queued messages handed back with a
// status, engine destruction; exactly one channel_closed per channel.
#include "harness.hpp"

#include <optional>

namespace tofu::conformance {
namespace {

class Close : public BackendTest {};

constexpr std::size_t kBlock = 64000; // body of a bulk message

Shape bulk_shape(std::uint32_t, std::uint64_t) { return {0, kBlock}; }

// Enough bytes to fill every kernel buffer on the way many times over.
constexpr std::size_t kBulkMessages = 512; // 32 MB

// A link on which the client posted the bulk stream, and what the server's
// application holds once its pool ran dry (nothing when that failed).
struct Stalled {
    Link link;
    std::vector<Message::Ptr> held;
};
Stalled stall_bulk_stream(ServerAndClient& p) {
    const Link link = p.connect();
    if (!link || !send_stream(p.client_engine, p.client, link.client, 0, 0, kBulkMessages, bulk_shape)) return {};
    return {link, hold_until_pool_empty(p.server)};
}

// Graceful close: A's ByeRequest after its pending messages; B answers with
// ByeResponse; B's channel closes once that is written (cause success); A
// gets B's messages, the ByeResponse, then channel_closed (cause success).
TEST_P(Close, GracefulByeFromEitherSide) {
    ServerAndClient p(options(), options());
    for (bool client_starts : {true, false}) {
        SCOPED_TRACE(client_starts ? "client says bye" : "server says bye");
        const Link link = p.connect();
        ASSERT_TRUE(link);
        const auto [a, b] = p.ends(link, client_starts);

        for (int i = 0; i < 3; ++i) {
            Message::Ptr before = make(a.group.engine(), OpCode::Signal, a.channel, "before bye " + std::to_string(i));
            a.group.post_ok(before);
        }
        Message::Ptr bye = make(a.group.engine(), OpCode::ByeRequest, a.channel, "good bye");
        const BinaryHeader bye_posted = a.group.post_ok(bye);

        for (int i = 0; i < 3; ++i) {
            Message::Ptr got = b.group.next();
            ASSERT_TRUE(got);
            EXPECT_EQ(got->body_text(), "before bye " + std::to_string(i))
                << "the bye is queued after pending messages";
        }
        Message::Ptr got_bye = b.group.next();
        ASSERT_TRUE(got_bye);
        EXPECT_EQ(got_bye->opcode(), OpCode::ByeRequest) << describe(got_bye);
        EXPECT_EQ(got_bye->channel(), b.channel);
        EXPECT_EQ(got_bye->message_id(), bye_posted.message_id);
        EXPECT_FALSE(got_bye->from_engine());

        // B still talks before it answers.
        Message::Ptr last_words = make(b.group.engine(), OpCode::Signal, b.channel, "last words");
        b.group.post_ok(last_words);
        got_bye->reply(OpCode::ByeResponse);
        b.group.post_ok(got_bye);
        b.group.expect_closed(b.channel, Status::success);

        Message::Ptr words = a.group.next();
        ASSERT_TRUE(words);
        EXPECT_EQ(words->body_text(), "last words") << describe(words);
        Message::Ptr response = a.group.next();
        ASSERT_TRUE(response);
        EXPECT_EQ(response->opcode(), OpCode::ByeResponse) << describe(response);
        EXPECT_EQ(response->channel(), a.channel);
        EXPECT_EQ(response->message_id(), bye_posted.message_id);
        a.group.expect_closed(a.channel, Status::success);

        // Closed: the numbers name nothing any more.
        Message::Ptr stale = make(a.group.engine(), OpCode::Signal, a.channel);
        EXPECT_EQ(a.group.post(stale).status(), Status::invalid_channel_number);
    }
    p.expect_quiet();
}

// Graceful close while the side that said bye has no memory for the answer:
// its application holds its whole pool when the ByeResponse (a bare 16-byte
// frame) comes in, and the peer hangs up right after writing it. Once memory
// is back, the ByeResponse must still be delivered, then channel_closed with
// cause success (not a lost answer and peer_disconnected).
TEST_P(Close, ByeResponseArrivingWhilePoolIsExhaustedIsDelivered) {
    Options small;
    small.max_messages = 8; // the application can hold 7
    ServerAndClient p(options(), whole_pool(small));
    const Link link = p.connect();
    ASSERT_TRUE(link);

    // The client's application fills its share of the pool and keeps it.
    std::vector<Message::Ptr> held;
    for (std::size_t i = 0; i + 1 < small.max_messages; ++i) {
        Message::Ptr signal = make(p.server_engine, OpCode::Signal, link.server, "keep me " + std::to_string(i));
        p.server.post_ok(signal);
    }
    while (held.size() + 1 < small.max_messages) {
        Message::Ptr got = p.client.next();
        ASSERT_TRUE(got);
        held.push_back(std::move(got));
    }
    // Its ByeRequest is built from one of them (the pool has nothing else).
    Message::Ptr bye = std::move(held.back());
    held.pop_back();
    bye->set_opcode(OpCode::ByeRequest);
    bye->set_message_id(0);
    bye->clear_body();
    const BinaryHeader bye_posted = p.client.post_ok(bye);
    // Replace it, so that the application again holds all it may.
    Message::Ptr filler = make(p.server_engine, OpCode::Signal, link.server, "filler");
    Message::Ptr got_bye = p.server.next();
    ASSERT_TRUE(got_bye);
    ASSERT_EQ(got_bye->opcode(), OpCode::ByeRequest) << describe(got_bye);
    p.server.post_ok(filler);
    Message::Ptr got_filler = p.client.next();
    ASSERT_TRUE(got_filler);
    held.push_back(std::move(got_filler));

    got_bye->reply(OpCode::ByeResponse);
    p.server.post_ok(got_bye);
    p.server.expect_closed(link.server, Status::success);
    // The client read the bare ByeResponse frame and has no message for it.
    Message::Ptr notice = p.client.receive();
    ASSERT_TRUE(notice);
    EXPECT_TRUE(is_pool_empty(*notice)) << describe(notice);
    notice.reset();

    held.clear(); // memory back
    Message::Ptr response = p.client.next();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->opcode(), OpCode::ByeResponse)
        << "the ByeResponse read while the pool was empty was lost; got " << describe(response);
    if (response->opcode() == OpCode::ByeResponse) {
        EXPECT_EQ(response->message_id(), bye_posted.message_id);
        p.client.expect_closed(link.client, Status::success);
    }
    p.expect_quiet();
}

// Abort a connection from either side: the ByeSignal is consumed, the
// aborting side's cause is channel_closed, the peer's peer_disconnected.
TEST_P(Close, AbortConnectionWithByeSignalFromEitherSide) {
    ServerAndClient p(options(), options());
    for (bool client_aborts : {true, false}) {
        SCOPED_TRACE(client_aborts ? "client aborts" : "server aborts");
        const Link link = p.connect();
        ASSERT_TRUE(link);
        p.round_trip_from_client(link, "alive");
        const auto [a, b] = p.ends(link, client_aborts);
        abort_and_expect_closed(a.group, a.channel, b.group, b.channel);
    }
    p.expect_quiet();
    EXPECT_EQ(p.server.closed_count(p.listener.channel), 0);
}

// Abort a listener: it stops accepting (a new connect fails) while the
// connections it accepted carry on.
TEST_P(Close, AbortListenerKeepsItsConnections) {
    ServerAndClient p(options(), options());
    const Link link = p.connect();
    ASSERT_TRUE(link);

    Message::Ptr stop = make(p.server_engine, OpCode::ByeSignal, p.listener.channel);
    p.server.post_ok(stop);
    p.server.expect_closed(p.listener.channel, Status::channel_closed);

    Message::Ptr hello = get_message(p.client_engine);
    ASSERT_EQ(connect_to(*hello, p.listener.address), Status::success);
    const BinaryHeader posted = p.client.post_ok(hello);
    Message::Ptr back = p.client.next();
    ASSERT_TRUE(back);
    EXPECT_EQ(back->opcode(), OpCode::HelloRequest) << describe(back);
    EXPECT_EQ(back->status(), Status::connect_failed) << describe(back);
    EXPECT_EQ(back->channel(), posted.channel);

    p.round_trip_from_client(link, "still here");
    p.round_trip_from_server(link, "me too");
    p.expect_quiet();
}

// Abort while the send queue is full (the peer's pool is exhausted, its
// window closed): the still-queued messages come back in order with status
// channel_closed, then channel_closed. Every message is accounted for: the
// peer received exactly the ones that did not come back.
TEST_P(Close, AbortHandsBackQueuedMessagesInOrder) {
    ServerAndClient p(whole_pool({.max_messages = 8}), options(), "receiver", "sender");
    auto [link, held] = stall_bulk_stream(p);
    ASSERT_FALSE(held.empty());

    Message::Ptr abort = make(p.client_engine, OpCode::ByeSignal, link.client);
    p.client.post_ok(abort);

    // The sender: a contiguous tail of the stream, then channel_closed.
    HandBackChecker handed_back(Status::channel_closed);
    ASSERT_TRUE(receive_until_closed(p.client, link.client, Status::channel_closed, [&](Message::Ptr& back) {
        EXPECT_EQ(back->opcode(), OpCode::Signal) << describe(back);
        const auto id = handed_back.accept(*back);
        ASSERT_TRUE(id);
        EXPECT_EQ(check_payload(*back, *id, bulk_shape(0, 0)), "") << "a returned message is intact";
    }));
    EXPECT_GT(handed_back.count(), 0u) << "32 MB cannot all be in kernel buffers: some must have been queued";
    EXPECT_EQ(handed_back.end(), kBulkMessages);

    // The receiver gets exactly the others, then learns the peer is gone.
    StreamChecker checker(1, bulk_shape);
    for (auto& m : held) checker.accept(*m);
    held.clear();
    ASSERT_TRUE(receive_until_closed(p.server, link.server, Status::peer_disconnected,
                                     [&](Message::Ptr& got) { checker.accept(*got); }));
    EXPECT_EQ(checker.total(), handed_back.first()) << "delivered + handed back == posted, no message lost or doubled";
    p.expect_quiet();
}

// The peer aborts while our send queue is full: our queued messages come
// back with the cause (peer_disconnected), then channel_closed with it.
TEST_P(Close, PeerAbortHandsBackQueuedMessagesWithTheCause) {
    ServerAndClient p(whole_pool({.max_messages = 8}), options(), "receiver", "sender");
    auto [link, held] = stall_bulk_stream(p);
    ASSERT_FALSE(held.empty());
    // The receiver aborts with unread data in its socket (a reset for the
    // sender); one of the held messages carries the ByeSignal.
    Message::Ptr abort = std::move(held.back());
    held.pop_back();
    abort->reply(OpCode::ByeSignal);
    abort->clear_body();
    p.server.post_ok(abort);
    p.server.expect_closed(link.server, Status::channel_closed);

    HandBackChecker handed_back(Status::peer_disconnected);
    ASSERT_TRUE(receive_until_closed(p.client, link.client, Status::peer_disconnected,
                                     [&](Message::Ptr& back) { ASSERT_TRUE(handed_back.accept(*back)); }));
    EXPECT_GT(handed_back.count(), 0u);
    EXPECT_EQ(handed_back.end(), kBulkMessages) << "the queue's tail comes back up to the last message posted";
    held.clear();
    p.expect_quiet();
}

// Destroying the engine: queued sends come back with shutdown_started, every
// open channel gets channel_closed (cause shutdown_started), then
// wait_receive reports shutdown_started and post() refuses with it.
TEST_P(Close, EngineDestructionClosesEverythingAndHandsBackQueue) {
    Options peer_options;
    peer_options.max_messages = 8;
    Engine peer_engine(whole_pool(peer_options));
    Group peer(peer_engine, "peer");
    std::optional<Engine> engine(std::in_place, options());
    Group group(*engine, "doomed");

    const Listener listener = listen(group, tcp("127.0.0.1", 0));
    const Listener peer_listener = listen(peer, tcp("127.0.0.1", 0));
    ASSERT_TRUE(listener);
    ASSERT_TRUE(peer_listener);
    const Link outgoing = connect(group, peer, peer_listener.address);
    ASSERT_TRUE(outgoing);
    const Link incoming = connect(peer, group, listener.address);
    ASSERT_TRUE(incoming);

    ASSERT_TRUE(send_stream(*engine, group, outgoing.client, 0, 0, kBulkMessages, bulk_shape));
    std::vector<Message::Ptr> held = hold_until_pool_empty(peer);
    Message::Ptr spare = engine->get(Alloc::Always);
    ASSERT_TRUE(spare);

    engine.reset(); // ~Engine

    std::vector<Message::Ptr> rest = group.drain_after_shutdown();
    HandBackChecker handed_back(Status::shutdown_started);
    for (const Message::Ptr& m : rest) {
        if (is_closed_notification(*m)) {
            EXPECT_EQ(cause_of(*m), Status::shutdown_started) << describe(m);
            continue;
        }
        EXPECT_EQ(m->channel(), outgoing.client) << describe(m);
        ASSERT_TRUE(handed_back.accept(*m));
    }
    EXPECT_GT(handed_back.count(), 0u) << "the queue was full: messages must come back";
    EXPECT_EQ(handed_back.end(), kBulkMessages);
    for (ChannelNumber channel : {listener.channel, outgoing.client, incoming.server}) {
        EXPECT_EQ(group.closed_count(channel), 1) << "channel " << channel;
        EXPECT_EQ(group.closed_cause(channel), Status::shutdown_started) << "channel " << channel;
    }
    group.expect_each_opened_closed_once();

    // Afterwards: wait_receive keeps saying shutdown_started, post refuses.
    Result<Message::Ptr> after = group.raw().wait_receive(10ms);
    EXPECT_EQ(after.status(), Status::shutdown_started);
    spare->set_opcode(OpCode::Signal);
    spare->set_channel(incoming.server);
    EXPECT_EQ(group.post(spare).status(), Status::shutdown_started);
    EXPECT_TRUE(spare) << "a refused message stays with the caller";

    // The peer: its channels end with peer_disconnected once it reads again.
    held.clear();
    std::set<ChannelNumber> ended;
    while (ended.size() < 2) {
        Message::Ptr got = peer.next();
        ASSERT_TRUE(got);
        if (is_closed_notification(*got)) {
            EXPECT_EQ(cause_of(*got), Status::peer_disconnected) << describe(got);
            ended.insert(got->channel());
        }
    }
    EXPECT_EQ(ended, (std::set<ChannelNumber>{outgoing.server, incoming.client}));
    peer.expect_quiet();
}

// Many channels ended every possible way: each one yields exactly one
// channel_closed in its group, with the right cause, and nothing later.
TEST_P(Close, EveryChannelClosesExactlyOnce) {
    std::optional<Engine> server_engine(std::in_place, options());
    std::optional<Engine> client_engine(std::in_place, options());
    Group server(*server_engine, "server");
    Group client(*client_engine, "client");
    const Listener listener = listen(server, tcp("127.0.0.1", 0));
    const Listener spare_listener = listen(server, tcp("127.0.0.1", 0));
    ASSERT_TRUE(listener);
    ASSERT_TRUE(spare_listener);
    std::vector<Link> links;
    for (int i = 0; i < 12; ++i) {
        links.push_back(connect(client, server, listener.address, "client " + std::to_string(i)));
        ASSERT_TRUE(links.back());
    }
    // 0-2 graceful from the client, 3-5 graceful from the server, 6-7 client
    // aborts, 8-9 server aborts, 10-11 live until the engines go.
    const auto post_op = [](Group& g, OpCode op, ChannelNumber channel) {
        Message::Ptr message = make(g.engine(), op, channel);
        g.post_ok(message);
    };
    for (int i = 0; i < 3; ++i) post_op(client, OpCode::ByeRequest, links[i].client);
    for (int i = 3; i < 6; ++i) post_op(server, OpCode::ByeRequest, links[i].server);
    for (int i = 6; i < 8; ++i) post_op(client, OpCode::ByeSignal, links[i].client);
    for (int i = 8; i < 10; ++i) post_op(server, OpCode::ByeSignal, links[i].server);
    post_op(server, OpCode::ByeSignal, spare_listener.channel);

    std::map<ChannelNumber, Status> want_server{{spare_listener.channel, Status::channel_closed}};
    std::map<ChannelNumber, Status> want_client;
    for (int i = 0; i < 6; ++i) {
        want_server[links[i].server] = Status::success;
        want_client[links[i].client] = Status::success;
    }
    for (int i = 6; i < 8; ++i) {
        want_client[links[i].client] = Status::channel_closed;
        want_server[links[i].server] = Status::peer_disconnected;
    }
    for (int i = 8; i < 10; ++i) {
        want_server[links[i].server] = Status::channel_closed;
        want_client[links[i].client] = Status::peer_disconnected;
    }
    // Each group in its own thread: answer ByeRequests, count the endings.
    const auto pump = [](Group& group, const std::map<ChannelNumber, Status>& want) {
        std::size_t byes = 0;
        std::size_t responses = 0;
        while (group.closed_total() < want.size()) {
            Message::Ptr got = group.next();
            ASSERT_TRUE(got);
            if (is_closed_notification(*got)) continue;
            if (got->opcode() == OpCode::ByeRequest) {
                ++byes;
                got->reply(OpCode::ByeResponse);
                group.post_ok(got);
                continue;
            }
            EXPECT_EQ(got->opcode(), OpCode::ByeResponse) << group.name() << ": " << describe(got);
            ++responses;
        }
        EXPECT_EQ(byes, 3u) << group.name();
        EXPECT_EQ(responses, 3u) << group.name();
        group.expect_quiet();
        for (auto [channel, cause] : want) {
            EXPECT_EQ(group.closed_count(channel), 1) << group.name() << " channel " << channel;
            EXPECT_EQ(group.closed_cause(channel), cause) << group.name() << " channel " << channel;
        }
    };
    std::thread client_pump([&] { pump(client, want_client); });
    pump(server, want_server);
    client_pump.join();

    // The live ones still work, then the engines go.
    for (int i = 10; i < 12; ++i) round_trip(client, links[i].client, server, links[i].server, "still alive");
    client_engine.reset();
    server_engine.reset();
    client.drain_after_shutdown();
    server.drain_after_shutdown();
    for (int i = 10; i < 12; ++i) {
        EXPECT_EQ(client.closed_count(links[i].client), 1);
        EXPECT_EQ(server.closed_count(links[i].server), 1);
    }
    EXPECT_EQ(server.closed_count(listener.channel), 1);
    EXPECT_EQ(server.closed_cause(listener.channel), Status::shutdown_started);
    server.expect_each_opened_closed_once();
    client.expect_each_opened_closed_once();
    EXPECT_EQ(server.opened().size(), 14u) << "2 listeners + 12 accepted connections";
    EXPECT_EQ(client.opened().size(), 12u);
}

TOFU_CONFORMANCE_INSTANTIATE(Close);

} // namespace
} // namespace tofu::conformance
