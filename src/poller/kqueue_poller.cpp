// kqueue (macOS/XNU, FreeBSD), level-triggered: no EV_CLEAR on sockets, so a
// knote whose condition still holds is reported by every wait, like epoll LT.
//
// How it keeps the Poller contract (poller.hpp):
//  * A registration owns both filters of its socket, EVFILT_READ and
//    EVFILT_WRITE, from add() to remove(); interest only flips them with
//    EV_ENABLE / EV_DISABLE. EV_ENABLE re-evaluates the filter (FreeBSD
//    kqueue_register calls f_event; XNU calls the socket's f_touch,
//    filt_sortouch), so data, a pending connection or a FIN that arrived
//    while a filter was off is reported by the next wait (level-checked).
//  * A disabled filter is never returned, EV_EOF and errors included, so a
//    paused socket whose peer went away cannot spin the loop. Events are also
//    masked by the registration's interest before they are reported.
//  * Changes that allocate or free a knote (EV_ADD in add(), EV_DELETE in
//    remove()) are applied at once, each with EV_RECEIPT: a refused add is the
//    caller's Status, and a delete happens while the descriptor is still open
//    (the caller closes it right after remove()). EV_ENABLE / EV_DISABLE of a
//    knote that exists cannot fail on the kernels; they are queued and handed
//    to the kernel with the wait, so an iteration costs one kevent() call.
//  * kevent() reports a failed change as an EV_ERROR entry in the event list
//    and goes on with the next change, but only while the event list has room
//    for it; with none left it stops and the remaining changes are lost. So
//    the event list of a call is never shorter than its change list (changes
//    beyond the caller's room are applied first, with EV_RECEIPT). A failed
//    toggle is queued again and its socket reported failed, so the reactor
//    looks at it rather than waiting on a filter the kernel did not arm.
//  * Events are matched to registrations by descriptor (the ident); udata is
//    not used. A descriptor's changes still queued are dropped by remove(),
//    so nothing meant for a closed socket reaches one that reuses its number,
//    and a token is never reported after remove().
//  * wake() triggers an EVFILT_USER knote registered with EV_CLEAR: triggers
//    before the next wait coalesce into one event, which the wait consumes.
//
// XNU and FreeBSD differ in what this relies on only in how a failed change
// is reported: FreeBSD overwrites the entry's flags with EV_ERROR, XNU adds
// EV_ERROR to them, so the entry's filter and ident are used, never its
// flags. Both return at once, without collecting events, when a change
// failed (the wait then returns early; the reactor simply waits again).
//
// On Linux this file is built against libkqueue (a userspace kqueue on epoll)
// to run the test suites; docs/design.md lists where libkqueue differs and how
// this backend is written to be correct on it and on the kernels: never
// EV_ADD | EV_DISABLE in one change (broken there), never a second EV_ADD of
// an existing socket knote (refused there), the write filter's `data` is not
// used (always 0 there), and delete before close (libkqueue cannot see a
// close).
#include "poller/backends.hpp"

#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>

#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

namespace tofu::poller {
namespace {

constexpr std::uintptr_t wake_ident = 0; // EVFILT_USER idents are their own namespace

struct kevent make_change(std::uintptr_t ident, int filter, unsigned flags, unsigned fflags = 0) noexcept {
    struct kevent change {};
    change.ident = ident;
    change.filter = static_cast<decltype(change.filter)>(filter);
    change.flags = static_cast<decltype(change.flags)>(flags);
    change.fflags = static_cast<decltype(change.fflags)>(fflags);
    return change;
}

struct kevent toggle(std::uintptr_t ident, int filter, bool on) noexcept {
    return make_change(ident, filter, on ? EV_ENABLE : EV_DISABLE);
}

class KqueuePoller final : public Poller {
public:
    KqueuePoller() : kq_(::kqueue()) {
        if (kq_ < 0) return;
        // The kernels do not pass a kqueue to a forked child, but an exec
        // without fork would keep it.
        ::fcntl(kq_, F_SETFD, FD_CLOEXEC);
        struct kevent waker = make_change(wake_ident, EVFILT_USER, EV_ADD | EV_CLEAR);
        if (apply_now(std::span(&waker, 1)) != 0) {
            ::close(kq_);
            kq_ = -1;
        }
    }
    ~KqueuePoller() override {
        if (kq_ >= 0) ::close(kq_);
    }
    bool valid() const noexcept { return kq_ >= 0; }
    Backend backend() const noexcept override { return Backend::kqueue; }

    Status add(net::NativeHandle handle, std::uint64_t token, Interest interest) override {
        if (handle < 0) return Status::invalid_message;
        const auto ident = static_cast<std::uintptr_t>(handle);
        if (ident >= slots_.size()) slots_.resize(ident + 1);
        // Added enabled, then disabled by a change of its own where interest
        // is off: correct everywhere, and libkqueue mishandles EV_ADD|EV_DISABLE.
        struct kevent changes[4];
        std::size_t count = 0;
        changes[count++] = make_change(ident, EVFILT_READ, EV_ADD);
        changes[count++] = make_change(ident, EVFILT_WRITE, EV_ADD);
        if (!interest.read) changes[count++] = toggle(ident, EVFILT_READ, false);
        if (!interest.write) changes[count++] = toggle(ident, EVFILT_WRITE, false);
        if (apply_now(std::span(changes, count)) != 0) {
            delete_filters(ident);
            return Status::communication_failed;
        }
        slots_[ident] = Slot{token, interest, true};
        return Status::success;
    }

    Status modify(net::NativeHandle handle, std::uint64_t token, Interest interest) override {
        const auto ident = static_cast<std::uintptr_t>(handle);
        // After a refused add() the caller asks again through modify().
        if (live_slot(ident) == nullptr) return add(handle, token, interest);
        Slot& slot = slots_[ident];
        if (interest.read != slot.interest.read) changes_.push_back(toggle(ident, EVFILT_READ, interest.read));
        if (interest.write != slot.interest.write) changes_.push_back(toggle(ident, EVFILT_WRITE, interest.write));
        slot.token = token;
        slot.interest = interest;
        return Status::success;
    }

    void remove(net::NativeHandle handle, std::uint64_t) override {
        const auto ident = static_cast<std::uintptr_t>(handle);
        if (ident >= slots_.size() || !slots_[ident].live) return;
        slots_[ident].live = false;
        std::erase_if(changes_, [ident](const struct kevent& change) { return change.ident == ident; });
        delete_filters(ident);
    }

    Result<std::size_t> wait(std::span<Event> events, std::chrono::milliseconds timeout) override {
        ++epoch_;
        std::size_t count = 0;
        // A change that fails takes one entry of the event list; a call must
        // have room for all of its changes or the kernel drops the rest.
        if (changes_.size() > events.size()) {
            const auto early = static_cast<std::ptrdiff_t>(changes_.size() - events.size());
            submitting_.assign(changes_.begin(), changes_.begin() + early);
            changes_.erase(changes_.begin(), changes_.begin() + early);
            apply_now(submitting_, [&](const struct kevent& failed) { retry(failed, events, count); });
        }
        submitting_.swap(changes_);
        changes_.clear();
        if (kernel_events_.size() < events.size()) kernel_events_.resize(events.size());

        // No waiting when a refused change already has a socket to report.
        timespec limit{};
        if (timeout.count() > 0 && count == 0) {
            limit.tv_sec = static_cast<time_t>(timeout.count() / 1000);
            limit.tv_nsec = static_cast<long>(timeout.count() % 1000) * 1000000L;
        }
        const bool forever = timeout.count() < 0 && count == 0;
        const int ready = ::kevent(kq_, submitting_.data(), static_cast<int>(submitting_.size()), kernel_events_.data(),
                                   static_cast<int>(events.size()), forever ? nullptr : &limit);
        if (ready < 0) {
            // EINTR comes from the scan, after every change was applied. On
            // any other failure the toggles are kept: applying one twice is
            // harmless.
            const bool interrupted = errno == EINTR;
            if (!interrupted) changes_.insert(changes_.begin(), submitting_.begin(), submitting_.end());
            requeue_retries();
            if (interrupted) return count;
            return Status::communication_failed;
        }
        for (int i = 0; i < ready; ++i) {
            const struct kevent& kernel = kernel_events_[static_cast<std::size_t>(i)];
            if (kernel.filter == EVFILT_USER) continue; // a wake(): consumed
            if ((kernel.flags & EV_ERROR) != 0) {
                if (kernel.data != 0) retry(kernel, events, count);
                continue;
            }
            const Slot* slot = live_slot(kernel.ident);
            if (slot == nullptr) continue;
            Event event;
            event.token = slot->token;
            event.readable = kernel.filter == EVFILT_READ && slot->interest.read;
            event.writable = kernel.filter == EVFILT_WRITE && slot->interest.write;
            // EV_EOF alone on the read filter is an end of stream (readable);
            // with an error in fflags, or on the write filter (nothing more can
            // be sent), it is a failure the next I/O call names.
            event.failed = (kernel.flags & EV_EOF) != 0 && (kernel.fflags != 0 || kernel.filter == EVFILT_WRITE);
            report(kernel.ident, event, events, count);
        }
        requeue_retries();
        return count;
    }

    void wake() noexcept override {
        struct kevent trigger = make_change(wake_ident, EVFILT_USER, 0, NOTE_TRIGGER);
        ::kevent(kq_, &trigger, 1, nullptr, 0, nullptr);
    }

private:
    struct Slot {
        std::uint64_t token = 0;
        Interest interest;
        bool live = false;
        // where this socket's event went in the current wait(): its read and
        // write filters are two kernel events but one reported Event
        std::uint64_t event_epoch = 0;
        std::size_t event_index = 0;
    };

    const Slot* live_slot(std::uintptr_t ident) const noexcept {
        return ident < slots_.size() && slots_[ident].live ? &slots_[ident] : nullptr;
    }

    // Applies `changes` now, each with EV_RECEIPT (the kernel then returns one
    // receipt per change and collects no events); calls `on_failure` with each
    // change the kernel refused. Returns how many it refused.
    template <class OnFailure>
    std::size_t apply_now(std::span<const struct kevent> changes, OnFailure on_failure) {
        receipts_.assign(changes.begin(), changes.end());
        for (struct kevent& change : receipts_) change.flags |= EV_RECEIPT;
        const timespec no_wait{};
        const int n = ::kevent(kq_, receipts_.data(), static_cast<int>(receipts_.size()), receipts_.data(),
                               static_cast<int>(receipts_.size()), &no_wait);
        if (n < 0) {
            for (const struct kevent& change : changes) on_failure(change);
            return changes.size();
        }
        std::size_t refused = 0;
        for (int i = 0; i < n; ++i) {
            const struct kevent& receipt = receipts_[static_cast<std::size_t>(i)];
            if ((receipt.flags & EV_ERROR) != 0 && receipt.data != 0) {
                ++refused;
                on_failure(receipt);
            }
        }
        return refused;
    }

    std::size_t apply_now(std::span<const struct kevent> changes) {
        return apply_now(changes, [](const struct kevent&) {});
    }

    // ENOENT where a filter is already gone is expected and harmless.
    void delete_filters(std::uintptr_t ident) {
        const struct kevent deletes[2] = {make_change(ident, EVFILT_READ, EV_DELETE),
                                          make_change(ident, EVFILT_WRITE, EV_DELETE)};
        apply_now(deletes);
    }

    // A toggle the kernel refused: queued again as the current interest says
    // (the refused entry's flags are not reliable, see above), and the socket
    // reported failed in the directions it wants, so the reactor tries it.
    void retry(const struct kevent& failed, std::span<Event> events, std::size_t& count) {
        const Slot* slot = live_slot(failed.ident);
        if (slot == nullptr) return;
        const bool read = failed.filter == EVFILT_READ;
        const bool wanted = read ? slot->interest.read : slot->interest.write;
        retries_.push_back(toggle(failed.ident, failed.filter, wanted));
        if (!wanted) return;
        Event event;
        event.token = slot->token;
        event.readable = read;
        event.writable = !read;
        event.failed = true;
        report(failed.ident, event, events, count);
    }

    void requeue_retries() {
        changes_.insert(changes_.end(), retries_.begin(), retries_.end());
        retries_.clear();
    }

    void report(std::uintptr_t ident, const Event& event, std::span<Event> events, std::size_t& count) {
        if (!event.readable && !event.writable) return;
        Slot& slot = slots_[ident];
        if (slot.event_epoch == epoch_) {
            Event& merged = events[slot.event_index];
            merged.readable |= event.readable;
            merged.writable |= event.writable;
            merged.failed |= event.failed;
            return;
        }
        // Full: level-triggered knotes are reported again by the next wait.
        if (count == events.size()) return;
        slot.event_epoch = epoch_;
        slot.event_index = count;
        events[count++] = event;
    }

    int kq_;
    std::vector<Slot> slots_;                  // by descriptor
    std::vector<struct kevent> changes_;       // toggles for the next wait, in order
    std::vector<struct kevent> submitting_;    // the changes of the call under way
    std::vector<struct kevent> retries_;       // refused toggles, for the next wait
    std::vector<struct kevent> receipts_;      // apply_now's change and receipt list
    std::vector<struct kevent> kernel_events_; // capacity kept between waits
    std::uint64_t epoch_ = 0;                  // one per wait()
};

} // namespace

Result<std::unique_ptr<Poller>> make_kqueue_poller() { return make_if_valid<KqueuePoller>(); }

} // namespace tofu::poller
