#pragma once
// What the poller suites (poller_contract_test.cpp, afd_scenarios_test.cpp)
// share: a poller made for a test, and loopback sockets set up and watched
// with the platform's own select()/poll() - never with the backend under test,
// so that a backend's fault cannot hide in the test's own set-up.
#include "net/socket.hpp"
#include "poller/poller.hpp"

#include <tofu/address.hpp>
#include <tofu/engine.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#ifdef _WIN32
#include <winsock2.h>
#include <windows.h>
#else
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

namespace poller_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using tofu::Address;
using tofu::Backend;
using tofu::Status;
using tofu::net::IoState;
using tofu::net::NativeHandle;
using tofu::net::Socket;
using tofu::poller::Event;
using tofu::poller::Interest;
using tofu::poller::Poller;

inline constexpr auto safety = 10s; // bounded waits: never reached when all is well
inline constexpr Interest none{};
inline constexpr Interest read_only{true, false};

// A poller of `backend` in `poller`; the test is skipped where this build
// lacks the backend (never passed silently).
inline void open_poller(Backend backend, std::unique_ptr<Poller>& poller) {
    ASSERT_EQ(tofu::net::startup(), Status::success);
    if (!tofu::backend_available(backend)) {
        GTEST_SKIP() << "backend " << tofu::to_string(backend) << " is not compiled into this build";
    }
    auto made = tofu::poller::make_poller(backend);
    ASSERT_TRUE(made) << "make_poller(" << tofu::to_string(backend) << "): " << made.status();
    poller = std::move(made.value());
    ASSERT_EQ(poller->backend(), backend);
}

// One wait(); the events it filled.
inline std::vector<Event> wait_events(Poller& poller, std::chrono::milliseconds timeout, std::size_t room) {
    std::vector<Event> events(room);
    auto result = poller.wait(events, timeout);
    EXPECT_TRUE(result) << "wait: " << result.status();
    events.resize(result ? result.value() : 0);
    return events;
}

// Whether `handle` becomes readable (or writable) within `timeout`; an error
// condition counts as ready.
inline bool ready(NativeHandle handle, bool write, std::chrono::milliseconds timeout) {
#ifdef _WIN32
    fd_set set;
    fd_set errors;
    FD_ZERO(&set);
    FD_ZERO(&errors);
    FD_SET(static_cast<SOCKET>(handle), &set);
    FD_SET(static_cast<SOCKET>(handle), &errors);
    timeval tv{static_cast<long>(timeout.count() / 1000), static_cast<long>((timeout.count() % 1000) * 1000)};
    const int n = ::select(0, write ? nullptr : &set, write ? &set : nullptr, &errors, &tv);
    return n > 0;
#else
    pollfd pfd{handle, static_cast<short>(write ? POLLOUT : POLLIN), 0};
    return ::poll(&pfd, 1, static_cast<int>(timeout.count())) > 0;
#endif
}

// Makes the next close() send a reset instead of a FIN (no TIME_WAIT).
inline void reset_on_close(const Socket& socket) {
    linger option{};
    option.l_onoff = 1;
    option.l_linger = 0;
    ::setsockopt(socket.handle(), SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&option), sizeof(option));
}

inline void listen_on(const Address& where, Socket& listener, Address& bound) {
    auto made = Socket::listen(where, bound);
    ASSERT_TRUE(made) << "listen on " << where.to_string() << ": " << made.status();
    listener = std::move(made.value());
}

inline void accept_one(Socket& listener, Socket& accepted) {
    const auto deadline = Clock::now() + safety;
    for (;;) {
        const auto result = listener.accept(accepted);
        if (result.state == IoState::done) return;
        ASSERT_EQ(result.state, IoState::would_block) << result.status;
        ASSERT_LT(Clock::now(), deadline) << "no connection to accept";
        ready(listener.handle(), false, 1s);
    }
}

// A connection to `listener` (bound at `bound`), both ends ready for I/O.
inline void connect_to(Socket& listener, const Address& bound, Socket& client, Socket& server) {
    auto made = Socket::connect(bound);
    ASSERT_TRUE(made) << "connect to " << bound.to_string() << ": " << made.status();
    client = std::move(made.value());
    ASSERT_NO_FATAL_FAILURE(accept_one(listener, server));
    ASSERT_TRUE(ready(client.handle(), true, safety)) << "connect did not finish";
    ASSERT_EQ(client.connect_result().status, Status::success);
}

// Reads until would_block (or the end); returns how many bytes were read and
// the last state.
inline std::pair<std::size_t, IoState> drain(Socket& socket) {
    std::byte buffer[4096];
    std::size_t total = 0;
    for (;;) {
        const auto result = socket.read(buffer);
        if (result.state != IoState::done) return {total, result.state};
        total += result.bytes;
    }
}

} // namespace poller_test
