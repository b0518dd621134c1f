// Many connections at once: 1,000 concurrent connections on one engine, each
// a hello and one request/response, then all of them closed, each exactly
// once; and a listener that runs out of descriptors for them.
#include "harness.hpp"

#include "raw_peer.hpp"

#ifndef _WIN32
#include <cerrno>
#include <fcntl.h>
#include <sys/resource.h>
#endif

namespace tofu::conformance {
namespace {

class Scale : public BackendTest {};

using raw::raw_handshake;
using raw::RawPeer;

// Raises the soft descriptor limit to the hard one; false (with the reason)
// when even that is below `needed`.
bool enough_descriptors(std::size_t needed, std::string& why) {
#ifndef _WIN32
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        why = "getrlimit failed";
        return false;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
        why = "RLIMIT_NOFILE hard limit " + std::to_string(limit.rlim_max) + " is below the " + std::to_string(needed) +
              " descriptors this test needs";
        return false;
    }
#else
    (void)needed;
    (void)why;
#endif
    return true;
}

TEST_P(Scale, ThousandConcurrentConnections) {
    constexpr std::size_t connections = 1000;
    std::string why;
    // Both ends live in this process, plus listeners, wakers, pollers.
    if (!enough_descriptors(2 * connections + 64, why)) GTEST_SKIP() << why;

    Options big;
    big.max_messages = 4096;
    std::optional<Engine> server_engine(std::in_place, options(big));
    std::optional<Engine> client_engine(std::in_place, options(big));
    Group server(*server_engine, "server");
    Group client(*client_engine, "client");
    const Listener listener = listen(server, tcp("127.0.0.1", 0));
    ASSERT_TRUE(listener);
    const Clock::time_point start = Clock::now();

    // Every hello at once.
    std::map<std::uint64_t, ChannelNumber> client_channel_of; // by hello id
    for (std::size_t i = 0; i < connections; ++i) {
        Message::Ptr hello = get_message(*client_engine);
        ASSERT_TRUE(hello);
        ASSERT_EQ(connect_to(*hello, listener.address), Status::success);
        ASSERT_EQ(hello->append_body("client " + std::to_string(i)), Status::success);
        const BinaryHeader posted = client.post_ok(hello);
        ASSERT_NE(posted.channel, unassigned_channel);
        client_channel_of[posted.message_id] = posted.channel;
    }
    EXPECT_EQ(client_channel_of.size(), connections);

    // The server accepts every one of them; the client sees every answer.
    std::set<ChannelNumber> server_channels;
    for (std::size_t i = 0; i < connections; ++i) {
        Message::Ptr request = server.next();
        ASSERT_TRUE(request) << i << " hellos arrived";
        ASSERT_EQ(request->opcode(), OpCode::HelloRequest) << describe(request);
        EXPECT_TRUE(server_channels.insert(request->channel()).second) << "a server channel number used twice";
        request->reply(OpCode::HelloResponse);
        server.post_ok(request);
    }
    std::map<ChannelNumber, std::uint64_t> request_of; // client channel → request id
    for (std::size_t i = 0; i < connections; ++i) {
        Message::Ptr response = client.next();
        ASSERT_TRUE(response) << i << " hello responses arrived";
        ASSERT_EQ(response->opcode(), OpCode::HelloResponse) << describe(response);
        ASSERT_EQ(response->status(), Status::success);
        EXPECT_EQ(client_channel_of.at(response->message_id()), response->channel());
        // One request per connection, posted as soon as it is open.
        response->set_opcode(OpCode::Request);
        response->set_message_id(0);
        response->clear_headers();
        response->clear_body();
        ASSERT_EQ(response->append_body("request on " + std::to_string(response->channel())), Status::success);
        const ChannelNumber channel = response->channel();
        request_of[channel] = client.post_ok(response).message_id;
    }
    for (std::size_t i = 0; i < connections; ++i) {
        Message::Ptr request = server.next();
        ASSERT_TRUE(request) << i << " requests arrived";
        ASSERT_EQ(request->opcode(), OpCode::Request) << describe(request);
        EXPECT_EQ(server_channels.count(request->channel()), 1u);
        request->reply(OpCode::Response);
        server.post_ok(request);
    }
    for (std::size_t i = 0; i < connections; ++i) {
        Message::Ptr response = client.next();
        ASSERT_TRUE(response) << i << " responses arrived";
        ASSERT_EQ(response->opcode(), OpCode::Response) << describe(response);
        EXPECT_EQ(request_of.at(response->channel()), response->message_id());
        EXPECT_EQ(response->body_text(), "request on " + std::to_string(response->channel()));
    }
    std::cout << "[  scale   ] " << connections << " connections opened and used in "
              << std::chrono::duration<double>(Clock::now() - start).count() << " s" << std::endl;

    // Half closed by the clients (abort), half left to the engines' end.
    std::size_t aborted = 0;
    for (const auto& [channel, id] : request_of) {
        if (aborted++ % 2 != 0) continue;
        Message::Ptr abort = make(*client_engine, OpCode::ByeSignal, channel);
        client.post_ok(abort);
    }
    const std::size_t half = (connections + 1) / 2;
    while (client.closed_total() < half) {
        Message::Ptr m = client.next();
        ASSERT_TRUE(m);
        ASSERT_TRUE(is_closed_notification(*m)) << describe(m);
        EXPECT_EQ(cause_of(*m), Status::channel_closed);
    }
    while (server.closed_total() < half) {
        Message::Ptr m = server.next();
        ASSERT_TRUE(m);
        ASSERT_TRUE(is_closed_notification(*m)) << describe(m);
        EXPECT_EQ(cause_of(*m), Status::peer_disconnected);
    }
    client_engine.reset();
    server_engine.reset();
    client.drain_after_shutdown();
    server.drain_after_shutdown();
    EXPECT_EQ(client.opened().size(), connections);
    EXPECT_EQ(server.opened().size(), connections + 1);
    client.expect_each_opened_closed_once();
    server.expect_each_opened_closed_once();
}

#ifndef _WIN32
// The soft descriptor limit under which exactly one descriptor number is
// still free: the next descriptor this process opens is its last.
rlim_t limit_leaving_one() {
    rlim_t number = 0;
    for (std::size_t free = 0;; ++number) {
        if (::fcntl(static_cast<int>(number), F_GETFD) == -1 && ++free == 2) return number;
    }
}

// Sets the soft descriptor limit for a scope.
class DescriptorLimit {
public:
    explicit DescriptorLimit(rlim_t soft) {
        EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &saved_), 0);
        rlimit lowered = saved_;
        lowered.rlim_cur = soft;
        EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0) << std::strerror(errno);
    }
    ~DescriptorLimit() { restore(); }
    void restore() {
        if (restored_) return;
        restored_ = true;
        EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &saved_), 0) << std::strerror(errno);
    }
    DescriptorLimit(const DescriptorLimit&) = delete;
    DescriptorLimit& operator=(const DescriptorLimit&) = delete;

private:
    rlimit saved_{};
    bool restored_ = false;
};
#endif

// A listener whose accept() fails for want of descriptors stops accepting
// (no spin on a backlog it cannot take) and starts again by itself once
// descriptors are back, even when none of the engine's own channels closes
// to free one: descriptors held elsewhere in the process come back too.
TEST_P(Scale, ListenerOutOfDescriptorsAcceptsAgainWhenTheyAreBack) {
#ifdef _WIN32
    GTEST_SKIP() << "Windows has no per-process descriptor limit to exhaust";
#else
    Engine engine(options());
    Group server(engine, "server");
    const Listener listener = listen(server, tcp("127.0.0.1", 0));
    ASSERT_TRUE(listener);

    DescriptorLimit limit(limit_leaving_one());
    RawPeer peer = RawPeer::connect(listener.address); // the last descriptor
    ASSERT_TRUE(peer);
    EXPECT_TRUE(wait_for_stats(engine, [](const EngineStats& now) { return now.accept_pauses != 0; }))
        << "the server had no descriptor left for the connection, and never said so";
    limit.restore();

    EXPECT_NE(raw_handshake(peer, server), 0) << "the connection waiting in the backlog was never accepted";
    EXPECT_EQ(engine.stats().connections_accepted, 1u);
    server.expect_quiet();
#endif
}

TOFU_CONFORMANCE_INSTANTIATE(Scale);

} // namespace
} // namespace tofu::conformance
