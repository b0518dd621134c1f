#include "reactor/admission.hpp"

namespace tofu::detail {

void Admission::enter(Channel& pending, Channel& listener) noexcept {
    pending.listener_token = listener.token();
    ++listener.pending_count;
    fifo_.push_back(pending);
}

void Admission::leave(Channel& pending, Channel* listener) noexcept {
    if (!fifo_.contains(pending)) return;
    fifo_.remove(pending);
    release(pending);
    if (listener != nullptr && listener->pending_count != 0) --listener->pending_count;
}

Channel* Admission::over_cap(const Channel& listener) const noexcept {
    if (listener.pending_count < budget_.per_listener) return nullptr;
    for (Channel* channel = fifo_.front(); channel != nullptr; channel = channel->pending_link.next) {
        if (channel->listener_token == listener.token()) return channel;
    }
    return nullptr;
}

Channel* Admission::oldest_holding() const noexcept {
    for (Channel* channel = fifo_.front(); channel != nullptr; channel = channel->pending_link.next) {
        if (channel->handshake_bytes != 0) return channel;
    }
    return nullptr;
}

void Admission::hold(Channel& pending, std::size_t bytes) noexcept {
    pending.handshake_bytes = bytes;
    bytes_ += bytes;
    ++messages_;
}

void Admission::release(Channel& pending) noexcept {
    if (pending.handshake_bytes == 0) return;
    bytes_ -= pending.handshake_bytes;
    --messages_;
    pending.handshake_bytes = 0;
}

} // namespace tofu::detail
