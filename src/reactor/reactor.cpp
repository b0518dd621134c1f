#include "reactor/reactor.hpp"

#include "common/invariant.hpp"
#include "net/os_error.hpp"

#include <tofu/address.hpp>

#include <algorithm>
#include <cstring>

namespace tofu::detail {
namespace {

constexpr std::size_t max_events = 1024;
constexpr std::size_t accepts_per_turn = 64;
constexpr std::size_t message_overhead = sizeof(Message);

// Messages still queued when their channel closes come back with this.
Status returned_status(Cause cause) noexcept {
    return cause.status == Status::success ? Status::channel_closed : cause.status;
}

Cause failure_of(const net::IoResult& result) noexcept { return Cause{result.status, Limit::none, result.os_error}; }

// Header lines the engine adds to a message it hands back, built on the
// stack and appended at once. The notification tier may use the whole
// limit, and room for these lines is what the reserve keeps
// (Pool::reserved_header_bytes).
class EngineHeaders {
public:
    void add(std::string_view name, std::string_view value) noexcept {
        if (length_ + name.size() + value.size() + 3 > sizeof(lines_)) return;
        put(name);
        put(":");
        put(value);
        put("\r\n");
    }
    // `~os_error:<code> <text>`, the text cut to what fits.
    void add_os_error(int code) noexcept {
        constexpr std::size_t shortest_useful = 16;
        if (code == 0 || length_ + os_error_header.size() + 1 + shortest_useful + 2 > sizeof(lines_)) return;
        put(os_error_header);
        put(":");
        length_ += net::describe_os_error(code, {lines_ + length_, sizeof(lines_) - length_ - 2});
        put("\r\n");
    }
    void append_to(Message& message) const noexcept {
        (void)detail::MessageAccess::headers(message).append({reinterpret_cast<const std::byte*>(lines_), length_},
                                                             Status::invalid_headers_len, MemoryTier::notification);
    }

private:
    void put(std::string_view text) noexcept {
        std::memcpy(lines_ + length_, text.data(), text.size());
        length_ += text.size();
    }
    char lines_[Pool::reserved_header_bytes];
    std::size_t length_ = 0;
};

// `~cause:<name>`, then `~os_error:<code> <text>` if the OS said why.
void add_cause(Message& message, Cause cause) {
    EngineHeaders headers;
    headers.add(cause_header, cause.name());
    headers.add_os_error(cause.os_error);
    headers.append_to(message);
}

// A listen or connect the OS refused at once: what it said, if anything.
void add_os_error(Message& message, std::error_code said) {
    if (!said) return;
    EngineHeaders headers;
    headers.add_os_error(said.value());
    headers.append_to(message);
}

Admission::Budget handshake_budget(const Options& options) noexcept {
    return {std::max(options.memory_limit / 8, message_overhead + options.max_hello_bytes),
            std::max<std::size_t>(options.max_messages / 8, 1), options.max_pending_handshakes};
}

} // namespace

Reactor::Reactor(EngineCore& core)
    : core_(core), poller_(core.poller()), pool_(core.pool()), options_(core.options()),
      budget_(options_.io_budget_bytes), limits_{options_.max_hello_bytes}, now_(core.clock().now()),
      channels_(channel_number_count), admission_(handshake_budget(options_)), events_(max_events),
      scratch_(std::make_unique<ReadBuffer>()), stash_(std::make_unique<ReadBuffer>()) {
    iovecs_.reserve(net::max_iovecs);
    commands_.reserve(256);
}

Reactor::~Reactor() = default;

// ---- the loop ---------------------------------------------------------------

void Reactor::run() {
    while (turn()) after_wait(poller_.wait(events(), wait_timeout()));
    close_everything();
}

bool Reactor::turn() {
    TOFU_INVARIANT(on_io_thread());
    now_ = core_.clock().now();
    if (!handle_commands()) return false;
    expire_deadlines();
    retry_notifications();
    resume_parked();
    serve_ready();
    flush_outboxes();
    reconcile();
    graveyard_.clear();
    return true;
}

void Reactor::after_wait(Result<std::size_t> ready) {
    TOFU_INVARIANT(on_io_thread());
    core_.woke_up();
    if (ready) dispatch(std::span<const poller::Event>(events_.data(), ready.value()));
    else log_poller_failure(ready.status());
}

std::chrono::milliseconds Reactor::wait_timeout() {
    using std::chrono::milliseconds;
    if (!ready_.empty() || !sleep_allowed()) return milliseconds{0};
    const Clock::time_point next = timers_.next();
    if (next == Clock::never()) return milliseconds{-1};
    const Clock::time_point now = core_.clock().now();
    return next <= now ? milliseconds{0} : std::chrono::ceil<milliseconds>(next - now);
}

bool Reactor::sleep_allowed() {
    // Read before what the count of returns needed is worked out from, so
    // the target is never later than the return that could let us go on.
    const std::uint64_t returned = pool_.returns_seen();
    const std::uint64_t needed = returns_needed();
    const std::uint64_t target = needed == 0 ? Pool::never_wake : returned + needed;
    pool_.wake_at(target);
    // prepare_to_sleep publishes "asleep" before we re-check memory, so a
    // message returned from now on either is seen here or wakes us. A
    // target already passed wakes nobody: go round again instead.
    if (!core_.prepare_to_sleep()) return false;
    if (needed != 0 && (pool_.returns_seen() >= target || memory_would_help())) {
        core_.woke_up();
        return false;
    }
    return true;
}

void Reactor::dispatch(std::span<const poller::Event> events) {
    for (const poller::Event& event : events) {
        // A token from a closed registration names an older generation.
        Channel* channel = channel_of(event.token);
        if (channel == nullptr) continue;
        channel->read_ready |= event.readable;
        channel->write_ready |= event.writable;
        ready_.push_back(*channel);
    }
}

void Reactor::serve_ready() {
    // One turn each for the channels ready now; a channel cut short by the
    // budget goes to the back and is served next iteration without waiting
    // for the kernel to report it again.
    for (std::size_t turns = ready_.size(); turns != 0 && !ready_.empty(); --turns) {
        Channel& channel = *ready_.pop_front();
        serve(channel);
        if (channel.state != ChannelState::closed) {
            if (still_ready(channel)) ready_.push_back(channel);
            mark_dirty(channel);
        }
    }
}

bool Reactor::still_ready(const Channel& channel) const noexcept {
    if (channel.kind == ChannelKind::listener) return channel.read_ready && channel.may_accept();
    if (channel.state == ChannelState::connecting) return false;
    const bool can_write = channel.write_ready && !channel.send_queue.empty();
    const bool can_read = channel.read_ready && !channel.parked() && !channel.peer_closed;
    return can_write || can_read;
}

void Reactor::serve(Channel& channel) {
    if (channel.kind == ChannelKind::listener) {
        if (channel.read_ready && channel.may_accept()) accept_connections(channel);
        return;
    }
    if (channel.state == ChannelState::connecting) {
        if (!channel.write_ready) return;
        finish_connect(channel);
        if (channel.state == ChannelState::closed) return;
    }
    if (channel.write_ready && !channel.send_queue.empty()) {
        flush(channel);
        if (channel.state == ChannelState::closed) return;
    }
    if (channel.read_ready && !channel.parked()) receive(channel);
}

// ---- commands ---------------------------------------------------------------

bool Reactor::handle_commands() {
    core_.take_commands(commands_);
    bool keep_running = true;
    for (Command& command : commands_) {
        switch (command.kind) {
        case CommandKind::post: handle_post(Message::Ptr(command.message), *command.group); break;
        case CommandKind::add_group: groups_.emplace(command.added->id, std::move(command.added)); break;
        case CommandKind::remove_group: remove_group(*command.group); break;
        case CommandKind::stop: keep_running = false; break;
        }
    }
    commands_.clear();
    return keep_running;
}

void Reactor::finish_late(std::vector<Command>& commands) {
    for (Command& command : commands) {
        switch (command.kind) {
        case CommandKind::post:
            hand_back(*command.group, Message::Ptr(command.message), Status::shutdown_started);
            break;
        case CommandKind::add_group: groups_.emplace(command.added->id, std::move(command.added)); break;
        case CommandKind::remove_group: remove_group(*command.group); break;
        case CommandKind::stop: break;
        }
    }
    commands.clear();
    flush_outboxes();
    for (auto& [id, group] : groups_) group->mark_engine_gone();
    groups_.clear();
}

Channel* Reactor::channel_for(ChannelNumber number, const GroupState& group) noexcept {
    Channel* channel = channels_[number].get();
    if (channel == nullptr || channel->group != &group || channel->state == ChannelState::closed) return nullptr;
    return channel;
}

// The thread that first runs the loop is its only thread: reactor code
// touches channels, lists and the poller without locks.
bool Reactor::on_io_thread() noexcept {
    if (io_thread_ == std::thread::id{}) io_thread_ = std::this_thread::get_id();
    return io_thread_ == std::this_thread::get_id();
}

Channel* Reactor::channel_of(std::uint64_t token) noexcept {
    Channel* channel = channels_[Channel::number_of(token)].get();
    if (channel == nullptr || channel->token() != token || channel->state == ChannelState::closed) return nullptr;
    return channel;
}

void Reactor::handle_post(Message::Ptr message, GroupState& group) {
    const OpCode op = message->opcode();
    if (op == OpCode::WelcomeRequest) return open_listener(std::move(message), group);
    if (op == OpCode::HelloRequest) return open_connection(std::move(message), group);

    Channel* channel = channel_for(message->channel(), group);
    if (channel == nullptr) return hand_back(group, std::move(message), Status::channel_closed);
    if (op == OpCode::ByeSignal) {
        message.reset();
        return close(*channel, Cause{Status::channel_closed});
    }
    if (channel->kind == ChannelKind::listener) return hand_back(group, std::move(message), Status::not_allowed);
    const protocol::Verdict verdict = protocol::post(channel->state, channel->peer_said_bye, op);
    if (verdict.status != Status::success) return hand_back(group, std::move(message), verdict.status);
    channel->state = verdict.next;
    enqueue(*channel, std::move(message));
}

void Reactor::open_listener(Message::Ptr message, GroupState& group) {
    const ChannelNumber number = message->channel();
    message->set_opcode(OpCode::WelcomeResponse);
    Result<Address> where = address_of(*message);
    Address bound;
    Result<net::Socket> socket =
        where ? net::Socket::listen(where.value(), bound) : Result<net::Socket>(where.status());
    Status status = socket.status();
    if (socket && message->set_header(listen_on_header, bound.to_string()) != Status::success) {
        status = Status::allocation_failed;
    }
    if (status != Status::success) {
        core_.numbers().release(number);
        add_os_error(*message, socket.os_error());
        log_refused("listen on", *message, status, socket.os_error());
        return hand_back(group, std::move(message), status);
    }
    create_channel(number, ChannelKind::listener, ChannelState::listening, group, std::move(socket.value()));
    if (core_.log().enabled(LogLevel::info)) {
        const std::string_view where = message->find_header(listen_on_header).value_or("?");
        core_.log()(LogLevel::info, "channel %u: listening on %.*s", unsigned{number}, static_cast<int>(where.size()),
                    where.data());
    }
    hand_back(group, std::move(message), Status::success);
}

void Reactor::open_connection(Message::Ptr message, GroupState& group) {
    const ChannelNumber number = message->channel();
    Result<Address> to = address_of(*message);
    Result<net::Socket> socket = to ? net::Socket::connect(to.value()) : Result<net::Socket>(to.status());
    if (!socket) {
        core_.numbers().release(number);
        add_os_error(*message, socket.os_error());
        log_refused("connect to", *message, socket.status(), socket.os_error());
        return hand_back(group, std::move(message), socket.status());
    }
    Channel& channel =
        create_channel(number, ChannelKind::stream, ChannelState::connecting, group, std::move(socket.value()));
    channel.send_queue.push(std::move(message));
    set_deadline(channel, Timeout::connect, options_.connect_timeout);
    mark_dirty(channel);
}

void Reactor::enqueue(Channel& channel, Message::Ptr message) {
    // Nothing queued means the last flush left the socket writable: try at
    // once instead of asking the kernel first.
    if (channel.send_queue.empty()) channel.write_ready = true;
    channel.send_queue.push(std::move(message));
    if (channel.write_ready) ready_.push_back(channel);
    mark_dirty(channel);
}

void Reactor::remove_group(GroupState& group) {
    for (auto& slot : channels_) {
        if (slot && slot->group == &group) {
            Channel& channel = *slot;
            if (channel.state != ChannelState::closed) {
                close(channel, Cause{Status::channel_closed}, false);
            } else {
                notify_pending_.remove(channel);
                finalize(channel);
            }
        }
    }
    group.outbox.clear();
    if (group.pool_empty_pending) --pool_empty_owed_;
    group.pool_empty_pending = false;
    std::erase(outboxes_, &group);
    groups_.erase(group.id);
}

// ---- I/O --------------------------------------------------------------------

void Reactor::accept_connections(Channel& listener) {
    for (std::size_t i = 0; i < accepts_per_turn; ++i) {
        // accept ⇔ memory available: a new peer's hello needs a message.
        if (!pool_.can_acquire(MemoryTier::inbound)) return park(listener, Wait::pool);
        Channel* make_room = nullptr;
        if (!admits(listener, make_room)) return;
        net::Socket accepted;
        const net::IoResult result = listener.socket.accept(accepted);
        if (result.state == net::IoState::would_block) {
            listener.read_ready = false;
            return;
        }
        if (result.state == net::IoState::closed) continue; // it died in the backlog: the next one
        if (result.state != net::IoState::done) return pause_accepting(listener, result.os_error);
        // Only now that a newcomer is really there does the oldest give way.
        if (make_room != nullptr) close(*make_room, evicted);
        const ChannelNumber number = core_.numbers().allocate(listener.group->id);
        if (number == unassigned_channel) continue; // all 65,534 in use: the socket closes
        Channel& channel = create_channel(number, ChannelKind::stream, ChannelState::awaiting_hello, *listener.group,
                                          std::move(accepted));
        if (std::optional<Address> peer = channel.socket.peer_address()) channel.peer_address = peer->to_string();
        core_.log()(LogLevel::debug, "channel %u: accepted by listener channel %u from %s", unsigned{number},
                    unsigned{listener.number},
                    channel.peer_address.empty() ? "a Unix socket" : channel.peer_address.c_str());
        admission_.enter(channel, listener);
        channel.accepted_at = now_;
        core_.stats().accepted();
        core_.stats().set_pending(admission_.size());
        set_deadline(channel, Timeout::handshake, options_.handshake_timeout);
        // The peer's HelloRequest is probably there already.
        channel.read_ready = true;
        ready_.push_back(channel);
    }
}

void Reactor::finish_connect(Channel& channel) {
    if (channel.socket.connect_pending()) {
        channel.write_ready = false; // an early report: the poller says when it completes
        return;
    }
    const net::IoResult connected = channel.socket.connect_result();
    if (connected.state != net::IoState::done) return fail_connect(channel, failure_of(connected));
    timers_.clear(channel.timers, Timeout::connect);
    core_.stats().connected();
    core_.log()(LogLevel::debug, "channel %u: connected", unsigned{channel.number});
    channel.state = ChannelState::hello_sent;
    set_deadline(channel, Timeout::handshake, options_.handshake_timeout);
    channel.write_ready = true;
}

void Reactor::fail_connect(Channel& channel, Cause cause) {
    // The channel never opened: no channel_closed; its HelloRequest comes
    // back connect_failed and names the cause.
    Message::Ptr hello = channel.send_queue.pop();
    GroupState& group = *channel.group;
    close(channel, cause, false);
    add_cause(*hello, cause);
    hand_back(group, std::move(hello), Status::connect_failed);
}

void Reactor::flush(Channel& channel) {
    Pool::ReturnBatch sent(pool_); // what a write completed goes back in one go
    std::size_t budget = budget_;
    while (!channel.send_queue.empty() && budget != 0) {
        iovecs_.clear();
        std::size_t planned = 0;
        std::size_t skip = channel.head_written;
        for (Message* message = channel.send_queue.front(); message != nullptr && planned < budget;
             message = MessageAccess::next(*message)) {
            const wire::Segments segments = wire::encode(*message);
            for (std::size_t i = 0; i < segments.count && iovecs_.size() < net::max_iovecs; ++i) {
                std::span<const std::byte> part = segments.parts[i];
                if (skip >= part.size()) {
                    skip -= part.size();
                    continue;
                }
                part = part.subspan(skip);
                skip = 0;
                iovecs_.push_back(net::make_iovec(part.data(), part.size()));
                planned += part.size();
            }
            if (iovecs_.size() + 3 > net::max_iovecs) break;
        }
        const net::IoResult result = channel.socket.writev(iovecs_);
        if (result.state == net::IoState::would_block) {
            channel.write_ready = false;
            return;
        }
        if (result.state != net::IoState::done) return close(channel, failure_of(result));

        budget -= std::min(budget, result.bytes);
        std::size_t written = result.bytes;
        bool close_after = false;
        while (written != 0) {
            Message* head = channel.send_queue.front();
            const std::size_t remaining =
                wire_header_size + head->raw_headers().size() + head->body().size() - channel.head_written;
            if (written < remaining) {
                channel.head_written += written;
                break;
            }
            written -= remaining;
            core_.stats().sent(channel.number, channel.head_written + remaining);
            channel.head_written = 0;
            Message::Ptr done = channel.send_queue.pop();
            close_after = close_after || protocol::closes_after_write(done->opcode());
            sent.add(std::move(done));
        }
        if (close_after) {
            sent.give_back();
            return close(channel, Cause{Status::success});
        }
        if (result.bytes < planned) {
            channel.write_ready = false; // the socket buffer is full
            return;
        }
    }
}

void Reactor::receive(Channel& channel) {
    if (stash_owner_ == &channel) {
        if (!decode(channel, *stash_)) return track_frame_deadline(channel);
        release_stash(channel);
    } else if (channel.decoder.mid_frame()) {
        // A frame whose header was complete when memory ran out may have no
        // bytes left to read (a bare header): let the decoder go on now.
        scratch_->begin = scratch_->end = 0;
        if (!decode(channel, *scratch_)) return track_frame_deadline(channel);
    }
    std::size_t budget = budget_;
    bool more = true;
    while (more && budget != 0 && channel.read_ready && !channel.peer_closed) {
        if (!read_into_scratch(channel, more)) return; // closed
        budget -= std::min(budget, scratch_->end);
    }
    if (channel.state == ChannelState::closed) return;
    if (channel.peer_closed) return close(channel, Cause{Status::peer_disconnected});
    track_frame_deadline(channel);
}

// One read and its decoding. `more` turns false when the channel stops
// (parked); false when the channel closed.
bool Reactor::read_into_scratch(Channel& channel, bool& more) {
    // While another channel owns the stash, bytes that could not be decoded
    // would have nowhere to go: peek, and take only what was decoded.
    const bool careful = stash_owner_ != nullptr;
    ReadBuffer& buffer = *scratch_;
    buffer.begin = buffer.end = 0;
    const std::span<std::byte> room{buffer.data.get(), ReadBuffer::capacity};
    const net::IoResult result = careful ? channel.socket.peek(room) : channel.socket.read(room);
    switch (result.state) {
    case net::IoState::would_block: channel.read_ready = false; return true;
    case net::IoState::closed:
        channel.peer_closed = true;
        channel.read_ready = false;
        return true;
    case net::IoState::failed: close(channel, failure_of(result)); return false;
    case net::IoState::done: break;
    }
    buffer.end = result.bytes;
    // A short read of a stream socket means the kernel queue is empty.
    if (result.bytes < ReadBuffer::capacity) channel.read_ready = false;
    more = decode(channel, buffer);
    if (channel.state == ChannelState::closed) return false;
    if (careful) {
        // The peeked bytes the decoder used leave the kernel queue; a stream
        // socket hands them over exactly as it showed them.
        for (std::size_t taken = 0; taken < buffer.begin;) {
            const net::IoResult consumed = channel.socket.read({buffer.data.get(), buffer.begin - taken});
            if (consumed.state != net::IoState::done) {
                close(channel,
                      consumed.state == net::IoState::failed ? failure_of(consumed) : Cause{Status::peer_disconnected});
                return false;
            }
            taken += consumed.bytes;
        }
    } else if (!more && buffer.pending() != 0) {
        std::swap(scratch_, stash_);
        stash_owner_ = &channel;
    }
    return true;
}

bool Reactor::decode(Channel& channel, ReadBuffer& buffer) {
    for (;;) {
        const wire::Decoder::Step step = channel.decoder.feed({buffer.data.get() + buffer.begin, buffer.pending()});
        buffer.begin += step.consumed;
        switch (step.event) {
        case wire::Decoder::Event::need_bytes: return true;
        case wire::Decoder::Event::need_message:
            if (!prepare_frame(channel)) return false;
            break;
        case wire::Decoder::Event::need_memory: park(channel, Wait::pool); return false;
        case wire::Decoder::Event::message:
            on_message(channel, channel.decoder.take());
            if (channel.state == ChannelState::closed) return false;
            break;
        case wire::Decoder::Event::error: close(channel, Cause{channel.decoder.error()}); return false;
        }
    }
}

// A frame header is complete: judge it before any memory is spent on it,
// then find it a message within the limits of its channel.
bool Reactor::prepare_frame(Channel& channel) {
    const wire::FrameHeader& frame = channel.decoder.frame();
    if (const Status verdict = protocol::admit(channel.state, frame, limits_); verdict != Status::success) {
        close(channel, Cause{verdict});
        return false;
    }
    const std::size_t bytes = frame_bytes(frame);
    const bool pending = protocol::pending(channel.state);
    if (!pending && over_share(channel, bytes, {})) {
        pause_at_share(channel);
        return false;
    }
    if (pending && !make_handshake_room(bytes)) {
        close(channel, evicted);
        return false;
    }
    Message::Ptr target = pool_.acquire(Alloc::Always, MemoryTier::inbound);
    if (!target) {
        park(channel, Wait::pool);
        return false;
    }
    channel.decoder.provide(std::move(target));
    if (pending) admission_.hold(channel, bytes);
    return true;
}

void Reactor::on_message(Channel& channel, Message::Ptr message) {
    const ChannelState before = channel.state;
    const protocol::Arrival arrival = protocol::arrive(before, message->opcode());
    channel.state = arrival.next;
    channel.peer_said_bye = channel.peer_said_bye || arrival.peer_said_bye;
    if (protocol::pending(before)) leave_pending(channel);
    if (before != arrival.next) timers_.clear(channel.timers, Timeout::handshake); // the peer's part is done
    message->set_channel(channel.number);
    core_.stats().received(channel.number, wire_header_size + message->raw_headers().size() + message->body().size());
    if (before == ChannelState::awaiting_hello && !channel.peer_address.empty()) {
        EngineHeaders headers;
        headers.add(peer_address_header, channel.peer_address);
        headers.append_to(*message);
        channel.peer_address.clear();
    }
    // The message counts against this channel's share until it comes back.
    const std::size_t bytes = message_overhead + message->capacity_bytes();
    pool_.attribute(*message, channel.number, static_cast<std::uint32_t>(bytes));
    channel.share_charged += Pool::share_unit(static_cast<std::uint32_t>(bytes));
    deliver(*channel.group, std::move(message));
    if (arrival.close_after) close(channel, Cause{Status::success});
}

// ---- memory and backpressure ------------------------------------------------

void Reactor::park(Channel& channel, Wait why) {
    channel.waiting = why;
    (why == Wait::share ? over_share_ : parked_).push_back(channel);
    core_.stats().set_paused(parked_.size() + over_share_.size(), now_);
    ready_.remove(channel);
    track_frame_deadline(channel);
    mark_dirty(channel);
    GroupState& group = *channel.group;
    if (!group.pool_empty_sent && !group.pool_empty_pending) {
        if (notify_pool_empty(group, channel.number)) {
            group.pool_empty_sent = true;
        } else {
            group.pool_empty_pending = true;
            ++pool_empty_owed_;
        }
    }
}

bool Reactor::can_resume(Channel& channel) noexcept {
    if (channel.kind == ChannelKind::listener || !channel.decoder.holds_message()) {
        return pool_.can_acquire(MemoryTier::inbound);
    }
    return pool_.can_charge(channel.decoder.bytes_wanted(), MemoryTier::inbound);
}

void Reactor::resume_parked() {
    // Over its share: each waits for its own messages, in no common order.
    for (Channel* channel = over_share_.front(); channel != nullptr;) {
        Channel* next = channel->parked_link.next;
        if (!over_share_to_resume(*channel)) {
            over_share_.remove(*channel);
            resume(*channel);
        }
        channel = next;
    }
    // Waiting for the pool: longest waiting first. A resumed channel
    // re-checks its socket (and the stash) at once, no new kernel event needed.
    while (!parked_.empty() && can_resume(*parked_.front())) resume(*parked_.pop_front());
    if (parked_.empty() && over_share_.empty()) {
        for (auto& [id, group] : groups_) group->pool_empty_sent = false;
    }
}

void Reactor::resume(Channel& channel) {
    channel.waiting = Wait::none;
    channel.share_batch_wanted = false;
    timers_.clear(channel.timers, Timeout::share_grace);
    core_.stats().set_paused(parked_.size() + over_share_.size(), now_);
    serve_without_report(channel);
}

// A channel that stopped reading starts again: it is served as ready at
// once, since the kernel may have reported its socket while it was paused
// and an edge-like backend will not report it again.
void Reactor::serve_without_report(Channel& channel) {
    channel.read_ready = true;
    ready_.push_back(channel);
    mark_dirty(channel);
}

bool Reactor::memory_would_help() noexcept {
    if ((!notify_pending_.empty() || pool_empty_owed_ != 0) && pool_.can_acquire(MemoryTier::notification)) return true;
    for (Channel* channel = over_share_.front(); channel != nullptr; channel = channel->parked_link.next) {
        if (!over_share_to_resume(*channel)) return true;
    }
    return !parked_.empty() && can_resume(*parked_.front());
}

// How many returns, at the fewest, before memory_would_help() can turn
// true (0: nothing waits for memory). The pool wakes the reactor at that
// many, not at every return while it waits.
std::uint64_t Reactor::returns_needed() noexcept {
    if (!parked_.empty() || !notify_pending_.empty() || pool_empty_owed_ != 0) return 1;
    std::uint64_t fewest = 0;
    for (Channel* channel = over_share_.front(); channel != nullptr; channel = channel->parked_link.next) {
        const std::uint64_t needed = returns_before_resume(*channel);
        fewest = fewest == 0 ? needed : std::min(fewest, needed);
    }
    return fewest;
}

void Reactor::release_stash(Channel& channel) noexcept {
    if (stash_owner_ != &channel) return;
    stash_owner_ = nullptr;
    stash_->begin = stash_->end = 0;
}

// ---- delivery ---------------------------------------------------------------

void Reactor::deliver(GroupState& group, Message::Ptr message) {
    group.outbox.push(std::move(message));
    if (!group.outbox_listed) {
        group.outbox_listed = true;
        outboxes_.push_back(&group);
    }
}

void Reactor::hand_back(GroupState& group, Message::Ptr message, Status status) {
    message->header().origin = Origin::engine;
    message->set_status(status);
    deliver(group, std::move(message));
}

void Reactor::flush_outboxes() {
    for (GroupState* group : outboxes_) {
        group->outbox_listed = false;
        group->deliver(group->outbox);
    }
    outboxes_.clear();
}

bool Reactor::notify_closed(Channel& channel) {
    Message::Ptr message = pool_.acquire(Alloc::Always, MemoryTier::notification);
    if (!message) return false;
    message->set_channel(channel.number);
    message->set_opcode(OpCode::ByeSignal);
    add_cause(*message, channel.close_cause);
    hand_back(*channel.group, std::move(message), Status::channel_closed);
    return true;
}

bool Reactor::notify_pool_empty(GroupState& group, ChannelNumber channel) {
    Message::Ptr message = pool_.acquire(Alloc::Always, MemoryTier::notification);
    if (!message) return false;
    message->set_channel(channel);
    message->set_opcode(OpCode::Signal);
    hand_back(group, std::move(message), Status::pool_empty);
    return true;
}

void Reactor::retry_notifications() {
    while (!notify_pending_.empty()) {
        Channel& channel = *notify_pending_.front();
        if (!notify_closed(channel)) return;
        notify_pending_.remove(channel);
        finalize(channel);
    }
    if (pool_empty_owed_ == 0) return;
    for (auto& [id, group] : groups_) {
        if (!group->pool_empty_pending) continue;
        if (!notify_pool_empty(*group, unassigned_channel)) return;
        group->pool_empty_pending = false;
        group->pool_empty_sent = true;
        --pool_empty_owed_;
    }
}

// ---- lifecycle --------------------------------------------------------------

Channel& Reactor::create_channel(ChannelNumber number, ChannelKind kind, ChannelState state, GroupState& group,
                                 net::Socket socket) {
    auto channel = std::make_unique<Channel>();
    channel->number = number;
    channel->generation = ++generation_;
    channel->kind = kind;
    channel->state = state;
    channel->group = &group;
    channel->socket = std::move(socket);
    channel->timers.token = channel->token();
    core_.stats().opened(number);
    channel->share_charged = pool_.share_returns(number);
    channel->registered = desired_interest(*channel);
    if (poller_.add(channel->socket.handle(), channel->token(), channel->registered) != Status::success) {
        channel->registered = poller::Interest{};
    }
    channels_[number] = std::move(channel);
    return *channels_[number];
}

void Reactor::close(Channel& channel, Cause cause, bool notify) {
    if (channel.state == ChannelState::closed) return;
    // Before its hello reached the application, a connection was never a
    // channel to it: it ends without a channel_closed (counted in stats).
    const bool refused = protocol::pending(channel.state);
    if (refused) leave_pending(channel);
    notify = notify && !refused;
    core_.stats().closed(cause, refused, notify);
    log_closed(channel, cause, refused);
    const bool was_listener = channel.kind == ChannelKind::listener;
    poller_.remove(channel.socket.handle(), channel.token());
    channel.socket.close();
    channel.state = ChannelState::closed;
    ready_.remove(channel);
    (channel.waiting == Wait::share ? over_share_ : parked_).remove(channel);
    channel.waiting = Wait::none;
    core_.stats().set_paused(parked_.size() + over_share_.size(), now_);
    dirty_.remove(channel);
    timers_.remove(channel.timers);
    release_stash(channel);
    channel.close_cause = cause;
    // A closed channel is in no list of the loop (parked_ and over_share_
    // share one link: a channel in the one its Wait does not name would
    // have been left behind) and owns no deadline.
    TOFU_INVARIANT(!ready_.contains(channel) && !parked_.contains(channel) && !dirty_.contains(channel) &&
                   !channel.pending_link.linked && channel.timers.index == Timers::not_queued &&
                   stash_owner_ != &channel);

    // Every message still queued goes back to the application with a status.
    const Status returned = returned_status(cause);
    while (Message::Ptr message = channel.send_queue.pop()) {
        if (notify) hand_back(*channel.group, std::move(message), returned);
    }
    channel.decoder = wire::Decoder();

    // A descriptor came free: listeners that ran out may accept again.
    if (!was_listener && !accept_paused_.empty()) {
        for (ChannelNumber number : accept_paused_) {
            if (Channel* listener = channels_[number].get(); listener != nullptr) resume_accepting(*listener);
        }
        accept_paused_.clear();
    }

    if (notify && !notify_closed(channel)) {
        notify_pending_.push_back(channel);
        return;
    }
    finalize(channel);
}

void Reactor::finalize(Channel& channel) {
    const ChannelNumber number = channel.number;
    core_.numbers().release(number);
    graveyard_.push_back(std::move(channels_[number]));
}

poller::Interest Reactor::desired_interest(const Channel& channel) const noexcept {
    poller::Interest interest;
    switch (channel.state) {
    case ChannelState::closed: return interest;
    case ChannelState::listening: interest.read = channel.may_accept(); return interest;
    case ChannelState::connecting: interest.write = true; return interest;
    default:
        interest.read = !channel.parked() && !channel.peer_closed;
        // Known-writable channels are served from the ready list; the kernel
        // is asked only after a write would have blocked.
        interest.write = !channel.send_queue.empty() && !channel.write_ready;
        return interest;
    }
}

void Reactor::reconcile() {
    while (Channel* channel = dirty_.pop_front()) {
        if (channel->state == ChannelState::closed) continue;
        const poller::Interest desired = desired_interest(*channel);
        if (desired == channel->registered) continue;
        if (poller_.modify(channel->socket.handle(), channel->token(), desired) == Status::success) {
            channel->registered = desired;
        } else {
            close(*channel, Cause{Status::communication_failed});
        }
    }
}

void Reactor::close_everything() {
    for (auto& slot : channels_) {
        if (!slot) continue;
        if (slot->state != ChannelState::closed) close(*slot, Cause{Status::shutdown_started});
    }
    // What is still owed a notification gets one if memory allows; the
    // hard limit holds even at shutdown.
    retry_notifications();
    while (Channel* channel = notify_pending_.pop_front()) finalize(*channel);
    flush_outboxes();
    graveyard_.clear();
}

} // namespace tofu::detail
