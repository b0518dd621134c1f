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

#include <cstddef>
#include <cstdint>
#include <memory>

namespace tofu::detail {

struct Channel;

// Bytes read from a socket but not decoded yet because the pool ran out.
struct ReadBuffer {
    static constexpr std::size_t capacity = 64 * 1024;
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

// Protocol states of a stream channel (SPEC §3). The handshake states admit
// only HelloRequest/HelloResponse on the wire.
enum class ChannelState {
    connecting,     // client: connect in flight, HelloRequest queued
    hello_sent,     // client: waiting for the peer's HelloResponse
    awaiting_hello, // server: accepted, waiting for the peer's HelloRequest
    hello_received, // server: the application decides (HelloResponse / ByeSignal)
    established,
    bye_sent,       // our ByeRequest is queued or sent; waiting for ByeResponse
    bye_received,   // the peer's ByeRequest arrived; we answer with ByeResponse
    closing,        // our ByeResponse is queued: close once it is written
    listening,
    closed,
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
    std::unique_ptr<ReadBuffer> stash;
    bool peer_closed = false; // end of stream seen; decode what is left, then close
    bool peer_said_bye = false; // its ByeRequest arrived: a ByeResponse is owed

    // Readiness the reactor knows about but has not used up yet.
    bool read_ready = false;
    bool write_ready = false;
    bool parked = false;        // waiting for pool memory
    bool accept_paused = false; // listener: out of descriptors

    poller::Interest registered;
    Status close_cause = Status::success;

    ChannelLink ready_link;   // known ready, served round-robin
    ChannelLink parked_link;  // waiting for memory, longest first
    ChannelLink dirty_link;   // interest may have changed
    ChannelLink notify_link;  // closed, its channel_closed still owed

    std::uint64_t token() const noexcept { return (std::uint64_t{generation} << 16) | number; }
    bool handshake_done() const noexcept {
        return state == ChannelState::established || state == ChannelState::bye_sent ||
               state == ChannelState::bye_received || state == ChannelState::closing;
    }
};

} // namespace tofu::detail
