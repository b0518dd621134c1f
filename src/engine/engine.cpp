#include "common/thread_name.hpp"
#include "engine/engine_core.hpp"
#include "reactor/reactor.hpp"

#include "net/resolve.hpp"
#include "net/socket.hpp"

#include <algorithm>

namespace tofu {
namespace detail {

namespace {

std::atomic<std::uint64_t> next_message_id{1};

// Messages kept back for the engine's own notifications (channel_closed,
// pool_empty), inside the hard limit.
std::size_t reserve_for(const Options& options) { return std::clamp<std::size_t>(options.max_messages / 8, 1, 16); }

// What application get() cannot take, so that reading goes on while the
// application's outgoing messages fill the pool (docs/design.md §4): at
// least one message of the largest size, since the answer that would free
// the pool may be one, as long as the application keeps room for one too.
Pool::Reserve pool_reserve(const Options& options) {
    Pool::Reserve reserve;
    reserve.notification_messages = reserve_for(options);
    if (options.max_messages < reserve.notification_messages + 2) return reserve; // nothing left to keep back
    reserve.inbound_messages = std::clamp<std::size_t>(options.max_messages / 16, 1, 64);
    const std::size_t largest = max_frame_size + sizeof(Message);
    const std::size_t kept = reserve.notification_messages * Pool::reserve_footprint + largest;
    const std::size_t room = options.memory_limit - std::min(options.memory_limit, kept);
    reserve.inbound_bytes =
        std::min({std::max(options.memory_limit / 16, largest), reserve.inbound_messages * largest, room});
    return reserve;
}

constexpr std::size_t max_share_bytes = std::size_t{1} << 30;

struct Refusal {
    Status status = Status::success;
    const char* why = "";
};

// Options that cannot work, or contradict each other, are refused by name.
Refusal check(const Options& options) {
    const auto refuse = [](const char* why) { return Refusal{Status::not_allowed, why}; };
    if (options.memory_limit < 2 * max_frame_size) return refuse("memory_limit must hold two maximum-size messages");
    if (options.max_messages < reserve_for(options) + 1) {
        return refuse("max_messages must leave room beside the notification reserve");
    }
    if (options.io_budget_bytes == 0) return refuse("io_budget_bytes must not be 0");
    if (options.max_hello_bytes == 0 || options.max_hello_bytes > max_headers_size + max_body_size) {
        return refuse("max_hello_bytes must be between 1 and 131070");
    }
    if (options.max_pending_handshakes == 0) return refuse("max_pending_handshakes must not be 0");
    if (options.connect_timeout.count() < 0 || options.handshake_timeout.count() < 0 ||
        options.frame_timeout.count() < 0 || options.pending_grace.count() < 0 ||
        options.share_resume_grace.count() < 0) {
        return refuse("timeouts must not be negative (0 turns one off)");
    }
    if (options.channel_share_messages > options.max_messages) {
        return refuse("channel_share_messages must not exceed max_messages");
    }
    if (options.channel_share_bytes != 0 && (options.channel_share_bytes > options.memory_limit ||
                                             options.channel_share_bytes < max_frame_size + sizeof(Message))) {
        return refuse("channel_share_bytes must hold one maximum-size message and fit in memory_limit");
    }
    return {};
}

// The options as the engine runs them: shares resolved, initial_messages
// capped by max_messages.
Options effective(Options options) {
    options.initial_messages = std::min(options.initial_messages, options.max_messages);
    if (options.channel_share_messages == 0) {
        options.channel_share_messages = std::max<std::size_t>(options.max_messages / 4, 1);
    }
    if (options.channel_share_bytes == 0) {
        options.channel_share_bytes = std::max(options.memory_limit / 4, max_frame_size + sizeof(Message));
    }
    // The share ledger counts a channel's bytes in 31 bits (Pool::share_unit).
    options.channel_share_bytes = std::min(options.channel_share_bytes, max_share_bytes);
    return options;
}

} // namespace

// ---- channel numbers --------------------------------------------------------

ChannelNumber ChannelNumbers::allocate(GroupId group) noexcept {
    std::lock_guard lock(mutex_);
    for (std::size_t tries = 0; tries < max_channel; ++tries) {
        cursor_ = cursor_ >= max_channel ? 1 : static_cast<ChannelNumber>(cursor_ + 1);
        if (owners_[cursor_].load(std::memory_order_relaxed) == 0) {
            owners_[cursor_].store(group, std::memory_order_release);
            return cursor_;
        }
    }
    return unassigned_channel;
}

void ChannelNumbers::release(ChannelNumber number) noexcept {
    std::lock_guard lock(mutex_);
    owners_[number].store(0, std::memory_order_release);
}

// ---- engine core ------------------------------------------------------------

EngineCore::EngineCore(const Options& options, Backend backend, std::unique_ptr<poller::Poller> poller,
                       const Clock& clock)
    : options_(options), backend_(backend), clock_(clock), stats_(options.channel_stats), log_(options),
      pool_(Pool::create(PoolLimits{options.initial_messages, options.max_messages, options.memory_limit},
                         pool_reserve(options))),
      poller_(std::move(poller)) {
    options_.backend = backend;
    pool_->track_channel_shares();
}

Result<std::shared_ptr<EngineCore>> EngineCore::start(const Options& requested, const Clock& clock, std::string* why) {
    Result<std::shared_ptr<EngineCore>> core = start_stepped(requested, nullptr, clock, why);
    if (core) {
        core.value()->thread_ = std::thread([reactor = core.value()->reactor_.get()] {
            name_this_thread("tofu-io");
            reactor->run();
        });
    }
    return core;
}

Result<std::shared_ptr<EngineCore>> EngineCore::start_stepped(const Options& requested,
                                                              std::unique_ptr<poller::Poller> poller,
                                                              const Clock& clock, std::string* why) {
    if (const Refusal refusal = check(requested); refusal.status != Status::success) {
        if (why != nullptr) *why = refusal.why;
        return refusal.status;
    }
    const Options options = effective(requested);
    if (Status s = net::startup(); s != Status::success) return s;
    if (!poller) {
        Result<std::unique_ptr<poller::Poller>> made = poller::make_poller(options.backend, why);
        if (!made) return {made.status(), made.os_error()};
        poller = std::move(made.value());
    }
    const Backend backend = poller->backend();
    std::shared_ptr<EngineCore> core(new EngineCore(options, backend, std::move(poller), clock));
    core->pool_->set_listener(core.get());
    core->reactor_ = std::make_unique<Reactor>(*core);
    return core;
}

EngineCore::~EngineCore() { shutdown(); }

void EngineCore::shutdown() noexcept {
    std::lock_guard guard(shutdown_mutex_);
    if (!reactor_) return;
    stopping_.store(true, std::memory_order_release);
    push_command(Command{CommandKind::stop, nullptr, nullptr, nullptr});
    // A stepped engine has no thread: its last turn (the stop is queued)
    // runs here.
    if (thread_.joinable()) thread_.join();
    else reactor_->run();
    std::vector<Command> late;
    {
        std::lock_guard lock(command_mutex_);
        closed_ = true;
        late.swap(commands_);
    }
    reactor_->finish_late(late);
    pool_->set_listener(nullptr);
    reactor_.reset();
}

bool EngineCore::push_command(Command command) {
    {
        std::lock_guard lock(command_mutex_);
        if (closed_) return false;
        commands_.push_back(std::move(command));
    }
    wake();
    return true;
}

void EngineCore::wake() noexcept {
    // A plain load first: while the reactor runs, a post costs no write to
    // the shared flag (see docs/design.md §5 for why the load is enough).
    if (awake_.load(std::memory_order_seq_cst)) return;
    if (!awake_.exchange(true, std::memory_order_seq_cst)) poller_->wake();
}

void EngineCore::take_commands(std::vector<Command>& into) {
    std::lock_guard lock(command_mutex_);
    into.swap(commands_);
}

bool EngineCore::prepare_to_sleep() {
    awake_.store(false, std::memory_order_seq_cst);
    std::lock_guard lock(command_mutex_);
    if (!commands_.empty()) {
        awake_.store(true, std::memory_order_seq_cst);
        return false;
    }
    return true;
}

Result<std::shared_ptr<GroupState>> EngineCore::create_group() {
    if (stopping()) return Status::shutdown_started;
    auto group = std::make_shared<GroupState>(next_group_.fetch_add(1, std::memory_order_relaxed), shared_from_this());
    if (!push_command(Command{CommandKind::add_group, nullptr, nullptr, group})) return Status::shutdown_started;
    return group;
}

void EngineCore::remove_group(GroupState& group) {
    push_command(Command{CommandKind::remove_group, nullptr, &group, nullptr});
}

Result<BinaryHeader> EngineCore::post(GroupState& group, Message::Ptr& message) {
    if (!message) return Status::null_message;
    if (&detail::MessageAccess::pool(*message) != pool_.get()) return Status::invalid_message;
    if (stopping()) return Status::shutdown_started;
    if (Status s = message->validate_for_post(); s != Status::success) return s;

    const OpCode op = message->opcode();
    const bool opens = op == OpCode::WelcomeRequest || op == OpCode::HelloRequest;
    ChannelNumber assigned = unassigned_channel;
    if (opens) {
        if (message->channel() != unassigned_channel) return Status::invalid_channel_number;
        if (Status s = net::resolve_address_header(*message); s != Status::success) return s;
        assigned = numbers_.allocate(group.id);
        if (assigned == unassigned_channel) return Status::allocation_failed;
        message->set_channel(assigned);
    } else {
        const ChannelNumber channel = message->channel();
        if (channel == unassigned_channel || channel == reserved_channel) return Status::invalid_channel_number;
        const GroupId owner = numbers_.owner(channel);
        if (owner == 0) return Status::invalid_channel_number;
        if (owner != group.id) return Status::invalid_mchn_group;
    }
    if (message->message_id() == 0) {
        message->set_message_id(next_message_id.fetch_add(1, std::memory_order_relaxed));
    }
    message->header().origin = Origin::application;
    const BinaryHeader header = message->header();
    Message* raw = message.release();
    if (!push_command(Command{CommandKind::post, raw, &group, nullptr})) {
        message.reset(raw);
        if (opens) {
            message->set_channel(unassigned_channel);
            numbers_.release(assigned);
        }
        return Status::shutdown_started;
    }
    return header;
}

} // namespace detail

// ---- Engine -----------------------------------------------------------------

Engine::Engine(const Options& options) {
    std::string why;
    Result<std::shared_ptr<detail::EngineCore>> core = detail::EngineCore::start(options, detail::Clock(), &why);
    if (!core) {
        throw Error(core.status(),
                    "tofu: engine could not start: " + std::string(to_string(core.status())) +
                        (why.empty() ? std::string() : ": " + why),
                    core.os_error());
    }
    core_ = std::move(core.value());
}

Engine::Engine(std::shared_ptr<detail::EngineCore> core) noexcept : core_(std::move(core)) {}

Result<Engine> Engine::create(const Options& options) {
    Result<std::shared_ptr<detail::EngineCore>> core = detail::EngineCore::start(options);
    if (!core) return {core.status(), core.os_error()};
    return Engine(std::move(core.value()));
}

Engine::Engine(Engine&&) noexcept = default;

Engine& Engine::operator=(Engine&& other) noexcept {
    if (this != &other) {
        if (core_) core_->shutdown();
        core_ = std::move(other.core_);
    }
    return *this;
}

Engine::~Engine() {
    if (core_) core_->shutdown();
}

Message::Ptr Engine::get(Alloc strategy) { return core_->pool().get(strategy); }

Status Engine::put(Message::Ptr message) { return core_->pool().put(std::move(message)); }

Result<ChannelGroup> Engine::create_group() {
    Result<std::shared_ptr<detail::GroupState>> group = core_->create_group();
    if (!group) return group.status();
    return ChannelGroup(std::move(group.value()));
}

Backend Engine::backend() const noexcept { return core_->backend(); }
const Options& Engine::options() const noexcept { return core_->options(); }
EngineStats Engine::stats() const noexcept {
    EngineStats stats = core_->stats().snapshot(core_->clock().now());
    const Pool& pool = core_->pool();
    stats.messages_in_use = pool.messages_in_use();
    stats.messages_created = pool.messages_created();
    stats.bytes_in_use = pool.bytes_in_use();
    stats.peak_bytes = pool.peak_bytes();
    return stats;
}

std::optional<ChannelStats> Engine::channel_stats(ChannelNumber channel) const noexcept {
    if (core_->numbers().owner(channel) == 0) return std::nullopt;
    return core_->stats().channel(channel);
}

std::string_view to_string(LogLevel level) noexcept {
    switch (level) {
    case LogLevel::error: return "error";
    case LogLevel::warning: return "warning";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
    }
    return "unknown";
}

std::string_view to_string(Limit limit) noexcept {
    switch (limit) {
    case Limit::none: return "none";
    case Limit::connect_timeout: return "connect_timeout";
    case Limit::handshake_timeout: return "handshake_timeout";
    case Limit::frame_timeout: return "frame_timeout";
    case Limit::pending_evicted: return "pending_evicted";
    }
    return "unknown";
}

} // namespace tofu
