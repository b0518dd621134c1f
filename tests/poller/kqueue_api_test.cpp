// What the kqueue backend (src/poller/kqueue_poller.cpp) relies on from
// kevent() itself, checked on the kqueue at hand: the kernel on macOS and the
// BSDs, libkqueue on Linux (scripts/kqueue.sh). A platform that breaks an
// assumption fails here, by name, before the backend's suites fail for
// reasons that are harder to read.
//
// Where libkqueue is known to differ from FreeBSD and XNU, the case accepts
// either behaviour, says which one this kqueue has (a "[ kqueue ]" line and a
// test property), and fails on anything else; the backend is written so that
// both work.
//
// Loopback and socket pairs only; waits are bounded, and "nothing is
// reported" is observed over a short quiet window.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto quiet = 100ms;
constexpr auto safety = 5s;

struct kevent change(std::uintptr_t ident, int filter, unsigned flags, unsigned fflags = 0) {
    struct kevent c {};
    c.ident = ident;
    c.filter = static_cast<decltype(c.filter)>(filter);
    c.flags = static_cast<decltype(c.flags)>(flags);
    c.fflags = static_cast<decltype(c.fflags)>(fflags);
    return c;
}

timespec after(std::chrono::milliseconds wait) {
    return timespec{static_cast<time_t>(wait.count() / 1000), static_cast<long>(wait.count() % 1000) * 1000000L};
}

void note(const std::string& what, const std::string& behaviour) {
    std::cout << "[ kqueue   ] " << what << ": " << behaviour << std::endl;
    ::testing::Test::RecordProperty(what, behaviour);
}

class Descriptor {
public:
    explicit Descriptor(int fd = -1) : fd_(fd) {}
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    ~Descriptor() { reset(); }
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_;
};

class KqueueApi : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_GE(kq_.get(), 0) << "kqueue(): " << std::strerror(errno);
        int pair[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0) << std::strerror(errno);
        ours_ = std::make_unique<Descriptor>(pair[0]);
        peer_ = std::make_unique<Descriptor>(pair[1]);
    }

    // Applies `changes` and collects what one wait of `wait` reports.
    std::vector<struct kevent> submit(std::vector<struct kevent> changes, std::chrono::milliseconds wait,
                                      int room = 8) {
        std::vector<struct kevent> out(static_cast<std::size_t>(room));
        const timespec limit = after(wait);
        const int n = ::kevent(kq_.get(), changes.data(), static_cast<int>(changes.size()), out.data(), room, &limit);
        EXPECT_GE(n, 0) << "kevent: " << std::strerror(errno);
        out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
        return out;
    }

    std::vector<struct kevent> wait_events(std::chrono::milliseconds wait) { return submit({}, wait); }

    void send_byte() { ASSERT_EQ(::write(peer_->get(), "x", 1), 1); }

    std::uintptr_t ours() const { return static_cast<std::uintptr_t>(ours_->get()); }

    Descriptor kq_{::kqueue()};
    std::unique_ptr<Descriptor> ours_;
    std::unique_ptr<Descriptor> peer_;
};

// add(): both filters added enabled, then the unwanted one disabled by a
// change of its own, in the same call. Nothing is reported while disabled,
// and EV_ENABLE reports what was already there (level-checked arming).
TEST_F(KqueueApi, AddThenDisableInOneCallReportsNothingUntilEnabled) {
    send_byte();
    EXPECT_TRUE(submit({change(ours(), EVFILT_READ, EV_ADD), change(ours(), EVFILT_READ, EV_DISABLE)}, quiet).empty());
    const auto events = submit({change(ours(), EVFILT_READ, EV_ENABLE)}, safety);
    ASSERT_EQ(events.size(), 1u) << "EV_ENABLE did not report data queued while disabled";
    EXPECT_EQ(events[0].filter, EVFILT_READ);
    EXPECT_EQ(events[0].ident, ours());
}

// A paused socket must not spin: a disabled read filter reports nothing, not
// even the end of stream; once enabled, the end of stream is reported.
TEST_F(KqueueApi, DisabledReadFilterHidesEndOfStreamUntilEnabled) {
    EXPECT_TRUE(submit({change(ours(), EVFILT_READ, EV_ADD), change(ours(), EVFILT_READ, EV_DISABLE)}, 0ms).empty());
    peer_->reset();
    EXPECT_TRUE(wait_events(quiet).empty()) << "a disabled filter reported the peer's close";
    const auto events = submit({change(ours(), EVFILT_READ, EV_ENABLE)}, safety);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_NE(events[0].flags & EV_EOF, 0) << "end of stream without EV_EOF";
}

// Level-triggered (no EV_CLEAR): a condition still true is reported by every
// wait, and stops being reported once it is gone.
TEST_F(KqueueApi, WithoutClearAConditionIsReportedUntilItIsGone) {
    send_byte();
    EXPECT_EQ(submit({change(ours(), EVFILT_READ, EV_ADD)}, safety).size(), 1u);
    EXPECT_EQ(wait_events(safety).size(), 1u) << "unread data was reported only once";
    char byte = 0;
    ASSERT_EQ(::read(ours_->get(), &byte, 1), 1);
    EXPECT_TRUE(wait_events(quiet).empty()) << "reported after the data was read";
}

// The wake-up: EVFILT_USER with EV_CLEAR; triggers before a wait coalesce
// into one event, which that wait consumes.
TEST_F(KqueueApi, UserEventTriggersCoalesceAndAreConsumedByOneWait) {
    EXPECT_TRUE(submit({change(0, EVFILT_USER, EV_ADD | EV_CLEAR)}, 0ms).empty());
    for (int i = 0; i < 100; ++i) {
        const struct kevent trigger = change(0, EVFILT_USER, 0, NOTE_TRIGGER);
        ASSERT_EQ(::kevent(kq_.get(), &trigger, 1, nullptr, 0, nullptr), 0) << std::strerror(errno);
    }
    const auto events = wait_events(safety);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].filter, EVFILT_USER);
    EXPECT_TRUE(wait_events(0ms).empty()) << "the triggers left a second event behind";
}

// A refused change is reported in the event list (EV_ERROR, errno in data)
// and the changes after it are still applied, as long as the list has room
// for it. The kernels then return at once, without collecting events;
// libkqueue goes on to collect them in the same call.
TEST_F(KqueueApi, ARefusedChangeLeavesTheChangesAfterItApplied) {
    send_byte();
    const auto never_added = static_cast<std::uintptr_t>(peer_->get()); // open, but no knote
    auto events = submit({change(never_added, EVFILT_READ, EV_ENABLE), change(ours(), EVFILT_READ, EV_ADD)}, 0ms);
    ASSERT_FALSE(events.empty());
    EXPECT_NE(events[0].flags & EV_ERROR, 0);
    EXPECT_EQ(events[0].ident, never_added);
    EXPECT_EQ(events[0].data, ENOENT);
    const bool collected_too = events.size() == 2;
    note("events_after_a_refused_change",
         collected_too ? "collected in the same call (libkqueue)" : "not collected in that call (FreeBSD, XNU)");
    if (!collected_too) events = wait_events(safety);
    else events.erase(events.begin());
    ASSERT_EQ(events.size(), 1u) << "the change after the refused one was not applied";
    EXPECT_EQ(events[0].ident, ours());
    EXPECT_EQ(events[0].flags & EV_ERROR, 0);
}

// A refused change in a call with nothing to collect: the kernels return its
// error entry at once; libkqueue waits out the timeout and returns nothing,
// the entry lost. The backend never needs that entry to stay correct: only
// toggles of existing knotes ride with its waits.
TEST_F(KqueueApi, ARefusedChangeWithNothingToCollect) {
    const auto never_added = static_cast<std::uintptr_t>(peer_->get());
    const auto begin = Clock::now();
    const auto events = submit({change(never_added, EVFILT_READ, EV_ENABLE)}, 300ms);
    const auto took = Clock::now() - begin;
    if (events.size() == 1 && (events[0].flags & EV_ERROR) != 0 && took < 250ms) {
        EXPECT_EQ(events[0].data, ENOENT);
        note("refused_change_with_nothing_to_collect", "error entry returned at once (FreeBSD, XNU)");
    } else if (events.empty() && took >= 250ms) {
        note("refused_change_with_nothing_to_collect", "waited out the timeout, entry lost (libkqueue)");
    } else {
        ADD_FAILURE() << "neither the kernels' nor libkqueue's behaviour: " << events.size() << " entries after "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
    }
}

// A refused connect is reported on the write filter with EV_EOF. Whether the
// socket still holds its error afterwards differs (libkqueue reads SO_ERROR,
// which clears it, to fill in fflags); without a peer the socket is not
// connected either way, which is what Socket::connect_result() asks.
TEST_F(KqueueApi, RefusedConnectIsEndOfFileOnTheWriteFilter) {
    Descriptor listener(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), length), 0) << std::strerror(errno);
    ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
    listener.reset(); // the port is free again: nobody listens there

    Descriptor client(::socket(AF_INET, SOCK_STREAM, 0));
    int flags = ::fcntl(client.get(), F_GETFL);
    ASSERT_EQ(::fcntl(client.get(), F_SETFL, flags | O_NONBLOCK), 0);
    if (::connect(client.get(), reinterpret_cast<sockaddr*>(&address), length) == 0 || errno != EINPROGRESS) {
        GTEST_SKIP() << "this stack refused the loopback connect synchronously: " << std::strerror(errno);
    }
    const auto ident = static_cast<std::uintptr_t>(client.get());
    const auto events = submit({change(ident, EVFILT_WRITE, EV_ADD)}, safety);
    ASSERT_EQ(events.size(), 1u) << "a refused connect was not reported";
    EXPECT_EQ(events[0].filter, EVFILT_WRITE);
    EXPECT_NE(events[0].flags & EV_EOF, 0);

    int error = 0;
    socklen_t error_length = sizeof(error);
    ASSERT_EQ(::getsockopt(client.get(), SOL_SOCKET, SO_ERROR, &error, &error_length), 0);
    EXPECT_TRUE(error == ECONNREFUSED || error == 0) << std::strerror(error);
    note("so_error_after_the_event", error == 0 ? "cleared (libkqueue read it)" : "kept (FreeBSD, XNU)");
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof(peer);
    EXPECT_NE(::getpeername(client.get(), reinterpret_cast<sockaddr*>(&peer), &peer_length), 0);
}

// Avoided by the backend: EV_ADD | EV_DISABLE in one change. The kernels add
// the knote disabled; libkqueue reports it once anyway, and a later
// EV_ENABLE then fails with EEXIST and reports nothing.
TEST_F(KqueueApi, AddDisabledInOneChangeIsAvoided) {
    send_byte();
    const auto added = submit({change(ours(), EVFILT_READ, EV_ADD | EV_DISABLE)}, quiet);
    const struct kevent enable = change(ours(), EVFILT_READ, EV_ENABLE);
    const int rc = ::kevent(kq_.get(), &enable, 1, nullptr, 0, nullptr);
    const int enable_error = rc < 0 ? errno : 0;
    const auto enabled = wait_events(quiet);
    if (added.empty() && rc == 0 && enabled.size() == 1) {
        note("add_disabled_in_one_change", "added disabled, reported after EV_ENABLE (FreeBSD, XNU)");
    } else if (added.size() == 1 && enable_error == EEXIST && enabled.empty()) {
        note("add_disabled_in_one_change", "reported although disabled; EV_ENABLE fails with EEXIST (libkqueue)");
    } else {
        ADD_FAILURE() << "neither the kernels' nor libkqueue's behaviour: " << added.size()
                      << " events while disabled, EV_ENABLE " << std::strerror(enable_error) << ", " << enabled.size()
                      << " events after it";
    }
}

// Avoided by the backend: a second EV_ADD of an existing socket knote (the
// kernels update it; libkqueue refuses it with EEXIST), and the write
// filter's `data` (free space in the send buffer on the kernels, 0 on
// libkqueue).
TEST_F(KqueueApi, ReAddAndWriteSpaceAreNotReliedOn) {
    std::vector<struct kevent> receipts(2);
    const struct kevent adds[2] = {change(ours(), EVFILT_READ, EV_ADD | EV_RECEIPT),
                                   change(ours(), EVFILT_READ, EV_ADD | EV_RECEIPT)};
    const timespec no_wait{};
    ASSERT_EQ(::kevent(kq_.get(), adds, 2, receipts.data(), 2, &no_wait), 2) << std::strerror(errno);
    EXPECT_EQ(receipts[0].data, 0);
    EXPECT_TRUE(receipts[1].data == 0 || receipts[1].data == EEXIST)
        << std::strerror(static_cast<int>(receipts[1].data));
    note("second_add_of_a_socket_knote", receipts[1].data == 0 ? "updates it (FreeBSD, XNU)" : "EEXIST (libkqueue)");

    const auto events = submit({change(ours(), EVFILT_WRITE, EV_ADD)}, safety);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_GE(events[0].data, 0);
    note("write_filter_data", events[0].data > 0 ? "free space (FreeBSD, XNU)" : "0 (libkqueue)");
}

} // namespace
