#include "engine/stats.hpp"

namespace tofu::detail {

StatsCounters::StatsCounters(bool per_channel)
    : per_channel_(per_channel ? std::make_unique<PerChannel[]>(channel_number_count) : nullptr) {}

void StatsCounters::set_paused(std::size_t paused, Clock::time_point now) noexcept {
    const std::uint64_t before = paused_.load(std::memory_order_relaxed);
    const auto ticks = static_cast<std::uint64_t>(now.time_since_epoch().count());
    if (before == 0 && paused != 0) {
        bump(pause_episodes_);
        pause_started_.store(ticks, std::memory_order_relaxed);
    } else if (before != 0 && paused == 0) {
        bump(paused_nanoseconds_, ticks - pause_started_.load(std::memory_order_relaxed));
    }
    paused_.store(paused, std::memory_order_relaxed);
}

void StatsCounters::opened(ChannelNumber channel) noexcept {
    if (!per_channel_) return;
    for (Traffic* traffic : {&per_channel_[channel].received, &per_channel_[channel].sent}) {
        traffic->messages.store(0, std::memory_order_relaxed);
        traffic->bytes.store(0, std::memory_order_relaxed);
    }
}

EngineStats StatsCounters::snapshot(Clock::time_point now) const noexcept {
    EngineStats stats;
    stats.connections_accepted = accepted_.load(std::memory_order_relaxed);
    stats.connections_made = connected_.load(std::memory_order_relaxed);
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
    stats.pause_episodes = pause_episodes_.load(std::memory_order_relaxed);
    std::uint64_t paused_nanoseconds = paused_nanoseconds_.load(std::memory_order_relaxed);
    // A running episode counts up to now. The loads are not one atomic
    // snapshot: an episode that ends meanwhile may be counted twice or not
    // at all in this one reading; the next reading is exact again.
    if (stats.channels_paused != 0) {
        const auto ticks = static_cast<std::uint64_t>(now.time_since_epoch().count());
        const std::uint64_t started = pause_started_.load(std::memory_order_relaxed);
        if (ticks > started) paused_nanoseconds += ticks - started;
    }
    stats.paused_time = std::chrono::nanoseconds(paused_nanoseconds);
    load(stats, received_, sent_);
    return stats;
}

std::optional<ChannelStats> StatsCounters::channel(ChannelNumber channel) const noexcept {
    if (!per_channel_) return std::nullopt;
    ChannelStats stats;
    load(stats, per_channel_[channel].received, per_channel_[channel].sent);
    return stats;
}

} // namespace tofu::detail
