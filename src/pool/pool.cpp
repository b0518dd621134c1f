#include <tofu/pool.hpp>

#include <new>

namespace tofu {

namespace {
constexpr std::size_t message_overhead = sizeof(Message);
// room kept per reserved message for a short text header (a close cause)
constexpr std::size_t reserved_header_bytes = 64;
}

void Pool::OwnerRelease::operator()(Pool* pool) const noexcept { pool->release_owner(); }

Pool::Handle Pool::create(PoolLimits limits, std::size_t reserved_messages) {
    return create(limits, Reserve{reserved_messages, 0, 0});
}

Pool::Handle Pool::create(PoolLimits limits, Reserve reserve) {
    Handle pool(new Pool(limits, reserve));
    // Hold every new message until all are made: a message put back at once
    // would be recycled by the next acquire and only one would ever exist.
    Message* made = nullptr;
    for (std::size_t i = 0; i < limits.initial_messages && i < limits.max_messages; ++i) {
        Message::Ptr message = pool->acquire(Alloc::Always, Tier::notification);
        if (!message) break;
        message->next = made;
        made = message.release();
    }
    while (made != nullptr) {
        Message::Ptr message(made);
        made = made->next;
        message->next = nullptr;
    }
    return pool;
}

Pool::Pool(PoolLimits limits, Reserve reserve) : limits_(limits), reserve_(reserve) {}

Pool::~Pool() {
    while (free_list_ != nullptr) {
        Message* message = free_list_;
        free_list_ = message->next;
        delete message;
    }
}

std::size_t Pool::reserve_bytes(Tier tier) const noexcept {
    if (tier == Tier::notification) return 0;
    const std::size_t notifications = reserve_.notification_messages * (message_overhead + reserved_header_bytes);
    return tier == Tier::inbound ? notifications : notifications + reserve_.inbound_bytes;
}

std::size_t Pool::reserve_messages(Tier tier) const noexcept {
    if (tier == Tier::notification) return 0;
    return tier == Tier::inbound ? reserve_.notification_messages
                                 : reserve_.notification_messages + reserve_.inbound_messages;
}

bool Pool::has_room(Tier tier) const noexcept {
    return in_use_.load(std::memory_order_seq_cst) + 1 + reserve_messages(tier) <= limits_.max_messages;
}

bool Pool::can_acquire(Tier tier) noexcept {
    if (!has_room(tier)) return false;
    {
        std::lock_guard lock(free_mutex_);
        if (free_count_ != 0) return true;
    }
    return can_charge(message_overhead, tier);
}

bool Pool::can_charge(std::size_t bytes, Tier tier) noexcept {
    const std::size_t limit = limits_.memory_limit - std::min(limits_.memory_limit, reserve_bytes(tier));
    const std::size_t used = bytes_.load(std::memory_order_seq_cst);
    if (used + bytes <= limit) return true;
    std::size_t idle = 0;
    std::lock_guard lock(free_mutex_);
    for (const Message* message = free_list_; message != nullptr; message = message->next) {
        idle += message->capacity_bytes();
    }
    return used + bytes <= limit + idle;
}

bool Pool::charge(std::size_t bytes, Tier tier) noexcept {
    const std::size_t limit = limits_.memory_limit - std::min(limits_.memory_limit, reserve_bytes(tier));
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::size_t current = bytes_.load(std::memory_order_relaxed);
        while (current + bytes <= limit) {
            if (bytes_.compare_exchange_weak(current, current + bytes, std::memory_order_acq_rel)) {
                std::size_t peak = peak_bytes_.load(std::memory_order_relaxed);
                while (peak < current + bytes &&
                       !peak_bytes_.compare_exchange_weak(peak, current + bytes, std::memory_order_relaxed)) {
                }
                return true;
            }
        }
        // Idle messages may be sitting on capacity another message needs.
        if (attempt == 0 && !trim_free_buffers(current + bytes - limit)) return false;
    }
    return false;
}

void Pool::refund(std::size_t bytes) noexcept { bytes_.fetch_sub(bytes, std::memory_order_acq_rel); }

bool Pool::trim_free_buffers(std::size_t wanted) noexcept {
    std::size_t freed = 0;
    std::lock_guard lock(free_mutex_);
    for (Message* message = free_list_; message != nullptr && freed < wanted; message = message->next) {
        freed += message->capacity_bytes();
        message->header_buffer().release();
        message->body_buffer().release();
    }
    return freed != 0;
}

Message::Ptr Pool::acquire(Alloc strategy, Tier tier) {
    const std::size_t reserve = reserve_messages(tier);
    std::size_t in_use = in_use_.load(std::memory_order_relaxed);
    do {
        if (in_use + 1 + reserve > limits_.max_messages) return Message::Ptr();
    } while (!in_use_.compare_exchange_weak(in_use, in_use + 1, std::memory_order_acq_rel));

    {
        std::lock_guard lock(free_mutex_);
        if (free_list_ != nullptr) {
            Message* message = free_list_;
            free_list_ = message->next;
            message->next = nullptr;
            --free_count_;
            return Message::Ptr(message);
        }
    }
    // The count check above already bounds created_ by max_messages: a message
    // is created only when none is free, so created_ == in_use_ at that moment.
    if (strategy == Alloc::PoolOnly || !charge(message_overhead, tier)) {
        in_use_.fetch_sub(1, std::memory_order_acq_rel);
        return Message::Ptr();
    }
    Message* message = new (std::nothrow) Message(*this);
    if (message == nullptr) {
        refund(message_overhead);
        in_use_.fetch_sub(1, std::memory_order_acq_rel);
        return Message::Ptr();
    }
    created_.fetch_add(1, std::memory_order_relaxed);
    return Message::Ptr(message);
}

Status Pool::put(Message::Ptr message) {
    if (!message) return Status::null_message;
    if (&message->pool() != this) return Status::invalid_message;
    message.reset();
    return Status::success;
}

void Pool::set_listener(PoolListener* listener) noexcept {
    std::lock_guard lock(free_mutex_);
    listener_ = listener;
}

void Pool::give_back(Message* message) noexcept {
    message->reset();
    bool orphaned = false;
    bool last = false;
    {
        std::lock_guard lock(free_mutex_);
        if (owner_alive_) {
            message->next = free_list_;
            free_list_ = message;
            ++free_count_;
        } else {
            orphaned = true;
        }
        // The pool outlives its owner until the last message came back.
        last = in_use_.fetch_sub(1, std::memory_order_seq_cst) == 1 && orphaned;
        // Read the flag only after the message is visible, so that either we
        // see the reactor waiting or the reactor's re-check sees our message.
        if (listener_ != nullptr && waiting_.load(std::memory_order_seq_cst)) listener_->memory_returned();
    }
    if (orphaned) {
        refund(message_overhead);
        delete message;
    }
    if (last) delete this;
}

void Pool::release_owner() noexcept {
    bool last = false;
    {
        std::lock_guard lock(free_mutex_);
        owner_alive_ = false;
        listener_ = nullptr;
        last = in_use_.load(std::memory_order_seq_cst) == 0;
    }
    if (last) delete this;
}

} // namespace tofu
