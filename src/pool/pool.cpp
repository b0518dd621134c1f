#include "pool/pool.hpp"

#include <algorithm>
#include <new>
#include <utility>

namespace tofu {

namespace {
constexpr std::size_t message_overhead = sizeof(Message);

// Takes one unit of `counter` while it stays within `limit`.
bool take_within(std::atomic<std::size_t>& counter, std::size_t limit) noexcept {
    std::size_t current = counter.load(std::memory_order_relaxed);
    do {
        if (current + 1 > limit) return false;
    } while (!counter.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel));
    return true;
}
} // namespace

void Pool::OwnerRelease::operator()(Pool* pool) const noexcept { pool->release_owner(); }

Pool::Handle Pool::create(PoolLimits limits, std::size_t reserved_messages) {
    return create(limits, Reserve{reserved_messages, 0, 0});
}

Pool::Handle Pool::create(PoolLimits limits, Reserve reserve) {
    Handle pool(new Pool(limits, reserve));
    for (std::size_t i = 0; i < limits.initial_messages && i < limits.max_messages; ++i) {
        if (!pool->charge(message_overhead, Tier::notification)) break;
        auto* message = new (std::nothrow) Message(*pool);
        if (message == nullptr) {
            pool->refund(message_overhead);
            break;
        }
        pool->push_free(*message);
        pool->created_.fetch_add(1, std::memory_order_relaxed);
    }
    return pool;
}

Pool::Pool(PoolLimits limits, Reserve reserve) : limits_(limits), reserve_(reserve) {}

Pool::~Pool() {
    while (free_list_ != nullptr) {
        Message* message = free_list_;
        free_list_ = message->next_;
        delete message;
    }
}

std::size_t Pool::shared_messages(Tier tier) const noexcept {
    std::size_t reserved = reserve_.notification_messages;
    if (tier == Tier::application) reserved += reserve_.inbound_messages;
    return limits_.max_messages - std::min(limits_.max_messages, reserved);
}

// Bytes are one account, but the bytes that held reserve messages stand on
// (reserve_footprint each) are not counted against the lower tiers: they
// come out of the reserve that was kept back for them.
std::size_t Pool::byte_limit(Tier tier) const noexcept {
    if (tier == Tier::notification) return limits_.memory_limit;
    std::size_t reserved = reserve_.notification_messages * reserve_footprint;
    if (tier == Tier::application) reserved += reserve_.inbound_bytes;
    return limits_.memory_limit - std::min(limits_.memory_limit, reserved);
}

std::size_t Pool::bytes_counted(Tier tier) const noexcept {
    const std::size_t used = bytes_.load(std::memory_order_seq_cst);
    if (tier == Tier::notification) return used;
    const std::size_t reserved = reserve_in_use_.load(std::memory_order_seq_cst) * reserve_footprint;
    return used - std::min(used, reserved);
}

bool Pool::has_room(Tier tier) const noexcept {
    if (tier == Tier::notification &&
        reserve_in_use_.load(std::memory_order_seq_cst) < reserve_.notification_messages) {
        return true;
    }
    return shared_in_use_.load(std::memory_order_seq_cst) + 1 <= shared_messages(tier);
}

std::size_t Pool::free_messages(Tier tier) const noexcept {
    const std::size_t used = shared_in_use_.load(std::memory_order_seq_cst);
    const std::size_t limit = shared_messages(tier);
    return used < limit ? limit - used : 0;
}

std::size_t Pool::free_bytes(Tier tier) const noexcept {
    const std::size_t used = bytes_counted(tier);
    const std::size_t limit = byte_limit(tier);
    const std::size_t idle = idle_bytes_.load(std::memory_order_relaxed);
    return used < limit + idle ? limit + idle - used : 0;
}

bool Pool::can_acquire(Tier tier) noexcept {
    if (!has_room(tier)) return false;
    {
        std::lock_guard lock(free_mutex_);
        if (free_count_ != 0) return true;
    }
    return can_charge(message_overhead, tier);
}

bool Pool::can_charge(std::size_t bytes, Tier tier) const noexcept {
    const std::size_t limit = byte_limit(tier);
    const std::size_t used = bytes_counted(tier);
    return used + bytes <= limit + idle_bytes_.load(std::memory_order_relaxed);
}

bool Pool::charge(std::size_t bytes, Tier tier) noexcept {
    const std::size_t limit = byte_limit(tier);
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::size_t current = bytes_.load(std::memory_order_relaxed);
        // Reserve bytes in use stand outside the lower tiers' limit (and the
        // hard limit holds whatever this reads: they are at most the reserve).
        const std::size_t discount =
            tier == Tier::notification ? 0 : reserve_in_use_.load(std::memory_order_seq_cst) * reserve_footprint;
        while (current + bytes <= limit + discount) {
            if (bytes_.compare_exchange_weak(current, current + bytes, std::memory_order_acq_rel)) {
                std::size_t peak = peak_bytes_.load(std::memory_order_relaxed);
                while (peak < current + bytes &&
                       !peak_bytes_.compare_exchange_weak(peak, current + bytes, std::memory_order_relaxed)) {}
                return true;
            }
        }
        // Idle messages may be sitting on capacity another message needs.
        if (attempt == 0 && !trim_free_buffers(current + bytes - (limit + discount))) return false;
    }
    return false;
}

void Pool::refund(std::size_t bytes) noexcept { bytes_.fetch_sub(bytes, std::memory_order_acq_rel); }

bool Pool::trim_free_buffers(std::size_t wanted) noexcept {
    std::size_t freed = 0;
    std::lock_guard lock(free_mutex_);
    for (Message* message = free_list_; message != nullptr && freed < wanted; message = message->next_) {
        freed += message->capacity_bytes();
        detail::MessageAccess::headers(*message).release();
        detail::MessageAccess::body(*message).release();
    }
    idle_bytes_.fetch_sub(freed, std::memory_order_relaxed);
    return freed != 0;
}

void Pool::push_free(Message& message) noexcept {
    message.next_ = free_list_;
    free_list_ = &message;
    ++free_count_;
    idle_bytes_.fetch_add(message.capacity_bytes(), std::memory_order_relaxed);
}

Message* Pool::pop_free() noexcept {
    Message* message = free_list_;
    if (message == nullptr) return nullptr;
    free_list_ = message->next_;
    message->next_ = nullptr;
    --free_count_;
    idle_bytes_.fetch_sub(message->capacity_bytes(), std::memory_order_relaxed);
    return message;
}

bool Pool::take_slot(Tier tier, bool& from_reserve) noexcept {
    from_reserve = tier == Tier::notification && take_within(reserve_in_use_, reserve_.notification_messages);
    return from_reserve || take_within(shared_in_use_, shared_messages(tier));
}

void Pool::give_slot(bool from_reserve) noexcept {
    (from_reserve ? reserve_in_use_ : shared_in_use_).fetch_sub(1, std::memory_order_seq_cst);
}

// A reserve message holds exactly reserve_footprint bytes: idle buffers it
// brought from the free list go back, and the header room for a close cause
// is charged now, while the reserve guarantees it.
void Pool::shape_for_reserve(Message& message) noexcept {
    detail::MessageAccess::body(message).release();
    if (detail::MessageAccess::headers(message).capacity() != reserved_header_bytes) {
        detail::MessageAccess::headers(message).release();
        (void)detail::MessageAccess::headers(message).reserve(reserved_header_bytes, Status::invalid_headers_len,
                                                              Tier::notification);
    }
}

Message::Ptr Pool::acquire(Alloc strategy, Tier tier) {
    bool from_reserve = false;
    if (!take_slot(tier, from_reserve)) return Message::Ptr();

    Message* message = nullptr;
    {
        std::lock_guard lock(free_mutex_);
        message = pop_free();
    }
    // The count check above already bounds created_ by max_messages: a message
    // is created only when none is free, so created_ <= in use at that moment.
    if (message == nullptr) {
        if (strategy == Alloc::PoolOnly || !charge(message_overhead, tier)) {
            give_slot(from_reserve);
            return Message::Ptr();
        }
        message = new (std::nothrow) Message(*this);
        if (message == nullptr) {
            refund(message_overhead);
            give_slot(from_reserve);
            return Message::Ptr();
        }
        created_.fetch_add(1, std::memory_order_relaxed);
    }
    message->in_reserve_ = from_reserve;
    if (from_reserve) shape_for_reserve(*message);
    return Message::Ptr(message);
}

void Pool::track_channel_shares() {
    share_returns_ = std::make_unique<std::atomic<std::uint64_t>[]>(channel_number_count);
}

void Pool::attribute(Message& message, ChannelNumber channel, std::uint32_t bytes) noexcept {
    message.share_channel_ = channel;
    message.share_bytes_ = bytes;
}

std::uint64_t Pool::share_returns(ChannelNumber channel) const noexcept {
    return share_returns_[channel].load(std::memory_order_seq_cst);
}

Status Pool::put(Message::Ptr message) {
    if (!message) return Status::null_message;
    if (&detail::MessageAccess::pool(*message) != this) return Status::invalid_message;
    message.reset();
    return Status::success;
}

void Pool::set_listener(PoolListener* listener) noexcept {
    std::lock_guard lock(free_mutex_);
    listener_ = listener;
}

void Pool::give_back(Message* message) noexcept {
    message->next_ = nullptr;
    give_back(message, message, 1);
}

// Messages come back in a list (`first` to `last` through next_, `count`
// of them): one lock and one update of each counter for the whole list.
void Pool::give_back(Message* first, Message* last, std::size_t count) noexcept {
    std::size_t from_reserve = 0;
    std::size_t capacity = 0;
    for (Message* message = first; message != nullptr; message = message->next_) {
        Message* const next = message->next_;
        message->reset();
        message->next_ = next;
        if (message->share_channel_ != unassigned_channel) {
            // Before the return is counted below: a reactor parked on this channel's
            // share either sees the return or is woken (docs/design.md §5).
            share_returns_[message->share_channel_].fetch_add(share_unit(message->share_bytes_),
                                                              std::memory_order_seq_cst);
            message->share_channel_ = unassigned_channel;
            message->share_bytes_ = 0;
        }
        from_reserve += std::exchange(message->in_reserve_, false) ? 1 : 0;
        capacity += message->capacity_bytes();
    }
    bool orphaned = false;
    bool last_one = false;
    {
        std::lock_guard lock(free_mutex_);
        if (owner_alive_) {
            last->next_ = free_list_;
            free_list_ = first;
            free_count_ += count;
            idle_bytes_.fetch_add(capacity, std::memory_order_relaxed);
        } else {
            orphaned = true;
        }
        // The pool outlives its owner until the last message came back.
        if (from_reserve != 0) reserve_in_use_.fetch_sub(from_reserve, std::memory_order_seq_cst);
        if (count != from_reserve) shared_in_use_.fetch_sub(count - from_reserve, std::memory_order_seq_cst);
        last_one = orphaned && messages_in_use() == 0;
        // Counted only once the messages are visible, and the target read
        // after: either we see the reactor's target or its re-check sees
        // our count. Only the return that reaches the target wakes it.
        const std::uint64_t returned = returns_.fetch_add(count, std::memory_order_seq_cst) + count;
        const std::uint64_t target = wake_at_.load(std::memory_order_seq_cst);
        if (listener_ != nullptr && returned >= target && returned - count < target) listener_->memory_returned();
    }
    while (orphaned && first != nullptr) {
        Message* const next = first->next_;
        refund(message_overhead);
        delete first;
        first = next;
    }
    if (last_one) delete this;
}

void Pool::ReturnBatch::add(Message::Ptr message) noexcept {
    Message* const raw = message.release();
    raw->next_ = first_;
    first_ = raw;
    if (last_ == nullptr) last_ = raw;
    ++count_;
}

void Pool::ReturnBatch::give_back() noexcept {
    if (count_ == 0) return;
    pool_.give_back(first_, last_, count_);
    first_ = last_ = nullptr;
    count_ = 0;
}

void Pool::release_owner() noexcept {
    bool last = false;
    {
        std::lock_guard lock(free_mutex_);
        owner_alive_ = false;
        listener_ = nullptr;
        last = messages_in_use() == 0;
    }
    if (last) delete this;
}

} // namespace tofu
