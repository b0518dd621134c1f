#pragma once
// Lines from a child process's pipe, with a deadline: tofu-perf reads its
// server's reports this way, bench/backends_bench.cpp its helper's.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <string>

#include <poll.h>
#include <unistd.h>

namespace tofu::cli {

class LineReader {
public:
    explicit LineReader(int fd = -1) : fd_(fd) {}

    void reset(int fd) {
        fd_ = fd;
        buffer_.clear();
    }

    // The next line without its newline; nothing on timeout (a zero timeout
    // only looks at what is there), end of output or a read error.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
        using Clock = std::chrono::steady_clock;
        const Clock::time_point deadline = Clock::now() + timeout;
        for (;;) {
            if (const std::size_t at = buffer_.find('\n'); at != std::string::npos) {
                std::string line = buffer_.substr(0, at);
                buffer_.erase(0, at + 1);
                return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            pollfd pfd{fd_, POLLIN, 0};
            const int ready = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) return std::nullopt;
            char chunk[512];
            const ssize_t n = ::read(fd_, chunk, sizeof(chunk));
            if (n <= 0) return std::nullopt;
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

private:
    int fd_;
    std::string buffer_;
};

} // namespace tofu::cli
