// tofu-perf, the tofu side: one engine per process.
//
// Throughput: the client streams Signals as fast as the engine takes them.
// It gets messages with Alloc::Always and only when the pool is at its hard
// limit does it look at its own group (and give the I/O thread a moment to
// write and return memory). The server drops every Signal at once, which
// returns it to its pool, and times the first to the last.
// Latency: one Request outstanding at a time; the server answers with the
// same message (reply(Response)), the client reuses the answer as its next
// request, so neither side allocates in the loop.
#include "perf/perf.hpp"

#include "common/stats.hpp"

#include <tofu/tofu.hpp>

#include <cstring>
#include <iostream>
#include <optional>

namespace perf {
namespace {

using namespace std::chrono_literals;

constexpr int idle_limit_seconds = 60; // receive timeouts of 1 s in a row
// The last Signal of a throughput run carries this text header.
constexpr std::string_view end_marker = "perf-end";

tofu::Options engine_options(const Case& c) {
    tofu::Options options;
    options.backend = c.backend;
    options.max_messages = c.max_messages;
    options.memory_limit = c.memory_limit;
    return options;
}

std::string describe(const tofu::Message& msg) {
    std::string text = std::string(tofu::to_string(msg.opcode())) + " " + std::string(tofu::to_string(msg.status()));
    if (std::optional<std::string_view> cause = msg.find_header("~cause")) text += " (" + std::string(*cause) + ")";
    return text;
}

// Gives `msg` a body of `size` bytes; only freshly allocated capacity is
// filled, a recycled message keeps its (already initialised) bytes.
bool set_payload(tofu::Message& msg, std::size_t size) {
    const std::size_t had = msg.body_capacity();
    if (msg.resize_body(size) != tofu::Status::success) return false;
    if (had < size) std::memset(msg.body().data(), 'x', size);
    return true;
}

struct Connection {
    tofu::Engine engine;
    tofu::ChannelGroup group;
    tofu::ChannelNumber channel = tofu::unassigned_channel;
};

// Engine, group, HelloRequest, HelloResponse.
std::optional<Connection> connect(const Case& c, const tofu::Address& server, std::string& error) {
    tofu::Result<tofu::Engine> engine = tofu::Engine::create(engine_options(c));
    if (!engine) {
        error = "engine: " + std::string(tofu::to_string(engine.status()));
        return std::nullopt;
    }
    tofu::Result<tofu::ChannelGroup> group = engine.value().create_group();
    if (!group) {
        error = "group: " + std::string(tofu::to_string(group.status()));
        return std::nullopt;
    }
    Connection connection{std::move(engine.value()), std::move(group.value())};
    tofu::Message::Ptr hello = connection.engine.get(tofu::Alloc::Always);
    if (tofu::Status s = tofu::connect_to(*hello, server); s != tofu::Status::success) {
        error = "connect_to: " + std::string(tofu::to_string(s));
        return std::nullopt;
    }
    tofu::Result<tofu::BinaryHeader> posted = connection.group.post(hello);
    if (!posted) {
        error = "HelloRequest: " + std::string(tofu::to_string(posted.status()));
        return std::nullopt;
    }
    connection.channel = posted.value().channel;
    const Clock::time_point deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
        tofu::Result<tofu::Message::Ptr> received = connection.group.wait_receive(100ms);
        if (!received) break;
        tofu::Message::Ptr msg = std::move(received.value());
        if (!msg) continue;
        if (!msg->from_engine() && msg->opcode() == tofu::OpCode::HelloResponse) return connection;
        if (msg->from_engine() && msg->status() != tofu::Status::pool_empty) {
            error = "connect: " + describe(*msg);
            return std::nullopt;
        }
    }
    error = "connect: no HelloResponse within 10 s";
    return std::nullopt;
}

// ByeRequest, then wait for channel_closed.
void say_bye(Connection& connection) {
    tofu::Message::Ptr bye = connection.engine.get(tofu::Alloc::Always);
    if (!bye) return;
    bye->set_opcode(tofu::OpCode::ByeRequest);
    bye->set_channel(connection.channel);
    if (!connection.group.post(bye)) return;
    const Clock::time_point deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
        tofu::Result<tofu::Message::Ptr> received = connection.group.wait_receive(100ms);
        if (!received) return;
        if (tofu::Message::Ptr& msg = received.value();
            msg && msg->from_engine() && msg->status() == tofu::Status::channel_closed) {
            return;
        }
    }
}

ClientResult throughput_client(Connection& connection, const Case& c, const std::function<bool()>& server_done) {
    ClientResult result;
    tofu::Engine& engine = connection.engine;
    tofu::ChannelGroup& group = connection.group;
    // A pool message made ready to post: payload, or the end marker.
    const auto prepare = [&](tofu::Message& msg, bool marker) {
        msg.set_opcode(tofu::OpCode::Signal);
        msg.set_channel(connection.channel);
        return marker ? msg.add_header(end_marker, "1") == tofu::Status::success : set_payload(msg, c.size);
    };
    const Clock::time_point deadline = deadline_of(c);
    for (std::uint64_t sent = 0; sent <= c.count; ++sent) {
        // c.count Signals of c.size bytes, then the end marker
        if (sent != c.count && out_of_time(c, sent, deadline)) sent = c.count;
        const bool marker = sent == c.count;
        tofu::Message::Ptr msg = engine.get(tofu::Alloc::Always);
        Clock::time_point stalled_since{};
        while (!msg || !prepare(*msg, marker)) {
            // At the pool's hard limit (messages, or bytes for the payload):
            // what we posted is still queued in the engine. Give the message
            // back, take what our group holds (notifications only, for a
            // sender) and give the I/O thread a moment to return memory.
            msg.reset();
            if (stalled_since == Clock::time_point{}) stalled_since = Clock::now();
            else if (Clock::now() - stalled_since > 30s) {
                result.error = "after " + std::to_string(sent) + " messages: no pool memory came back for 30 s";
                return result;
            }
            tofu::Result<tofu::Message::Ptr> received = group.wait_receive(20us);
            if (!received) {
                result.error = "receive: " + std::string(tofu::to_string(received.status()));
                return result;
            }
            if (tofu::Message::Ptr& note = received.value();
                note && note->from_engine() && note->status() != tofu::Status::pool_empty) {
                result.error = "after " + std::to_string(sent) + " messages: " + describe(*note);
                return result;
            }
            msg = engine.get(tofu::Alloc::Always);
        }
        if (tofu::Result<tofu::BinaryHeader> posted = group.post(msg); !posted) {
            result.error = "post: " + std::string(tofu::to_string(posted.status()));
            return result;
        }
    }
    return after_server_report(server_done);
}

ClientResult latency_client(Connection& connection, const Case& c) {
    ClientResult result;
    result.round_trip_ns.reserve(c.count);
    tofu::Message::Ptr request = connection.engine.get(tofu::Alloc::Always);
    if (!set_payload(*request, c.size)) {
        result.error = "payload: pool memory limit";
        return result;
    }
    for (std::uint64_t i = 0; i < c.warmup + c.count; ++i) {
        request->set_opcode(tofu::OpCode::Request);
        request->set_channel(connection.channel);
        request->set_message_id(0); // the engine assigns a fresh one
        const Clock::time_point start = Clock::now();
        tofu::Result<tofu::BinaryHeader> posted = connection.group.post(request);
        if (!posted) {
            result.error = "post: " + std::string(tofu::to_string(posted.status()));
            return result;
        }
        for (;;) {
            tofu::Result<tofu::Message::Ptr> received = connection.group.wait_receive(10s);
            if (!received || !received.value()) {
                result.error = "no Response within 10 s";
                return result;
            }
            tofu::Message::Ptr msg = std::move(received.value());
            if (msg->from_engine()) {
                if (msg->status() == tofu::Status::pool_empty) continue;
                result.error = describe(*msg);
                return result;
            }
            if (msg->opcode() != tofu::OpCode::Response || msg->message_id() != posted.value().message_id) continue;
            const Clock::time_point end = Clock::now();
            if (i >= c.warmup)
                result.round_trip_ns.push_back(std::chrono::duration<double, std::nano>(end - start).count());
            request = std::move(msg);
            break;
        }
    }
    result.ok = true;
    return result;
}

} // namespace

int tofu_serve(const Case& c, const tofu::Address& where) {
    tofu::Result<tofu::Engine> created = tofu::Engine::create(engine_options(c));
    if (!created) {
        print_server_error("engine: " + std::string(tofu::to_string(created.status())));
        return 1;
    }
    tofu::Engine engine = std::move(created.value());
    tofu::ChannelGroup group = engine.create_group().value();
    tofu::Message::Ptr welcome = engine.get(tofu::Alloc::Always);
    if (tofu::Status s = tofu::listen_on(*welcome, where); s != tofu::Status::success) {
        print_server_error("listen_on: " + std::string(tofu::to_string(s)));
        return 1;
    }
    if (tofu::Result<tofu::BinaryHeader> posted = group.post(welcome); !posted) {
        print_server_error("WelcomeRequest: " + std::string(tofu::to_string(posted.status())));
        return 1;
    }

    tofu::ChannelNumber peer = tofu::unassigned_channel;
    std::uint64_t received_count = 0;
    std::uint64_t answered = 0; // latency: Requests
    bool reported = false;
    Clock::time_point first{};
    int idle_seconds = 0; // no clock read per message
    for (;;) {
        tofu::Result<tofu::Message::Ptr> received = group.wait_receive(1s);
        if (!received) {
            print_server_error("receive: " + std::string(tofu::to_string(received.status())));
            return 1;
        }
        tofu::Message::Ptr msg = std::move(received.value());
        if (!msg) {
            if (++idle_seconds > idle_limit_seconds) {
                print_server_error("no traffic for 60 s");
                return 1;
            }
            continue;
        }
        idle_seconds = 0;
        if (msg->from_engine()) {
            if (msg->opcode() == tofu::OpCode::WelcomeResponse) {
                if (msg->status() != tofu::Status::success) {
                    print_server_error("listen: " + std::string(tofu::to_string(msg->status())));
                    return 1;
                }
                print_listening(tofu::address_of(*msg).value());
            } else if (msg->status() == tofu::Status::channel_closed && msg->channel() == peer) {
                if (c.mode == Mode::throughput && !reported) {
                    print_server_error("client left after " + std::to_string(received_count) + " messages");
                    return 1;
                }
                if (c.mode == Mode::latency) print_round_trips_result(answered);
                if (c.print_stats) tofu::cli::print_stats(std::cerr, "tofu-perf server", engine.stats());
                return 0;
            } else if (msg->status() != tofu::Status::pool_empty) {
                std::cerr << "tofu-perf server: channel " << msg->channel() << ": " << describe(*msg) << "\n";
            }
            continue;
        }
        switch (msg->opcode()) {
        case tofu::OpCode::Signal:
            // Dropping `msg` at the end of this iteration returns it to the pool.
            if (msg->raw_headers().empty()) {
                if (++received_count == 1) first = Clock::now();
            } else if (received_count == 0) {
                print_server_error("end marker before any message");
            } else {
                print_result(received_count, Clock::now() - first);
                reported = true;
            }
            continue;
        case tofu::OpCode::HelloRequest:
            if (peer != tofu::unassigned_channel) {
                msg->reply(tofu::OpCode::ByeSignal); // one client per run: turn the others away
                break;
            }
            peer = msg->channel();
            msg->reply(tofu::OpCode::HelloResponse);
            break;
        case tofu::OpCode::Request:
            ++answered;
            msg->reply(tofu::OpCode::Response);
            break;
        case tofu::OpCode::ByeRequest: msg->reply(tofu::OpCode::ByeResponse); break;
        default: continue;
        }
        if (tofu::Result<tofu::BinaryHeader> posted = group.post(msg); !posted) {
            std::cerr << "tofu-perf server: post: " << posted.status() << "\n";
        }
    }
}

ClientResult tofu_client(const Case& c, const tofu::Address& server, const std::function<bool()>& server_done) {
    ClientResult result;
    std::optional<Connection> connection = connect(c, server, result.error);
    if (!connection) return result;
    result =
        c.mode == Mode::throughput ? throughput_client(*connection, c, server_done) : latency_client(*connection, c);
    say_bye(*connection);
    result.engine_stats = connection->engine.stats();
    return result;
}

} // namespace perf
