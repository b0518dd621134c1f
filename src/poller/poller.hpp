#pragma once
// The one narrow interface every readiness backend implements (poll, epoll,
// afd, kqueue). The reactor derives the desired interest per socket from
// business state and calls modify() only where it changed; the backend makes
// kernel state match. Contract, for every backend (docs/design.md):
//  * level-checked arming: a socket whose interest is (re)enabled while the
//    condition already holds is reported by the next wait(), even if no new
//    data arrives (no reliance on a future edge);
//  * a socket with no interest is never reported, not even for hang-up or
//    error, so a paused socket cannot spin the loop;
//  * events carry the token given at add(); a token is never reported after
//    remove() returns;
//  * wake() may be called from any thread and makes a blocked or the next
//    wait() return.
// And what the reactor may not assume: a backend may report a ready socket
// once and never again while its interest stays on (edge-triggered, or a
// one-shot that completed). The reactor therefore treats an event as "ready
// until an I/O call says it drained", and keeps serving a channel cut short
// by its budget without a new report. A short read of a stream counts as
// drained: bytes that arrive after it are a new edge in every family (and a
// one-shot is re-armed with a level check). The simulation's edge and
// oneshot models (tests/sim) hold the reactor to this.
#include <tofu/backend.hpp>
#include <tofu/result.hpp>

#include "net/socket.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace tofu::poller {

struct Interest {
    bool read = false;
    bool write = false;
    bool any() const noexcept { return read || write; }
    friend bool operator==(const Interest&, const Interest&) = default;
};

struct Event {
    std::uint64_t token = 0;
    bool readable = false; // includes end of stream and a pending accept
    bool writable = false; // includes a finished (or failed) connect
    bool failed = false;   // error or hang-up: the next I/O call says which
};

class Poller {
public:
    virtual ~Poller() = default;
    virtual Backend backend() const noexcept = 0;

    virtual Status add(net::NativeHandle handle, std::uint64_t token, Interest interest) = 0;
    virtual Status modify(net::NativeHandle handle, std::uint64_t token, Interest interest) = 0;
    // Call before closing the handle.
    virtual void remove(net::NativeHandle handle, std::uint64_t token) = 0;

    // Waits up to `timeout` (negative: no limit) for readiness or wake().
    // Returns how many entries of `events` were filled.
    virtual Result<std::size_t> wait(std::span<Event> events, std::chrono::milliseconds timeout) = 0;
    virtual void wake() noexcept = 0;
};

// The backend asked for (automatic: TOFU_BACKEND, else the platform default).
// not_implemented_yet when it cannot be had; `why` (if given) then says
// whether the name was unknown or the backend is not compiled in.
Result<std::unique_ptr<Poller>> make_poller(Backend requested, std::string* why = nullptr);
Backend resolve_backend(Backend requested) noexcept;

} // namespace tofu::poller
