// The `afd` backend: one I/O completion port per poller, and readiness from
// IOCTL_AFD_POLL requests issued on each socket's base handle.
//
// How it keeps the Poller contract (poller.hpp):
//  * An AFD poll is a one-shot, level-checked arm: the driver checks the
//    socket when the request is issued and completes at once if a requested
//    condition already holds. A registration whose interest is on gets a poll
//    issued at the start of wait() whenever none is outstanding, so data that
//    is queued while interest was off is reported after interest returns,
//    and a completed poll is re-armed at the start of the next wait() - after
//    the reactor had its chance to change interest (level-checked re-arm).
//  * At most one poll is outstanding per socket. Narrowing interest keeps the
//    pending poll (its completion is filtered against the current interest);
//    widening cancels it (nt::cancel_afd_poll) and issues the new one only
//    after the cancel's completion is dequeued.
//  * ABORT, CONNECT_FAIL and DISCONNECT stay asserted in the driver once they
//    happen. They are remembered per registration, left out of later masks
//    (a poll asking for them would complete at once, forever), and reported
//    from memory - level-style - while the matching interest is on. CONNECT
//    and RECEIVE_EXPEDITED are never asked for; LOCAL_CLOSE always is.
//  * Each registration is one heap object holding the IO_STATUS_BLOCK and the
//    AFD_POLL_INFO the kernel writes. Its address is the APC context of the
//    poll, so a completion finds its registration without any lookup by
//    socket value, and the object is freed only after its last completion has
//    been dequeued: remove() cancels and parks it on a list of removed
//    registrations. A token is therefore never reported after remove(), even
//    if a new socket with the same handle value is added right away.
//  * No FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: a poll that succeeds at once
//    still queues its completion packet, and that packet is the only path.
//  * wake() posts one completion packet, coalesced with an atomic flag that
//    the waiter clears as soon as it dequeues the packet.
//
// The poll is issued on the socket's own base handle (SIO_BASE_HANDLE, with
// the SIO_BSP_HANDLE_POLL fallback for layered providers that hide it), which
// is associated with the port, as the original tofu does; no \Device\Afd
// helper handle. A consequence: a socket can be associated with only one
// completion port in its lifetime, so a socket must not move between pollers
// (tofu has one poller per engine, and sockets never move).
#include "common/invariant.hpp"
#include "poller/afd_stats.hpp"
#include "poller/backends.hpp"
#include "poller/nt_api.hpp"

#include <mswsock.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace tofu::poller {

namespace {

constexpr ULONG_PTR socket_key = 0; // completion key of every associated socket
constexpr ULONG_PTR wake_key = 1;   // completion key of wake() packets

// Conditions that stay asserted once they happen.
constexpr ULONG terminal_events = nt::afd_poll_abort | nt::afd_poll_connect_fail | nt::afd_poll_disconnect;

enum class PollState {
    idle,      // no request outstanding
    pending,   // a request is outstanding
    cancelled, // a request is outstanding and has been cancelled
};

struct Registration {
    // Written by the kernel while a poll is outstanding: the object must stay
    // where it is until the completion is dequeued.
    nt::IoStatusBlock iosb{};
    nt::AfdPollInfo info{};

    SOCKET socket = INVALID_SOCKET;
    HANDLE base = nullptr;
    std::uint64_t token = 0;
    // Which add() made this registration; never reused. Completions do not
    // need it to find their owner (the address, kept alive until the last
    // completion, does that), but it names a registration unambiguously
    // where a socket value would not (e.g. in a debugger after handle reuse).
    std::uint64_t generation = 0;
    Interest interest;
    PollState poll = PollState::idle;
    ULONG pending_mask = 0;
    ULONG seen = 0;       // terminal conditions already seen
    bool closed = false;  // the handle was closed under us: never poll again
    bool removed = false; // remove() was called; parked until the poll completes
    bool queued = false;  // in the update queue

    // where this registration's event went in the current wait()
    std::uint64_t event_epoch = 0;
    std::size_t event_index = 0;
};

SOCKET base_socket(SOCKET socket) noexcept {
    // Layered service providers may fail SIO_BASE_HANDLE but still answer
    // SIO_BSP_HANDLE_POLL; follow that chain until it stops changing.
    SOCKET current = socket;
    for (int depth = 0; depth < 8; ++depth) {
        SOCKET base = INVALID_SOCKET;
        DWORD bytes = 0;
        if (::WSAIoctl(current, SIO_BASE_HANDLE, nullptr, 0, &base, sizeof(base), &bytes, nullptr, nullptr) !=
                SOCKET_ERROR &&
            base != INVALID_SOCKET) {
            return base;
        }
        SOCKET next = INVALID_SOCKET;
        if (::WSAIoctl(current, SIO_BSP_HANDLE_POLL, nullptr, 0, &next, sizeof(next), &bytes, nullptr, nullptr) ==
                SOCKET_ERROR ||
            next == INVALID_SOCKET) {
            return INVALID_SOCKET;
        }
        if (next == current) return current;
        current = next;
    }
    return INVALID_SOCKET;
}

Event to_event(const Registration& reg, ULONG events) noexcept {
    const bool readable = (events & (nt::afd_poll_receive | nt::afd_poll_accept | nt::afd_poll_disconnect |
                                     nt::afd_poll_abort | nt::afd_poll_connect_fail)) != 0;
    const bool writable = (events & (nt::afd_poll_send | nt::afd_poll_abort | nt::afd_poll_connect_fail)) != 0;
    const bool failed = (events & (nt::afd_poll_abort | nt::afd_poll_connect_fail)) != 0;
    Event event;
    event.token = reg.token;
    event.readable = readable && reg.interest.read;
    event.writable = writable && reg.interest.write;
    event.failed = failed && (event.readable || event.writable);
    return event;
}

bool reportable(const Event& event) noexcept { return event.readable || event.writable; }

class AfdPoller final : public Poller {
public:
    AfdPoller(const nt::Api& api, HANDLE port) : api_(api), port_(port), entries_(256) {}
    ~AfdPoller() override;

    Backend backend() const noexcept override { return Backend::afd; }
    Status add(net::NativeHandle handle, std::uint64_t token, Interest interest) override;
    Status modify(net::NativeHandle handle, std::uint64_t token, Interest interest) override;
    void remove(net::NativeHandle handle, std::uint64_t token) override;
    Result<std::size_t> wait(std::span<Event> events, std::chrono::milliseconds timeout) override;
    void wake() noexcept override;

private:
    void enqueue(Registration* reg);
    void flush(std::span<Event> events, std::size_t& count);
    void update(Registration* reg, std::span<Event> events, std::size_t& count);
    ULONG desired_mask(const Registration& reg) const noexcept;
    Event remembered_event(const Registration& reg) const noexcept;
    void issue(Registration* reg, ULONG mask, std::span<Event> events, std::size_t& count);
    void cancel(Registration* reg) noexcept;
    void emit_possibly_ready(Registration* reg, std::span<Event> events, std::size_t& count);
    void complete(Registration* reg, std::span<Event> events, std::size_t& count);
    bool emit(Registration* reg, const Event& event, std::span<Event> events, std::size_t& count);
    void park(std::unique_ptr<Registration> reg);
    void unpark(Registration* reg);

public:
    const AfdPollCount& polls() const noexcept { return polls_; }

private:
    const nt::Api& api_;
    HANDLE port_;
    std::atomic<bool> wake_pending_{false};

    std::unordered_map<net::NativeHandle, std::unique_ptr<Registration>> live_;
    // removed registrations whose poll has not completed yet
    std::unordered_map<Registration*, std::unique_ptr<Registration>> parked_;
    // how many parked polls are still outstanding per socket value: a new
    // registration of the same value waits for them (one poll per socket)
    std::unordered_map<SOCKET, unsigned> parked_polls_;
    // told of every poll queued and every completion dequeued (afd_stats.hpp)
    AfdPollCount polls_;
    std::vector<Registration*> queue_;
    std::vector<Registration*> work_;
    std::vector<OVERLAPPED_ENTRY> entries_;
    std::uint64_t next_generation_ = 1;
    std::uint64_t epoch_ = 0;
};

AfdPoller::~AfdPoller() {
    for (auto& [handle, reg] : live_) {
        (void)handle;
        if (reg->poll == PollState::pending) cancel(reg.get());
        if (reg->poll != PollState::idle) park(std::move(reg));
    }
    live_.clear();
    queue_.clear();
    // The kernel owns the memory of every outstanding poll until its
    // completion is dequeued: drain them (cancelled polls complete quickly).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!parked_.empty() && std::chrono::steady_clock::now() < deadline) {
        ULONG removed = 0;
        if (!::GetQueuedCompletionStatusEx(port_, entries_.data(), static_cast<ULONG>(entries_.size()), &removed, 100,
                                           FALSE)) {
            continue;
        }
        for (ULONG i = 0; i < removed; ++i) {
            if (entries_[i].lpCompletionKey != socket_key || entries_[i].lpOverlapped == nullptr) continue;
            // Every registration is parked by now, so complete() only frees
            // it and reports nothing.
            std::size_t reported = 0;
            complete(reinterpret_cast<Registration*>(entries_[i].lpOverlapped), {}, reported);
        }
    }
    // Anything still outstanding may yet be written by the kernel: leak it
    // rather than hand its memory back.
    for (auto& entry : parked_) (void)entry.second.release();
    ::CloseHandle(port_);
}

void AfdPoller::enqueue(Registration* reg) {
    if (reg->queued) return;
    reg->queued = true;
    queue_.push_back(reg);
}

Status AfdPoller::add(net::NativeHandle handle, std::uint64_t token, Interest interest) {
    if (auto it = live_.find(handle); it != live_.end()) {
        // Only a registration whose handle was closed under us (without
        // remove) may be replaced; it has no poll outstanding.
        if (!it->second->closed || it->second->poll != PollState::idle) return Status::not_allowed;
        if (it->second->queued) std::erase(queue_, it->second.get());
        live_.erase(it);
    }
    const SOCKET socket = static_cast<SOCKET>(handle);
    const SOCKET base = base_socket(socket);
    if (base == INVALID_SOCKET) return Status::communication_failed;
    const HANDLE base_handle = reinterpret_cast<HANDLE>(base);
    if (::CreateIoCompletionPort(base_handle, port_, socket_key, 0) == nullptr) {
        // A socket can be associated once; a socket added again after
        // remove() (not closed in between) is associated already.
        if (::GetLastError() != ERROR_INVALID_PARAMETER) return Status::communication_failed;
    }
    auto reg = std::make_unique<Registration>();
    reg->socket = socket;
    reg->base = base_handle;
    reg->token = token;
    reg->generation = next_generation_++;
    reg->interest = interest;
    Registration* raw = reg.get();
    live_.emplace(handle, std::move(reg));
    if (interest.any()) enqueue(raw);
    return Status::success;
}

Status AfdPoller::modify(net::NativeHandle handle, std::uint64_t token, Interest interest) {
    auto it = live_.find(handle);
    if (it == live_.end()) return Status::not_allowed;
    Registration* reg = it->second.get();
    reg->token = token;
    reg->interest = interest;
    // Whether to keep, cancel or issue a poll is decided right before the
    // next block, in flush(); turning interest off needs nothing at all.
    if (interest.any()) enqueue(reg);
    return Status::success;
}

void AfdPoller::remove(net::NativeHandle handle, std::uint64_t token) {
    (void)token;
    auto it = live_.find(handle);
    if (it == live_.end()) return;
    std::unique_ptr<Registration> reg = std::move(it->second);
    live_.erase(it);
    if (reg->queued) {
        std::erase(queue_, reg.get());
        reg->queued = false;
    }
    if (reg->poll == PollState::pending) cancel(reg.get());
    if (reg->poll != PollState::idle) park(std::move(reg));
}

void AfdPoller::park(std::unique_ptr<Registration> reg) {
    reg->removed = true;
    ++parked_polls_[reg->socket];
    Registration* raw = reg.get();
    parked_.emplace(raw, std::move(reg));
}

void AfdPoller::unpark(Registration* reg) {
    const SOCKET socket = reg->socket;
    parked_.erase(reg); // frees it: its last completion has been dequeued
    auto count = parked_polls_.find(socket);
    if (count != parked_polls_.end() && --count->second == 0) {
        parked_polls_.erase(count);
        // a registration of the same socket value waited for this one
        if (auto it = live_.find(static_cast<net::NativeHandle>(socket)); it != live_.end()) {
            if (it->second->interest.any()) enqueue(it->second.get());
        }
    }
}

void AfdPoller::cancel(Registration* reg) noexcept {
    TOFU_INVARIANT(reg->poll == PollState::pending); // one cancel per poll
    nt::cancel_afd_poll(api_, reg->base, reg->iosb);
    reg->poll = PollState::cancelled;
}

ULONG AfdPoller::desired_mask(const Registration& reg) const noexcept {
    ULONG mask = nt::afd_poll_local_close;
    if (reg.interest.read && (reg.seen & (nt::afd_poll_abort | nt::afd_poll_disconnect)) == 0) {
        mask |= nt::afd_poll_receive | nt::afd_poll_accept | nt::afd_poll_disconnect;
    }
    if (reg.interest.write && (reg.seen & (nt::afd_poll_abort | nt::afd_poll_connect_fail)) == 0) {
        mask |= nt::afd_poll_send;
    }
    mask |= (nt::afd_poll_abort | nt::afd_poll_connect_fail) & ~reg.seen;
    return mask;
}

Event AfdPoller::remembered_event(const Registration& reg) const noexcept { return to_event(reg, reg.seen); }

bool AfdPoller::emit(Registration* reg, const Event& event, std::span<Event> events, std::size_t& count) {
    if (!reportable(event)) return true;
    if (reg->event_epoch == epoch_) {
        Event& merged = events[reg->event_index];
        merged.readable |= event.readable;
        merged.writable |= event.writable;
        merged.failed |= event.failed;
        return true;
    }
    if (count == events.size()) return false;
    reg->event_epoch = epoch_;
    reg->event_index = count;
    events[count++] = event;
    return true;
}

void AfdPoller::flush(std::span<Event> events, std::size_t& count) {
    work_.swap(queue_);
    for (Registration* reg : work_) reg->queued = false;
    for (Registration* reg : work_) update(reg, events, count);
    work_.clear();
}

void AfdPoller::update(Registration* reg, std::span<Event> events, std::size_t& count) {
    if (reg->closed || !reg->interest.any()) return;
    // Conditions the driver keeps asserted are reported from memory for as
    // long as the interest is on (level semantics without a spinning poll).
    const Event remembered = remembered_event(*reg);
    if (reportable(remembered)) {
        emit(reg, remembered, events, count);
        enqueue(reg); // still true next time
    }
    const ULONG mask = desired_mask(*reg);
    switch (reg->poll) {
    case PollState::pending:
        // Narrower or equal: keep it; a completion for conditions no longer
        // wanted is filtered. Wider: cancel and re-issue after the cancel
        // completes.
        if ((mask & ~reg->pending_mask) != 0) cancel(reg);
        return;
    case PollState::cancelled: return; // complete() queues it again
    case PollState::idle:
        if (parked_polls_.contains(reg->socket)) return; // unpark() queues it again
        issue(reg, mask, events, count);
        return;
    }
}

void AfdPoller::issue(Registration* reg, ULONG mask, std::span<Event> events, std::size_t& count) {
    // The kernel writes reg->iosb and reg->info until the poll's completion
    // is dequeued: a second poll on them before that would corrupt both.
    TOFU_INVARIANT(reg->poll == PollState::idle);
    switch (nt::afd_poll(api_, reg->base, mask, reg->info, reg->iosb, reg)) {
    case nt::PollStart::queued:
        reg->poll = PollState::pending;
        reg->pending_mask = mask;
        polls_.issued(reg->socket);
        return;
    case nt::PollStart::handle_closed:
        reg->closed = true; // closed without remove(): nothing can be reported
        return;
    case nt::PollStart::refused:
        // Refused for want of kernel memory or the like: the socket must not
        // be disarmed. It is possibly ready, and is issued again next wait().
        emit_possibly_ready(reg, events, count);
        enqueue(reg);
        return;
    }
}

// A poll that could not tell: the socket is reported for what its interest
// asks, so that the reactor tries its I/O (which tolerates would_block).
void AfdPoller::emit_possibly_ready(Registration* reg, std::span<Event> events, std::size_t& count) {
    Event hint;
    hint.token = reg->token;
    hint.readable = reg->interest.read;
    hint.writable = reg->interest.write;
    emit(reg, hint, events, count);
}

void AfdPoller::complete(Registration* reg, std::span<Event> events, std::size_t& count) {
    TOFU_INVARIANT(reg->poll != PollState::idle); // a completion for a poll that was issued
    reg->poll = PollState::idle;
    polls_.completed(reg->socket);
    if (reg->removed) {
        unpark(reg);
        return;
    }
    // Read our own IO_STATUS_BLOCK rather than the packet's copy (Wine fills
    // only the low 32 bits of OVERLAPPED_ENTRY::Internal).
    const nt::NtStatus status = reg->iosb.status;
    ULONG fired = 0;
    if (status == nt::status_cancelled) {
        // a cancelled poll: nothing happened
    } else if (nt::failed(status)) {
        if (status == nt::status_invalid_handle) {
            reg->closed = true;
            return;
        }
        // The request itself failed: as when issuing fails.
        emit_possibly_ready(reg, events, count);
    } else if (reg->info.number_of_handles >= 1) {
        fired = reg->info.handles[0].events;
    }
    if ((fired & nt::afd_poll_local_close) != 0) {
        reg->closed = true; // closed without remove(): stop polling it
        return;
    }
    reg->seen |= fired & terminal_events;
    emit(reg, to_event(*reg, fired), events, count);
    if (reg->interest.any()) enqueue(reg); // re-armed at the start of the next wait()
}

Result<std::size_t> AfdPoller::wait(std::span<Event> events, std::chrono::milliseconds timeout) {
    using clock = std::chrono::steady_clock;
    const bool forever = timeout.count() < 0;
    const clock::time_point deadline = forever ? clock::time_point::max() : clock::now() + timeout;
    ++epoch_;
    std::size_t count = 0;
    for (;;) {
        // Interest changes and re-arms take effect right before blocking.
        flush(events, count);
        if (count == events.size()) return count;
        DWORD wait_ms = 0;
        if (count == 0) {
            if (forever) {
                wait_ms = INFINITE;
            } else {
                const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
                wait_ms = left.count() <= 0 ? 0 : static_cast<DWORD>(std::min<long long>(left.count(), INFINITE - 1));
            }
        }
        // Each dequeued socket packet adds at most one event, so never take
        // more packets than there are free slots.
        const ULONG room = static_cast<ULONG>(std::min(entries_.size(), events.size() - count));
        ULONG removed = 0;
        if (!::GetQueuedCompletionStatusEx(port_, entries_.data(), room, &removed, wait_ms, FALSE)) {
            const DWORD error = ::GetLastError();
            if (error != WAIT_TIMEOUT) return Status::communication_failed;
            removed = 0;
        }
        bool woken = false;
        for (ULONG i = 0; i < removed; ++i) {
            const OVERLAPPED_ENTRY& entry = entries_[i];
            if (entry.lpCompletionKey == wake_key) {
                // Cleared before the caller drains whatever the waker
                // published, so a later wake() posts again.
                wake_pending_.store(false, std::memory_order_seq_cst);
                woken = true;
                continue;
            }
            if (entry.lpOverlapped == nullptr) continue;
            complete(reinterpret_cast<Registration*>(entry.lpOverlapped), events, count);
        }
        if (count > 0 || woken || removed == 0) return count;
        // Only cancels or filtered completions: re-arm and keep waiting.
        if (!forever && clock::now() >= deadline) return count;
    }
}

void AfdPoller::wake() noexcept {
    if (wake_pending_.exchange(true, std::memory_order_seq_cst)) return; // a packet is on its way
    if (!::PostQueuedCompletionStatus(port_, 0, wake_key, nullptr)) wake_pending_.store(false);
}

} // namespace

std::uint32_t afd_outstanding_polls(const Poller& poller, net::NativeHandle handle) noexcept {
    if (poller.backend() != Backend::afd) return 0;
    return static_cast<const AfdPoller&>(poller).polls().outstanding_on(handle);
}

Result<std::unique_ptr<Poller>> make_afd_poller() {
    Result<const nt::Api*> api = nt::api();
    if (!api) return api.status();
    HANDLE port = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
    if (port == nullptr) {
        return {Status::communication_failed, std::error_code(net::last_os_error(), os_category())};
    }
    return std::unique_ptr<Poller>(std::make_unique<AfdPoller>(*api.value(), port));
}

} // namespace tofu::poller
