// tofu-perf, the libzmq peer: PUSH/PULL for throughput, REQ/REP for latency,
// written the way libzmq's own perf/local_thr.cpp and remote_thr.cpp are
// (zmq_msg_init_size per message, default high-water marks of 1000).
#include "perf/perf.hpp"

#include <zmq.h>

#include <cstring>
#include <iostream>
#include <string>

namespace perf {
namespace {

std::string endpoint_of(const tofu::Address& address) {
    if (address.kind == tofu::Address::Kind::uds) return "ipc://" + address.path;
    return "tcp://" + address.host + ":" + (address.port == 0 ? std::string("*") : std::to_string(address.port));
}

std::string zmq_error(const char* what) { return std::string(what) + ": " + zmq_strerror(zmq_errno()); }

// A context and one socket, closed in order.
class Socket {
public:
    explicit Socket(int type) : context_(zmq_ctx_new()), socket_(context_ ? zmq_socket(context_, type) : nullptr) {}
    ~Socket() {
        if (socket_ != nullptr) zmq_close(socket_); // linger: default, waits for queued messages
        if (context_ != nullptr) zmq_ctx_term(context_);
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    void* get() const noexcept { return socket_; }

private:
    void* context_;
    void* socket_;
};

// The address actually bound (the port the kernel picked for "*").
tofu::Address bound_address(void* socket, const tofu::Address& asked) {
    if (asked.kind == tofu::Address::Kind::uds) return asked;
    char endpoint[256] = {};
    std::size_t length = sizeof(endpoint);
    if (zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, endpoint, &length) != 0) return asked;
    const std::string text(endpoint);
    const std::size_t colon = text.rfind(':');
    tofu::Address bound = asked;
    if (colon != std::string::npos) bound.port = static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)));
    return bound;
}

} // namespace

int zmq_serve(const Case& c, const tofu::Address& where) {
    Socket socket(c.mode == Mode::throughput ? ZMQ_PULL : ZMQ_REP);
    if (socket.get() == nullptr) {
        print_server_error(zmq_error("socket"));
        return 1;
    }
    if (zmq_bind(socket.get(), endpoint_of(where).c_str()) != 0) {
        print_server_error(zmq_error("bind"));
        return 1;
    }
    const int timeout_ms = 60'000; // a vanished client ends the server
    zmq_setsockopt(socket.get(), ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms));
    print_listening(bound_address(socket.get(), where));

    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (c.mode == Mode::throughput) {
        Clock::time_point first{};
        std::uint64_t received = 0;
        for (;;) {
            if (zmq_msg_recv(&msg, socket.get(), 0) < 0) {
                print_server_error(zmq_error("recv"));
                return 1;
            }
            if (zmq_msg_size(&msg) != c.size) break; // the end marker
            if (received++ == 0) first = Clock::now();
        }
        if (received == 0) {
            print_server_error("no message of " + std::to_string(c.size) + " bytes before the end marker");
            return 1;
        }
        print_result(received, Clock::now() - first);
    } else {
        for (std::uint64_t i = 0; i < c.warmup + c.count; ++i) {
            if (zmq_msg_recv(&msg, socket.get(), 0) < 0 || zmq_msg_send(&msg, socket.get(), 0) < 0) {
                print_server_error(zmq_error("echo"));
                return 1;
            }
        }
        print_round_trips_result(c.warmup + c.count);
    }
    zmq_msg_close(&msg);
    return 0;
}

ClientResult zmq_client(const Case& c, const tofu::Address& server, const std::function<bool()>& server_done) {
    ClientResult result;
    Socket socket(c.mode == Mode::throughput ? ZMQ_PUSH : ZMQ_REQ);
    if (socket.get() == nullptr || zmq_connect(socket.get(), endpoint_of(server).c_str()) != 0) {
        result.error = zmq_error("connect");
        return result;
    }
    if (c.mode == Mode::throughput) {
        const Clock::time_point deadline = deadline_of(c);
        for (std::uint64_t i = 0; i <= c.count; ++i) {
            // c.count messages of c.size bytes, then the end marker (one byte longer)
            if (i != c.count && out_of_time(c, i, deadline)) i = c.count;
            zmq_msg_t msg;
            if (zmq_msg_init_size(&msg, i == c.count ? c.size + 1 : c.size) != 0 ||
                zmq_msg_send(&msg, socket.get(), 0) < 0) {
                result.error = zmq_error("send");
                return result;
            }
        }
        return after_server_report(server_done);
    }
    std::string buffer(c.size, 'x');
    return time_round_trips(c, [&] {
        if (zmq_send(socket.get(), buffer.data(), buffer.size(), 0) < 0 ||
            zmq_recv(socket.get(), buffer.data(), buffer.size(), 0) < 0) {
            return zmq_error("round trip");
        }
        return std::string();
    });
}

} // namespace perf
