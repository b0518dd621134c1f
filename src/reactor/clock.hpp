#pragma once
// The one place the reactor reads time. Production reads the steady clock;
// a driven clock stands still until a test (or a simulation) advances it, so
// timeouts can be proved without sleeping. Copies of a driven clock share
// its time: one simulated clock for every engine of a simulation. Not
// virtual: production pays one well-predicted branch per read, once per
// reactor iteration.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace tofu::detail {

class Clock {
public:
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<std::chrono::steady_clock, duration>;

    // The system's steady clock.
    Clock() = default;
    // A clock that reads `start` until advance() moves it.
    static Clock driven(time_point start = time_point(std::chrono::hours(1))) {
        Clock clock;
        clock.driven_ = std::make_shared<std::atomic<std::int64_t>>(start.time_since_epoch().count());
        return clock;
    }

    time_point now() const noexcept {
        if (!driven_) return std::chrono::time_point_cast<duration>(std::chrono::steady_clock::now());
        return time_point(duration(driven_->load(std::memory_order_acquire)));
    }
    bool is_driven() const noexcept { return static_cast<bool>(driven_); }
    // Driven clocks only; any thread.
    void advance(duration by) noexcept { driven_->fetch_add(by.count(), std::memory_order_acq_rel); }

    static constexpr time_point never() noexcept { return time_point::max(); }

private:
    std::shared_ptr<std::atomic<std::int64_t>> driven_;
};

} // namespace tofu::detail
