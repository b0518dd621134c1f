#pragma once
// Counters of the `afd` backend's outstanding IOCTL_AFD_POLL requests, for
// tests (tests/poller/afd_scenarios_test.cpp). Always compiled into the afd
// backend and cheap: per-process atomics, plus a per-poller count by socket
// value kept on the poller's own thread. The functions are defined only where
// the afd backend is (Windows); call them only there.
#include "net/socket.hpp"

#include <atomic>
#include <cstdint>

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

// The process-wide counters.
AfdStats& afd_stats() noexcept;
// Resets max_per_socket (the other counters are running totals).
void reset_afd_max_per_socket() noexcept;
// Polls outstanding on `handle`'s socket value in `poller` (an afd poller;
// any other backend answers 0). Call it on the poller's thread.
std::uint32_t afd_outstanding_polls(const Poller& poller, net::NativeHandle handle) noexcept;

} // namespace tofu::poller
