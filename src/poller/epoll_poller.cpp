// epoll, level-triggered, persistent registration. The reactor calls
// modify() only when the desired interest changed, so the kernel is touched
// on transitions alone (backpressure on/off, output blocked/unblocked).
// EPOLLERR|EPOLLHUP cannot be masked, so "no interest" means EPOLL_CTL_DEL,
// never an empty mask: a paused socket that was reset must not spin.
// Why level and not EPOLLET: docs/design.md, "epoll: level-triggered".
#include "poller/backends.hpp"
#include "poller/posix_waker.hpp"

#include <sys/epoll.h>

#include <vector>

namespace tofu::poller {
namespace {

constexpr std::uint64_t waker_token = ~std::uint64_t{0};

std::uint32_t mask_of(Interest interest) noexcept {
    std::uint32_t mask = 0;
    if (interest.read) mask |= EPOLLIN;
    if (interest.write) mask |= EPOLLOUT;
    return mask;
}

class EpollPoller final : public Poller {
public:
    EpollPoller() : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (epoll_fd_ >= 0 && waker_.valid()) {
            epoll_event event{};
            event.events = EPOLLIN;
            event.data.u64 = waker_token;
            if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, waker_.fd(), &event) != 0) {
                ::close(epoll_fd_);
                epoll_fd_ = -1;
            }
        }
    }
    ~EpollPoller() override {
        if (epoll_fd_ >= 0) ::close(epoll_fd_);
    }
    bool valid() const noexcept { return epoll_fd_ >= 0 && waker_.valid(); }
    Backend backend() const noexcept override { return Backend::epoll; }

    Status add(net::NativeHandle handle, std::uint64_t token, Interest interest) override {
        if (handle < 0) return Status::invalid_message;
        if (static_cast<std::size_t>(handle) >= in_kernel_.size()) {
            in_kernel_.resize(static_cast<std::size_t>(handle) + 1, false);
        }
        in_kernel_[static_cast<std::size_t>(handle)] = false;
        return modify(handle, token, interest);
    }

    Status modify(net::NativeHandle handle, std::uint64_t token, Interest interest) override {
        auto&& registered = in_kernel_[static_cast<std::size_t>(handle)];
        if (!interest.any()) {
            if (registered) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, handle, nullptr);
            registered = false;
            return Status::success;
        }
        epoll_event event{};
        event.events = mask_of(interest);
        event.data.u64 = token;
        // MOD re-polls the file, so readiness that built up while the socket
        // was unregistered or masked is reported by the next wait.
        if (::epoll_ctl(epoll_fd_, registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, handle, &event) != 0) {
            return Status::communication_failed;
        }
        registered = true;
        return Status::success;
    }

    void remove(net::NativeHandle handle, std::uint64_t) override {
        auto&& registered = in_kernel_[static_cast<std::size_t>(handle)];
        if (registered) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, handle, nullptr);
        registered = false;
    }

    Result<std::size_t> wait(std::span<Event> events, std::chrono::milliseconds timeout) override {
        if (kernel_events_.size() < events.size()) kernel_events_.resize(events.size());
        const int ms = timeout.count() < 0 ? -1 : static_cast<int>(std::min<long long>(timeout.count(), 1 << 30));
        const int ready = ::epoll_wait(epoll_fd_, kernel_events_.data(), static_cast<int>(events.size()), ms);
        if (ready < 0) return errno == EINTR ? Result<std::size_t>(std::size_t{0}) : Status::communication_failed;
        std::size_t count = 0;
        for (int i = 0; i < ready; ++i) {
            const epoll_event& kernel = kernel_events_[static_cast<std::size_t>(i)];
            if (kernel.data.u64 == waker_token) {
                waker_.drain();
                continue;
            }
            Event& event = events[count++];
            event.token = kernel.data.u64;
            event.failed = (kernel.events & (EPOLLERR | EPOLLHUP)) != 0;
            event.readable = (kernel.events & EPOLLIN) != 0 || event.failed;
            event.writable = (kernel.events & EPOLLOUT) != 0 || event.failed;
        }
        return count;
    }

    void wake() noexcept override { waker_.wake(); }

private:
    int epoll_fd_;
    PosixWaker waker_;
    std::vector<bool> in_kernel_; // by fd
    std::vector<epoll_event> kernel_events_;
};

} // namespace

Result<std::unique_ptr<Poller>> make_epoll_poller() { return make_if_valid<EpollPoller>(); }

} // namespace tofu::poller
