#pragma once
// The I/O thread's loop (docs/design.md §2): take commands, expire deadlines, hand out
// memory that came back, serve known-ready channels round-robin with a byte
// budget, deliver batches to the groups, reconcile interest with the poller,
// wait until the nearest deadline.
#include "engine/engine_core.hpp"
#include "reactor/admission.hpp"
#include "reactor/channel.hpp"
#include "reactor/protocol.hpp"
#include "reactor/timers.hpp"

#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

namespace tofu::detail {

// What one frame takes from the pool: its message and its two buffers.
inline std::size_t frame_bytes(const wire::FrameHeader& frame) noexcept {
    return sizeof(Message) + frame.headers_size + frame.body_size;
}

class Reactor {
public:
    explicit Reactor(EngineCore& core);
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    // Runs until the stop command, then closes every channel:
    //   while (turn()) after_wait(poller.wait(events(), wait_timeout()));
    //   close_everything();
    // The same calls, in the same order, are what a simulation makes when it
    // steps the reactor on its own thread (tests/sim), with the wait as the
    // step boundary.
    void run();
    // One iteration up to the wait: commands, deadlines, memory, I/O,
    // delivery, interest. False once the stop command came.
    bool turn();
    // How long the wait may block: 0 when work is known or memory came back,
    // else until the nearest deadline (negative: no limit). Publishes
    // "asleep" for the cross-thread wake-up protocol (docs/design.md §5).
    std::chrono::milliseconds wait_timeout();
    std::span<poller::Event> events() noexcept { return events_; }
    // What the wait returned: wake-up bookkeeping, then the events.
    void after_wait(Result<std::size_t> ready);
    void close_everything();
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
    void fail_connect(Channel& channel, Cause cause);
    void flush(Channel& channel);
    void receive(Channel& channel);
    bool read_into_scratch(Channel& channel, bool& more);
    bool decode(Channel& channel, ReadBuffer& buffer);
    bool prepare_frame(Channel& channel);
    void on_message(Channel& channel, Message::Ptr message);
    bool still_ready(const Channel& channel) const noexcept;

    // deadlines, admission and shares: reactor_limits.cpp
    void expire_deadlines();
    void set_deadline(Channel& channel, Timeout kind, std::chrono::milliseconds after);
    void track_frame_deadline(Channel& channel);

    bool admits(Channel& listener, Channel*& make_room);
    void resume_admission(Channel& listener);
    void pause_accepting(Channel& listener, int os_error);
    void resume_accepting(Channel& listener);
    void resume(Channel& listener, bool Channel::*paused, Timeout timer);
    void serve_without_report(Channel& channel);
    void leave_pending(Channel& channel);
    bool make_handshake_room(std::size_t bytes);
    // Room a channel must leave besides the frame it wants (0 for pausing,
    // a batch for resuming).
    struct Headroom {
        std::size_t messages = 0;
        std::size_t bytes = 0;
    };
    bool over_share(const Channel& channel, std::size_t bytes, Headroom room) noexcept;
    Headroom share_headroom(const Channel& channel) const noexcept;
    bool over_share_to_resume(const Channel& channel) noexcept;
    void pause_at_share(Channel& channel);
    std::uint64_t returns_before_resume(const Channel& channel) noexcept;

    // memory
    void park(Channel& channel, Wait why);
    bool can_resume(Channel& channel) noexcept;
    void resume_parked();
    void resume(Channel& channel);
    bool memory_would_help() noexcept;
    std::uint64_t returns_needed() noexcept;
    void release_stash(Channel& channel) noexcept;

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
    void close(Channel& channel, Cause cause, bool notify = true);

    // The log hook's lines (reactor_log.cpp).
    void log_refused(const char* what, const Message& message, Status status, std::error_code os_error) const;
    void log_closed(const Channel& channel, Cause cause, bool refused) const;
    void log_poller_failure(Status status) const;
    void finalize(Channel& channel);
    void mark_dirty(Channel& channel) noexcept { dirty_.push_back(channel); }
    void reconcile();
    poller::Interest desired_interest(const Channel& channel) const noexcept;
    Channel* channel_for(ChannelNumber number, const GroupState& group) noexcept;
    Channel* channel_of(std::uint64_t token) noexcept;
    bool sleep_allowed();
    bool on_io_thread() noexcept;

    EngineCore& core_;
    poller::Poller& poller_;
    Pool& pool_;
    const Options& options_;
    const std::size_t budget_;
    const protocol::Limits limits_;
    Clock::time_point now_;
    std::thread::id io_thread_; // claimed by the first turn()

    std::vector<std::unique_ptr<Channel>> channels_; // by number
    ChannelList<&Channel::ready_link> ready_;
    ChannelList<&Channel::parked_link> parked_;     // Wait::pool, longest first
    ChannelList<&Channel::parked_link> over_share_; // Wait::share
    ChannelList<&Channel::dirty_link> dirty_;
    ChannelList<&Channel::notify_link> notify_pending_;
    std::vector<ChannelNumber> accept_paused_;
    std::vector<std::unique_ptr<Channel>> graveyard_; // freed at the end of an iteration
    Timers timers_;
    Admission admission_;

    std::unordered_map<GroupId, std::shared_ptr<GroupState>> groups_;
    std::vector<GroupState*> outboxes_;
    std::size_t pool_empty_owed_ = 0;

    std::vector<Command> commands_;
    std::vector<poller::Event> events_;
    std::vector<net::IoVec> iovecs_;
    // The engine's only read buffers, whatever the number of connections:
    // every read goes to `scratch_`; bytes a channel read but could not
    // decode (the pool ran out mid-buffer) move to `stash_`, which one
    // channel at a time may own. While it is owned, reads peek and take
    // from the kernel only what was decoded, so nothing is read that
    // cannot be kept (docs/design.md, "Every byte inside the limit").
    std::unique_ptr<ReadBuffer> scratch_;
    std::unique_ptr<ReadBuffer> stash_;
    Channel* stash_owner_ = nullptr;
    std::uint32_t generation_ = 0;
};

} // namespace tofu::detail
