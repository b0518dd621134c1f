// poll(2): the reference backend. Nothing persists in the kernel; the
// pollfd array is rebuilt from the registered interest on every wait, and a
// socket with no interest is left out entirely, so a hang-up or error on a
// paused socket (which poll reports whatever `events` says) cannot spin.
#include "common/invariant.hpp"
#include "poller/backends.hpp"
#include "poller/posix_waker.hpp"

#include <poll.h>

#include <vector>

namespace tofu::poller {
namespace {

class PollPoller final : public Poller {
public:
    Backend backend() const noexcept override { return Backend::poll; }
    bool valid() const noexcept { return waker_.valid(); }

    Status add(net::NativeHandle handle, std::uint64_t token, Interest interest) override {
        if (handle < 0) return Status::invalid_message;
        if (static_cast<std::size_t>(handle) >= slots_.size()) slots_.resize(static_cast<std::size_t>(handle) + 1);
        Slot& slot = slots_[static_cast<std::size_t>(handle)];
        TOFU_INVARIANT(!slot.in_use); // a descriptor is registered once
        slot = Slot{token, interest, true, registered_.size()};
        registered_.push_back(handle);
        return Status::success;
    }

    Status modify(net::NativeHandle handle, std::uint64_t token, Interest interest) override {
        Slot& slot = slots_[static_cast<std::size_t>(handle)];
        TOFU_INVARIANT(slot.in_use);
        slot.token = token;
        slot.interest = interest;
        return Status::success;
    }

    // O(1): the last registration takes the removed one's place.
    void remove(net::NativeHandle handle, std::uint64_t) override {
        Slot& slot = slots_[static_cast<std::size_t>(handle)];
        TOFU_INVARIANT(slot.in_use && registered_[slot.position] == handle);
        const int moved = registered_.back();
        registered_[slot.position] = moved;
        slots_[static_cast<std::size_t>(moved)].position = slot.position;
        registered_.pop_back();
        slot.in_use = false;
    }

    Result<std::size_t> wait(std::span<Event> events, std::chrono::milliseconds timeout) override {
        fds_.clear();
        fds_.push_back(pollfd{waker_.fd(), POLLIN, 0});
        for (int handle : registered_) {
            const Slot& slot = slots_[static_cast<std::size_t>(handle)];
            if (!slot.interest.any()) continue;
            short wanted = 0;
            if (slot.interest.read) wanted |= POLLIN;
            if (slot.interest.write) wanted |= POLLOUT;
            fds_.push_back(pollfd{handle, wanted, 0});
        }
        const int ms = timeout.count() < 0 ? -1 : static_cast<int>(std::min<long long>(timeout.count(), 1 << 30));
        const int ready = ::poll(fds_.data(), fds_.size(), ms);
        if (ready < 0) return errno == EINTR ? Result<std::size_t>(std::size_t{0}) : Status::communication_failed;
        if (fds_[0].revents != 0) waker_.drain();
        std::size_t count = 0;
        for (std::size_t i = 1; i < fds_.size() && count < events.size(); ++i) {
            const short revents = fds_[i].revents;
            if (revents == 0) continue;
            const Slot& slot = slots_[static_cast<std::size_t>(fds_[i].fd)];
            Event& event = events[count++];
            event.token = slot.token;
            event.failed = (revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
            event.readable = (revents & POLLIN) != 0 || (event.failed && slot.interest.read);
            event.writable = (revents & POLLOUT) != 0 || (event.failed && slot.interest.write);
        }
        return count;
    }

    void wake() noexcept override { waker_.wake(); }

private:
    struct Slot {
        std::uint64_t token = 0;
        Interest interest;
        bool in_use = false;
        std::size_t position = 0; // in registered_
    };
    PosixWaker waker_;
    std::vector<Slot> slots_;     // by fd
    std::vector<int> registered_; // fds with a slot in use
    std::vector<pollfd> fds_;     // rebuilt each wait; capacity kept
};

} // namespace

Result<std::unique_ptr<Poller>> make_poll_poller() { return make_if_valid<PollPoller>(); }

} // namespace tofu::poller
