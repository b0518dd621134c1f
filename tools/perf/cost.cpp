#include "perf/cost.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <sys/types.h>
#include <sys/resource.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/perf_event.h>
#include <sys/syscall.h>
#endif

namespace perf {
namespace {

std::chrono::nanoseconds process_cpu_time() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    const auto of = [](const timeval& time) {
        return std::chrono::seconds(time.tv_sec) + std::chrono::microseconds(time.tv_usec);
    };
    return of(usage.ru_utime) + of(usage.ru_stime);
}

#ifdef __linux__

// tracefs is mounted at one of these, when it is mounted at all.
std::optional<std::uint64_t> sys_enter_tracepoint_id() {
    for (const char* path : {"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
                             "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id"}) {
        std::ifstream file(path);
        std::uint64_t id = 0;
        if (file >> id) return id;
    }
    return std::nullopt;
}

std::string paranoid_level() {
    std::ifstream file("/proc/sys/kernel/perf_event_paranoid");
    std::string level;
    return file >> level ? level : std::string("unknown");
}

// One counter on `thread`, inherited by the threads it creates; -1 and errno on failure.
int open_counter(std::uint64_t tracepoint, pid_t thread) {
    perf_event_attr attributes{};
    attributes.size = sizeof(attributes);
    attributes.type = PERF_TYPE_TRACEPOINT;
    attributes.config = tracepoint;
    attributes.inherit = 1;
    return static_cast<int>(::syscall(SYS_perf_event_open, &attributes, thread, -1, -1, PERF_FLAG_FD_CLOEXEC));
}

#endif

} // namespace

CostMeter::CostMeter() {
#ifdef __linux__
    const std::optional<std::uint64_t> tracepoint = sys_enter_tracepoint_id();
    if (!tracepoint) {
        syscalls_unavailable_ = "the raw_syscalls:sys_enter tracepoint id is not readable (tracefs is not mounted at "
                                "/sys/kernel/tracing or /sys/kernel/debug/tracing)";
    } else {
        std::error_code error;
        for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", error)) {
            const pid_t thread = static_cast<pid_t>(std::stol(task.path().filename().string()));
            const int fd = open_counter(*tracepoint, thread);
            if (fd >= 0) {
                syscall_counters_.push_back(fd);
            } else if (errno != ESRCH) { // a thread that has just exited counts nothing
                syscalls_unavailable_ = std::string("perf_event_open(raw_syscalls:sys_enter): ") +
                                        std::strerror(errno) + " (kernel.perf_event_paranoid = " + paranoid_level() +
                                        ")";
                break;
            }
        }
        if (error) syscalls_unavailable_ = "/proc/self/task: " + error.message();
        if (!syscalls_unavailable_.empty()) {
            for (int fd : syscall_counters_) ::close(fd);
            syscall_counters_.clear();
        }
    }
#else
    syscalls_unavailable_ = "system calls are counted on Linux only (perf_event_open)";
#endif
    cpu_start_ = process_cpu_time();
}

CostMeter::~CostMeter() {
    for (int fd : syscall_counters_) ::close(fd);
}

Cost CostMeter::elapsed() const {
    Cost cost;
    cost.cpu = process_cpu_time() - cpu_start_;
    if (!syscalls_unavailable_.empty()) return cost;
    std::uint64_t total = 0;
    for (int fd : syscall_counters_) {
        std::uint64_t count = 0;
        // A counter's read sums the thread and every thread that inherited it, live or gone.
        if (::read(fd, &count, sizeof(count)) != static_cast<ssize_t>(sizeof(count))) return cost;
        total += count;
    }
    cost.syscalls = total;
    return cost;
}

} // namespace perf
