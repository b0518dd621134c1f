#include "engine/engine_core.hpp"

namespace tofu {
namespace detail {

namespace {
// One wake-up queued, one the application still holds, a little slack: past
// that, update_receiver() with an empty handle answers pool_empty.
constexpr std::size_t wakeup_messages = 4;
} // namespace

GroupState::GroupState(GroupId group_id, std::shared_ptr<EngineCore> owner)
    : id(group_id), core(std::move(owner)),
      wakeups(Pool::create(PoolLimits{0, wakeup_messages, wakeup_messages * Pool::reserve_footprint})) {}

GroupState::~GroupState() = default;

void GroupState::deliver(MessageList& batch) {
    bool wake = false;
    {
        std::lock_guard lock(mutex);
        delivered.store(delivered.load(std::memory_order_relaxed) + batch.size(), std::memory_order_relaxed);
        queue.splice(batch);
        wake = consumer_waiting;
    }
    if (wake) ready.notify_one();
}

void GroupState::mark_engine_gone() {
    {
        std::lock_guard lock(mutex);
        engine_gone = true;
    }
    ready.notify_all();
}

} // namespace detail

ChannelGroup::ChannelGroup(std::shared_ptr<detail::GroupState> state) noexcept : state_(std::move(state)) {}

ChannelGroup::ChannelGroup(ChannelGroup&&) noexcept = default;

ChannelGroup& ChannelGroup::operator=(ChannelGroup&& other) noexcept {
    if (this != &other) {
        if (state_) state_->core->remove_group(*state_);
        state_ = std::move(other.state_);
    }
    return *this;
}

ChannelGroup::~ChannelGroup() {
    if (state_) state_->core->remove_group(*state_);
}

Result<BinaryHeader> ChannelGroup::post(Message::Ptr& message) { return state_->core->post(*state_, message); }

namespace {

// A bare wake-up leaves the queue: a later one must be queued again. Done
// before the application sees it (seq_cst), so that whoever found the flag
// set had published its work before this consumer looks at it.
Message::Ptr received(detail::GroupState& group, Message::Ptr message) {
    group.received.store(group.received.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    if (&detail::MessageAccess::pool(*message) == group.wakeups.get())
        group.wakeup_queued.store(false, std::memory_order_seq_cst);
    return message;
}

} // namespace

Result<Message::Ptr> ChannelGroup::wait_receive(std::chrono::nanoseconds timeout) {
    detail::GroupState& group = *state_;
    if (!group.taken.empty()) return received(group, group.taken.pop());
    std::unique_lock lock(group.mutex);
    // A zero timeout is a poll: waiting on the condition variable would still
    // put the thread to sleep until an already expired timer fires.
    if (group.queue.empty() && !group.engine_gone && timeout > std::chrono::nanoseconds::zero()) {
        group.consumer_waiting = true;
        group.ready.wait_for(lock, timeout, [&group] { return !group.queue.empty() || group.engine_gone; });
        group.consumer_waiting = false;
    }
    if (!group.queue.empty()) {
        group.taken.splice(group.queue);
        lock.unlock();
        return received(group, group.taken.pop());
    }
    if (group.engine_gone) return Status::shutdown_started;
    return Message::Ptr();
}

Status ChannelGroup::update_receiver(Message::Ptr message) {
    detail::GroupState& group = *state_;
    if (message && &detail::MessageAccess::pool(*message) != &group.core->pool()) return Status::invalid_message;
    bool wake = false;
    {
        std::lock_guard lock(group.mutex);
        if (!message) {
            if (group.wakeup_queued.load(std::memory_order_seq_cst)) return Status::success; // one is on its way
            message = group.wakeups->get(Alloc::Always);
            if (!message) return Status::pool_empty; // the application holds every wake-up message
            message->set_opcode(OpCode::Signal);
            group.wakeup_queued.store(true, std::memory_order_seq_cst);
        }
        message->header().origin = Origin::engine;
        message->set_status(Status::receiver_update);
        group.queue.push(std::move(message));
        group.delivered.store(group.delivered.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        wake = group.consumer_waiting;
    }
    if (wake) group.ready.notify_one();
    return Status::success;
}

GroupStats ChannelGroup::stats() const noexcept {
    GroupStats stats;
    // received first: a message counted as received was delivered before,
    // so queued never reads below zero.
    stats.received = state_->received.load(std::memory_order_acquire);
    stats.delivered = state_->delivered.load(std::memory_order_acquire);
    stats.queued = stats.delivered - stats.received;
    return stats;
}

} // namespace tofu
