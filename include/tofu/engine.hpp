#pragma once
// The engine (tofu's "Ampe"): one I/O thread, one message pool, channel groups.
#include <tofu/address.hpp>
#include <tofu/message.hpp>
#include <tofu/pool.hpp>
#include <tofu/result.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>

namespace tofu {

namespace detail {
class EngineCore;
struct GroupState;
} // namespace detail

// Poller backends. `automatic` takes TOFU_BACKEND from the environment when
// set, else the platform default (epoll on Linux).
enum class Backend { automatic, poll, epoll, afd, kqueue };
std::string_view to_string(Backend backend) noexcept;
std::optional<Backend> backend_from_string(std::string_view name) noexcept;
// Whether this build has the backend compiled in.
bool backend_available(Backend backend) noexcept;

struct Options {
    std::size_t initial_messages = 16;
    std::size_t max_messages = 1024;
    std::size_t memory_limit = std::size_t{64} << 20;
    Backend backend = Backend::automatic;
    // Upper bound of bytes read from, and written to, one socket in one
    // reactor iteration before the next ready socket gets its turn.
    std::size_t io_budget_bytes = std::size_t{256} << 10;
};

class ChannelGroup;

class Engine {
public:
    // Throws Error when the engine cannot start (bad options, a backend that
    // is not compiled in, no descriptors left); create() returns the status.
    explicit Engine(const Options& options = {});
    static Result<Engine> create(const Options& options = {});

    Engine(Engine&&) noexcept;
    Engine& operator=(Engine&&) noexcept;
    // Stops the I/O thread after every channel is closed and every queued
    // message is handed back to its group with shutdown_started.
    ~Engine();

    Message::Ptr get(Alloc strategy);
    Status put(Message::Ptr message);

    Result<ChannelGroup> create_group();

    Backend backend() const noexcept;
    const Options& options() const noexcept;
    const Pool& pool() const noexcept;

private:
    explicit Engine(std::shared_ptr<detail::EngineCore> core) noexcept;
    std::shared_ptr<detail::EngineCore> core_;
};

// A set of channels and their one receive queue. Destroying the group closes
// its channels and frees what its queue still holds.
class ChannelGroup {
public:
    ChannelGroup(ChannelGroup&&) noexcept;
    ChannelGroup& operator=(ChannelGroup&&) noexcept;
    ~ChannelGroup();

    // On success `message` is empty and the result carries the channel number
    // and message id the engine assigned; on failure it stays with the caller.
    Result<BinaryHeader> post(Message::Ptr& message);

    // The next message, or an empty Ptr on timeout. One thread at a time.
    // shutdown_started once the engine is gone and the queue is drained.
    Result<Message::Ptr> wait_receive(std::chrono::nanoseconds timeout);

    // Puts `message` (or, when empty, a bare wake-up) in this group's queue
    // with status receiver_update. Any thread.
    Status update_receiver(Message::Ptr message);

private:
    friend class Engine;
    explicit ChannelGroup(std::shared_ptr<detail::GroupState> state) noexcept;
    std::shared_ptr<detail::GroupState> state_;
};

} // namespace tofu
