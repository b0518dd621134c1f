// tofu_bench_hostile: what a flood of hostile connections costs a legitimate
// client. One engine with default options listens on 127.0.0.1; a client
// engine does request/response round trips (64 B) against it, first alone,
// then while a flood thread keeps N hostile connections open against the
// same listener. Kinds, one in eight each: silent; a hello header and a
// little of its body; a slow drip (one byte of a hello every 100 ms); an
// HTTP GET; a TLS ClientHello; random bytes; an oversized hello; a frame
// claiming the engine as its origin. Whatever the engine closes, the flood
// reopens at once, so the refused kinds become a storm of connections.
//
//   tofu_bench_hostile [--connections N] [--round-trips N] [--backend poll|epoll]
//
// Prints the round trip's median, p99 and maximum without and with the
// flood, and the engine's counters. A benchmark: it measures, it asserts
// nothing (the conformance suite's Hostile.* cases check the behaviour).
#include <tofu/tofu.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Settings {
    std::size_t connections = 1000;
    std::size_t round_trips = 5000;
    tofu::Backend backend = tofu::Backend::automatic;
};

[[noreturn]] void usage(const char* why) {
    std::cerr << "tofu_bench_hostile: " << why
              << "\nusage: tofu_bench_hostile [--connections N] [--round-trips N] [--backend poll|epoll]\n";
    std::exit(2);
}

Settings parse(int argc, char** argv) {
    Settings settings;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (i + 1 >= argc) usage("every option needs a value");
        const std::string value = argv[++i];
        if (arg == "--connections") settings.connections = std::stoul(value);
        else if (arg == "--round-trips") settings.round_trips = std::stoul(value);
        else if (arg == "--backend") {
            const auto backend = tofu::backend_from_string(value);
            if (!backend) usage("unknown backend");
            settings.backend = *backend;
        } else {
            usage("unknown option");
        }
    }
    if (settings.round_trips == 0) usage("--round-trips must be positive");
    return settings;
}

void raise_descriptor_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

// ---- the hostile side: raw frames, raw sockets -----------------------------------

using Bytes = std::vector<std::uint8_t>;

Bytes header(std::uint8_t proto, std::uint16_t headers, std::uint16_t body) {
    Bytes out(16, 0);
    out[2] = proto;
    out[11] = 1; // message id 1
    out[12] = static_cast<std::uint8_t>(headers >> 8);
    out[13] = static_cast<std::uint8_t>(headers);
    out[14] = static_cast<std::uint8_t>(body >> 8);
    out[15] = static_cast<std::uint8_t>(body);
    return out;
}

constexpr std::uint8_t hello_request = 3;
constexpr std::uint8_t origin_bit = 0x10;

enum class Kind { silent, half_hello, drip, http, tls, garbage, oversized, forged };
constexpr int kinds = 8;

Bytes opening_bytes(Kind kind, std::uint64_t& seed) {
    switch (kind) {
    case Kind::silent:
    case Kind::drip: return {};
    case Kind::half_hello: {
        Bytes out = header(hello_request, 0, 3000);
        out.resize(out.size() + 100, 'h');
        return out;
    }
    case Kind::http: {
        const std::string_view get = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n";
        return Bytes(get.begin(), get.end());
    }
    case Kind::tls: {
        Bytes out = {0x16, 0x03, 0x01, 0x00, 0xC8, 0x01, 0x00, 0x00, 0xC4, 0x03, 0x03};
        out.resize(205, 0x2F);
        return out;
    }
    case Kind::garbage: {
        Bytes out(256);
        for (auto& b : out) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            b = static_cast<std::uint8_t>(seed >> 56);
        }
        return out;
    }
    case Kind::oversized: return header(hello_request, 0, 60000);
    case Kind::forged: return header(hello_request | origin_bit, 0, 0);
    }
    return {};
}

struct Hostile {
    int fd = -1;
    Kind kind = Kind::silent;
    std::size_t dripped = 0;
};

int open_to(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        ::close(fd);
        return -1;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

// Keeps `count` hostile connections open until `stop`; reopens what the
// engine closes. Returns how many connections it opened in all.
std::uint64_t flood(std::uint16_t port, std::size_t count, const std::atomic<bool>& stop) {
    std::vector<Hostile> pool(count);
    std::vector<pollfd> fds(count);
    std::uint64_t seed = 0x5DEECE66Dull;
    std::uint64_t opened = 0;
    const Bytes drip_hello = header(hello_request, 0, 200);
    const auto open = [&](std::size_t i) {
        Hostile& h = pool[i];
        h.kind = static_cast<Kind>(i % kinds);
        h.dripped = 0;
        h.fd = open_to(port);
        if (h.fd < 0) return;
        ++opened;
        const Bytes bytes = opening_bytes(h.kind, seed);
        if (!bytes.empty()) (void)::send(h.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    };
    for (std::size_t i = 0; i < count && !stop.load(); ++i) open(i);
    Clock::time_point next_drip = Clock::now() + 100ms;
    while (!stop.load()) {
        for (std::size_t i = 0; i < count; ++i) fds[i] = pollfd{pool[i].fd, POLLIN, 0};
        ::poll(fds.data(), fds.size(), 20);
        for (std::size_t i = 0; i < count && !stop.load(); ++i) {
            Hostile& h = pool[i];
            bool closed = h.fd < 0;
            if (!closed && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                std::uint8_t sink[256];
                const ssize_t n = ::recv(h.fd, sink, sizeof(sink), 0);
                closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
            }
            if (closed) {
                if (h.fd >= 0) ::close(h.fd);
                open(i);
            }
        }
        if (Clock::now() >= next_drip) {
            next_drip += 100ms;
            for (Hostile& h : pool) {
                if (h.kind != Kind::drip || h.fd < 0 || h.dripped >= drip_hello.size()) continue;
                (void)::send(h.fd, &drip_hello[h.dripped], 1, MSG_NOSIGNAL);
                ++h.dripped;
            }
        }
    }
    for (Hostile& h : pool) {
        if (h.fd >= 0) ::close(h.fd);
    }
    return opened;
}

// ---- the legitimate side ---------------------------------------------------------

tofu::Message::Ptr next_application_message(tofu::ChannelGroup& group) {
    const Clock::time_point deadline = Clock::now() + 30s;
    while (Clock::now() < deadline) {
        tofu::Message::Ptr message = group.wait_receive(100ms).value();
        if (message && !message->from_engine()) return message;
    }
    std::cerr << "tofu_bench_hostile: no answer within 30 s\n";
    std::exit(1);
}

struct Latencies {
    double median_us = 0;
    double p99_us = 0;
    double max_us = 0;
};

Latencies measure(tofu::Engine& client_engine, tofu::ChannelGroup& client, tofu::ChannelNumber client_channel,
                  tofu::ChannelGroup& server, std::size_t count) {
    std::vector<double> samples;
    samples.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        tofu::Message::Ptr request = client_engine.get(tofu::Alloc::Always);
        request->set_opcode(tofu::OpCode::Request);
        request->set_channel(client_channel);
        (void)request->append_body(std::string(64, 'r'));
        const Clock::time_point start = Clock::now();
        client.post(request).value();
        tofu::Message::Ptr got = next_application_message(server);
        got->reply(tofu::OpCode::Response);
        server.post(got).value();
        tofu::Message::Ptr answer = next_application_message(client);
        samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
    std::sort(samples.begin(), samples.end());
    return {samples[samples.size() / 2], samples[samples.size() * 99 / 100], samples.back()};
}

} // namespace

int main(int argc, char** argv) {
    const Settings settings = parse(argc, argv);
    raise_descriptor_limit();
    tofu::Options options;
    options.backend = settings.backend;
    tofu::Engine server_engine(options);
    tofu::Engine client_engine(tofu::Options{.backend = settings.backend});
    tofu::ChannelGroup server = server_engine.create_group().value();
    tofu::ChannelGroup client = client_engine.create_group().value();

    tofu::Message::Ptr welcome = server_engine.get(tofu::Alloc::Always);
    if (tofu::listen_on(*welcome, tofu::tcp("127.0.0.1", 0)) != tofu::Status::success) return 1;
    server.post(welcome).value();
    tofu::Message::Ptr listening = server.wait_receive(10s).value();
    if (!listening || listening->status() != tofu::Status::success) {
        std::cerr << "tofu_bench_hostile: listen failed\n";
        return 1;
    }
    const tofu::Address address = tofu::address_of(*listening).value();

    tofu::Message::Ptr hello = client_engine.get(tofu::Alloc::Always);
    if (tofu::connect_to(*hello, address) != tofu::Status::success) return 1;
    const tofu::ChannelNumber client_channel = client.post(hello).value().channel;
    tofu::Message::Ptr request = next_application_message(server);
    request->reply(tofu::OpCode::HelloResponse);
    server.post(request).value();
    (void)next_application_message(client);

    (void)measure(client_engine, client, client_channel, server, settings.round_trips / 10); // warm-up
    const Latencies quiet = measure(client_engine, client, client_channel, server, settings.round_trips);

    std::atomic<bool> stop{false};
    std::uint64_t opened = 0;
    std::thread attacker([&] { opened = flood(address.port, settings.connections, stop); });
    std::this_thread::sleep_for(1s); // the flood reaches its size before the measurement starts
    const Latencies flooded = measure(client_engine, client, client_channel, server, settings.round_trips);
    stop = true;
    attacker.join();
    const tofu::EngineStats stats = server_engine.stats();

    std::printf("tofu_bench_hostile: backend %s, %zu round trips of 64 B, %zu hostile connections kept open\n",
                std::string(tofu::to_string(server_engine.backend())).c_str(), settings.round_trips,
                settings.connections);
    std::printf("| round trip | median | p99 | max |\n|---|---|---|---|\n");
    std::printf("| no flood | %.1f us | %.1f us | %.1f us |\n", quiet.median_us, quiet.p99_us, quiet.max_us);
    std::printf("| flood | %.1f us | %.1f us | %.1f us |\n", flooded.median_us, flooded.p99_us, flooded.max_us);
    std::printf("flood: %llu hostile connections opened; engine accepted %llu, refused %llu "
                "(invalid_message %llu, not_allowed %llu, invalid_op_code %llu, invalid_body_len %llu, "
                "invalid_headers_len %llu, peer_disconnected %llu, handshake_timeout %llu, pending_evicted %llu)\n",
                static_cast<unsigned long long>(opened), static_cast<unsigned long long>(stats.connections_accepted),
                static_cast<unsigned long long>(stats.connections_refused),
                static_cast<unsigned long long>(stats.closed_by(tofu::Status::invalid_message)),
                static_cast<unsigned long long>(stats.closed_by(tofu::Status::not_allowed)),
                static_cast<unsigned long long>(stats.closed_by(tofu::Status::invalid_op_code)),
                static_cast<unsigned long long>(stats.closed_by(tofu::Status::invalid_body_len)),
                static_cast<unsigned long long>(stats.closed_by(tofu::Status::invalid_headers_len)),
                static_cast<unsigned long long>(stats.closed_by(tofu::Status::peer_disconnected)),
                static_cast<unsigned long long>(stats.closed_by(tofu::Limit::handshake_timeout)),
                static_cast<unsigned long long>(stats.closed_by(tofu::Limit::pending_evicted)));
    return 0;
}
