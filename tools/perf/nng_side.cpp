// tofu-perf, the nng peer: push0/pull0 for throughput, req0/rep0 for
// latency. Send and receive buffers of 1024 messages, close to libzmq's
// default high-water mark of 1000 (nng's default buffers nothing).
#include "perf/perf.hpp"

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include <string>
#include <thread>

namespace perf {
namespace {

using namespace std::chrono_literals;

constexpr int buffered_messages = 1024;

std::string url_of(const tofu::Address& address) {
    if (address.kind == tofu::Address::Kind::uds) return "ipc://" + address.path;
    return "tcp://" + address.host + ":" + std::to_string(address.port);
}

std::string nng_error(const char* what, int rv) { return std::string(what) + ": " + nng_strerror(rv); }

class Socket {
public:
    Socket() = default;
    ~Socket() {
        if (open_) nng_close(socket_);
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;

    int open(Mode mode, bool server) {
        int rv = 0;
        if (mode == Mode::throughput) rv = server ? nng_pull0_open(&socket_) : nng_push0_open(&socket_);
        else rv = server ? nng_rep0_open(&socket_) : nng_req0_open(&socket_);
        open_ = rv == 0;
        if (open_ && mode == Mode::throughput) {
            nng_socket_set_int(socket_, server ? NNG_OPT_RECVBUF : NNG_OPT_SENDBUF, buffered_messages);
        }
        return rv;
    }
    nng_socket get() const noexcept { return socket_; }

private:
    nng_socket socket_ = NNG_SOCKET_INITIALIZER;
    bool open_ = false;
};

} // namespace

int nng_serve(const Case& c, const tofu::Address& where) {
    Socket socket;
    if (int rv = socket.open(c.mode, true); rv != 0) {
        print_server_error(nng_error("open", rv));
        return 1;
    }
    nng_listener listener;
    if (int rv = nng_listen(socket.get(), url_of(where).c_str(), &listener, 0); rv != 0) {
        print_server_error(nng_error("listen", rv));
        return 1;
    }
    tofu::Address bound = where;
    if (where.kind == tofu::Address::Kind::tcp) {
        int port = 0;
        if (nng_listener_get_int(listener, NNG_OPT_TCP_BOUND_PORT, &port) == 0)
            bound.port = static_cast<std::uint16_t>(port);
    }
    nng_socket_set_ms(socket.get(), NNG_OPT_RECVTIMEO, 60'000); // a vanished client ends the server
    print_listening(bound);

    if (c.mode == Mode::throughput) {
        Clock::time_point first{};
        std::uint64_t received = 0;
        for (;;) {
            nng_msg* msg = nullptr;
            if (int rv = nng_recvmsg(socket.get(), &msg, 0); rv != 0) {
                print_server_error(nng_error("recv", rv));
                return 1;
            }
            const bool marker = nng_msg_len(msg) != c.size;
            nng_msg_free(msg);
            if (marker) break;
            if (received++ == 0) first = Clock::now();
        }
        if (received == 0) {
            print_server_error("no message of " + std::to_string(c.size) + " bytes before the end marker");
            return 1;
        }
        print_result(received, Clock::now() - first);
        return 0;
    }
    for (std::uint64_t i = 0; i < c.warmup + c.count; ++i) {
        nng_msg* msg = nullptr;
        if (int rv = nng_recvmsg(socket.get(), &msg, 0); rv != 0) {
            print_server_error(nng_error("recv", rv));
            return 1;
        }
        if (int rv = nng_sendmsg(socket.get(), msg, 0); rv != 0) {
            nng_msg_free(msg);
            print_server_error(nng_error("send", rv));
            return 1;
        }
    }
    print_round_trips_result(c.warmup + c.count);
    // nng_close does not wait for queued messages: let the last answer go out.
    std::this_thread::sleep_for(100ms);
    return 0;
}

ClientResult nng_client(const Case& c, const tofu::Address& server, const std::function<bool()>& server_done) {
    ClientResult result;
    Socket socket;
    if (int rv = socket.open(c.mode, false); rv != 0) {
        result.error = nng_error("open", rv);
        return result;
    }
    if (int rv = nng_dial(socket.get(), url_of(server).c_str(), nullptr, 0); rv != 0) {
        result.error = nng_error("dial", rv);
        return result;
    }
    if (c.mode == Mode::throughput) {
        const Clock::time_point deadline = deadline_of(c);
        for (std::uint64_t i = 0; i <= c.count; ++i) {
            // c.count messages of c.size bytes, then the end marker (one byte longer)
            if (i != c.count && out_of_time(c, i, deadline)) i = c.count;
            nng_msg* msg = nullptr;
            if (int rv = nng_msg_alloc(&msg, i == c.count ? c.size + 1 : c.size); rv != 0) {
                result.error = nng_error("alloc", rv);
                return result;
            }
            if (int rv = nng_sendmsg(socket.get(), msg, 0); rv != 0) {
                nng_msg_free(msg);
                result.error = nng_error("send", rv);
                return result;
            }
        }
        return after_server_report(server_done);
    }
    nng_socket_set_ms(socket.get(), NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    std::string buffer(c.size, 'x');
    return time_round_trips(c, [&] {
        std::size_t size = buffer.size();
        int rv = nng_send(socket.get(), buffer.data(), buffer.size(), 0);
        if (rv == 0) rv = nng_recv(socket.get(), buffer.data(), &size, 0);
        return rv == 0 ? std::string() : nng_error("round trip", rv);
    });
}

} // namespace perf
