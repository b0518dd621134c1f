#pragma once
// The engine counters as one summary line, printed by the tools at exit, and
// a sum for tofu-perf, whose client side makes an engine per case.
#include <tofu/engine.hpp>

#include <chrono>
#include <cstddef>
#include <ostream>
#include <string_view>

namespace tofu::cli {

inline void add_stats(EngineStats& total, const EngineStats& more) {
    total.messages_received += more.messages_received;
    total.bytes_received += more.bytes_received;
    total.messages_sent += more.messages_sent;
    total.bytes_sent += more.bytes_sent;
    total.connections_accepted += more.connections_accepted;
    total.connections_made += more.connections_made;
    total.connections_refused += more.connections_refused;
    total.accept_pauses += more.accept_pauses;
    total.pause_episodes += more.pause_episodes;
    total.paused_time += more.paused_time;
    total.channels_closed += more.channels_closed;
    for (std::size_t i = 0; i < total.closed_by_status.size(); ++i) {
        total.closed_by_status[i] += more.closed_by_status[i];
    }
    for (std::size_t i = 0; i < total.closed_by_limit.size(); ++i) total.closed_by_limit[i] += more.closed_by_limit[i];
}

// e.g. "tofu-echo: stats: 4 messages in (96 B), 4 out (96 B), 2 accepted, 0 connected, 0 refused,
// 2 channels closed (success 1, peer_closed 1), 0 accept pauses, 0 read pauses (0 ms)"
inline void print_stats(std::ostream& out, std::string_view tool, const EngineStats& stats) {
    out << tool << ": stats: " << stats.messages_received << " messages in (" << stats.bytes_received << " B), "
        << stats.messages_sent << " out (" << stats.bytes_sent << " B), " << stats.connections_accepted << " accepted, "
        << stats.connections_made << " connected, " << stats.connections_refused << " refused, "
        << stats.channels_closed << " channels closed";
    std::string_view separator = " (";
    for (std::size_t i = 0; i < stats.closed_by_status.size(); ++i) {
        if (stats.closed_by_status[i] == 0) continue;
        out << separator << status_from_byte(static_cast<std::uint8_t>(i)) << " " << stats.closed_by_status[i];
        separator = ", ";
    }
    for (std::size_t i = 0; i < stats.closed_by_limit.size(); ++i) {
        if (stats.closed_by_limit[i] == 0) continue;
        out << separator << to_string(static_cast<Limit>(i)) << " " << stats.closed_by_limit[i];
        separator = ", ";
    }
    if (separator == ", ") out << ")";
    out << ", " << stats.accept_pauses << " accept pauses, " << stats.pause_episodes << " read pauses ("
        << std::chrono::duration_cast<std::chrono::milliseconds>(stats.paused_time).count() << " ms)\n";
}

} // namespace tofu::cli
