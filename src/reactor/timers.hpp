#pragma once
// Per-channel deadlines (connect, handshake, frame) in one min-heap, so the
// reactor's wait timeout comes from the nearest deadline and no timer needs
// a thread. Each channel embeds a Timers::Slot; a slot is in the heap at
// most once, keyed by its earliest deadline.
//
// Moving a deadline later is a field write: the slot keeps its earlier key,
// comes up early, and is re-keyed then (a streaming channel moves its frame
// deadline once per read, so this keeps the hot path off the heap). Moving
// one earlier sifts the slot up. I/O thread only.
#include "reactor/clock.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace tofu::detail {

enum class Timeout : std::uint8_t {
    connect,      // a connect that has not completed
    handshake,    // the peer's part of the hello exchange
    frame,        // a frame that started arriving and has not completed
    admission,    // a listener at its cap: its oldest pending connection may make room
    accept_retry, // a listener whose accept() failed tries again
    share_grace,  // a channel paused at its share stops waiting for a whole batch
};
inline constexpr std::size_t timeout_kinds = 6;

class Timers {
public:
    struct Slot {
        std::array<Clock::time_point, timeout_kinds> due{Clock::never(), Clock::never(), Clock::never(),
                                                         Clock::never(), Clock::never(), Clock::never()};
        std::uint64_t token = 0;                // handed back by expire()
        Clock::time_point key = Clock::never(); // where the slot sits in the heap
        std::size_t index = not_queued;

        bool armed(Timeout kind) const noexcept { return due[static_cast<std::size_t>(kind)] != Clock::never(); }
    };
    static constexpr std::size_t not_queued = ~std::size_t{0};

    struct Expiry {
        std::uint64_t token;
        Timeout kind;
    };

    void set(Slot& slot, Timeout kind, Clock::time_point when);
    void clear(Slot& slot, Timeout kind) noexcept { slot.due[static_cast<std::size_t>(kind)] = Clock::never(); }
    // The channel is gone: its slot leaves the heap.
    void remove(Slot& slot) noexcept;

    // When the earliest slot comes up (never when none is queued); it may
    // turn out to be early, which costs a wake-up and nothing else.
    Clock::time_point next() const noexcept { return heap_.empty() ? Clock::never() : heap_.front()->key; }
    // One deadline that has passed at `now` (cleared as it is returned), or
    // nothing; call until nothing.
    std::optional<Expiry> expire(Clock::time_point now);

    std::size_t size() const noexcept { return heap_.size(); }

private:
    static Clock::time_point earliest(const Slot& slot) noexcept;
    void push(Slot& slot);
    void sift_up(std::size_t index) noexcept;
    void sift_down(std::size_t index) noexcept;
    void place(std::size_t index, Slot* slot) noexcept {
        heap_[index] = slot;
        slot->index = index;
    }

    std::vector<Slot*> heap_;
};

} // namespace tofu::detail
