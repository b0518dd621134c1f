#pragma once
// Admission: connections accepted whose HelloRequest has not reached the
// application yet ("pending"). They are bounded twice, so that a flood of
// silent or half-speaking connections can neither pin the pool nor keep a
// legitimate client out:
//  * per listener, at most Options::max_pending_handshakes; at the cap the
//    pending connection that has waited longest makes room for the newcomer
//    (a legitimate client's hello follows its connect at once, so it is the
//    youngest, not the oldest);
//  * engine-wide, the hello messages pending connections are filling may
//    hold at most a handshake budget of the pool (memory_limit / 8 and
//    max_messages / 8, at least one hello); when it is spent, the oldest
//    pending connection that holds part of it makes room.
// The reactor closes whom this names; closing one calls leave(). I/O thread
// only.
#include "reactor/channel.hpp"

#include <cstddef>

namespace tofu::detail {

class Admission {
public:
    struct Budget {
        std::size_t bytes = 0;
        std::size_t messages = 0;
        std::size_t per_listener = 0;
    };
    explicit Admission(Budget budget) noexcept : budget_(budget) {}

    void enter(Channel& pending, Channel& listener) noexcept;
    // It surfaced or closed; `listener` is null when the listener is gone.
    void leave(Channel& pending, Channel* listener) noexcept;

    // The pending connection to close before `listener` takes another, or
    // null while it is under its cap.
    Channel* over_cap(const Channel& listener) const noexcept;

    // A hello of `bytes` (message included) for a pending connection: true
    // when the budget has room, else the connection to close for it.
    bool fits(std::size_t bytes) const noexcept {
        return budget_.messages > messages_ && budget_.bytes - bytes_ >= bytes;
    }
    Channel* oldest_holding() const noexcept;
    void hold(Channel& pending, std::size_t bytes) noexcept;
    // Its hello message left it (delivered, or the connection closed).
    void release(Channel& pending) noexcept;

    std::size_t size() const noexcept { return fifo_.size(); }

private:
    Budget budget_;
    ChannelList<&Channel::pending_link> fifo_; // accept order
    std::size_t bytes_ = 0;
    std::size_t messages_ = 0;
};

} // namespace tofu::detail
