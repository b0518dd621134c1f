#include "reactor/reactor.hpp"

#include <tofu/address.hpp>

#include <algorithm>
#include <cstring>

namespace tofu::detail {
namespace {

constexpr std::size_t max_events = 1024;
constexpr std::size_t accepts_per_turn = 64;
constexpr std::size_t spare_buffer_limit = 8;
constexpr std::string_view cause_header = "~cause";

} // namespace

Reactor::Reactor(EngineCore& core)
    : core_(core), poller_(core.poller()), pool_(core.pool()), budget_(std::max<std::size_t>(core.options().io_budget_bytes, 1)),
      channels_(65536), events_(max_events), scratch_(std::make_unique<ReadBuffer>()) {
    iovecs_.reserve(net::max_iovecs);
    commands_.reserve(256);
}

Reactor::~Reactor() {
    // Everything was closed by run()/finish_late(); unlink what is left so
    // no list points into freed channels.
    for (auto& channel : channels_) {
        if (channel) {
            ready_.remove(*channel);
            parked_.remove(*channel);
            dirty_.remove(*channel);
            notify_pending_.remove(*channel);
        }
    }
}

// ---- the loop ---------------------------------------------------------------

void Reactor::run() {
    for (;;) {
        if (!handle_commands()) break;
        retry_notifications();
        resume_parked();
        serve_ready();
        flush_outboxes();
        reconcile();
        graveyard_.clear();

        std::chrono::milliseconds timeout{-1};
        if (!ready_.empty() || !sleep_allowed()) timeout = std::chrono::milliseconds{0};
        Result<std::size_t> ready = poller_.wait(events_, timeout);
        core_.woke_up();
        if (ready) dispatch(std::span<const poller::Event>(events_.data(), ready.value()));
    }
    close_everything();
}

bool Reactor::sleep_allowed() {
    const bool waiting = !parked_.empty() || !notify_pending_.empty() || pool_empty_owed_ != 0;
    pool_.set_waiting(waiting);
    // prepare_to_sleep publishes "asleep" before we re-check memory, so a
    // message returned from now on either is seen here or wakes us.
    if (!core_.prepare_to_sleep()) return false;
    if (waiting && memory_would_help()) {
        core_.woke_up();
        return false;
    }
    return true;
}

void Reactor::dispatch(std::span<const poller::Event> events) {
    for (const poller::Event& event : events) {
        const auto number = static_cast<ChannelNumber>(event.token & 0xFFFF);
        Channel* channel = channels_[number].get();
        // A token from a closed registration names an older generation.
        if (channel == nullptr || channel->token() != event.token || channel->state == ChannelState::closed) continue;
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
    if (channel.kind == ChannelKind::listener) return channel.read_ready && !channel.parked && !channel.accept_paused;
    if (channel.state == ChannelState::connecting) return false;
    const bool can_write = channel.write_ready && !channel.send_queue.empty();
    const bool can_read = channel.read_ready && !channel.parked && !channel.peer_closed;
    return can_write || can_read;
}

void Reactor::serve(Channel& channel) {
    if (channel.kind == ChannelKind::listener) {
        if (channel.read_ready && !channel.parked && !channel.accept_paused) accept_connections(channel);
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
    if (channel.read_ready && !channel.parked) receive(channel);
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

void Reactor::handle_post(Message::Ptr message, GroupState& group) {
    const OpCode op = message->opcode();
    if (op == OpCode::WelcomeRequest) return open_listener(std::move(message), group);
    if (op == OpCode::HelloRequest) return open_connection(std::move(message), group);

    Channel* channel = channel_for(message->channel(), group);
    if (channel == nullptr) return hand_back(group, std::move(message), Status::channel_closed);
    if (op == OpCode::ByeSignal) {
        message.reset();
        return close(*channel, Status::channel_closed);
    }
    if (channel->kind == ChannelKind::listener) return hand_back(group, std::move(message), Status::not_allowed);

    ChannelState next = channel->state;
    bool allowed = false;
    switch (op) {
    case OpCode::HelloResponse:
        allowed = channel->state == ChannelState::hello_received;
        next = ChannelState::established;
        break;
    case OpCode::Request:
    case OpCode::Response:
    case OpCode::Signal:
        allowed = channel->state == ChannelState::established || channel->state == ChannelState::bye_received;
        break;
    case OpCode::ByeRequest:
        allowed = channel->state == ChannelState::established;
        next = ChannelState::bye_sent;
        break;
    case OpCode::ByeResponse:
        // Both sides may have said ByeRequest at once; either answer closes.
        allowed = channel->peer_said_bye && channel->state != ChannelState::closing;
        next = ChannelState::closing;
        break;
    default: break;
    }
    if (!allowed) return hand_back(group, std::move(message), Status::not_allowed);
    channel->state = next;
    enqueue(*channel, std::move(message));
}

void Reactor::open_listener(Message::Ptr message, GroupState& group) {
    const ChannelNumber number = message->channel();
    message->set_opcode(OpCode::WelcomeResponse);
    Result<Address> where = address_of(*message);
    Address bound;
    Result<net::Socket> socket = where ? net::Socket::listen(where.value(), bound) : Result<net::Socket>(where.status());
    Status status = socket.status();
    if (socket && message->set_header(listen_on_header, bound.to_string()) != Status::success) {
        status = Status::allocation_failed;
    }
    if (status != Status::success) {
        core_.numbers().release(number);
        return hand_back(group, std::move(message), status);
    }
    create_channel(number, ChannelKind::listener, ChannelState::listening, group, std::move(socket.value()));
    hand_back(group, std::move(message), Status::success);
}

void Reactor::open_connection(Message::Ptr message, GroupState& group) {
    const ChannelNumber number = message->channel();
    Result<Address> to = address_of(*message);
    Result<net::Socket> socket = to ? net::Socket::connect(to.value()) : Result<net::Socket>(to.status());
    if (!socket) {
        core_.numbers().release(number);
        return hand_back(group, std::move(message), socket.status());
    }
    Channel& channel =
        create_channel(number, ChannelKind::stream, ChannelState::connecting, group, std::move(socket.value()));
    channel.send_queue.push(std::move(message));
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
                close(channel, Status::channel_closed, false);
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
        if (!pool_.can_acquire(MemoryTier::inbound)) return park(listener);
        net::Socket accepted;
        const net::IoResult result = listener.socket.accept(accepted);
        if (result.state == net::IoState::would_block) {
            listener.read_ready = false;
            return;
        }
        if (result.state != net::IoState::done) {
            // Out of descriptors: pause until some channel closes, rather
            // than spinning on a backlog we cannot take.
            listener.accept_paused = true;
            listener.read_ready = false;
            accept_paused_.push_back(listener.number);
            return;
        }
        const ChannelNumber number = core_.numbers().allocate(listener.group->id);
        if (number == unassigned_channel) continue; // all 65,534 in use: the socket closes
        Channel& channel =
            create_channel(number, ChannelKind::stream, ChannelState::awaiting_hello, *listener.group, std::move(accepted));
        // The peer's HelloRequest is probably there already.
        channel.read_ready = true;
        ready_.push_back(channel);
    }
}

void Reactor::finish_connect(Channel& channel) {
    const Status status = channel.socket.connect_result();
    if (status != Status::success) {
        Message::Ptr hello = channel.send_queue.pop();
        GroupState& group = *channel.group;
        close(channel, status, false);
        hand_back(group, std::move(hello), Status::connect_failed);
        return;
    }
    channel.state = ChannelState::hello_sent;
    channel.write_ready = true;
}

void Reactor::flush(Channel& channel) {
    std::size_t budget = budget_;
    while (!channel.send_queue.empty() && budget != 0) {
        iovecs_.clear();
        std::size_t planned = 0;
        std::size_t skip = channel.head_written;
        for (Message* message = channel.send_queue.front(); message != nullptr && planned < budget;
             message = message->next) {
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
        if (result.state != net::IoState::done) return close(channel, result.status);

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
            channel.head_written = 0;
            Message::Ptr done = channel.send_queue.pop();
            // The connection closes on both sides once a ByeResponse is out.
            if (done->opcode() == OpCode::ByeResponse) close_after = true;
        }
        if (close_after) return close(channel, Status::success);
        if (result.bytes < planned) {
            channel.write_ready = false; // the socket buffer is full
            return;
        }
    }
}

void Reactor::receive(Channel& channel) {
    if (channel.stash) {
        if (!decode(channel, *channel.stash)) return;
        recycle(std::move(channel.stash));
    } else if (channel.decoder.mid_frame()) {
        // A frame whose header was complete when memory ran out may have no
        // bytes left to read (a bare header): let the decoder go on now.
        scratch_->begin = scratch_->end = 0;
        if (!decode(channel, *scratch_)) return;
    }
    std::size_t budget = budget_;
    while (budget != 0 && channel.read_ready && !channel.peer_closed) {
        ReadBuffer& buffer = *scratch_;
        buffer.begin = buffer.end = 0;
        const net::IoResult result = channel.socket.read({buffer.data.get(), ReadBuffer::capacity});
        if (result.state == net::IoState::would_block) {
            channel.read_ready = false;
            break;
        }
        if (result.state == net::IoState::closed) {
            channel.peer_closed = true;
            channel.read_ready = false;
            break;
        }
        if (result.state == net::IoState::failed) return close(channel, result.status);
        buffer.end = result.bytes;
        budget -= std::min(budget, result.bytes);
        // A short read of a stream socket means the kernel queue is empty.
        if (result.bytes < ReadBuffer::capacity) channel.read_ready = false;
        if (!decode(channel, buffer)) {
            if (channel.state != ChannelState::closed && buffer.pending() != 0) {
                channel.stash = std::move(scratch_);
                scratch_ = take_buffer();
            }
            return;
        }
    }
    if (channel.peer_closed && channel.state != ChannelState::closed) close(channel, Status::peer_disconnected);
}

bool Reactor::decode(Channel& channel, ReadBuffer& buffer) {
    for (;;) {
        const wire::Decoder::Step step =
            channel.decoder.feed({buffer.data.get() + buffer.begin, buffer.pending()});
        buffer.begin += step.consumed;
        switch (step.event) {
        case wire::Decoder::Event::need_bytes: return true;
        case wire::Decoder::Event::need_message: {
            Message::Ptr target = pool_.acquire(Alloc::Always, MemoryTier::inbound);
            if (!target) {
                park(channel);
                return false;
            }
            channel.decoder.provide(std::move(target));
            break;
        }
        case wire::Decoder::Event::need_memory: park(channel); return false;
        case wire::Decoder::Event::message:
            on_message(channel, channel.decoder.take());
            if (channel.state == ChannelState::closed) return false;
            break;
        case wire::Decoder::Event::error: close(channel, channel.decoder.error()); return false;
        }
    }
}

void Reactor::on_message(Channel& channel, Message::Ptr message) {
    const OpCode op = message->opcode();
    const bool hello = op == OpCode::HelloRequest || op == OpCode::HelloResponse;
    bool valid = true;
    bool close_after = false;
    switch (channel.state) {
    case ChannelState::awaiting_hello:
        valid = op == OpCode::HelloRequest;
        channel.state = ChannelState::hello_received;
        break;
    case ChannelState::hello_sent:
        valid = op == OpCode::HelloResponse;
        channel.state = ChannelState::established;
        break;
    case ChannelState::hello_received: valid = false; break;
    default:
        valid = !hello;
        if (op == OpCode::ByeRequest) {
            channel.peer_said_bye = true;
            if (channel.state == ChannelState::established) channel.state = ChannelState::bye_received;
        }
        close_after = op == OpCode::ByeResponse;
        break;
    }
    // Anything but the handshake before the handshake is a protocol error.
    if (!valid) return close(channel, Status::not_allowed);
    message->set_channel(channel.number);
    deliver(*channel.group, std::move(message));
    if (close_after) close(channel, Status::success);
}

// ---- memory and backpressure ------------------------------------------------

void Reactor::park(Channel& channel) {
    channel.parked = true;
    parked_.push_back(channel);
    ready_.remove(channel);
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
    if (parked_.empty()) return;
    // Longest waiting first; a resumed channel re-checks its socket (and its
    // stash) at once, with no new kernel event needed.
    while (!parked_.empty() && can_resume(*parked_.front())) {
        Channel& channel = *parked_.pop_front();
        channel.parked = false;
        channel.read_ready = true;
        ready_.push_back(channel);
        mark_dirty(channel);
    }
    if (parked_.empty()) {
        for (auto& [id, group] : groups_) group->pool_empty_sent = false;
    }
}

bool Reactor::memory_would_help() noexcept {
    if ((!notify_pending_.empty() || pool_empty_owed_ != 0) && pool_.can_acquire(MemoryTier::notification)) return true;
    return !parked_.empty() && can_resume(*parked_.front());
}

std::unique_ptr<ReadBuffer> Reactor::take_buffer() {
    if (spare_buffers_.empty()) return std::make_unique<ReadBuffer>();
    std::unique_ptr<ReadBuffer> buffer = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
    return buffer;
}

void Reactor::recycle(std::unique_ptr<ReadBuffer> buffer) {
    if (buffer && spare_buffers_.size() < spare_buffer_limit) {
        buffer->begin = buffer->end = 0;
        spare_buffers_.push_back(std::move(buffer));
    }
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
    // The cause travels as a text header; the reserve keeps room for it.
    const std::string_view cause = to_string(channel.close_cause);
    char line[64];
    const std::size_t length = cause_header.size() + 1 + cause.size() + 2;
    std::memcpy(line, cause_header.data(), cause_header.size());
    line[cause_header.size()] = ':';
    std::memcpy(line + cause_header.size() + 1, cause.data(), cause.size());
    std::memcpy(line + length - 2, "\r\n", 2);
    (void)message->header_buffer().append({reinterpret_cast<const std::byte*>(line), length},
                                          Status::invalid_headers_len, MemoryTier::notification);
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
    channel->registered = desired_interest(*channel);
    if (poller_.add(channel->socket.handle(), channel->token(), channel->registered) != Status::success) {
        channel->registered = poller::Interest{};
    }
    channels_[number] = std::move(channel);
    return *channels_[number];
}

void Reactor::close(Channel& channel, Status cause, bool notify) {
    if (channel.state == ChannelState::closed) return;
    const bool was_listener = channel.kind == ChannelKind::listener;
    poller_.remove(channel.socket.handle(), channel.token());
    channel.socket.close();
    channel.state = ChannelState::closed;
    ready_.remove(channel);
    parked_.remove(channel);
    dirty_.remove(channel);
    channel.parked = false;
    channel.close_cause = cause;

    // Every message still queued goes back to the application with a status.
    const Status returned = cause == Status::success ? Status::channel_closed : cause;
    while (Message::Ptr message = channel.send_queue.pop()) {
        if (notify) hand_back(*channel.group, std::move(message), returned);
    }
    channel.decoder = wire::Decoder();
    recycle(std::move(channel.stash));

    // A descriptor came free: listeners that ran out may accept again.
    if (!was_listener && !accept_paused_.empty()) {
        for (ChannelNumber number : accept_paused_) {
            if (Channel* listener = channels_[number].get(); listener != nullptr) {
                listener->accept_paused = false;
                listener->read_ready = true;
                ready_.push_back(*listener);
                mark_dirty(*listener);
            }
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
    case ChannelState::listening: interest.read = !channel.parked && !channel.accept_paused; return interest;
    case ChannelState::connecting: interest.write = true; return interest;
    default:
        interest.read = !channel.parked && !channel.peer_closed;
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
            close(*channel, Status::communication_failed);
        }
    }
}

void Reactor::close_everything() {
    for (auto& slot : channels_) {
        if (!slot) continue;
        if (slot->state != ChannelState::closed) close(*slot, Status::shutdown_started);
    }
    // What is still owed a notification gets one if memory allows; the
    // hard limit holds even at shutdown.
    retry_notifications();
    while (Channel* channel = notify_pending_.pop_front()) finalize(*channel);
    flush_outboxes();
    graveyard_.clear();
}

} // namespace tofu::detail
