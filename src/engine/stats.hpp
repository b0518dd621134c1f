#pragma once
// Engine counters: written by the I/O thread only (a relaxed load and store,
// no read-modify-write), read by any thread through Engine::stats().
#include <tofu/engine.hpp>

#include <atomic>
#include <cstdint>

namespace tofu::detail {

// Why a channel closed: a Status, or the engine limit that closed it.
struct Cause {
    Status status = Status::success;
    Limit limit = Limit::none;
    // What the OS said, when a system call failed (net::IoResult::os_error).
    int os_error = 0;

    // The `~cause` header value.
    std::string_view name() const noexcept { return limit == Limit::none ? to_string(status) : to_string(limit); }
};

// The engine's own limits, with the status the messages they hand back carry.
inline constexpr Cause connect_timed_out{Status::connect_failed, Limit::connect_timeout};
inline constexpr Cause handshake_timed_out{Status::communication_failed, Limit::handshake_timeout};
inline constexpr Cause frame_timed_out{Status::communication_failed, Limit::frame_timeout};
inline constexpr Cause evicted{Status::communication_failed, Limit::pending_evicted};

class StatsCounters {
public:
    void accepted() noexcept { bump(accepted_); }
    void accept_paused() noexcept { bump(accept_pauses_); }
    // `refused`: it closed before its hello reached the application;
    // `notified`: the application gets a channel_closed for it.
    void closed(Cause cause, bool refused, bool notified) noexcept {
        if (refused) bump(refused_);
        if (notified) bump(channels_closed_);
        if (cause.limit == Limit::none) bump(by_status_[to_byte(cause.status)]);
        else bump(by_limit_[static_cast<std::size_t>(cause.limit)]);
    }
    void set_pending(std::size_t pending) noexcept { pending_.store(pending, std::memory_order_relaxed); }
    void set_paused(std::size_t paused) noexcept { paused_.store(paused, std::memory_order_relaxed); }

    EngineStats snapshot() const noexcept {
        EngineStats stats;
        stats.connections_accepted = accepted_.load(std::memory_order_relaxed);
        stats.connections_refused = refused_.load(std::memory_order_relaxed);
        stats.accept_pauses = accept_pauses_.load(std::memory_order_relaxed);
        stats.channels_closed = channels_closed_.load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < stats.closed_by_status.size(); ++i) {
            stats.closed_by_status[i] = by_status_[i].load(std::memory_order_relaxed);
        }
        for (std::size_t i = 0; i < stats.closed_by_limit.size(); ++i) {
            stats.closed_by_limit[i] = by_limit_[i].load(std::memory_order_relaxed);
        }
        stats.pending_handshakes = pending_.load(std::memory_order_relaxed);
        stats.channels_paused = paused_.load(std::memory_order_relaxed);
        return stats;
    }

private:
    using Counter = std::atomic<std::uint64_t>;
    static void bump(Counter& counter) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    Counter accepted_{0};
    Counter refused_{0};
    Counter accept_pauses_{0};
    Counter channels_closed_{0};
    std::array<Counter, status_count> by_status_{};
    std::array<Counter, limit_count> by_limit_{};
    Counter pending_{0};
    Counter paused_{0};
};

} // namespace tofu::detail
