#pragma once
/// \file
/// The engine (tofu's "Ampe"): one I/O thread, one message pool, channel groups.
#include <tofu/address.hpp>
#include <tofu/backend.hpp>
#include <tofu/export.hpp>
#include <tofu/message.hpp>
#include <tofu/result.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

namespace tofu {

namespace detail {
class EngineCore;
struct GroupState;
struct EngineAccess;
} // namespace detail

/// How Engine::get finds a message.
enum class Alloc {
    PoolOnly, ///< a free message or nothing
    Always,   ///< a free message, else a new one while under the hard limit
};

/// How much the log hook hears: each level includes the ones before it.
enum class LogLevel : std::uint8_t {
    error,   ///< the engine itself cannot go on as asked (its poller failed)
    warning, ///< a listener or connect the OS refused, a listener out of descriptors
    info,    ///< listeners opened, channels closed with their cause
    debug,   ///< channels accepted and connected, connections refused before their hello
};
/// The name of `level`: `error`, `warning`, `info` or `debug`.
TOFU_API std::string_view to_string(LogLevel level) noexcept;

/// What an engine is started with. The pool's limits are hard: past them a
/// get finds nothing and reading pauses (backpressure), nothing is lost.
struct Options {
    std::size_t initial_messages = 16; ///< messages made at start
    std::size_t max_messages = 1024;   ///< messages in use at most, the engine's own included
    /// Bytes in use at most: message objects plus their buffers' capacity.
    std::size_t memory_limit = std::size_t{64} << 20;
    Backend backend = Backend::automatic; ///< the poller; automatic: the best one compiled in
    /// Upper bound of bytes read from, and written to, one socket in one
    /// reactor iteration before the next ready socket gets its turn.
    std::size_t io_budget_bytes = std::size_t{256} << 10;

    /// Limits that keep one peer from hurting the engine or other peers
    /// (docs/design.md, "Hostile peers and limits").
    ///
    /// A channel's share of the pool: received messages the application has
    /// not returned yet (wherever they are: its queue, its hands, a send
    /// queue). Past it, reading that channel pauses while less than one share
    /// of the pool is free for the others: a share bites only under
    /// contention. 0: max_messages / 4 and memory_limit / 4 (the bytes at
    /// least one maximum-size message, at most 1 GiB).
    std::size_t channel_share_messages = 0;
    /// A channel's share of the pool in bytes; see channel_share_messages.
    std::size_t channel_share_bytes = 0;
    /// A channel paused at its share resumes once half a share more has
    /// come back, so that it reads a batch rather than one frame for each
    /// message returned; if that takes longer than this, it resumes as soon
    /// as its next frame fits. 0: always as soon as the next frame fits.
    std::chrono::milliseconds share_resume_grace{2};
    /// Text headers plus body of a HelloRequest or HelloResponse from a peer.
    std::size_t max_hello_bytes = 4096;
    /// Per listener: accepted connections whose HelloRequest has not reached
    /// the application. At the cap, the oldest of them makes room for a new
    /// one once it has waited pending_grace: every connection gets that long
    /// to say hello, however fast others arrive (the kernel's backlog holds
    /// them meanwhile).
    std::size_t max_pending_handshakes = 1024;
    /// How long an accepted connection may wait for its hello before a newer
    /// one can take its place at the max_pending_handshakes cap.
    std::chrono::milliseconds pending_grace{250};
    /// Zero turns a timeout off. connect: until a connect completes;
    /// handshake: for the peer's part of the hello exchange; frame: for a
    /// frame that has started arriving to complete.
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds handshake_timeout{10'000}; ///< see connect_timeout
    std::chrono::milliseconds frame_timeout{30'000};     ///< see connect_timeout

    /// Keep traffic counters per channel for Engine::channel_stats(): 2 MiB
    /// (32 bytes for each of the 65,535 channel numbers), taken at start.
    bool channel_stats = false;

    /// The log hook: called on the I/O thread with one line (no line break)
    /// per event at `log_level` or above; the line is valid during the call
    /// only. The library never writes to stdout or stderr itself. The hook
    /// must be quick and must not call into this engine; what it throws is
    /// swallowed. Empty: nothing is formatted at all.
    std::function<void(LogLevel level, std::string_view line)> log{};
    LogLevel log_level = LogLevel::info; ///< the most detailed level the hook hears
};

/// A channel_closed notification names why in its `~cause` text header: the
/// name of a Status (protocol violations, system failures, a graceful Bye is
/// `success`), or the name of the engine limit that closed it.
inline constexpr std::string_view cause_header = "~cause";
/// Where a system call failed, the notification (and a HelloRequest handed
/// back connect_failed) also carries what the operating system said:
/// `~os_error:<code> <text>`, the code being errno on POSIX systems and the
/// WSA/Win32 error code on Windows, e.g. `~os_error:111 Connection refused`.
inline constexpr std::string_view os_error_header = "~os_error";
/// On the HelloRequest of a channel a listener accepted over TCP: the peer's
/// address in tofu's form, e.g. `~peer_address:tcp|127.0.0.1|50412`.
inline constexpr std::string_view peer_address_header = "~peer_address";

/// The engine limits that close a channel, named in its `~cause` header.
enum class Limit : std::uint8_t {
    none,              ///< no limit: the cause is a Status
    connect_timeout,   ///< the HelloRequest comes back connect_failed
    handshake_timeout, ///< the peer did not complete its part of the hello exchange
    frame_timeout,     ///< a frame started and did not complete in time
    pending_evicted,   ///< an accepted connection made room for a newer one before its hello
};
/// How many Limit values there are (EngineStats::closed_by_limit's size).
inline constexpr std::size_t limit_count = 5;
/// The name of `limit`, as the `~cause` header carries it.
TOFU_API std::string_view to_string(Limit limit) noexcept;

/// Traffic of one channel or of the whole engine. A message counts once it
/// is whole: received when the last byte of its frame arrived, sent when the
/// last byte was written. Bytes are frame bytes: the 16-byte binary header,
/// the text headers and the body.
struct TrafficStats {
    std::uint64_t messages_received = 0; ///< whole messages from peers
    std::uint64_t bytes_received = 0;    ///< their frame bytes
    std::uint64_t messages_sent = 0;     ///< whole messages written to peers
    std::uint64_t bytes_sent = 0;        ///< their frame bytes
};

/// Options::channel_stats: one channel's traffic since it opened.
struct ChannelStats : TrafficStats {};

/// Counters the I/O thread keeps; a snapshot is a few dozen relaxed loads,
/// and keeping them costs the I/O thread no locks and no atomic
/// read-modify-write.
struct EngineStats : TrafficStats {
    std::uint64_t connections_accepted = 0; ///< by every listener
    std::uint64_t connections_made = 0;     ///< outgoing connects that completed
    /// Accepted connections that ended before their HelloRequest reached the
    /// application: it never learned their channel numbers, so it gets no
    /// channel_closed for them; they are counted here, by cause, instead.
    std::uint64_t connections_refused = 0;
    /// Times a listener stopped accepting because accept() failed for it,
    /// not for one connection (out of descriptors or kernel memory). It
    /// tries again when one of the engine's channels closes, and every
    /// 100 ms meanwhile.
    std::uint64_t accept_pauses = 0;
    std::uint64_t channels_closed = 0;                          ///< one channel_closed each
    std::array<std::uint64_t, status_count> closed_by_status{}; ///< refused and closed, by Status cause
    std::array<std::uint64_t, limit_count> closed_by_limit{};   ///< refused and closed, by Limit cause
    std::uint64_t pending_handshakes = 0;                       ///< accepted, hello not delivered yet (now)

    /// Backpressure: a channel stops reading while the pool, the memory
    /// limit or its share has no room for what it would read next. An
    /// episode lasts from the first such pause until no channel is paused.
    std::uint64_t channels_paused = 0;       ///< now
    std::uint64_t pause_episodes = 0;        ///< since the engine started
    std::chrono::nanoseconds paused_time{0}; ///< in all episodes, a running one up to now

    /// The message pool (any thread may change these; read when the
    /// snapshot is taken).
    std::uint64_t messages_in_use = 0;  ///< by the application, its queues and the engine
    std::uint64_t messages_created = 0; ///< message objects made (at most max_messages)
    std::uint64_t bytes_in_use = 0;     ///< message objects plus buffer capacity
    std::uint64_t peak_bytes = 0;       ///< the most bytes_in_use has been

    /// Connections refused or channels closed with this Status as cause.
    std::uint64_t closed_by(Status cause) const noexcept { return closed_by_status[to_byte(cause)]; }
    /// Connections refused or channels closed by this limit.
    std::uint64_t closed_by(Limit cause) const noexcept { return closed_by_limit[static_cast<std::size_t>(cause)]; }
};

/// One group's receive queue.
struct GroupStats {
    std::uint64_t queued = 0;    ///< delivered, not yet received (now)
    std::uint64_t delivered = 0; ///< put in the queue by the engine or update_receiver
    std::uint64_t received = 0;  ///< taken by wait_receive
};

class ChannelGroup;

/// One I/O thread, one bounded message pool and the channel groups that use
/// them. Any thread may use an engine; the I/O thread never calls back into
/// the application.
class TOFU_API Engine {
public:
    /// Throws Error when the engine cannot start (bad options, a backend that
    /// is not compiled in, no descriptors left); create() returns the status.
    explicit Engine(const Options& options = {});
    /// The engine, or why it could not start (with what the OS said when a
    /// system call failed: Result::os_error()).
    static Result<Engine> create(const Options& options = {});

    /// Takes over the engine; `other` is left empty, usable only to destroy.
    Engine(Engine&& other) noexcept;
    /// Stops this engine (as the destructor does), then takes over `other`.
    Engine& operator=(Engine&& other) noexcept;
    /// Stops the I/O thread after every channel is closed and every queued
    /// message is handed back to its group with shutdown_started.
    ~Engine();

    /// A blank message from the pool; empty when the pool (or, with
    /// Alloc::Always, its hard limits) has none to give: not an error.
    Message::Ptr get(Alloc strategy);
    /// Returns a message to the pool, as letting its Ptr go does;
    /// invalid_message for one of another engine.
    Status put(Message::Ptr message);

    /// A new group with its own receive queue; shutdown_started once the
    /// engine is stopping.
    Result<ChannelGroup> create_group();

    Backend backend() const noexcept;        ///< the poller the engine runs on
    const Options& options() const noexcept; ///< the options as run (defaults filled in)
    EngineStats stats() const noexcept;      ///< a snapshot of the counters, any thread
    /// The traffic of the channel now numbered `channel` (a number closed and
    /// reused counts from zero again); empty unless Options::channel_stats
    /// is set or when no channel has that number.
    std::optional<ChannelStats> channel_stats(ChannelNumber channel) const noexcept;

private:
    friend struct detail::EngineAccess;
    explicit Engine(std::shared_ptr<detail::EngineCore> core) noexcept;
    std::shared_ptr<detail::EngineCore> core_;
};

/// A set of channels and their one receive queue. Destroying the group closes
/// its channels and frees what its queue still holds.
class TOFU_API ChannelGroup {
public:
    /// Takes over the group; `other` is left empty, usable only to destroy.
    ChannelGroup(ChannelGroup&& other) noexcept;
    /// Closes this group (as the destructor does), then takes over `other`.
    ChannelGroup& operator=(ChannelGroup&& other) noexcept;
    ~ChannelGroup();

    /// On success `message` is empty and the result carries the channel number
    /// and message id the engine assigned; on failure it stays with the caller.
    Result<BinaryHeader> post(Message::Ptr& message);

    /// The next message, or an empty Ptr on timeout. One thread at a time.
    /// shutdown_started once the engine is gone and the queue is drained.
    Result<Message::Ptr> wait_receive(std::chrono::nanoseconds timeout);

    /// Puts `message` (or, when empty, a bare wake-up) in this group's queue
    /// with status receiver_update. Any thread.
    Status update_receiver(Message::Ptr message);

    /// Any thread; `queued` may be a message behind a concurrent delivery.
    GroupStats stats() const noexcept;

private:
    friend class Engine;
    explicit ChannelGroup(std::shared_ptr<detail::GroupState> state) noexcept;
    std::shared_ptr<detail::GroupState> state_;
};

} // namespace tofu
