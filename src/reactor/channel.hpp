#pragma once
// A channel as the I/O thread sees it: socket, protocol state, send queue,
// decoder, and its places in the reactor's lists. Only the I/O thread
// touches it.
#include <tofu/message.hpp>

#include "engine/engine_core.hpp"
#include "engine/message_list.hpp"
#include "message/codec.hpp"
#include "net/socket.hpp"
#include "poller/poller.hpp"
#include "reactor/protocol.hpp"
#include "reactor/timers.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tofu::detail {

struct Channel;

// Bytes read from a socket and not decoded yet.
struct ReadBuffer {
    static constexpr std::size_t capacity = std::size_t{64} << 10; // one read of at most 64 KiB
    std::unique_ptr<std::byte[]> data{new std::byte[capacity]};
    std::size_t begin = 0;
    std::size_t end = 0;
    std::size_t pending() const noexcept { return end - begin; }
};

// Intrusive doubly-linked FIFO of channels; a channel is in each list at
// most once and unlinks in O(1) when it closes.
struct ChannelLink {
    Channel* prev = nullptr;
    Channel* next = nullptr;
    bool linked = false;
};

template <ChannelLink Channel::*Link>
class ChannelList {
public:
    bool empty() const noexcept { return head_ == nullptr; }
    std::size_t size() const noexcept { return size_; }
    Channel* front() const noexcept { return head_; }
    bool contains(const Channel& channel) const noexcept { return (channel.*Link).linked; }

    void push_back(Channel& channel) noexcept {
        ChannelLink& link = channel.*Link;
        if (link.linked) return;
        link.linked = true;
        link.prev = tail_;
        link.next = nullptr;
        if (tail_ != nullptr) (tail_->*Link).next = &channel;
        else head_ = &channel;
        tail_ = &channel;
        ++size_;
    }

    void remove(Channel& channel) noexcept {
        ChannelLink& link = channel.*Link;
        if (!link.linked) return;
        if (link.prev != nullptr) (link.prev->*Link).next = link.next;
        else head_ = link.next;
        if (link.next != nullptr) (link.next->*Link).prev = link.prev;
        else tail_ = link.prev;
        link = ChannelLink{};
        --size_;
    }

    Channel* pop_front() noexcept {
        Channel* channel = head_;
        if (channel != nullptr) remove(*channel);
        return channel;
    }

private:
    Channel* head_ = nullptr;
    Channel* tail_ = nullptr;
    std::size_t size_ = 0;
};

enum class ChannelKind { listener, stream };

using ChannelState = protocol::State;

// What a channel that may not read is waiting for.
enum class Wait {
    none,
    pool,  // pool memory for its next frame (the parked FIFO, longest first)
    share, // its own received messages to come back (Options::channel_share_*)
};

struct Channel {
    ChannelNumber number = 0;
    std::uint32_t generation = 0;
    ChannelKind kind = ChannelKind::stream;
    ChannelState state = ChannelState::closed;
    GroupState* group = nullptr;
    net::Socket socket;

    // Send side: the head message may be partly written.
    MessageList send_queue;
    std::size_t head_written = 0;

    // Receive side.
    wire::Decoder decoder;
    bool peer_closed = false;   // end of stream seen; decode what is left, then close
    bool peer_said_bye = false; // its ByeRequest arrived: a ByeResponse is owed

    // Readiness the reactor knows about but has not used up yet.
    bool read_ready = false;
    bool write_ready = false;
    Wait waiting = Wait::none;
    bool accept_paused = false;    // listener: out of descriptors
    bool admission_paused = false; // listener: at its cap, every pending one still within its grace

    poller::Interest registered;
    Cause close_cause;

    // Deadlines; the frame deadline belongs to the frame the decoder had
    // completed this many frames before (a new frame gets a new deadline).
    Timers::Slot timers;
    std::uint64_t timed_frame = 0;

    // Admission: a pending connection remembers its listener; a listener
    // counts its pending connections; bytes of the handshake budget held.
    std::uint64_t listener_token = 0;
    Clock::time_point accepted_at;
    std::size_t pending_count = 0;
    std::size_t handshake_bytes = 0;
    // Accepted TCP channels: the peer in tofu's form, for the HelloRequest.
    std::string peer_address;

    // Share: Pool::share_unit() of each message delivered, added to the
    // pool's count of returns for this number when the channel opened.
    std::uint64_t share_charged = 0;
    // Paused at its share, it waits for room for a batch, not one frame,
    // until Timeout::share_grace (Reactor::share_headroom).
    bool share_batch_wanted = false;

    ChannelLink ready_link;   // known ready, served round-robin
    ChannelLink parked_link;  // waiting: in the parked FIFO or the over-share list
    ChannelLink dirty_link;   // interest may have changed
    ChannelLink notify_link;  // closed, its channel_closed still owed
    ChannelLink pending_link; // accepted, hello not delivered: oldest first

    // Its poller token: the number in the low 16 bits and the generation
    // above, so that an event for an earlier channel of the same number is
    // recognised as stale (Reactor::channel_of).
    std::uint64_t token() const noexcept { return (std::uint64_t{generation} << 16) | number; }
    static ChannelNumber number_of(std::uint64_t token) noexcept { return static_cast<ChannelNumber>(token); }
    bool parked() const noexcept { return waiting != Wait::none; }
    // A listener that may accept now (memory, descriptors and admission allow).
    bool may_accept() const noexcept { return !parked() && !accept_paused && !admission_paused; }
    bool handshake_done() const noexcept { return protocol::handshake_done(state); }
};

} // namespace tofu::detail
