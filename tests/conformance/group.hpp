#pragma once
// Groups, listeners and connections.
//
//  * Group: a ChannelGroup wrapper that audits every message it hands out:
//    exactly one channel_closed per channel (with a ~cause header), nothing
//    for a channel after its channel_closed, pool_empty counted.
//  * listen, connect (the full hello handshake), round trips.
//  * ServerAndClient: the usual two-engine set-up, built in one go.
//
// Loopback addresses only; port 0 everywhere.
#include "messages.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tofu::conformance {

// ---- Group: a ChannelGroup that audits what it receives ---------------------

class Group {
public:
    Group(Engine& engine, std::string name);
    Group(const Group&) = delete;
    Group& operator=(const Group&) = delete;

    Engine& engine() { return *engine_; }
    ChannelGroup& raw() { return group_; }
    const std::string& name() const { return name_; }

    Result<BinaryHeader> post(Message::Ptr& message) { return group_.post(message); }

    // Posts and expects success; the assigned header (channel 0 on failure).
    BinaryHeader post_ok(Message::Ptr& message);

    // The next message of any kind, audited; empty on timeout (no failure).
    Message::Ptr poll(std::chrono::nanoseconds timeout);

    // The next message of any kind; a failure when none comes within `timeout`.
    Message::Ptr receive(std::chrono::nanoseconds timeout = kWait);

    // The next message that is not a pool_empty notification (those are
    // counted and returned to the pool).
    Message::Ptr next(std::chrono::nanoseconds timeout = kWait);

    // The next (non pool_empty) message must be the channel_closed of
    // `channel` with `cause`: an engine limit, or a status.
    Message::Ptr expect_closed(ChannelNumber channel, Limit cause, std::chrono::nanoseconds timeout = kWait);
    Message::Ptr expect_closed(ChannelNumber channel, Status cause, std::chrono::nanoseconds timeout = kWait);

    // Nothing but pool_empty notifications may arrive for `window`.
    void expect_quiet(std::chrono::milliseconds window = kQuiet);

    // After the engine is destroyed: everything still queued, until
    // wait_receive reports shutdown_started.
    std::vector<Message::Ptr> drain_after_shutdown();

    int closed_count(ChannelNumber channel) const;
    std::optional<Status> closed_cause(ChannelNumber channel) const;
    std::size_t closed_total() const { return closed_.size(); }
    std::size_t pool_empty_count() const { return pool_empty_; }
    const std::set<ChannelNumber>& opened() const { return opened_; }
    void note_opened(ChannelNumber channel) { opened_.insert(channel); }

    // Every channel seen opening in this group got exactly one channel_closed.
    void expect_each_opened_closed_once() const;

private:
    static ChannelGroup make_group(Engine& engine);
    std::string ended_note() const;
    void observe(const Message& message);

    struct Closed {
        int count = 0;
        Status cause = Status::success;
    };

    Engine* engine_;
    std::string name_;
    ChannelGroup group_;
    std::map<ChannelNumber, Closed> closed_;
    std::set<ChannelNumber> opened_;
    std::size_t pool_empty_ = 0;
    std::optional<Status> ended_;
};

// Receives on `group` (holding every data message) until the engine said
// pool_empty: the receiver's pool is exhausted and its reading has stopped.
// The notice itself is held in `notice` when asked for.
std::vector<Message::Ptr> hold_until_pool_empty(Group& group, Message::Ptr* notice = nullptr);

// Receives on `group` until a channel_closed, which must be the one of
// `channel` with `cause`; every message before it goes to `each`. False when
// nothing came within the safety timeout, or `each` failed fatally.
template <class Each>
bool receive_until_closed(Group& group, ChannelNumber channel, Status cause, Each each) {
    for (;;) {
        Message::Ptr message = group.next();
        if (!message) return false;
        if (is_closed_notification(*message)) {
            EXPECT_EQ(message->channel(), channel) << describe(message);
            EXPECT_EQ(cause_of(*message), cause) << describe(message);
            return true;
        }
        each(message);
        if (::testing::Test::HasFatalFailure()) return false;
    }
}

// ---- listeners and connections ----------------------------------------------

struct Listener {
    ChannelNumber channel = unassigned_channel;
    Address address;
    explicit operator bool() const { return channel != unassigned_channel; }
};

// WelcomeRequest on `where`; the WelcomeResponse's channel and real address.
Listener listen(Group& group, const Address& where);

struct Link {
    ChannelNumber client = unassigned_channel;
    ChannelNumber server = unassigned_channel;
    explicit operator bool() const { return client != unassigned_channel && server != unassigned_channel; }
};

// Full handshake: the client's HelloRequest, the server application's
// HelloResponse; both channel numbers.
Link connect(Group& client, Group& server, const Address& to, std::string_view hello_body = "hello");

// A Request from `from` on `channel`, answered by `to`'s application with a
// Response: proves a channel is alive and untouched.
void round_trip(Group& from, ChannelNumber from_channel, Group& to, ChannelNumber to_channel, std::string_view text);

// After `group` answered the ByeRequest it sent on `channel`: the peer's
// ByeResponse, then the channel's channel_closed (cause success). False when
// nothing came.
bool expect_bye_answered(Group& group, ChannelNumber channel);

// `a` aborts its channel with a ByeSignal: its own channel_closed says
// channel_closed, the peer `b` learns peer_disconnected.
void abort_and_expect_closed(Group& a, ChannelNumber a_channel, Group& b, ChannelNumber b_channel);

// A server engine and group listening on loopback TCP (port 0), and a client
// engine and group. Engines and groups neither copy nor move: it is built in
// place.
struct ServerAndClient {
    ServerAndClient(const Options& server_options, const Options& client_options, std::string server_name = "server",
                    std::string client_name = "client");

    // A new connection from the client to the listener, hello done; empty (a
    // failure) when there is none.
    Link connect(std::string_view hello_body = "hello");
    // One end of `link`, and the other.
    struct End {
        Group& group;
        ChannelNumber channel;
    };
    struct Ends {
        End first;
        End second;
    };
    // The ends of `link`, the client's first or the server's first.
    Ends ends(const Link& link, bool client_first);
    // A round trip on `link` that the client starts; one the server starts.
    void round_trip_from_client(const Link& link, std::string_view text);
    void round_trip_from_server(const Link& link, std::string_view text);
    // Nothing more arrives in either group.
    void expect_quiet();

    Engine server_engine;
    Engine client_engine;
    Group server;
    Group client;
    Listener listener;
};

} // namespace tofu::conformance
