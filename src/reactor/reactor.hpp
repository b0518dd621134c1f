#pragma once
// The I/O thread's loop (SPEC §5): take commands, hand out memory that came
// back, serve known-ready channels round-robin with a byte budget, deliver
// batches to the groups, reconcile interest with the poller, wait.
#include "engine/engine_core.hpp"
#include "reactor/channel.hpp"

#include <memory>
#include <unordered_map>
#include <vector>

namespace tofu::detail {

class Reactor {
public:
    explicit Reactor(EngineCore& core);
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    // Runs until the stop command, then closes every channel.
    void run();
    // After the thread is gone: commands that raced with the stop.
    void finish_late(std::vector<Command>& commands);

private:
    // commands from application threads
    bool handle_commands();
    void handle_post(Message::Ptr message, GroupState& group);
    void open_listener(Message::Ptr message, GroupState& group);
    void open_connection(Message::Ptr message, GroupState& group);
    void enqueue(Channel& channel, Message::Ptr message);
    void remove_group(GroupState& group);

    // I/O
    void dispatch(std::span<const poller::Event> events);
    void serve_ready();
    void serve(Channel& channel);
    void accept_connections(Channel& listener);
    void finish_connect(Channel& channel);
    void flush(Channel& channel);
    void receive(Channel& channel);
    bool decode(Channel& channel, ReadBuffer& buffer);
    void on_message(Channel& channel, Message::Ptr message);
    bool still_ready(const Channel& channel) const noexcept;

    // memory
    void park(Channel& channel);
    bool can_resume(Channel& channel) noexcept;
    void resume_parked();
    bool memory_would_help() noexcept;
    std::unique_ptr<ReadBuffer> take_buffer();
    void recycle(std::unique_ptr<ReadBuffer> buffer);

    // delivery
    void deliver(GroupState& group, Message::Ptr message);
    void hand_back(GroupState& group, Message::Ptr message, Status status);
    void flush_outboxes();
    bool notify_closed(Channel& channel);
    bool notify_pool_empty(GroupState& group, ChannelNumber channel);
    void retry_notifications();

    // lifecycle and interest
    Channel& create_channel(ChannelNumber number, ChannelKind kind, ChannelState state, GroupState& group,
                            net::Socket socket);
    void close(Channel& channel, Status cause, bool notify = true);
    void finalize(Channel& channel);
    void mark_dirty(Channel& channel) noexcept { dirty_.push_back(channel); }
    void reconcile();
    poller::Interest desired_interest(const Channel& channel) const noexcept;
    Channel* channel_for(ChannelNumber number, const GroupState& group) noexcept;
    bool sleep_allowed();
    void close_everything();

    EngineCore& core_;
    poller::Poller& poller_;
    Pool& pool_;
    const std::size_t budget_;

    std::vector<std::unique_ptr<Channel>> channels_; // by number
    ChannelList<&Channel::ready_link> ready_;
    ChannelList<&Channel::parked_link> parked_;
    ChannelList<&Channel::dirty_link> dirty_;
    ChannelList<&Channel::notify_link> notify_pending_;
    std::vector<ChannelNumber> accept_paused_;
    std::vector<std::unique_ptr<Channel>> graveyard_; // freed at the end of an iteration

    std::unordered_map<GroupId, std::shared_ptr<GroupState>> groups_;
    std::vector<GroupState*> outboxes_;
    std::size_t pool_empty_owed_ = 0;

    std::vector<Command> commands_;
    std::vector<poller::Event> events_;
    std::vector<net::IoVec> iovecs_;
    std::unique_ptr<ReadBuffer> scratch_;
    std::vector<std::unique_ptr<ReadBuffer>> spare_buffers_;
    std::uint32_t generation_ = 0;
};

} // namespace tofu::detail
