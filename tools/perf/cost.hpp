#pragma once
// What a benchmark case costs one process: CPU time (user + system, all its
// threads) and system calls (all its threads, counted by the kernel).
//
// System calls are counted with perf_event_open on the tracepoint
// raw_syscalls:sys_enter, one counter per thread that exists when the meter
// starts, each inherited by the threads created after (engine I/O threads,
// libzmq's and nng's workers). That needs the tracepoint's id from tracefs
// and the permission to open it; without either the count is unknown, and
// says why, rather than a guess. /proc/PID/io would not do: its syscr and
// syscw miss send, recv, poll and epoll_wait.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace perf {

struct Cost {
    std::chrono::nanoseconds cpu{0};
    std::optional<std::uint64_t> syscalls; // nothing: not countable here
};

class CostMeter {
public:
    // Starts measuring this process.
    CostMeter();
    ~CostMeter();
    CostMeter(const CostMeter&) = delete;
    CostMeter& operator=(const CostMeter&) = delete;

    // Since the start.
    Cost elapsed() const;

    // Why system calls cannot be counted here; empty when they can.
    const std::string& syscalls_unavailable() const noexcept { return syscalls_unavailable_; }

private:
    std::chrono::nanoseconds cpu_start_;
    std::vector<int> syscall_counters_;
    std::string syscalls_unavailable_;
};

} // namespace perf
