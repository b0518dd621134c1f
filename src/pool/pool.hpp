#pragma once
// The bounded message pool: a hard limit on message count and on bytes
// (message objects plus buffer capacity). Any thread may get and return.
#include <tofu/engine.hpp>

#include "message/message_access.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

namespace tofu {

using detail::MemoryTier;
using detail::MessageBuffer;

struct PoolLimits {
    std::size_t initial_messages = 0;
    std::size_t max_messages = 1024;
    std::size_t memory_limit = std::size_t{64} << 20;
};

// Told (from the returning thread) when a message comes back while someone
// waits for memory; see the wake-up protocol in docs/design.md.
class PoolListener {
public:
    virtual void memory_returned() noexcept = 0;

protected:
    ~PoolListener() = default;
};

class Pool {
    struct OwnerRelease {
        void operator()(Pool* pool) const noexcept;
    };

public:
    // The pool lives until its owner handle is gone and the last message
    // that left it has come back, so a stray Message::Ptr is never dangling.
    using Handle = std::unique_ptr<Pool, OwnerRelease>;

    using Tier = MemoryTier;

    // Memory a lower tier cannot take: `notification_messages` (and a
    // little header room each: reserve_footprint bytes) only notifications
    // may use; `inbound` only inbound reads and notifications may use, so an
    // application that filled the pool with outgoing messages can still
    // receive the answers that free them (two peers can then not stall each
    // other).
    struct Reserve {
        std::size_t notification_messages = 0;
        std::size_t inbound_messages = 0;
        std::size_t inbound_bytes = 0;
    };
    // Bytes one message of the notification reserve holds: the message and
    // room for its text headers (a close cause and what the OS said).
    static constexpr std::size_t reserved_header_bytes = 128;
    static constexpr std::size_t reserve_footprint = sizeof(Message) + reserved_header_bytes;
    static Handle create(PoolLimits limits, std::size_t reserved_messages = 0);
    static Handle create(PoolLimits limits, Reserve reserve);

    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // Empty on exhaustion: not an error.
    Message::Ptr get(Alloc strategy) { return acquire(strategy, Tier::application); }
    Message::Ptr acquire(Alloc strategy, Tier tier);
    // Same as letting the Ptr go; a message from another pool is refused.
    Status put(Message::Ptr message);

    // Messages of this pool going back together, for a thread that lets go
    // of many at once (the reactor, after a write): one lock and one update
    // of each count for the lot. Until give_back() they stay in use.
    class ReturnBatch {
    public:
        explicit ReturnBatch(Pool& pool) noexcept : pool_(pool) {}
        ReturnBatch(const ReturnBatch&) = delete;
        ReturnBatch& operator=(const ReturnBatch&) = delete;
        ~ReturnBatch() { give_back(); }
        void add(Message::Ptr message) noexcept;
        void give_back() noexcept;

    private:
        Pool& pool_;
        Message* first_ = nullptr;
        Message* last_ = nullptr;
        std::size_t count_ = 0;
    };

    const PoolLimits& limits() const noexcept { return limits_; }
    std::size_t bytes_in_use() const noexcept { return bytes_.load(std::memory_order_relaxed); }
    std::size_t peak_bytes() const noexcept { return peak_bytes_.load(std::memory_order_relaxed); }
    std::size_t messages_in_use() const noexcept {
        return shared_in_use_.load(std::memory_order_relaxed) + reserve_in_use_.load(std::memory_order_relaxed);
    }
    std::size_t messages_created() const noexcept { return created_.load(std::memory_order_relaxed); }
    // true when an acquire(Always, tier) is within the count limits now
    bool has_room(Tier tier) const noexcept;
    // true when acquire(Always, tier) would find a message now
    bool can_acquire(Tier tier) noexcept;
    // true when `bytes` more could be charged now (counting idle capacity
    // that would be trimmed)
    bool can_charge(std::size_t bytes, Tier tier) const noexcept;
    // What a tier could still take, messages and bytes (counting idle
    // capacity of free messages, which would be trimmed). O(1): the reactor
    // asks for every frame of a channel past its share.
    std::size_t free_messages(Tier tier) const noexcept;
    std::size_t free_bytes(Tier tier) const noexcept;

    // Cleared by the owner before its wake-up target goes away; the listener
    // is only called under the free-list lock, so it is never called late.
    void set_listener(PoolListener* listener) noexcept;
    // Messages given back since the pool was made (a running count).
    std::uint64_t returns_seen() const noexcept { return returns_.load(std::memory_order_seq_cst); }
    // The listener hears the return that brings returns_seen() to `target`
    // (and no other); never_wake: none. seq_cst so that a returner either
    // sees the target or the waiter's re-check of returns_seen() sees its
    // return (Dekker pair, docs/design.md §5).
    static constexpr std::uint64_t never_wake = ~std::uint64_t{0};
    void wake_at(std::uint64_t target) noexcept { wake_at_.store(target, std::memory_order_seq_cst); }

    // Buffer accounting, used by MessageBuffer.
    bool charge(std::size_t bytes, Tier tier) noexcept;
    void refund(std::size_t bytes) noexcept;

    // Per-channel shares (for the engine). A received message is charged to
    // the channel it arrived on until it comes back to the pool, from any
    // thread. Returns are counted per channel number in one cumulative,
    // wrapping 64-bit value: share_unit(bytes) per message, the message in
    // the high half and its bytes in the low half, so a return costs one
    // atomic add. A channel reads the count as its base when it opens and
    // adds share_unit() for each message it delivers; the difference is
    // exact while it holds less than 2^31 messages and 2^31 bytes.
    void track_channel_shares();
    void attribute(Message& message, ChannelNumber channel, std::uint32_t bytes) noexcept;
    std::uint64_t share_returns(ChannelNumber channel) const noexcept;
    static constexpr std::uint64_t share_unit(std::uint32_t bytes) noexcept { return (std::uint64_t{1} << 32) + bytes; }
    // What a channel holds: its charged count minus the returns. Returns of
    // an older channel with the same number can overtake; what would be
    // below zero reads as zero.
    struct Held {
        std::size_t messages = 0;
        std::size_t bytes = 0;
    };
    static constexpr Held held(std::uint64_t charged, std::uint64_t returned) noexcept {
        const std::uint64_t difference = charged - returned;
        // The bytes are the low half read as signed; a negative one borrowed
        // from the messages in the high half.
        const auto bytes = static_cast<std::int32_t>(static_cast<std::uint32_t>(difference));
        const auto messages =
            static_cast<std::int32_t>(static_cast<std::uint32_t>(difference >> 32) + (bytes < 0 ? 1u : 0u));
        return {messages < 0 ? 0 : static_cast<std::size_t>(messages), bytes < 0 ? 0 : static_cast<std::size_t>(bytes)};
    }

private:
    friend struct Message::Returner;
    friend struct detail::MessageAccess;
    Pool(PoolLimits limits, Reserve reserve);
    ~Pool();

    void give_back(Message* message) noexcept;
    void give_back(Message* first, Message* last, std::size_t count) noexcept;
    void release_owner() noexcept;
    // The shared space a tier may fill: everything but the notification
    // bucket, and for the application tier the inbound reserve too.
    std::size_t shared_messages(Tier tier) const noexcept;
    std::size_t byte_limit(Tier tier) const noexcept;
    std::size_t bytes_counted(Tier tier) const noexcept;
    bool take_slot(Tier tier, bool& from_reserve) noexcept;
    void give_slot(bool from_reserve) noexcept;
    void shape_for_reserve(Message& message) noexcept;
    bool trim_free_buffers(std::size_t wanted) noexcept;
    // Under free_mutex_; they keep free_count_ and idle_bytes_ exact.
    void push_free(Message& message) noexcept;
    Message* pop_free() noexcept;

    PoolLimits limits_;
    Reserve reserve_;

    std::mutex free_mutex_;
    Message* free_list_ = nullptr; // guarded by free_mutex_
    std::size_t free_count_ = 0;   // guarded by free_mutex_
    // Buffer capacity of the free messages: written under free_mutex_, read
    // without it (a snapshot, as any count here is once the lock is gone).
    std::atomic<std::size_t> idle_bytes_{0};
    bool owner_alive_ = true; // guarded by free_mutex_

    std::atomic<std::size_t> bytes_{0};
    std::atomic<std::size_t> peak_bytes_{0};
    // Messages in use, by bucket: the notification reserve is a bucket of
    // its own, so notifications the application holds take nothing from the
    // space every other tier shares (docs/design.md, "Hostile peers").
    std::atomic<std::size_t> shared_in_use_{0};
    std::atomic<std::size_t> reserve_in_use_{0};
    std::atomic<std::size_t> created_{0};

    std::unique_ptr<std::atomic<std::uint64_t>[]> share_returns_; // by channel number, when tracked

    PoolListener* listener_ = nullptr; // guarded by free_mutex_
    std::atomic<std::uint64_t> returns_{0};
    std::atomic<std::uint64_t> wake_at_{never_wake};
};

} // namespace tofu
