#pragma once
// Engine counters: written by the I/O thread only (a relaxed load and store,
// no read-modify-write), read by any thread through Engine::stats() and
// Engine::channel_stats().
#include <tofu/engine.hpp>

#include "reactor/clock.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

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
    // `per_channel`: keep ChannelStats for every channel number (2 MiB).
    explicit StatsCounters(bool per_channel);

    void accepted() noexcept { bump(accepted_); }
    void connected() noexcept { bump(connected_); }
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
    // The number of channels whose reading is paused changed to `paused`;
    // an episode runs while it is not zero.
    void set_paused(std::size_t paused, Clock::time_point now) noexcept;

    // A new channel's counters start from zero.
    void opened(ChannelNumber channel) noexcept;
    // One whole frame of `bytes` (binary header, text headers and body).
    void received(ChannelNumber channel, std::size_t bytes) noexcept {
        count(received_, &PerChannel::received, channel, bytes);
    }
    void sent(ChannelNumber channel, std::size_t bytes) noexcept { count(sent_, &PerChannel::sent, channel, bytes); }

    // `now`: the engine's clock, to count a pause episode still running.
    EngineStats snapshot(Clock::time_point now) const noexcept;
    std::optional<ChannelStats> channel(ChannelNumber channel) const noexcept;

private:
    using Counter = std::atomic<std::uint64_t>;
    static void bump(Counter& counter, std::uint64_t by = 1) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    }
    struct Traffic {
        Counter messages{0};
        Counter bytes{0};
    };
    struct PerChannel {
        Traffic received;
        Traffic sent;
    };
    // One frame of `bytes` on the engine's total and, when kept, on the
    // channel's `side`.
    void count(Traffic& total, Traffic PerChannel::*side, ChannelNumber channel, std::size_t bytes) noexcept {
        bump(total.messages);
        bump(total.bytes, bytes);
        if (per_channel_) {
            bump((per_channel_[channel].*side).messages);
            bump((per_channel_[channel].*side).bytes, bytes);
        }
    }
    // Into the four traffic fields EngineStats and ChannelStats share.
    template <class Stats>
    static void load(Stats& stats, const Traffic& received, const Traffic& sent) noexcept {
        stats.messages_received = received.messages.load(std::memory_order_relaxed);
        stats.bytes_received = received.bytes.load(std::memory_order_relaxed);
        stats.messages_sent = sent.messages.load(std::memory_order_relaxed);
        stats.bytes_sent = sent.bytes.load(std::memory_order_relaxed);
    }

    Counter accepted_{0};
    Counter connected_{0};
    Counter refused_{0};
    Counter accept_pauses_{0};
    Counter channels_closed_{0};
    std::array<Counter, status_count> by_status_{};
    std::array<Counter, limit_count> by_limit_{};
    Counter pending_{0};
    Counter paused_{0};
    Counter pause_episodes_{0};
    Counter paused_nanoseconds_{0}; // of the episodes that ended
    Counter pause_started_{0};      // of the running episode, in Clock ticks since its epoch
    Traffic received_;
    Traffic sent_;
    std::unique_ptr<PerChannel[]> per_channel_; // by channel number, when asked for
};

} // namespace tofu::detail
