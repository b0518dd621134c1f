#pragma once
// Counters of the `afd` backend's outstanding IOCTL_AFD_POLL requests, for
// tests (tests/poller/afd_scenarios_test.cpp). The poller tells an AfdPollCount
// of its own two things, each at exactly one place: a poll was queued by the
// kernel, and a poll's completion was dequeued. The counting itself lives
// here, apart from the poller's logic, so that the tests see a leaked or a
// doubled poll without the poller judging itself. Cheap enough to be always
// on: a few relaxed atomics, and a small map touched on the poller's thread.
// afd_outstanding_polls() is defined only where the afd backend is (Windows).
#include "net/socket.hpp"

#include <atomic>
#include <cstdint>
#include <unordered_map>

namespace tofu::poller {

class Poller;

struct AfdStats {
    // polls issued and not yet dequeued, over every afd poller of the process
    std::atomic<std::int64_t> outstanding{0};
    // the most polls ever outstanding at once on one socket value (a live
    // registration plus removed ones whose completion is still queued)
    std::atomic<std::uint32_t> max_per_socket{0};
    std::atomic<std::uint64_t> issued{0};    // polls issued, in total
    std::atomic<std::uint64_t> completed{0}; // their completions dequeued
};

// The process-wide counters (an inline function's static is one object in
// the whole program, whichever file calls it).
inline AfdStats& afd_stats() noexcept {
    static AfdStats stats;
    return stats;
}

// Resets max_per_socket (the other counters are running totals).
inline void reset_afd_max_per_socket() noexcept { afd_stats().max_per_socket.store(0, std::memory_order_relaxed); }

// One afd poller's polls, by socket value; used on the poller's thread only.
class AfdPollCount {
public:
    void issued(net::NativeHandle socket) {
        const std::uint32_t now = ++outstanding_[socket];
        AfdStats& stats = afd_stats();
        stats.outstanding.fetch_add(1, std::memory_order_relaxed);
        stats.issued.fetch_add(1, std::memory_order_relaxed);
        std::uint32_t max = stats.max_per_socket.load(std::memory_order_relaxed);
        while (now > max && !stats.max_per_socket.compare_exchange_weak(max, now, std::memory_order_relaxed)) {}
    }

    void completed(net::NativeHandle socket) noexcept {
        if (auto it = outstanding_.find(socket); it != outstanding_.end() && --it->second == 0) outstanding_.erase(it);
        AfdStats& stats = afd_stats();
        stats.outstanding.fetch_sub(1, std::memory_order_relaxed);
        stats.completed.fetch_add(1, std::memory_order_relaxed);
    }

    std::uint32_t outstanding_on(net::NativeHandle socket) const noexcept {
        const auto it = outstanding_.find(socket);
        return it == outstanding_.end() ? 0 : it->second;
    }

private:
    std::unordered_map<net::NativeHandle, std::uint32_t> outstanding_;
};

// Polls outstanding on `handle`'s socket value in `poller` (an afd poller;
// any other backend answers 0). Call it on the poller's thread.
std::uint32_t afd_outstanding_polls(const Poller& poller, net::NativeHandle handle) noexcept;

} // namespace tofu::poller
