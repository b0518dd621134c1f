// The reactor's limits against stalled and hostile peers (docs/design.md
// §8): deadlines, admission of connections that have not said hello, and
// each channel's share of the pool. Members of Reactor, kept apart from the
// loop and the I/O in reactor.cpp.
#include "reactor/reactor.hpp"

#include <algorithm>

namespace tofu::detail {

namespace {
// How long a listener out of descriptors waits before it tries again when
// none of the engine's own channels closes meanwhile.
constexpr std::chrono::milliseconds accept_retry_after{100};
} // namespace

void Reactor::expire_deadlines() {
    while (const std::optional<Timers::Expiry> expiry = timers_.expire(now_)) {
        Channel* channel = channel_of(expiry->token);
        if (channel == nullptr) continue; // a closed channel leaves the heap; kept as a guard
        switch (expiry->kind) {
        case Timeout::connect: fail_connect(*channel, connect_timed_out); break;
        case Timeout::handshake: close(*channel, handshake_timed_out); break;
        case Timeout::frame: close(*channel, frame_timed_out); break;
        case Timeout::admission: resume_admission(*channel); break;
        case Timeout::accept_retry: resume_accepting(*channel); break;
        case Timeout::share_grace: channel->share_batch_wanted = false; break; // resume_parked() follows
        }
    }
}

void Reactor::set_deadline(Channel& channel, Timeout kind, std::chrono::milliseconds after) {
    if (after.count() == 0) return; // this timeout is off
    timers_.set(channel.timers, kind, now_ + after);
}

// A frame under way must complete within frame_timeout of the read that
// began it; a new frame gets a new deadline. A parked channel has none: the
// engine stopped reading, not the peer sending.
void Reactor::track_frame_deadline(Channel& channel) {
    if (channel.state == ChannelState::closed) return;
    if (!channel.decoder.mid_frame() || channel.parked()) {
        timers_.clear(channel.timers, Timeout::frame);
        return;
    }
    if (channel.timers.armed(Timeout::frame) && channel.timed_frame == channel.decoder.frames()) return;
    channel.timed_frame = channel.decoder.frames();
    set_deadline(channel, Timeout::frame, options_.frame_timeout);
}

// ---- admission and shares ---------------------------------------------------

// At its cap, a listener takes a new connection only in place of its oldest
// pending one (`make_room`), and only once that one has had pending_grace to
// say hello; until then it pauses (newcomers wait in the kernel's backlog).
bool Reactor::admits(Channel& listener, Channel*& make_room) {
    make_room = admission_.over_cap(listener);
    if (make_room == nullptr) return true;
    const Clock::time_point evictable = make_room->accepted_at + options_.pending_grace;
    if (evictable <= now_) return true;
    listener.admission_paused = true;
    timers_.set(listener.timers, Timeout::admission, evictable);
    mark_dirty(listener);
    return false;
}

void Reactor::resume_admission(Channel& listener) { resume(listener, &Channel::admission_paused, Timeout::admission); }

// accept() failed for the listener, not for one connection: out of
// descriptors or kernel memory, most likely. Rather than spin on a backlog
// it cannot take, the listener waits until one of the engine's channels
// closes, or for accept_retry_after when the descriptors are held elsewhere
// in the process.
void Reactor::pause_accepting(Channel& listener, int os_error) {
    if (core_.log().enabled(LogLevel::warning)) {
        const Log::OsWords said(os_error);
        core_.log()(LogLevel::warning, "channel %u: listener stops accepting for 100 ms: %s", unsigned{listener.number},
                    said.text);
    }
    listener.accept_paused = true;
    listener.read_ready = false;
    core_.stats().accept_paused();
    accept_paused_.push_back(listener.number);
    timers_.set(listener.timers, Timeout::accept_retry, now_ + accept_retry_after);
    mark_dirty(listener);
}

void Reactor::resume_accepting(Channel& listener) { resume(listener, &Channel::accept_paused, Timeout::accept_retry); }

// Either pause ends early (a place came free) or when its timer fires; the
// backlog may hold connections the poller will not report again.
void Reactor::resume(Channel& listener, bool Channel::*paused, Timeout timer) {
    if (!(listener.*paused)) return;
    listener.*paused = false;
    timers_.clear(listener.timers, timer);
    serve_without_report(listener);
}

void Reactor::leave_pending(Channel& channel) {
    Channel* listener = channel_of(channel.listener_token);
    admission_.leave(channel, listener);
    core_.stats().set_pending(admission_.size());
    if (listener != nullptr) resume_admission(*listener); // a place came free
}

bool Reactor::make_handshake_room(std::size_t bytes) {
    while (!admission_.fits(bytes)) {
        Channel* oldest = admission_.oldest_holding();
        if (oldest == nullptr) return false;
        close(*oldest, evicted);
    }
    return true;
}

// Whether the channel must pause before one more message of `bytes`: it is
// past its share (received messages not returned yet; returns come from
// any thread) and taking more would leave less than one share of the pool
// for the other channels. A share bites only under contention: a channel
// alone on an idle pool may use it all but one share. `room` asks for that
// much more on both counts.
bool Reactor::over_share(const Channel& channel, std::size_t bytes, Headroom room) noexcept {
    const Pool::Held held = Pool::held(channel.share_charged, pool_.share_returns(channel.number));
    const bool past_share = held.messages + 1 + room.messages > options_.channel_share_messages ||
                            held.bytes + bytes + room.bytes > options_.channel_share_bytes;
    if (!past_share) return false;
    return pool_.free_messages(MemoryTier::inbound) < options_.channel_share_messages + 1 + room.messages ||
           pool_.free_bytes(MemoryTier::inbound) < options_.channel_share_bytes + bytes + room.bytes;
}

// A channel paused at its share resumes with room for half a share more,
// so that it reads a batch, not one frame per message returned (each a
// wake-up, a resume and a pause again); after Options::share_resume_grace,
// with room for the next frame: an application that keeps what it holds
// must not keep the channel paused.
Reactor::Headroom Reactor::share_headroom(const Channel& channel) const noexcept {
    if (!channel.share_batch_wanted) return {};
    return {options_.channel_share_messages / 2, options_.channel_share_bytes / 2};
}

bool Reactor::over_share_to_resume(const Channel& channel) noexcept {
    return over_share(channel, frame_bytes(channel.decoder.frame()), share_headroom(channel));
}

void Reactor::pause_at_share(Channel& channel) {
    channel.share_batch_wanted = options_.share_resume_grace.count() != 0;
    set_deadline(channel, Timeout::share_grace, options_.share_resume_grace);
    park(channel, Wait::share);
}

// A lower bound on the messages that must come back before the channel
// resumes: each return lowers its holding, or raises what is free, by one
// message at most (the byte counts may follow from any one return).
std::uint64_t Reactor::returns_before_resume(const Channel& channel) noexcept {
    const Headroom room = share_headroom(channel);
    const std::size_t share = options_.channel_share_messages;
    const Pool::Held held = Pool::held(channel.share_charged, pool_.share_returns(channel.number));
    const std::size_t wanted_own = held.messages + 1 + room.messages;
    const std::size_t own = wanted_own > share ? wanted_own - share : 1;
    const std::size_t free = pool_.free_messages(MemoryTier::inbound);
    const std::size_t wanted_free = share + 1 + room.messages;
    const std::size_t others = free < wanted_free ? wanted_free - free : 1;
    return std::max<std::size_t>(1, std::min(own, others));
}

} // namespace tofu::detail
