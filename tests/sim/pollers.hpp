#pragma once
// Simulated pollers: the poller::Poller interface over the simulated kernel,
// one model per readiness family the real backends belong to, a chaos layer
// that adds what the contract allows, a contract checker, and deliberately
// wrong models (each fails the contract case named after its bug:
// model_test.cpp).
//
//   level    poll, epoll LT: every wait reports every socket whose condition
//            holds and whose interest is on.
//   edge     epoll ET: an event only when a condition goes from false to
//            true, plus the check an (re)arm makes (EPOLL_CTL_ADD/MOD re-poll
//            the file). Proves the reactor never relies on a re-report.
//   oneshot  AFD_POLL (and io_uring POLL_ADD): each arm checks the state and
//            completes once; the backend re-arms at the start of the next
//            wait while interest stays on; a failure (RST) is remembered and
//            reported from memory rather than re-armed (a re-armed terminal
//            condition would complete at once, forever).
//   kqueue   two filters per socket, switched by interest (EV_ENABLE
//            re-evaluates), reported as separate events.
#include "kernel.hpp"

#include "poller/poller.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tofu::sim {

enum class Model { level, edge, oneshot, kqueue };
inline constexpr Model all_models[] = {Model::level, Model::edge, Model::oneshot, Model::kqueue};
std::string_view to_string(Model model);

// The deliberately wrong models.
enum class Bug {
    none,
    events_without_interest, // reports a socket whose interest is off (a paused one spins)
    no_arm_check,            // edge: (re)arming does not look at the current state
    removed_token_reported,  // an event collected before remove() is still reported after it
    terminal_rearmed,        // oneshot: a failure is re-armed, completing at once forever
    wake_lost,               // a wake() that comes while not waiting is forgotten
};

// A random source the chaos layer draws from (the world's, recorded).
using Chooser = std::function<std::uint64_t(std::uint64_t bound)>;

struct Chaos {
    bool enabled = false;
    unsigned spurious_event_percent = 5;
    unsigned truncate_percent = 10;
    unsigned reorder_percent = 20;
    unsigned delay_percent = 5; // hold an event back for a wait or two
};

class ModelPoller : public poller::Poller {
public:
    ModelPoller(Kernel& kernel, int process, Model model, Bug bug, Chaos chaos, Chooser choose);
    ~ModelPoller() override;

    Backend backend() const noexcept override { return Backend::automatic; }
    Status add(net::NativeHandle handle, std::uint64_t token, poller::Interest interest) override;
    Status modify(net::NativeHandle handle, std::uint64_t token, poller::Interest interest) override;
    void remove(net::NativeHandle handle, std::uint64_t token) override;
    Result<std::size_t> wait(std::span<poller::Event> events, std::chrono::milliseconds timeout) override;
    void wake() noexcept override {
        if (bug_ == Bug::wake_lost && !sleeping_) return;
        wake_pending_ = true;
    }
    // The world parked the reactor in its wait (the wrong model wake_lost
    // forgets wake-ups that come at any other time).
    void set_sleeping(bool sleeping) noexcept { sleeping_ = sleeping; }
    // Chaos: the wait returns with nothing to report.
    void spurious_wakeup() noexcept {
        spurious_wake_ = true;
        ++counters_.spurious_wakes;
    }

    // Would a wait() return now (events, or a wake-up pending)? The world
    // steps a sleeping reactor only then, or when its timeout passes.
    bool ready();
    // The kernel says a socket's readiness may have changed.
    void changed(int fd);

    // Contract violations seen in this poller's output (empty: none).
    const std::vector<std::string>& violations() const noexcept { return violations_; }
    struct Counters {
        std::uint64_t waits = 0, events = 0, spurious_events = 0, spurious_wakes = 0, truncated = 0, reordered = 0,
                      delayed = 0, edges = 0, completions = 0, remembered_failures = 0;
    };
    const Counters& counters() const noexcept { return counters_; }

private:
    struct Registration {
        std::uint64_t token = 0;
        poller::Interest interest;
        // edge: the conditions as last seen, and edges not reported yet
        bool was_readable = false, was_writable = false, was_failed = false;
        bool edge_read = false, edge_write = false, edge_failed = false;
        // oneshot
        bool armed = false;
        bool completed = false;
        bool failure_seen = false;
        // reports in a row with no I/O on the socket in between
        std::uint64_t io_at_report = ~std::uint64_t{0};
        unsigned reports_unacted = 0;
    };
    struct Condition {
        bool readable = false;
        bool writable = false;
        bool failed = false;
    };

    Condition condition(int fd) const;
    void arm(int fd, Registration& reg);
    void observe(int fd, Registration& reg);
    void collect(std::vector<poller::Event>& out);
    void check(const poller::Event& event);
    void check_acted_on(const poller::Event& event);
    bool chaos_roll(unsigned percent);

    Kernel& kernel_;
    int process_;
    Model model_;
    Bug bug_;
    Chaos chaos_;
    Chooser choose_;
    std::map<int, Registration> registrations_;    // by descriptor: ordered, so reports are deterministic
    std::map<std::uint64_t, int> live_tokens_;     // token -> descriptor
    std::vector<poller::Event> held_;              // chaos: truncated or delayed, reported later
    std::vector<poller::Event> removed_leftovers_; // Bug::removed_token_reported
    bool wake_pending_ = false;
    bool spurious_wake_ = false;
    bool sleeping_ = false;
    std::vector<std::string> violations_;
    Counters counters_;
};

} // namespace tofu::sim
