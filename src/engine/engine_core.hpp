#pragma once
// What application threads and the I/O thread share: the command queue in,
// the group receive queues out, the channel-number table, the pool. Nothing
// here is held across I/O (docs/design.md, "Ownership").
#include <tofu/engine.hpp>

#include "engine/log.hpp"
#include "engine/message_list.hpp"
#include "engine/stats.hpp"
#include "poller/poller.hpp"
#include "pool/pool.hpp"
#include "reactor/clock.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tofu::detail {

class EngineCore;
class Reactor;

using GroupId = std::uint32_t;

struct GroupState {
    GroupState(GroupId group_id, std::shared_ptr<EngineCore> owner);
    ~GroupState();

    const GroupId id;
    const std::shared_ptr<EngineCore> core;

    // Bare wake-ups (update_receiver with an empty handle) take their
    // messages from this small pool of the group's own, never from the
    // engine's: a burst of them cannot delay the engine's notifications.
    // While one is queued and not yet received, another adds nothing.
    const Pool::Handle wakeups;
    std::atomic<bool> wakeup_queued{false};

    // Receive queue: the I/O thread appends whole batches, one consumer takes.
    std::mutex mutex;
    std::condition_variable ready;
    MessageList queue;             // guarded by mutex
    bool consumer_waiting = false; // guarded by mutex
    bool engine_gone = false;      // guarded by mutex
    // The one consumer takes the whole queue at once and pops from here
    // without the lock; later arrivals queue behind it, so FIFO holds.
    MessageList taken;
    // For stats(): written under `mutex` (delivered) or by the one consumer
    // (received) with a plain store, read by anyone.
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> received{0};

    void deliver(MessageList& batch);
    void mark_engine_gone();

    // I/O-thread-only state.
    MessageList outbox; // delivered at the end of the reactor iteration
    bool outbox_listed = false;
    bool pool_empty_sent = false;    // one pool_empty per exhaustion episode
    bool pool_empty_pending = false; // owed, waiting for a reserve message
};

// Channel numbers 1..65534, allocated cyclically so that a closed number
// is reused as late as possible; the owner table lets post() check a
// channel's group without asking the I/O thread.
class ChannelNumbers {
public:
    ChannelNumber allocate(GroupId group) noexcept;
    void release(ChannelNumber number) noexcept;
    GroupId owner(ChannelNumber number) const noexcept { return owners_[number].load(std::memory_order_acquire); }

private:
    std::mutex mutex_;
    ChannelNumber cursor_ = 0; // guarded by mutex_
    std::array<std::atomic<GroupId>, channel_number_count> owners_{};
};

enum class CommandKind { post, add_group, remove_group, stop };

struct Command {
    CommandKind kind = CommandKind::post;
    Message* message = nullptr;        // post: owned by the command
    GroupState* group = nullptr;       // post, remove_group
    std::shared_ptr<GroupState> added; // add_group
};

class EngineCore final : public PoolListener, public std::enable_shared_from_this<EngineCore> {
public:
    // `clock`: the steady clock, or a driven one for tests. `why`, when
    // given, says which option was refused.
    static Result<std::shared_ptr<EngineCore>> start(const Options& options, const Clock& clock = Clock(),
                                                     std::string* why = nullptr);
    // For a simulation: an engine whose reactor runs only when the caller
    // steps it (reactor()), on the caller's thread, with `poller` (the
    // options' backend when null) and `clock`. No I/O thread is started.
    static Result<std::shared_ptr<EngineCore>> start_stepped(const Options& options,
                                                             std::unique_ptr<poller::Poller> poller, const Clock& clock,
                                                             std::string* why = nullptr);
    Reactor& reactor() noexcept { return *reactor_; }
    ~EngineCore();

    // Joins the I/O thread after it has handed everything back.
    void shutdown() noexcept;

    Result<std::shared_ptr<GroupState>> create_group();
    void remove_group(GroupState& group);
    Result<BinaryHeader> post(GroupState& group, Message::Ptr& message);

    Pool& pool() noexcept { return *pool_; }
    const Options& options() const noexcept { return options_; }
    Backend backend() const noexcept { return backend_; }
    ChannelNumbers& numbers() noexcept { return numbers_; }
    poller::Poller& poller() noexcept { return *poller_; }
    const Clock& clock() const noexcept { return clock_; }
    StatsCounters& stats() noexcept { return stats_; }
    const Log& log() const noexcept { return log_; }
    const StatsCounters& stats() const noexcept { return stats_; }
    // Driven clocks only: moves time and lets the reactor look at it.
    void advance_clock(Clock::duration by) noexcept {
        clock_.advance(by);
        wake();
    }

    // Makes the I/O thread look at its queues; coalesced: a burst of posts
    // while it is awake costs no system call at all.
    void wake() noexcept;
    void memory_returned() noexcept override { wake(); }

    // I/O thread: take the queued commands in one batch.
    void take_commands(std::vector<Command>& into);
    // I/O thread, before blocking: true when it must not block.
    bool prepare_to_sleep();
    void woke_up() noexcept { awake_.store(true, std::memory_order_seq_cst); }

    bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

private:
    EngineCore(const Options& options, Backend backend, std::unique_ptr<poller::Poller> poller, const Clock& clock);
    bool push_command(Command command);

    Options options_;
    Backend backend_;
    Clock clock_;
    StatsCounters stats_;
    Log log_;
    Pool::Handle pool_;
    std::unique_ptr<poller::Poller> poller_;
    ChannelNumbers numbers_;
    std::unique_ptr<Reactor> reactor_;
    std::thread thread_;

    std::mutex command_mutex_;
    std::vector<Command> commands_; // guarded by command_mutex_
    bool closed_ = false;           // guarded by command_mutex_: the I/O thread is gone
    std::atomic<bool> awake_{true};
    std::atomic<bool> stopping_{false};
    std::atomic<GroupId> next_group_{1};
    std::mutex shutdown_mutex_;
};

// For tests: an Engine around a core started with a driven clock, and the
// core behind an Engine.
struct EngineAccess {
    static Engine wrap(std::shared_ptr<EngineCore> core) { return Engine(std::move(core)); }
    static EngineCore& core(Engine& engine) noexcept { return *engine.core_; }
};

} // namespace tofu::detail
