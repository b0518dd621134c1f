#pragma once
// The conformance harness: written once, used by every scenario, for every
// backend.
//
//  * BackendTest: the fixture, parametrized by tofu::Backend. A backend this
//    build lacks is skipped by name, never passed silently.
//  * Group: a ChannelGroup wrapper that audits every message it hands out:
//    exactly one channel_closed per channel (with a ~cause header), nothing
//    for a channel after its channel_closed, pool_empty counted.
//  * connection helpers (listen, connect = full hello handshake).
//  * deterministic payloads: a message names its stream and sequence number
//    in a `t:` header; its sizes and bytes follow from those, so a receiver
//    checks order and every byte without a copy of what was sent.
//
// Waits are bounded only as a safety net (kWait); no sleep synchronises
// anything. Loopback addresses only; port 0 everywhere.
#include <tofu/tofu.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// ---- sanitizers -------------------------------------------------------------
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TOFU_CONFORMANCE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define TOFU_CONFORMANCE_SANITIZED 1
#endif
#endif
#ifndef TOFU_CONFORMANCE_SANITIZED
#define TOFU_CONFORMANCE_SANITIZED 0
#endif

namespace tofu {
// GoogleTest prints a test's backend by name ("GetParam() = epoll").
inline void PrintTo(Backend backend, std::ostream* out) { *out << to_string(backend); }
} // namespace tofu

namespace tofu::conformance {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Safety net for every wait: never reached when the engine is right.
inline constexpr std::chrono::seconds kWait{10};
// How long "nothing else arrives" is watched at the end of a scenario.
inline constexpr std::chrono::milliseconds kQuiet{300};

inline constexpr bool kSanitized = TOFU_CONFORMANCE_SANITIZED != 0;

// Work multiplier for the heavy scenarios: TOFU_TEST_SCALE when set (e.g.
// 0.01 for a quick run, 2 for a long one), else 1 (0.1 in sanitized builds).
inline double scale() {
    static const double value = [] {
        if (const char* env = std::getenv("TOFU_TEST_SCALE"); env != nullptr && *env != '\0') {
            char* end = nullptr;
            const double parsed = std::strtod(env, &end);
            if (end != env && parsed > 0) return parsed;
        }
        return kSanitized ? 0.1 : 1.0;
    }();
    return value;
}

// `full` scaled, never below `minimum`; says so when it differs.
inline std::size_t scaled(std::size_t full, std::size_t minimum, std::string_view what) {
    const auto value = std::max<std::size_t>(minimum, static_cast<std::size_t>(static_cast<double>(full) * scale()));
    if (value != full) {
        std::cout << "[  scaled  ] " << what << ": " << value << " instead of " << full << " (scale " << scale()
                  << (kSanitized ? ", sanitized build" : "") << "; TOFU_TEST_SCALE overrides)" << std::endl;
    }
    return value;
}

// ---- the fixture ------------------------------------------------------------

class BackendTest : public ::testing::TestWithParam<Backend> {
protected:
    void SetUp() override {
        if (!backend_available(GetParam())) {
            GTEST_SKIP() << "backend " << to_string(GetParam()) << " is not compiled into this build";
        }
    }
    // Options for an engine under test: the backend of this instantiation.
    Options options(Options base = {}) const {
        base.backend = GetParam();
        return base;
    }
    // Options where one channel may hold the whole pool: for scenarios about
    // the pool itself running dry (the per-channel share has its own cases).
    Options whole_pool(Options base) const {
        base = options(base);
        base.channel_share_messages = base.max_messages;
        base.channel_share_bytes = base.memory_limit;
        return base;
    }
};

struct BackendName {
    std::string operator()(const ::testing::TestParamInfo<Backend>& info) const {
        return std::string(to_string(info.param));
    }
};

#define TOFU_CONFORMANCE_INSTANTIATE(suite)                                                                         \
    INSTANTIATE_TEST_SUITE_P(, suite,                                                                                \
                             ::testing::Values(::tofu::Backend::poll, ::tofu::Backend::epoll, ::tofu::Backend::afd, \
                                               ::tofu::Backend::kqueue),                                             \
                             ::tofu::conformance::BackendName{})

// A helper thread, told to stop and joined when its scope ends: also when an
// assertion returns early (a joinable std::thread would terminate the test
// program). The body gets the stop flag.
class Worker {
public:
    template <class Body>
    explicit Worker(Body body) : thread_([this, body = std::move(body)]() mutable { body(stop_); }) {}
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker() { stop(); }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }

private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// ---- message helpers --------------------------------------------------------

inline std::span<const std::byte> as_bytes(std::string_view text) {
    return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

// The `~cause` of a channel_closed: a Status name, or an engine Limit name.
inline std::optional<Status> cause_of(const Message& message) {
    const std::optional<std::string_view> value = message.find_header(cause_header);
    if (!value) return std::nullopt;
    return status_from_string(*value);
}

inline std::optional<Limit> limit_of(const Message& message) {
    const std::optional<std::string_view> value = message.find_header(cause_header);
    if (!value) return std::nullopt;
    for (std::size_t i = 1; i < limit_count; ++i) {
        if (to_string(static_cast<Limit>(i)) == *value) return static_cast<Limit>(i);
    }
    return std::nullopt;
}

// The engine's "this channel is gone" notification (not a returned message).
inline bool is_closed_notification(const Message& message) {
    return message.from_engine() && message.status() == Status::channel_closed &&
           message.opcode() == OpCode::ByeSignal && message.find_header("~cause").has_value();
}

inline bool is_pool_empty(const Message& message) {
    return message.from_engine() && message.status() == Status::pool_empty;
}

inline std::string describe(const Message* message) {
    if (message == nullptr) return "<no message>";
    std::ostringstream out;
    out << to_string(message->opcode()) << " ch=" << message->channel() << " status=" << message->status()
        << (message->from_engine() ? " from_engine" : " from_app") << (message->more() ? " more" : "")
        << " id=" << message->message_id() << " headers=" << message->raw_headers().size()
        << " body=" << message->body().size();
    if (auto cause = message->find_header("~cause")) out << " ~cause=" << *cause;
    if (!message->body().empty() && message->body().size() <= 48) out << " \"" << message->body_text() << "\"";
    return out.str();
}
inline std::string describe(const Message::Ptr& message) { return describe(message.get()); }

// A message from `engine`'s pool; a test failure when the pool is exhausted.
inline Message::Ptr get_message(Engine& engine) {
    Message::Ptr message = engine.get(Alloc::Always);
    EXPECT_TRUE(message) << "the test's own engine pool is exhausted";
    return message;
}

// Waits (with a short back-off: there is no "memory returned" event for an
// application) until the pool gives a message; empty after `deadline`.
inline Message::Ptr get_blocking(Engine& engine, Clock::time_point deadline) {
    for (unsigned attempt = 0;; ++attempt) {
        if (Message::Ptr message = engine.get(Alloc::Always)) return message;
        if (Clock::now() > deadline) return Message::Ptr();
        if (attempt < 64) std::this_thread::yield();
        else std::this_thread::sleep_for(50us);
    }
}

// What the I/O thread does shows in counters (engine stats, the pool) a
// moment later: waits, with a short back-off, until `ready()` holds; false
// after `patience`, the safety net.
template <class Predicate>
bool eventually(Predicate ready, std::chrono::milliseconds patience = kWait) {
    const Clock::time_point deadline = Clock::now() + patience;
    for (unsigned attempt = 0;; ++attempt) {
        if (ready()) return true;
        if (Clock::now() > deadline) return false;
        if (attempt < 64) std::this_thread::yield();
        else std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

template <class Predicate>
bool wait_for_stats(const Engine& engine, Predicate ready, std::chrono::milliseconds patience = kWait) {
    return eventually([&] { return ready(engine.stats()); }, patience);
}

inline Message::Ptr make(Engine& engine, OpCode op, ChannelNumber channel, std::string_view body = {},
                         std::uint64_t id = 0, bool more = false) {
    Message::Ptr message = get_message(engine);
    if (!message) return message;
    message->set_opcode(op);
    message->set_channel(channel);
    message->set_message_id(id);
    message->set_more(more);
    if (!body.empty()) {
        EXPECT_EQ(message->append_body(body), Status::success);
    }
    return message;
}

// ---- Group: a ChannelGroup that audits what it receives ---------------------

class Group {
public:
    Group(Engine& engine, std::string name) : engine_(&engine), name_(std::move(name)), group_(make_group(engine)) {}
    Group(const Group&) = delete;
    Group& operator=(const Group&) = delete;

    Engine& engine() { return *engine_; }
    ChannelGroup& raw() { return group_; }
    const std::string& name() const { return name_; }

    Result<BinaryHeader> post(Message::Ptr& message) { return group_.post(message); }

    // Posts and expects success; the assigned header (channel 0 on failure).
    BinaryHeader post_ok(Message::Ptr& message) {
        const std::string what = describe(message);
        Result<BinaryHeader> posted = group_.post(message);
        EXPECT_TRUE(posted.has_value()) << name_ << ": post(" << what << ") failed: " << posted.status();
        if (!posted) return BinaryHeader{};
        EXPECT_FALSE(message) << name_ << ": a posted message handle must be empty";
        return posted.value();
    }

    // The next message of any kind, audited; empty on timeout (no failure).
    Message::Ptr poll(std::chrono::nanoseconds timeout) {
        Result<Message::Ptr> result = group_.wait_receive(timeout);
        if (!result) {
            ended_ = result.status();
            return Message::Ptr();
        }
        Message::Ptr message = std::move(result.value());
        if (message) observe(*message);
        return message;
    }

    // The next message of any kind; a failure when none comes within `timeout`.
    Message::Ptr receive(std::chrono::nanoseconds timeout = kWait) {
        Message::Ptr message = poll(timeout);
        if (!message) {
            ADD_FAILURE() << name_ << ": nothing received within the safety timeout" << ended_note();
        }
        return message;
    }

    // The next message that is not a pool_empty notification (those are
    // counted and returned to the pool).
    Message::Ptr next(std::chrono::nanoseconds timeout = kWait) {
        const Clock::time_point deadline = Clock::now() + timeout;
        for (;;) {
            const auto left = std::max<Clock::duration>(deadline - Clock::now(), Clock::duration::zero());
            Message::Ptr message = poll(left);
            if (!message) {
                ADD_FAILURE() << name_ << ": nothing received within the safety timeout" << ended_note();
                return message;
            }
            if (!is_pool_empty(*message)) return message;
        }
    }

    // The next (non pool_empty) message must be the channel_closed of
    // `channel` with `cause`.
    // ... or with an engine limit as its cause.
    Message::Ptr expect_closed(ChannelNumber channel, Limit cause, std::chrono::nanoseconds timeout = kWait) {
        Message::Ptr message = next(timeout);
        EXPECT_TRUE(message && is_closed_notification(*message) && message->channel() == channel &&
                    limit_of(*message) == cause)
            << name_ << ": expected channel_closed of channel " << channel << " with ~cause " << to_string(cause)
            << ", got " << describe(message);
        return message;
    }

    Message::Ptr expect_closed(ChannelNumber channel, Status cause, std::chrono::nanoseconds timeout = kWait) {
        Message::Ptr message = next(timeout);
        EXPECT_TRUE(message && is_closed_notification(*message) && message->channel() == channel &&
                    cause_of(*message) == cause)
            << name_ << ": expected channel_closed of channel " << channel << " with ~cause " << cause
            << ", got " << describe(message);
        return message;
    }

    // Nothing but pool_empty notifications may arrive for `window`.
    void expect_quiet(std::chrono::milliseconds window = kQuiet) {
        while (Message::Ptr message = poll(window)) {
            if (!is_pool_empty(*message)) {
                ADD_FAILURE() << name_ << ": unexpected late message " << describe(message);
            }
        }
    }

    // After the engine is destroyed: everything still queued, until
    // wait_receive reports shutdown_started.
    std::vector<Message::Ptr> drain_after_shutdown() {
        std::vector<Message::Ptr> rest;
        const Clock::time_point deadline = Clock::now() + kWait;
        while (!ended_ && Clock::now() < deadline) {
            if (Message::Ptr message = poll(kWait)) rest.push_back(std::move(message));
        }
        EXPECT_EQ(ended_.value_or(Status::success), Status::shutdown_started)
            << name_ << ": wait_receive must end with shutdown_started once the engine is gone";
        return rest;
    }

    int closed_count(ChannelNumber channel) const {
        auto it = closed_.find(channel);
        return it == closed_.end() ? 0 : it->second.count;
    }
    std::optional<Status> closed_cause(ChannelNumber channel) const {
        auto it = closed_.find(channel);
        if (it == closed_.end()) return std::nullopt;
        return it->second.cause;
    }
    std::size_t closed_total() const { return closed_.size(); }
    std::size_t pool_empty_count() const { return pool_empty_; }
    const std::set<ChannelNumber>& opened() const { return opened_; }
    void note_opened(ChannelNumber channel) { opened_.insert(channel); }

    // Every channel seen opening in this group got exactly one channel_closed.
    void expect_each_opened_closed_once() const {
        for (ChannelNumber channel : opened_) {
            EXPECT_EQ(closed_count(channel), 1) << name_ << ": channel " << channel
                                                << " was opened and must be closed exactly once";
        }
    }

private:
    static ChannelGroup make_group(Engine& engine) {
        Result<ChannelGroup> group = engine.create_group();
        if (!group) throw Error(group.status(), "create_group failed");
        return std::move(group).value();
    }

    std::string ended_note() const {
        return ended_ ? std::string(" (wait_receive ended: ") + std::string(to_string(*ended_)) + ")" : std::string();
    }

    void observe(const Message& message) {
        const ChannelNumber channel = message.channel();
        if (is_closed_notification(message)) {
            Closed& record = closed_[channel];
            if (++record.count > 1) {
                ADD_FAILURE() << name_ << ": a second channel_closed for channel " << channel << ": "
                              << describe(&message);
            }
            record.cause = cause_of(message).value_or(Status::unknown_error);
            EXPECT_TRUE(cause_of(message).has_value() || limit_of(message).has_value())
                << name_ << ": ~cause names neither a status nor a limit: " << describe(&message);
            return;
        }
        if (message.from_engine() && message.status() == Status::channel_closed &&
            message.opcode() == OpCode::ByeSignal) {
            ADD_FAILURE() << name_ << ": channel_closed notification without ~cause: " << describe(&message);
        }
        if (is_pool_empty(message)) {
            ++pool_empty_;
            EXPECT_EQ(message.opcode(), OpCode::Signal) << name_ << ": pool_empty is a Signal";
            return;
        }
        if (message.from_engine() && message.status() == Status::receiver_update) return;
        if (closed_.count(channel) != 0) {
            ADD_FAILURE() << name_ << ": a message for channel " << channel << " after its channel_closed: "
                          << describe(&message);
        }
        if (!message.from_engine() &&
            (message.opcode() == OpCode::HelloRequest || message.opcode() == OpCode::HelloResponse)) {
            opened_.insert(channel);
        }
        if (message.from_engine() && message.opcode() == OpCode::WelcomeResponse &&
            message.status() == Status::success) {
            opened_.insert(channel);
        }
    }

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

// ---- listeners and connections ----------------------------------------------

struct Listener {
    ChannelNumber channel = unassigned_channel;
    Address address;
    explicit operator bool() const { return channel != unassigned_channel; }
};

// WelcomeRequest on `where`; the WelcomeResponse's channel and real address.
inline Listener listen(Group& group, const Address& where) {
    Message::Ptr welcome = get_message(group.engine());
    if (!welcome) return {};
    EXPECT_EQ(listen_on(*welcome, where), Status::success);
    const BinaryHeader posted = group.post_ok(welcome);
    if (posted.channel == unassigned_channel) return {};
    Message::Ptr response = group.next();
    if (!response) return {};
    EXPECT_EQ(response->opcode(), OpCode::WelcomeResponse) << describe(response);
    EXPECT_TRUE(response->from_engine()) << describe(response);
    EXPECT_EQ(response->status(), Status::success) << "listen on " << where.to_string() << ": " << describe(response);
    EXPECT_EQ(response->channel(), posted.channel) << describe(response);
    EXPECT_EQ(response->message_id(), posted.message_id) << describe(response);
    Result<Address> bound = address_of(*response);
    EXPECT_TRUE(bound.has_value()) << "WelcomeResponse without a parsable ~listen_on: " << bound.status();
    if (response->status() != Status::success || !bound) return {};
    return {posted.channel, bound.value()};
}

struct Link {
    ChannelNumber client = unassigned_channel;
    ChannelNumber server = unassigned_channel;
    explicit operator bool() const { return client != unassigned_channel && server != unassigned_channel; }
};

// Full handshake: the client's HelloRequest, the server application's
// HelloResponse; both channel numbers.
inline Link connect(Group& client, Group& server, const Address& to, std::string_view hello_body = "hello") {
    Message::Ptr hello = get_message(client.engine());
    if (!hello) return {};
    EXPECT_EQ(connect_to(*hello, to), Status::success);
    if (!hello_body.empty()) {
        EXPECT_EQ(hello->append_body(hello_body), Status::success);
    }
    const BinaryHeader posted = client.post_ok(hello);
    if (posted.channel == unassigned_channel) return {};
    EXPECT_NE(posted.message_id, 0u);

    Message::Ptr request = server.next();
    if (!request) return {};
    EXPECT_EQ(request->opcode(), OpCode::HelloRequest) << describe(request);
    EXPECT_FALSE(request->from_engine()) << describe(request);
    EXPECT_EQ(request->message_id(), posted.message_id) << describe(request);
    EXPECT_EQ(request->body_text(), hello_body) << describe(request);
    const ChannelNumber server_channel = request->channel();
    EXPECT_NE(server_channel, unassigned_channel);
    EXPECT_NE(server_channel, reserved_channel);
    if (request->opcode() != OpCode::HelloRequest) return {};
    request->reply(OpCode::HelloResponse);
    server.post_ok(request);

    Message::Ptr response = client.next();
    if (!response) return {};
    EXPECT_EQ(response->opcode(), OpCode::HelloResponse) << describe(response);
    EXPECT_FALSE(response->from_engine()) << describe(response);
    EXPECT_EQ(response->status(), Status::success) << describe(response);
    EXPECT_EQ(response->channel(), posted.channel) << describe(response);
    EXPECT_EQ(response->message_id(), posted.message_id) << describe(response);
    if (response->opcode() != OpCode::HelloResponse) return {};
    return {posted.channel, server_channel};
}

// A Request from `from` on `channel`, answered by `to`'s application with a
// Response: proves a channel is alive and untouched.
inline void round_trip(Group& from, ChannelNumber from_channel, Group& to, ChannelNumber to_channel,
                       std::string_view text) {
    Message::Ptr request = make(from.engine(), OpCode::Request, from_channel, text);
    if (!request) return;
    const BinaryHeader posted = from.post_ok(request);
    Message::Ptr got = to.next();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->opcode(), OpCode::Request) << describe(got);
    EXPECT_EQ(got->channel(), to_channel) << describe(got);
    EXPECT_EQ(got->message_id(), posted.message_id) << describe(got);
    EXPECT_EQ(got->body_text(), text) << describe(got);
    got->reply(OpCode::Response);
    to.post_ok(got);
    Message::Ptr answer = from.next();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->opcode(), OpCode::Response) << describe(answer);
    EXPECT_EQ(answer->channel(), from_channel) << describe(answer);
    EXPECT_EQ(answer->message_id(), posted.message_id) << describe(answer);
    EXPECT_EQ(answer->body_text(), text) << describe(answer);
}

// ---- deterministic payloads -------------------------------------------------

inline std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

inline std::uint64_t seed_of(std::uint32_t stream, std::uint64_t seq) {
    std::uint64_t state = (std::uint64_t{stream} << 48) ^ seq ^ 0x7F4A7C15F39CC060ull;
    return splitmix64(state);
}

// Sizes of one message: the whole text-header block and the body.
struct Shape {
    std::size_t headers = 0;
    std::size_t body = 0;
};
using ShapeFn = Shape (*)(std::uint32_t stream, std::uint64_t seq);

inline std::string descriptor_line(std::uint32_t stream, std::uint64_t seq) {
    return "t:" + std::to_string(stream) + "." + std::to_string(seq) + "\r\n";
}

// The exact header block a message of (stream, seq, shape) carries: the
// `t:stream.seq` line, then `p:` lines of pseudo-random letters up to the
// requested size (a remainder too short for a line is dropped).
inline std::string header_block(std::uint32_t stream, std::uint64_t seq, std::size_t wanted) {
    std::string block = descriptor_line(stream, seq);
    wanted = std::min(wanted, max_headers_size);
    if (wanted <= block.size()) return block;
    std::size_t remaining = wanted - block.size();
    if (remaining < 5) return block;
    std::uint64_t state = seed_of(stream, seq) ^ 0xA5A5A5A5u;
    std::uint64_t bits = 0;
    int left = 0;
    block.reserve(wanted);
    while (remaining != 0) {
        std::size_t line = std::min<std::size_t>(remaining, 4000);
        if (remaining - line != 0 && remaining - line < 5) line = remaining - 5;
        block += "p:";
        for (std::size_t i = 0; i < line - 4; ++i) {
            if (left == 0) {
                bits = splitmix64(state);
                left = 12;
            }
            block += static_cast<char>('a' + (bits & 0x1F) % 26);
            bits >>= 5;
            --left;
        }
        block += "\r\n";
        remaining -= line;
    }
    return block;
}

// Writes message `seq` of `stream`: its header block and its body bytes.
inline Status fill(Message& message, std::uint32_t stream, std::uint64_t seq, Shape shape) {
    message.clear_headers();
    message.clear_body();
    const std::string block = header_block(stream, seq, shape.headers);
    std::string_view rest = block;
    while (!rest.empty()) {
        const std::size_t end = rest.find("\r\n");
        const std::string_view line = rest.substr(0, end);
        const std::size_t colon = line.find(':');
        if (Status s = message.add_header(line.substr(0, colon), line.substr(colon + 1)); s != Status::success) return s;
        rest.remove_prefix(end + 2);
    }
    const std::size_t body = std::min(shape.body, max_body_size);
    if (Status s = message.resize_body(body); s != Status::success) return s;
    std::uint64_t state = seed_of(stream, seq);
    std::byte* out = message.body().data();
    std::size_t i = 0;
    for (; i + 8 <= body; i += 8) {
        const std::uint64_t word = splitmix64(state);
        std::memcpy(out + i, &word, 8);
    }
    if (i < body) {
        const std::uint64_t word = splitmix64(state);
        std::memcpy(out + i, &word, body - i);
    }
    return Status::success;
}

struct Identity {
    std::uint32_t stream = 0;
    std::uint64_t seq = 0;
};

// Which (stream, seq) a message says it is (its first header).
inline std::optional<Identity> identity_of(const Message& message) {
    const std::optional<std::string_view> value = message.find_header("t");
    if (!value) return std::nullopt;
    const std::size_t dot = value->find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    Identity id;
    try {
        id.stream = static_cast<std::uint32_t>(std::stoul(std::string(value->substr(0, dot))));
        id.seq = std::stoull(std::string(value->substr(dot + 1)));
    } catch (...) {
        return std::nullopt;
    }
    return id;
}

// Empty when `message` is exactly message `id` of shape `shape`; else why not.
inline std::string check_payload(const Message& message, Identity id, Shape shape) {
    const std::string block = header_block(id.stream, id.seq, shape.headers);
    const auto headers = message.raw_headers();
    if (headers.size() != block.size()) {
        return "header block of " + std::to_string(headers.size()) + " bytes, expected " + std::to_string(block.size());
    }
    if (std::memcmp(headers.data(), block.data(), block.size()) != 0) return "header bytes differ";
    const std::size_t body = std::min(shape.body, max_body_size);
    const auto bytes = message.body();
    if (bytes.size() != body) return "body of " + std::to_string(bytes.size()) + " bytes, expected " + std::to_string(body);
    std::uint64_t state = seed_of(id.stream, id.seq);
    std::size_t i = 0;
    for (; i + 8 <= body; i += 8) {
        const std::uint64_t word = splitmix64(state);
        if (std::memcmp(bytes.data() + i, &word, 8) != 0) return "body differs near offset " + std::to_string(i);
    }
    if (i < body) {
        const std::uint64_t word = splitmix64(state);
        if (std::memcmp(bytes.data() + i, &word, body - i) != 0) return "body differs near offset " + std::to_string(i);
    }
    return {};
}

// Checks arriving payload messages: per stream in order, from seq 0, every
// byte as sent. accept() is called by one thread at a time.
class StreamChecker {
public:
    StreamChecker(std::size_t streams, ShapeFn shape) : next_(streams, 0), shape_(shape) {}

    // true when `message` is the next message of its stream, byte-exact
    bool accept(const Message& message) {
        const std::optional<Identity> id = identity_of(message);
        if (!id || id->stream >= next_.size()) return fail("a message without a valid t: header: " + describe(&message));
        if (id->seq != next_[id->stream]) {
            return fail("stream " + std::to_string(id->stream) + ": got seq " + std::to_string(id->seq) +
                        ", expected " + std::to_string(next_[id->stream]));
        }
        const std::string why = check_payload(message, *id, shape_(id->stream, id->seq));
        if (!why.empty()) {
            return fail("stream " + std::to_string(id->stream) + " seq " + std::to_string(id->seq) + ": " + why);
        }
        ++next_[id->stream];
        ++total_;
        return true;
    }
    std::uint64_t received(std::size_t stream) const { return next_[stream]; }
    std::uint64_t total() const { return total_; }
    std::size_t failures() const { return failures_; }

private:
    bool fail(const std::string& why) {
        if (++failures_ <= 5) {
            ADD_FAILURE() << why;
        }
        return false;
    }
    std::vector<std::uint64_t> next_;
    ShapeFn shape_;
    std::uint64_t total_ = 0;
    std::size_t failures_ = 0;
};

// A message from `engine` filled as message `seq` of `stream`, waiting (with
// a back-off) while the pool has no message or no buffer memory for it.
inline Message::Ptr build_blocking(Engine& engine, std::uint32_t stream, std::uint64_t seq, Shape shape,
                                   Clock::time_point deadline) {
    for (unsigned attempt = 0;; ++attempt) {
        Message::Ptr message = get_blocking(engine, deadline);
        if (!message) return message;
        const Status s = fill(*message, stream, seq, shape);
        if (s == Status::success) return message;
        if (s != Status::allocation_failed) {
            ADD_FAILURE() << "building message " << seq << " of stream " << stream << " failed: " << s;
            return Message::Ptr();
        }
        message.reset(); // not enough buffer memory yet: give the message back and wait
        if (Clock::now() > deadline) return Message::Ptr();
        if (attempt < 64) {
            std::this_thread::yield();
        } else {
            std::this_thread::sleep_for(50us);
        }
    }
}

// Posts messages [first, first + count) of `stream` on `channel`, waiting for
// pool memory when the sender's pool is exhausted. False on a failure.
inline bool send_stream(Engine& engine, Group& group, ChannelNumber channel, std::uint32_t stream,
                        std::uint64_t first, std::uint64_t count, ShapeFn shape, OpCode op = OpCode::Signal,
                        std::chrono::seconds patience = std::chrono::seconds(60)) {
    for (std::uint64_t seq = first; seq < first + count; ++seq) {
        Message::Ptr message = build_blocking(engine, stream, seq, shape(stream, seq), Clock::now() + patience);
        if (!message) {
            ADD_FAILURE() << "sender: no pool memory for " << patience.count() << " s at seq " << seq;
            return false;
        }
        message->set_opcode(op);
        message->set_channel(channel);
        message->set_message_id(seq + 1);
        Result<BinaryHeader> posted = group.post(message);
        if (!posted) {
            ADD_FAILURE() << "sender: post of seq " << seq << " failed: " << posted.status();
            return false;
        }
    }
    return true;
}

// Shapes used by several scenarios.
inline Shape small_shape(std::uint32_t, std::uint64_t seq) { return {0, 64 + seq % 512}; }
inline Shape max_shape(std::uint32_t, std::uint64_t) { return {max_headers_size, max_body_size}; }
// 90% small, 10% large (each part between half and all of its maximum, one
// in ten of those at exactly the maximum): about 10 KB per message on average.
inline Shape mixed_shape(std::uint32_t stream, std::uint64_t seq) {
    std::uint64_t state = seed_of(stream, seq) ^ 0x5151;
    const std::uint64_t r = splitmix64(state);
    if (r % 100 >= 10) return {(r >> 8) % 300, (r >> 20) % 1500};
    if ((r >> 8) % 10 == 0) return {max_headers_size, max_body_size};
    const std::size_t half = max_body_size / 2;
    return {half + (r >> 12) % (max_headers_size - half + 1), half + (r >> 32) % (max_body_size - half + 1)};
}

} // namespace tofu::conformance
