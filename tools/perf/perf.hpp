#pragma once
// tofu-perf: what one benchmark case is, and what each implementation
// (tofu, libzmq, nng, and raw sockets as the limit) provides: a server side
// run in its own process and a client side run by the driver.
//
// Throughput: the client sends `count` messages of `size` bytes (fewer when
// `max_seconds` runs out first), then one end marker: a message of another
// size for libzmq and nng, a frame with a text header for tofu and raw. The
// server times from the first message to the marker.
// Latency: warmup + count round trips of `size` bytes, one at a time.
//
// Protocol between driver and server process (the server's stdout):
//   listening on <tofu address>       once the server is bound (real port)
//   result msgs=<N> ns=<T> cpu_ns=<C> syscalls=<S>
//                                     throughput: N messages before the marker
//   result round_trips=<N> cpu_ns=<C> syscalls=<S>
//                                     latency: after the last answer
//   error <text>                      the server gave up
// C and S are what the server process spent since it started, all threads:
// CPU time (user + system) and system calls, S being "n/a" where they
// cannot be counted (see cost.hpp).
#include <tofu/address.hpp>
#include <tofu/engine.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace perf {

enum class Mode { throughput, latency };
enum class Transport { tcp, uds };

std::string_view to_string(Mode mode) noexcept;
std::string_view to_string(Transport transport) noexcept;

struct Case {
    std::string impl = "tofu";                        // tofu, zmq, nng, raw
    tofu::Backend backend = tofu::Backend::automatic; // tofu only
    Transport transport = Transport::tcp;
    Mode mode = Mode::throughput;
    std::size_t size = 64;
    std::uint64_t count = 0;  // messages (throughput) or timed round trips (latency)
    std::uint64_t warmup = 0; // latency: untimed round trips first
    double max_seconds = 0;   // throughput client: stop sending after this (0: no limit)
    // tofu engine options
    std::size_t max_messages = 4096;
    std::size_t memory_limit = std::size_t{64} << 20;
    // A server alone prints its engine's counters at exit; the driver's children do not.
    bool print_stats = true;

    // "tofu-epoll", "zmq", ...
    std::string label() const;
};

// Server side: bind `where`, print the listening line, serve one client.
// Returns the process exit code.
using ServeFn = int (*)(const Case& c, const tofu::Address& where);

struct ClientResult {
    bool ok = false;
    std::string error;
    std::vector<double> round_trip_ns;             // latency mode
    std::optional<tofu::EngineStats> engine_stats; // tofu: the client engine's counters
};

// Client side. Throughput: send `count` messages, then call `server_done`
// (which returns once the server reported its result, or false on failure)
// before closing. Latency: warmup + count round trips, one at a time.
using ClientFn = ClientResult (*)(const Case& c, const tofu::Address& server, const std::function<bool()>& server_done);

struct Impl {
    std::string_view name;
    ServeFn serve;
    ClientFn client;
};

// Implementations compiled into this binary.
const Impl* find_impl(std::string_view name);

// Helpers shared by the implementations.
// Throughput client: true when the time budget is spent (checked every
// 1024 messages, so the clock costs nothing per message).
inline bool out_of_time(const Case& c, std::uint64_t sent, std::chrono::steady_clock::time_point deadline) {
    return c.max_seconds > 0 && (sent & 1023) == 0 && std::chrono::steady_clock::now() >= deadline;
}
inline std::chrono::steady_clock::time_point deadline_of(const Case& c) {
    return std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                  std::chrono::duration<double>(c.max_seconds));
}
// The throughput client's end: its sockets must stay open until the server
// has everything, else closing them could drop what is still queued.
inline ClientResult after_server_report(const std::function<bool()>& server_done) {
    ClientResult result;
    if (server_done()) result.ok = true;
    else result.error = "the server did not report";
    return result;
}
void print_listening(const tofu::Address& address);
// The server's result lines, with what the server process has spent so far.
void print_result(std::uint64_t messages, std::chrono::nanoseconds elapsed);
void print_round_trips_result(std::uint64_t round_trips);
void print_server_error(const std::string& what);

using Clock = std::chrono::steady_clock;

// Latency client: warmup + count round trips, one at a time, each timed.
// `round_trip()` sends one message and receives the answer; it returns what
// failed, or an empty string.
template <typename RoundTrip>
ClientResult time_round_trips(const Case& c, RoundTrip round_trip) {
    ClientResult result;
    result.round_trip_ns.reserve(c.count);
    for (std::uint64_t i = 0; i < c.warmup + c.count; ++i) {
        const Clock::time_point start = Clock::now();
        if (std::string error = round_trip(); !error.empty()) {
            result.error = std::move(error);
            return result;
        }
        const Clock::time_point end = Clock::now();
        if (i >= c.warmup)
            result.round_trip_ns.push_back(std::chrono::duration<double, std::nano>(end - start).count());
    }
    result.ok = true;
    return result;
}

// Implementations (defined in their own files).
int tofu_serve(const Case& c, const tofu::Address& where);
ClientResult tofu_client(const Case& c, const tofu::Address& server, const std::function<bool()>& server_done);
int raw_serve(const Case& c, const tofu::Address& where);
ClientResult raw_client(const Case& c, const tofu::Address& server, const std::function<bool()>& server_done);
#ifdef TOFU_PERF_HAVE_ZMQ
int zmq_serve(const Case& c, const tofu::Address& where);
ClientResult zmq_client(const Case& c, const tofu::Address& server, const std::function<bool()>& server_done);
#endif
#ifdef TOFU_PERF_HAVE_NNG
int nng_serve(const Case& c, const tofu::Address& where);
ClientResult nng_client(const Case& c, const tofu::Address& server, const std::function<bool()>& server_done);
#endif

} // namespace perf
