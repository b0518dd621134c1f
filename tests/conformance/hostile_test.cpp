// Hostile peers (docs/design.md, "Hostile peers and limits"): whatever a
// peer sends, or does not send, the engine stays within its limits, other
// channels keep being served, and a legitimate client always gets through.
// Raw-socket peers, on every backend.
#include "raw_peer.hpp"

#include "engine/engine_core.hpp"

#include <deque>
#include <optional>

namespace tofu::conformance {
namespace {

using namespace raw;

constexpr std::size_t KiB = 1024;

class Hostile : public BackendTest {
protected:
    // The engine under attack: a small pool and short timeouts; a test
    // changes what it is about.
    Options attacked() const {
        Options o;
        o.max_messages = 128;
        o.memory_limit = 512 * KiB;
        o.handshake_timeout = 1s;
        o.frame_timeout = 1s;
        o.max_pending_handshakes = 32;
        return options(o);
    }
};

// An engine with a listener, and a well-behaved client engine connected to
// it: the bystander whose round trips prove the server still serves.
struct Server {
    Engine engine;
    Group group;
    Listener listener;
    Server(const Options& options) : engine(options), group(engine, "server") {
        listener = listen(group, tcp("127.0.0.1", 0));
    }
    explicit operator bool() const { return static_cast<bool>(listener); }
};

struct Client {
    Engine engine;
    Group group;
    Link link;
    Client(const Options& options, Server& server) : engine(options), group(engine, "client") {
        link = connect(group, server.group, server.listener.address);
    }
    explicit operator bool() const { return static_cast<bool>(link); }
    void round_trip(Server& server, const std::string& text) {
        conformance::round_trip(group, link.client, server.group, link.server, text);
    }
};

// An engine whose clock only moves when the test says so.
struct DrivenEngine {
    std::shared_ptr<detail::EngineCore> core;
    std::optional<Engine> engine;
    explicit DrivenEngine(const Options& options) {
        Result<std::shared_ptr<detail::EngineCore>> started =
            detail::EngineCore::start(options, detail::Clock::driven());
        EXPECT_TRUE(started.has_value()) << started.status();
        if (!started) return;
        core = started.value();
        engine.emplace(detail::EngineAccess::wrap(core));
    }
    void advance(std::chrono::milliseconds by) { core->advance_clock(by); }
};

// The start of a TLS 1.2 ClientHello record, as a browser would send it.
Bytes tls_client_hello() {
    Bytes out = {std::byte{0x16}, std::byte{0x03}, std::byte{0x01}, std::byte{0x00}, std::byte{0xC8}, std::byte{0x01},
                 std::byte{0x00}, std::byte{0x00}, std::byte{0xC4}, std::byte{0x03}, std::byte{0x03}};
    const Bytes random = pseudo_random(32, 7);
    out.insert(out.end(), random.begin(), random.end());
    out.resize(205, std::byte{0x2F});
    return out;
}

// A HelloRequest header announcing `body` bytes, and only `sent` of them.
Bytes partial_hello(std::size_t body, std::size_t sent) {
    const Bytes payload(body, std::byte{'h'});
    Bytes out = frame({.opcode = op(OpCode::HelloRequest), .id = 3, .body = payload});
    out.resize(16 + sent);
    return out;
}

// ---- forged engine messages ---------------------------------------------------

// A peer frame is never an engine message: one that claims the engine as its
// origin closes its channel (invalid_message) and nothing of it reaches the
// application, whatever status it pretends to carry.
TEST_P(Hostile, FramesClaimingTheEngineAsOriginAreRefused) {
    Server server(attacked());
    ASSERT_TRUE(server);
    Client bystander(options(), server);
    ASSERT_TRUE(bystander);
    struct Forgery {
        OpCode op;
        Status status;
        Status cause;
    };
    const Forgery forgeries[] = {
        {OpCode::Signal, Status::pool_empty, Status::invalid_message},
        {OpCode::Signal, Status::receiver_update, Status::invalid_message},
        {OpCode::Response, Status::shutdown_started, Status::invalid_message},
        {OpCode::ByeSignal, Status::channel_closed, Status::invalid_op_code}, // never travels at all
    };
    int round = 0;
    for (const Forgery& forgery : forgeries) {
        SCOPED_TRACE(std::string("forged ") + std::string(to_string(forgery.status)));
        RawPeer peer = RawPeer::connect(server.listener.address);
        const ChannelNumber channel = raw_handshake(peer, server.group);
        ASSERT_NE(channel, 0);
        const std::size_t pool_empty_seen = server.group.pool_empty_count();
        ASSERT_TRUE(peer.send_all(frame({.opcode = op(forgery.op),
                                         .engine_origin = true,
                                         .status = to_byte(forgery.status),
                                         .id = 99,
                                         .headers = "~cause:success\r\n"})));
        // The very next message is the channel's end: nothing forged before it.
        server.group.expect_closed(channel, forgery.cause);
        EXPECT_EQ(server.group.pool_empty_count(), pool_empty_seen) << "a forged pool_empty was delivered";
        EXPECT_TRUE(peer.wait_closed());
        bystander.round_trip(server, "after a forgery " + std::to_string(++round));
    }
    // Before the handshake the connection is refused before the application
    // ever hears of it.
    const EngineStats before = server.engine.stats();
    RawPeer early = RawPeer::connect(server.listener.address);
    ASSERT_TRUE(early.send_all(frame({.opcode = op(OpCode::HelloRequest), .engine_origin = true, .id = 5})));
    EXPECT_TRUE(early.wait_closed());
    EXPECT_TRUE(wait_for_stats(server.engine, [&](const EngineStats& now) {
        return now.closed_by(Status::invalid_message) == before.closed_by(Status::invalid_message) + 1 &&
               now.connections_refused == before.connections_refused + 1;
    }));
    bystander.round_trip(server, "after an early forgery");
    server.group.expect_quiet();
}

// The other direction: what the engine writes never carries the origin bit,
// even for a message the application marked as the engine's, or one the
// engine handed back to it.
TEST_P(Hostile, TheEngineNeverSendsTheOriginBit) {
    Server server(attacked());
    ASSERT_TRUE(server);
    RawPeer peer = RawPeer::connect(server.listener.address);
    const ChannelNumber channel = raw_handshake(peer, server.group);
    ASSERT_NE(channel, 0);

    Message::Ptr marked = make(server.engine, OpCode::Signal, channel, "marked");
    marked->header().origin = Origin::engine;
    marked->set_status(Status::pool_empty);
    server.group.post_ok(marked);
    std::optional<ParsedFrame> got = peer.read_frame();
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->engine_origin);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(got->body.data()), got->body.size()), "marked");

    // A message handed back by the engine (origin engine), posted again.
    Message::Ptr stray = make(server.engine, OpCode::Signal, channel, "handed back");
    stray->set_channel(server.listener.channel); // a listener takes no Signal
    server.group.post_ok(stray);
    Message::Ptr back = server.group.next();
    ASSERT_TRUE(back);
    ASSERT_TRUE(back->from_engine());
    EXPECT_EQ(back->status(), Status::not_allowed);
    back->set_channel(channel);
    server.group.post_ok(back);
    got = peer.read_frame();
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->engine_origin);
    server.group.expect_quiet();
}

// ---- before the handshake -------------------------------------------------------

// Other protocols at the first byte: refused at the header, before any
// memory is spent on what the bytes would announce (an HTTP GET reads as a
// header announcing ~15 KB), and before the application knows them.
TEST_P(Hostile, OtherProtocolsAreRefusedAtTheirFirstBytes) {
    Server server(attacked());
    ASSERT_TRUE(server);
    Client bystander(options(), server);
    ASSERT_TRUE(bystander);
    struct Intruder {
        const char* what;
        Bytes bytes;
        Status cause;
    };
    // 'T' (0x54) and 'S' (0x53) have the origin bit; 'A' (0x41) is a Response.
    const Intruder intruders[] = {
        {"HTTP GET", text_bytes("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n"), Status::invalid_message},
        {"HTTP POST", text_bytes("POST /api HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"), Status::invalid_message},
        {"HTTP HEAD", text_bytes("HEAD / HTTP/1.0\r\n\r\n"), Status::not_allowed},
        {"TLS ClientHello", tls_client_hello(), Status::not_allowed},
    };
    for (const Intruder& intruder : intruders) {
        SCOPED_TRACE(intruder.what);
        const EngineStats before = server.engine.stats();
        RawPeer peer = RawPeer::connect(server.listener.address);
        ASSERT_TRUE(peer.send_all(intruder.bytes));
        EXPECT_TRUE(peer.wait_closed()) << "the engine hangs up";
        EXPECT_TRUE(wait_for_stats(server.engine,
                                   [&](const EngineStats& now) {
                                       return now.closed_by(intruder.cause) == before.closed_by(intruder.cause) + 1 &&
                                              now.connections_refused == before.connections_refused + 1;
                                   }))
            << "refused with " << intruder.cause;
    }
    // Random bytes: refused at the header, or (when they happen to read as
    // a small hello) by the handshake timeout; either way gone, memory back.
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        RawPeer peer = RawPeer::connect(server.listener.address);
        ASSERT_TRUE(peer.send_all(pseudo_random(300, seed)));
        EXPECT_TRUE(peer.wait_closed()) << "seed " << seed;
    }
    EXPECT_TRUE(wait_for_stats(server.engine, [&](const EngineStats& now) { return now.pending_handshakes == 0; }));
    EXPECT_TRUE(eventually([&] { return server.engine.stats().messages_in_use == 0; }))
        << "a refused connection keeps no memory: " << server.engine.stats().messages_in_use << " in use";
    bystander.round_trip(server, "after the intruders");
    server.group.expect_quiet();
}

// A hello larger than max_hello_bytes is refused at its header: the engine
// does not wait for the bytes it announces.
TEST_P(Hostile, OversizedHelloIsRefusedAtItsHeader) {
    Options o = attacked();
    o.max_hello_bytes = 4096;
    o.handshake_timeout = 60s; // a timeout must not be what closes them
    Server server(o);
    ASSERT_TRUE(server);
    struct Case {
        std::uint16_t headers;
        std::uint16_t body;
        Status cause;
    };
    for (const Case& c : {Case{0, 4097, Status::invalid_body_len}, Case{5000, 0, Status::invalid_headers_len},
                          Case{4000, 97, Status::invalid_body_len}, Case{65535, 65535, Status::invalid_headers_len}}) {
        SCOPED_TRACE("hello of " + std::to_string(c.headers) + " + " + std::to_string(c.body));
        const EngineStats before = server.engine.stats();
        Bytes header(16, std::byte{0});
        header[2] = std::byte{op(OpCode::HelloRequest)};
        header[11] = std::byte{1};
        header[12] = static_cast<std::byte>(c.headers >> 8);
        header[13] = static_cast<std::byte>(c.headers & 0xFF);
        header[14] = static_cast<std::byte>(c.body >> 8);
        header[15] = static_cast<std::byte>(c.body & 0xFF);
        RawPeer peer = RawPeer::connect(server.listener.address);
        ASSERT_TRUE(peer.send_all(header));
        EXPECT_TRUE(peer.wait_closed());
        EXPECT_TRUE(wait_for_stats(server.engine, [&](const EngineStats& now) {
            return now.closed_by(c.cause) == before.closed_by(c.cause) + 1;
        }));
    }
    // Exactly the limit is a hello like any other.
    RawPeer peer = RawPeer::connect(server.listener.address);
    const std::string body(4096 - 9, 'b');
    ASSERT_TRUE(peer.send_all(
        frame({.opcode = op(OpCode::HelloRequest), .id = 8, .headers = "who:raw\r\n", .body = as_bytes(body)})));
    Message::Ptr hello = server.group.next();
    ASSERT_TRUE(hello);
    EXPECT_EQ(hello->opcode(), OpCode::HelloRequest);
    EXPECT_EQ(hello->body().size(), body.size());
}

// Connections that say nothing, or a header and nothing more, are closed by
// the handshake timeout: silently (the application never knew them), counted
// by cause, their memory back.
TEST_P(Hostile, SilentAndHalfSpokenConnectionsTimeOut) {
    Options o = attacked();
    o.handshake_timeout = 300ms;
    o.frame_timeout = 60s; // the handshake timeout is the one that must act
    Server server(o);
    ASSERT_TRUE(server);
    std::vector<RawPeer> peers;
    for (int i = 0; i < 8; ++i) {
        peers.push_back(RawPeer::connect(server.listener.address));
        if (i % 2 == 1) {
            ASSERT_TRUE(peers.back().send_all(partial_hello(1000, 10 * static_cast<std::size_t>(i))));
        }
    }
    for (RawPeer& peer : peers) EXPECT_TRUE(peer.wait_closed());
    EXPECT_TRUE(wait_for_stats(server.engine, [](const EngineStats& now) {
        return now.closed_by(Limit::handshake_timeout) == 8 && now.connections_refused == 8 &&
               now.pending_handshakes == 0;
    }));
    EXPECT_TRUE(eventually([&] { return server.engine.stats().messages_in_use == 0; }));
    server.group.expect_quiet(); // no channel_closed for connections it never saw
}

// ---- after the handshake --------------------------------------------------------

// A frame that starts and then drips slower than frame_timeout allows closes
// its channel (~cause frame_timeout); the others carry on.
TEST_P(Hostile, SlowDripIsClosedByTheFrameTimeout) {
    Options o = attacked();
    o.frame_timeout = 300ms;
    Server server(o);
    ASSERT_TRUE(server);
    Client bystander(options(), server);
    ASSERT_TRUE(bystander);
    RawPeer peer = RawPeer::connect(server.listener.address);
    const ChannelNumber channel = raw_handshake(peer, server.group);
    ASSERT_NE(channel, 0);
    Bytes request = frame({.opcode = op(OpCode::Request), .id = 12, .body = as_bytes(std::string(2000, 'd'))});
    Worker dripper([&](const std::atomic<bool>& stop) {
        for (std::size_t i = 0; i < request.size() && !stop.load(); ++i) {
            if (peer.send_some(std::span<const std::byte>(request).subspan(i, 1)) <= 0) return;
            std::this_thread::sleep_for(20ms); // the attack itself: one byte every 20 ms
        }
    });
    server.group.expect_closed(channel, Limit::frame_timeout);
    dripper.stop();
    EXPECT_TRUE(peer.wait_closed());
    bystander.round_trip(server, "after the drip");
    EXPECT_EQ(server.engine.stats().closed_by(Limit::frame_timeout), 1u);
    server.group.expect_quiet();
}

// The frame deadline belongs to one frame: a stream of frames each well
// within the timeout lives on however long it takes in all; a frame that
// takes longer does not. On a driven clock, with a bystander round trip as
// the barrier that proves the reactor has seen each clock move.
TEST_P(Hostile, TheFrameDeadlineIsPerFrame) {
    Options o = attacked();
    o.frame_timeout = 10s;
    DrivenEngine server_engine(o);
    ASSERT_TRUE(server_engine.engine);
    Group server(*server_engine.engine, "server");
    const Listener listener = listen(server, tcp("127.0.0.1", 0));
    ASSERT_TRUE(listener);
    Engine client_engine(options());
    Group client(client_engine, "client");
    const Link bystander = connect(client, server, listener.address);
    ASSERT_TRUE(bystander);
    const auto barrier = [&](const std::string& text) {
        round_trip(client, bystander.client, server, bystander.server, text);
    };
    RawPeer peer = RawPeer::connect(listener.address);
    const ChannelNumber channel = raw_handshake(peer, server);
    ASSERT_NE(channel, 0);

    const Bytes first = frame({.opcode = op(OpCode::Signal), .id = 1, .body = as_bytes(std::string(100, 'a'))});
    const Bytes second = frame({.opcode = op(OpCode::Signal), .id = 2, .body = as_bytes(std::string(100, 'b'))});
    ASSERT_TRUE(peer.send_all(std::span<const std::byte>(first).first(50)));
    barrier("frame 1 started");
    for (int step = 0; step < 3; ++step) {
        // 9 s into the frame under way: finish it, start the next one.
        server_engine.advance(9s);
        barrier("9 s later");
        const Bytes& done = step % 2 == 0 ? first : second;
        const Bytes& next = step % 2 == 0 ? second : first;
        Bytes bytes(done.begin() + 50, done.end());
        bytes.insert(bytes.end(), next.begin(), next.begin() + 50);
        ASSERT_TRUE(peer.send_all(bytes));
        Message::Ptr got = server.next();
        ASSERT_TRUE(got);
        EXPECT_EQ(got->channel(), channel) << "27 s in all, but never 10 s on one frame: " << describe(got);
        EXPECT_EQ(got->opcode(), OpCode::Signal) << describe(got);
    }
    server_engine.advance(9s);
    barrier("9 s into the last frame");
    server_engine.advance(2s);
    server.expect_closed(channel, Limit::frame_timeout);
    EXPECT_TRUE(peer.wait_closed());
    barrier("after the frame timeout");
    server.expect_quiet();
    client.expect_quiet();
}

// ---- timeouts of the engine's own connections -----------------------------------

// A HelloRequest to `hole` posted on `group`: the message as posted.
BinaryHeader knock(Engine& engine, Group& group, const BlackHole& hole) {
    Message::Ptr hello = get_message(engine);
    EXPECT_EQ(connect_to(*hello, hole.address()), Status::success);
    return group.post_ok(hello);
}

// The HelloRequest came back connect_failed, its cause the connect timeout.
void expect_connect_timed_out(Group& group, const BinaryHeader& posted) {
    Message::Ptr back = group.next();
    ASSERT_TRUE(back);
    EXPECT_EQ(back->opcode(), OpCode::HelloRequest) << describe(back);
    EXPECT_EQ(back->status(), Status::connect_failed) << describe(back);
    EXPECT_EQ(back->channel(), posted.channel);
    EXPECT_EQ(back->find_header(cause_header).value_or(""), "connect_timeout");
}

// A connect to an address that never answers comes back connect_failed with
// ~cause connect_timeout once connect_timeout passes (driven clock), and not
// before.
TEST_P(Hostile, ConnectTimeoutHandsTheHelloBack) {
    BlackHole hole;
    Options o;
    o.connect_timeout = 5s;
    DrivenEngine driven(options(o));
    ASSERT_TRUE(driven.engine);
    Group group(*driven.engine, "client");
    const BinaryHeader posted = knock(*driven.engine, group, hole);
    // Commands are taken in order: once this listener is open, the connect
    // has started and its deadline runs from the clock's present value.
    ASSERT_TRUE(listen(group, tcp("127.0.0.1", 0)));
    driven.advance(4s);
    EXPECT_FALSE(group.poll(300ms)) << "4 s of 5: still connecting";
    driven.advance(1s);
    ASSERT_NO_FATAL_FAILURE(expect_connect_timed_out(group, posted));
    EXPECT_EQ(driven.engine->stats().closed_by(Limit::connect_timeout), 1u);
    group.expect_quiet();
}

// The same on the real clock: the reactor's wait comes from the deadline.
TEST_P(Hostile, ConnectTimeoutOnTheRealClock) {
    BlackHole hole;
    Options o;
    o.connect_timeout = 200ms;
    Engine engine(options(o));
    Group group(engine, "client");
    const BinaryHeader posted = knock(engine, group, hole);
    expect_connect_timed_out(group, posted);
}

// A server that accepts and never answers the hello: the client's channel
// closes with ~cause handshake_timeout (driven clock).
TEST_P(Hostile, ClientHandshakeTimeoutWhenTheServerNeverAnswers) {
    Engine server_engine(options());
    Group server(server_engine, "server");
    const Listener listener = listen(server, tcp("127.0.0.1", 0));
    ASSERT_TRUE(listener);
    Options o;
    o.handshake_timeout = 3s;
    DrivenEngine driven(options(o));
    ASSERT_TRUE(driven.engine);
    Group client(*driven.engine, "client");
    Message::Ptr hello = get_message(*driven.engine);
    ASSERT_EQ(connect_to(*hello, listener.address), Status::success);
    const BinaryHeader posted = client.post_ok(hello);
    Message::Ptr request = server.next(); // the server application keeps it and says nothing
    ASSERT_TRUE(request);
    driven.advance(2s);
    EXPECT_FALSE(client.poll(300ms));
    driven.advance(1s);
    client.expect_closed(posted.channel, Limit::handshake_timeout);
    server.expect_closed(request->channel(), Status::peer_disconnected);
    client.expect_quiet();
}

// ---- admission --------------------------------------------------------------------

// More silent connections than max_pending_handshakes: the oldest make room
// for the newer ones, the pending count never passes the cap, and a client
// that connects after them all gets through at once.
TEST_P(Hostile, SilentFloodCannotKeepAClientOut) {
    Options o = attacked();
    o.max_pending_handshakes = 16;
    o.handshake_timeout = 60s; // no timeout helps here: only admission
    Server server(o);
    ASSERT_TRUE(server);
    constexpr std::size_t flood = 100;
    std::vector<RawPeer> silent;
    for (std::size_t i = 0; i < flood; ++i) silent.push_back(RawPeer::connect(server.listener.address));
    ASSERT_TRUE(wait_for_stats(server.engine, [&](const EngineStats& now) {
        EXPECT_LE(now.pending_handshakes, 16u);
        return now.connections_accepted == flood;
    }));
    // Oldest first: the first 84 are gone, the last 16 wait.
    for (std::size_t i = 0; i < flood - 16; ++i) EXPECT_TRUE(silent[i].wait_closed()) << "connection " << i;
    EXPECT_EQ(server.engine.stats().closed_by(Limit::pending_evicted), flood - 16);

    Client client(options(), server);
    ASSERT_TRUE(client) << "a client after the flood gets through";
    for (int i = 0; i < 10; ++i) client.round_trip(server, "round trip " + std::to_string(i));
    EXPECT_TRUE(silent[flood - 16].wait_closed()) << "the oldest pending one made room for the client";
    EXPECT_TRUE(silent[flood - 1].still_open(100ms)) << "the youngest are still waiting";
    EXPECT_LE(server.engine.stats().pending_handshakes, 16u);
}

// Every accepted connection gets pending_grace to say hello, however fast
// newer ones arrive: at its cap the listener pauses rather than close one
// younger than that. On a driven clock, so no grace can run out by accident.
TEST_P(Hostile, ASlowHelloKeepsItsGraceDuringAFlood) {
    Options o = attacked();
    o.max_pending_handshakes = 4;
    o.pending_grace = 1s;
    o.handshake_timeout = 60s;
    DrivenEngine driven(o);
    ASSERT_TRUE(driven.engine);
    Engine& engine = *driven.engine;
    Group server(engine, "server");
    const Listener listener = listen(server, tcp("127.0.0.1", 0));
    ASSERT_TRUE(listener);
    RawPeer slow = RawPeer::connect(listener.address);
    ASSERT_TRUE(wait_for_stats(engine, [](const EngineStats& now) { return now.connections_accepted == 1; }));
    std::vector<RawPeer> flood;
    for (int i = 0; i < 20; ++i) flood.push_back(RawPeer::connect(listener.address));
    ASSERT_TRUE(wait_for_stats(engine, [](const EngineStats& now) { return now.connections_accepted == 4; }));
    EXPECT_FALSE(wait_for_stats(
        engine, [](const EngineStats& now) { return now.connections_accepted > 4; }, 300ms))
        << "at the cap, with every pending connection within its grace, the listener waits";

    // The slow client's hello, long after its connect, in the middle of the flood.
    ASSERT_TRUE(slow.send_all(frame({.opcode = op(OpCode::HelloRequest), .id = 77, .headers = "who:slow\r\n"})));
    Message::Ptr hello = server.next();
    ASSERT_TRUE(hello) << "the slow client must not have been closed to make room";
    EXPECT_EQ(hello->find_header("who").value_or(""), "slow");
    EXPECT_EQ(engine.stats().closed_by(Limit::pending_evicted), 0u);
    // Its place went to the next newcomer.
    EXPECT_TRUE(wait_for_stats(engine, [](const EngineStats& now) { return now.connections_accepted == 5; }));

    // Once the grace has passed, the oldest make room, oldest first.
    driven.advance(1s);
    EXPECT_TRUE(wait_for_stats(engine, [](const EngineStats& now) {
        return now.closed_by(Limit::pending_evicted) == 4 && now.connections_accepted == 9;
    }));
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(flood[static_cast<std::size_t>(i)].wait_closed()) << i;
    EXPECT_TRUE(flood[4].still_open(100ms));
}

// Hellos that announce a few KiB and stop: each holds pool memory for its
// hello, but all of them together hold at most the handshake budget (1/8 of
// the pool); the oldest make room; established channels and a new client
// keep their memory.
TEST_P(Hostile, HalfSpokenHellosCannotPinThePool) {
    Options o = attacked();
    o.handshake_timeout = 60s;
    o.max_pending_handshakes = 1000;
    Server server(o); // 512 KiB: the budget is 64 KiB, 16 messages
    ASSERT_TRUE(server);
    Client bystander(options(), server);
    ASSERT_TRUE(bystander);
    const std::size_t baseline_bytes = server.engine.stats().bytes_in_use;
    constexpr std::size_t attackers = 150; // 150 x 4 KiB would be more than the pool
    std::vector<RawPeer> peers;
    for (std::size_t i = 0; i < attackers; ++i) {
        peers.push_back(RawPeer::connect(server.listener.address));
        ASSERT_TRUE(peers.back().send_all(partial_hello(4000, 100)));
    }
    ASSERT_TRUE(wait_for_stats(server.engine,
                               [&](const EngineStats& now) { return now.connections_accepted == attackers + 1; }));
    bystander.round_trip(server, "barrier: every hello header has been read");
    EXPECT_TRUE(eventually([&] { return server.engine.stats().messages_in_use <= 16; }))
        << server.engine.stats().messages_in_use << " messages in use";
    // The budget, and at most as much again left idle on the free list by
    // hellos whose connections were closed (150 x 4 KiB would be the pool).
    EXPECT_LE(server.engine.stats().bytes_in_use, baseline_bytes + 2 * 64 * KiB);
    EXPECT_GE(server.engine.stats().closed_by(Limit::pending_evicted), attackers - 16);

    Client late(options(), server);
    ASSERT_TRUE(late) << "a client gets its hello read while the attackers hold the budget";
    // An established channel still gets a maximum-size message.
    Message::Ptr big = make(late.engine, OpCode::Signal, late.link.client);
    ASSERT_EQ(fill(*big, 0, 0, max_shape(0, 0)), Status::success);
    late.group.post_ok(big);
    Message::Ptr got = server.group.next();
    ASSERT_TRUE(got);
    EXPECT_EQ(check_payload(*got, {0, 0}, max_shape(0, 0)), "");
}

// Every kind of hostile connection at once, from two threads, while two
// legitimate clients connect and do round trips: both always get through.
TEST_P(Hostile, MixedFloodWhileClientsDoRoundTrips) {
    Options o = attacked();
    o.handshake_timeout = 500ms;
    o.frame_timeout = 500ms;
    o.max_pending_handshakes = 64;
    Server server(o);
    ASSERT_TRUE(server);
    const std::size_t per_thread = scaled(150, 40, "hostile connections per thread");
    std::atomic<std::size_t> made{0};
    const auto attack = [&](std::uint64_t seed, const std::atomic<bool>& stop) {
        std::deque<RawPeer> held; // keeps the silent kinds open for a while
        for (std::size_t i = 0; i < per_thread && !stop.load(); ++i) {
            RawPeer peer = RawPeer::connect(server.listener.address, true);
            if (!peer) continue;
            ++made;
            switch (splitmix64(seed) % 9) {
            case 0: break; // silent
            case 1: (void)peer.send_all(partial_hello(3000, 16), 1s); break;
            case 2: (void)peer.send_all(text_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 1s); break;
            case 3: (void)peer.send_all(tls_client_hello(), 1s); break;
            case 4: (void)peer.send_all(pseudo_random(512, seed), 1s); break;
            case 5: (void)peer.send_all(partial_hello(60000, 0), 1s); break; // oversized
            case 6:
                (void)peer.send_all(frame({.opcode = op(OpCode::HelloRequest), .engine_origin = true, .id = 1}), 1s);
                break;
            case 7: (void)peer.send_some(partial_hello(500, 3)); break; // the start of a drip
            case 8: peer.reset(); continue;
            }
            held.push_back(std::move(peer));
            if (held.size() > 40) held.pop_front();
        }
    };
    Worker first([&](const std::atomic<bool>& stop) { attack(11, stop); });
    Worker second([&](const std::atomic<bool>& stop) { attack(22, stop); });
    Client one(options(), server);
    ASSERT_TRUE(one) << "a client connecting during the flood";
    for (int i = 0; i < 20; ++i) one.round_trip(server, "during " + std::to_string(i));
    Client two(options(), server);
    if (!two) {
        const EngineStats now = server.engine.stats();
        const Message::Ptr seen = two.group.poll(std::chrono::milliseconds(0));
        FAIL() << "a second client connecting during the flood: the server accepted " << now.connections_accepted
               << ", refused " << now.connections_refused << ", has " << now.pending_handshakes
               << " pending; accept paused " << now.accept_pauses << " times; the client got "
               << (seen ? describe(seen) : std::string("nothing"));
    }
    for (int i = 0; i < 20; ++i) {
        two.round_trip(server, "two " + std::to_string(i));
        one.round_trip(server, "one " + std::to_string(i));
    }
    first.stop();
    second.stop();
    // Everything hostile ends; memory comes back; nothing reached the application.
    // (A connection reset before it was accepted may never be accepted.)
    EXPECT_TRUE(wait_for_stats(server.engine,
                               [&](const EngineStats& now) {
                                   return now.pending_handshakes == 0 &&
                                          now.connections_refused + 2 == now.connections_accepted;
                               }))
        << made.load() << " hostile connections, refused " << server.engine.stats().connections_refused;
    one.round_trip(server, "after");
    std::cout << "[  flood   ] " << made.load() << " hostile connections refused, "
              << server.engine.stats().closed_by(Limit::pending_evicted) << " of them evicted" << std::endl;
    server.group.expect_quiet();
}

// ---- a fair share of the pool ---------------------------------------------------

// A server on a 64-message pool (a channel's share: 16), a well-behaved
// client of it, and a raw peer past its hello on a channel of its own.
struct CrowdedServer {
    static Options pool_of_64(Options options) {
        options.max_messages = 64;
        return options;
    }
    CrowdedServer(const Options& server_options, const Options& client_options)
        : server(pool_of_64(server_options)), other(client_options, server) {
        if (!server || !other) return;
        peer = RawPeer::connect(server.listener.address);
        channel = raw_handshake(peer, server.group);
    }
    explicit operator bool() const { return server && other && channel != 0; }
    std::size_t share() const { return server.engine.options().channel_share_messages; }

    Server server;
    Client other;
    RawPeer peer;
    ChannelNumber channel = 0;
};

// One channel sending as fast as it can, into an application that keeps
// every message it gets from it: past its share, the channel stops while a
// share of the pool is still free for the others; another channel still
// gets memory; returning the messages lets the first go on, nothing lost.
TEST_P(Hostile, OneChannelCannotTakeTheWholePool) {
    CrowdedServer crowd(options(), options());
    ASSERT_TRUE(crowd);
    Server& server = crowd.server;
    RawPeer& firehose = crowd.peer;
    constexpr std::size_t count = 500;
    Bytes stream;
    for (std::uint64_t i = 0; i < count; ++i) {
        append_frame(stream,
                     {.opcode = op(OpCode::Signal), .id = i + 1, .body = as_bytes("fire " + std::to_string(i))});
    }
    firehose.set_nonblocking(true);
    Worker writer([&](const std::atomic<bool>&) { EXPECT_TRUE(firehose.send_all(stream, kWait * 3)); });

    std::vector<Message::Ptr> held;
    while (server.group.pool_empty_count() == 0) {
        Message::Ptr got = server.group.receive();
        ASSERT_TRUE(got);
        if (!is_pool_empty(*got)) held.push_back(std::move(got));
    }
    EXPECT_GE(held.size(), crowd.share()) << "a channel alone gets at least its share";
    EXPECT_LE(held.size(), server.engine.options().max_messages - crowd.share()) << "and leaves a share to the others";
    EXPECT_GE(detail::EngineAccess::core(server.engine).pool().free_messages(MemoryTier::inbound), crowd.share());
    EXPECT_FALSE(server.group.poll(200ms)) << "it stays stopped";
    for (int i = 0; i < 10; ++i) crowd.other.round_trip(server, "the other channel " + std::to_string(i));

    // Memory back from another thread: the rest arrives, in order.
    std::uint64_t expected = 1;
    const auto take = [&](Message::Ptr& m) {
        EXPECT_EQ(m->message_id(), expected++);
        std::thread([&m] { m.reset(); }).join();
    };
    for (auto& m : held) take(m);
    while (expected <= count) {
        Message::Ptr got = server.group.next();
        ASSERT_TRUE(got);
        take(got);
    }
    writer.stop();
    server.group.expect_quiet();
}

// A peer that sends requests and never reads the answers: the answers (the
// requests, answered in place) wait in its send queue and count against its
// share, so it stops being read before it can fill the pool.
TEST_P(Hostile, UnreadAnswersPauseTheirSender) {
    CrowdedServer crowd(options(), options());
    ASSERT_TRUE(crowd);
    Server& server = crowd.server;
    RawPeer& greedy = crowd.peer;
    const std::string body(60000, 'q');
    Bytes request = frame({.opcode = op(OpCode::Request), .id = 1, .body = as_bytes(body)});
    greedy.set_nonblocking(true);
    Worker writer([&](const std::atomic<bool>& stop) {
        while (!stop.load()) {
            if (greedy.send_some(request) < 0) return;
            wait_ready(greedy.handle(), POLLOUT, 20ms);
        }
    });
    // The server application answers every request it gets; the kernel
    // buffers on the way hold a few MB of answers, far fewer than this.
    constexpr std::size_t plenty = 1000;
    std::size_t answered = 0;
    while (answered < plenty) {
        Message::Ptr got = server.group.poll(300ms);
        if (!got) break; // the greedy channel stopped being read
        if (is_pool_empty(*got)) continue;
        ASSERT_EQ(got->channel(), crowd.channel) << describe(got);
        got->reply(OpCode::Response);
        server.group.post_ok(got);
        ++answered;
    }
    EXPECT_LT(answered, plenty) << "a peer that never reads must be paused";
    EXPECT_LE(server.engine.stats().messages_in_use, server.engine.options().max_messages - crowd.share())
        << "a share of the pool stays free for the others";
    for (int i = 0; i < 5; ++i) crowd.other.round_trip(server, "unaffected " + std::to_string(i));
}

// Returns a firehose's stream to the server application one message at a
// time (from another thread, as memory comes back from anywhere) and checks
// that the rest arrives in order.
struct Firehose {
    static constexpr std::uint64_t count = 300;
    explicit Firehose(CrowdedServer& crowd) : crowd(crowd) {
        Bytes stream;
        for (std::uint64_t i = 0; i < count; ++i) append_frame(stream, {.opcode = op(OpCode::Signal), .id = i + 1});
        crowd.peer.set_nonblocking(true);
        writer.emplace(
            [this, stream](const std::atomic<bool>&) { EXPECT_TRUE(this->crowd.peer.send_all(stream, kWait * 3)); });
    }
    // Every data message until the channel pauses at its share.
    void hold_until_paused() {
        while (crowd.server.group.pool_empty_count() == 0) {
            Message::Ptr got = crowd.server.group.receive();
            ASSERT_TRUE(got);
            if (!is_pool_empty(*got)) held.push_back(std::move(got));
        }
    }
    void give_back(std::size_t messages) {
        for (std::size_t i = 0; i < messages && !held.empty(); ++i) {
            std::thread([m = std::move(held.front())]() mutable { m.reset(); }).join();
            held.erase(held.begin());
        }
    }
    void take_the_rest() {
        give_back(held.size());
        while (next <= count) {
            Message::Ptr got = next_data(kWait);
            ASSERT_TRUE(got) << "message " << next << " never came";
            std::thread([m = std::move(got)]() mutable { m.reset(); }).join();
        }
        writer.reset();
        crowd.server.group.expect_quiet();
    }
    // The next data message (each new pause announces itself with a
    // pool_empty notice, let go here).
    Message::Ptr next_data(std::chrono::milliseconds patience) {
        Message::Ptr got = crowd.server.group.poll(patience);
        while (got && is_pool_empty(*got)) got = crowd.server.group.poll(patience);
        if (got) {
            EXPECT_EQ(got->message_id(), next++);
        }
        return got;
    }

    CrowdedServer& crowd;
    std::vector<Message::Ptr> held;
    std::uint64_t next = 1;
    std::optional<Worker> writer;
};

// Paused at its share, a channel waits for half a share to come back before
// it reads again, so that it reads a batch, not one frame per message
// returned (share_resume_grace set long here, so nothing else resumes it).
TEST_P(Hostile, APausedShareResumesForABatchNotForEachReturn) {
    Options patient = options();
    patient.share_resume_grace = kWait * 4;
    CrowdedServer crowd(patient, options());
    ASSERT_TRUE(crowd);
    Firehose hose(crowd);
    hose.hold_until_paused();
    hose.next = hose.held.size() + 1;
    for (std::size_t i = 0; i < hose.held.size(); ++i) EXPECT_EQ(hose.held[i]->message_id(), i + 1);

    hose.give_back(crowd.share() / 2 - 1);
    EXPECT_FALSE(hose.next_data(200ms)) << "fewer than half a share back: still paused";
    hose.give_back(3);
    EXPECT_TRUE(hose.next_data(kWait)) << "half a share back: reading again";
    hose.take_the_rest();
}

// An application that keeps most of what it got: the channel's next frame
// fits its share, but half a share never comes back. After
// share_resume_grace (the default) the channel reads on regardless.
TEST_P(Hostile, APausedShareResumesAfterItsGraceWhenTheApplicationKeepsItsMessages) {
    CrowdedServer crowd(options(), options());
    ASSERT_TRUE(crowd);
    Firehose hose(crowd);
    hose.hold_until_paused();
    hose.next = hose.held.size() + 1;
    for (int round = 0; round < 10; ++round) {
        hose.give_back(1);
        Message::Ptr got = hose.next_data(kWait);
        ASSERT_TRUE(got) << "round " << round << ": one returned message must be enough after the grace";
        hose.held.push_back(std::move(got));
    }
    hose.take_the_rest();
}

// ---- small pools stay live --------------------------------------------------------

// With a 16-message pool, an application that holds its pool_empty notice
// and every data message gets the next message for each single one it
// returns.
TEST_P(Hostile, OneReturnedMessageResumesReadingWhateverIsHeld) {
    Options o;
    o.max_messages = 16;
    Server server(whole_pool(o));
    ASSERT_TRUE(server);
    RawPeer peer = RawPeer::connect(server.listener.address);
    const ChannelNumber channel = raw_handshake(peer, server.group);
    ASSERT_NE(channel, 0);
    constexpr std::uint64_t count = 200;
    Bytes stream;
    for (std::uint64_t i = 0; i < count; ++i) append_frame(stream, {.opcode = op(OpCode::Signal), .id = i + 1});
    ASSERT_TRUE(peer.send_all(stream));

    Message::Ptr notice;
    std::vector<Message::Ptr> held = hold_until_pool_empty(server.group, &notice);
    ASSERT_TRUE(notice);
    std::uint64_t next_id = held.size() + 1;
    for (int round = 0; round < 20; ++round) {
        std::thread([&] { held.front().reset(); }).join();
        held.erase(held.begin());
        Message::Ptr got = server.group.next();
        ASSERT_TRUE(got) << "one returned message must resume reading (round " << round << ")";
        EXPECT_EQ(got->message_id(), next_id++);
        held.push_back(std::move(got));
    }
    EXPECT_TRUE(notice) << "the notice was held throughout";
}

// ---- options ----------------------------------------------------------------------

TEST_P(Hostile, OptionsThatCannotWorkAreRefusedWithAReason) {
    const auto refused = [this](Options bad, const std::string& option) {
        EXPECT_EQ(Engine::create(options(bad)).status(), Status::not_allowed) << option;
        try {
            Engine engine(options(bad));
            ADD_FAILURE() << option << ": the constructor must throw";
        } catch (const Error& error) {
            EXPECT_EQ(error.status(), Status::not_allowed);
            EXPECT_NE(std::string(error.what()).find(option), std::string::npos) << error.what();
        }
    };
    Options o;
    o.io_budget_bytes = 0;
    refused(o, "io_budget_bytes");
    o = {};
    o.max_hello_bytes = 0;
    refused(o, "max_hello_bytes");
    o = {};
    o.max_pending_handshakes = 0;
    refused(o, "max_pending_handshakes");
    o = {};
    o.frame_timeout = std::chrono::milliseconds(-1);
    refused(o, "timeouts");
    o = {};
    o.share_resume_grace = std::chrono::milliseconds(-1);
    refused(o, "timeouts");
    o = {};
    o.channel_share_messages = o.max_messages + 1;
    refused(o, "channel_share_messages");
    o = {};
    o.channel_share_bytes = max_frame_size; // cannot hold one maximum-size message
    refused(o, "channel_share_bytes");
    o = {};
    o.channel_share_bytes = o.memory_limit + 1;
    refused(o, "channel_share_bytes");
    // Zero turns a timeout off; an initial count above the maximum is capped.
    o = {};
    o.connect_timeout = o.handshake_timeout = o.frame_timeout = std::chrono::milliseconds(0);
    o.initial_messages = o.max_messages * 2;
    Result<Engine> fine = Engine::create(options(o));
    ASSERT_TRUE(fine.has_value()) << fine.status();
    EXPECT_EQ(fine.value().options().initial_messages, o.max_messages);
    EXPECT_EQ(fine.value().options().channel_share_messages, o.max_messages / 4);
}

TOFU_CONFORMANCE_INSTANTIATE(Hostile);

} // namespace
} // namespace tofu::conformance
