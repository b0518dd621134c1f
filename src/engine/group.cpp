#include "engine/engine_core.hpp"

namespace tofu {
namespace detail {

GroupState::~GroupState() = default;

void GroupState::deliver(MessageList& batch) {
    bool wake = false;
    {
        std::lock_guard lock(mutex);
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

Result<Message::Ptr> ChannelGroup::wait_receive(std::chrono::nanoseconds timeout) {
    detail::GroupState& group = *state_;
    if (!group.taken.empty()) return group.taken.pop();
    std::unique_lock lock(group.mutex);
    if (group.queue.empty() && !group.engine_gone) {
        group.consumer_waiting = true;
        group.ready.wait_for(lock, timeout, [&group] { return !group.queue.empty() || group.engine_gone; });
        group.consumer_waiting = false;
    }
    if (!group.queue.empty()) {
        group.taken.splice(group.queue);
        return group.taken.pop();
    }
    if (group.engine_gone) return Status::shutdown_started;
    return Message::Ptr();
}

Status ChannelGroup::update_receiver(Message::Ptr message) {
    detail::GroupState& group = *state_;
    if (!message) {
        message = group.core->pool().acquire(Alloc::Always, MemoryTier::notification);
        if (!message) return Status::pool_empty;
        message->set_opcode(OpCode::Signal);
    } else if (&message->pool() != &group.core->pool()) {
        return Status::invalid_message;
    }
    message->header().origin = Origin::engine;
    message->set_status(Status::receiver_update);
    bool wake = false;
    {
        std::lock_guard lock(group.mutex);
        group.queue.push(std::move(message));
        wake = group.consumer_waiting;
    }
    if (wake) group.ready.notify_one();
    return Status::success;
}

} // namespace tofu
