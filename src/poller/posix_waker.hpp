#pragma once
// Cross-thread wake-up for the POSIX backends: an eventfd on Linux (one fd,
// writes coalesce in the counter), a non-blocking pipe elsewhere. Coalescing
// of wake() calls across a burst happens one level up (EngineCore::wake).
#include <cerrno>
#include <fcntl.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

namespace tofu::poller {

class PosixWaker {
public:
    PosixWaker() {
#ifdef __linux__
        read_fd_ = write_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
#else
        int fds[2];
        if (::pipe(fds) == 0) {
            read_fd_ = fds[0];
            write_fd_ = fds[1];
            for (int fd : fds) {
                ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
                ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            }
        }
#endif
    }
    PosixWaker(const PosixWaker&) = delete;
    PosixWaker& operator=(const PosixWaker&) = delete;
    ~PosixWaker() {
        if (read_fd_ >= 0) ::close(read_fd_);
        if (write_fd_ >= 0 && write_fd_ != read_fd_) ::close(write_fd_);
    }

    bool valid() const noexcept { return read_fd_ >= 0; }
    int fd() const noexcept { return read_fd_; }

    void wake() noexcept {
        // EAGAIN means a wake-up is already pending: nothing is lost.
#ifdef __linux__
        const std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(write_fd_, &one, sizeof(one));
#else
        const char one = 1;
        [[maybe_unused]] ssize_t n = ::write(write_fd_, &one, 1);
#endif
    }

    // Drained before the reactor looks at its queues, so a wake() racing
    // with the drain leaves the fd readable for the next wait.
    void drain() noexcept {
        unsigned char sink[64];
        while (::read(read_fd_, sink, sizeof(sink)) > 0) {}
    }

private:
    int read_fd_ = -1;
    int write_fd_ = -1;
};

} // namespace tofu::poller
