#include "pollers.hpp"

#include <algorithm>

namespace tofu::sim {

std::string_view to_string(Model model) {
    switch (model) {
    case Model::level: return "level";
    case Model::edge: return "edge";
    case Model::oneshot: return "oneshot";
    case Model::kqueue: return "kqueue";
    }
    return "?";
}

ModelPoller::ModelPoller(Kernel& kernel, int process, Model model, Bug bug, Chaos chaos, Chooser choose)
    : kernel_(kernel), process_(process), model_(model), bug_(bug), chaos_(chaos), choose_(std::move(choose)) {}

ModelPoller::~ModelPoller() = default;

ModelPoller::Condition ModelPoller::condition(int fd) const {
    const Socket* s = kernel_.socket(process_, fd);
    if (s == nullptr) return {};
    Condition c;
    c.failed = s->kind == Socket::Kind::stream && s->failed();
    c.readable = s->readable();
    // A connect completing (or failing) is reported as writable.
    c.writable = (s->kind == Socket::Kind::stream && kernel_.writable(*s)) || c.failed;
    return c;
}

// The check an (re)arm makes: EPOLL_CTL_ADD/MOD re-poll the file, an
// AFD_POLL looks at the socket when issued, EV_ENABLE re-evaluates.
void ModelPoller::arm(int fd, Registration& reg) {
    const Condition c = condition(fd);
    reg.was_readable = c.readable;
    reg.was_writable = c.writable;
    reg.was_failed = c.failed;
    switch (model_) {
    case Model::edge:
        if (bug_ == Bug::no_arm_check) return;
        reg.edge_read = reg.interest.read && c.readable;
        reg.edge_write = reg.interest.write && c.writable;
        reg.edge_failed = reg.interest.any() && c.failed;
        return;
    case Model::oneshot:
        reg.armed = reg.interest.any();
        reg.completed = false;
        observe(fd, reg);
        return;
    default: return;
    }
}

// A change on a socket, as the model sees it: an edge model records the
// transitions to true, a one-shot arm completes when its condition holds.
void ModelPoller::observe(int fd, Registration& reg) {
    const Condition c = condition(fd);
    if (model_ == Model::edge) {
        if (reg.interest.read && c.readable && !reg.was_readable) reg.edge_read = true;
        if (reg.interest.write && c.writable && !reg.was_writable) reg.edge_write = true;
        if (reg.interest.any() && c.failed && !reg.was_failed) reg.edge_failed = true;
        if (reg.edge_read || reg.edge_write || reg.edge_failed) ++counters_.edges;
    } else if (model_ == Model::oneshot && reg.armed) {
        // A failure seen once is left out of later masks (it would complete
        // every arm at once) and reported from memory instead.
        const bool failure_in_mask = !reg.failure_seen || bug_ == Bug::terminal_rearmed;
        const bool fired = (reg.interest.read && c.readable && !(c.failed && !failure_in_mask)) ||
                           (reg.interest.write && c.writable && !(c.failed && !failure_in_mask)) ||
                           (c.failed && failure_in_mask);
        if (fired) {
            reg.armed = false;
            reg.completed = true;
            ++counters_.completions;
            if (c.failed && bug_ != Bug::terminal_rearmed) reg.failure_seen = true;
        }
    }
    reg.was_readable = c.readable;
    reg.was_writable = c.writable;
    reg.was_failed = c.failed;
}

void ModelPoller::changed(int fd) {
    const auto it = registrations_.find(fd);
    if (it != registrations_.end()) observe(fd, it->second);
}

Status ModelPoller::add(net::NativeHandle handle, std::uint64_t token, poller::Interest interest) {
    kernel_.interleave();
    if (registrations_.count(handle) != 0) return Status::not_allowed;
    Registration& reg = registrations_[handle];
    reg.token = token;
    reg.interest = interest;
    live_tokens_[token] = handle;
    arm(handle, reg);
    return Status::success;
}

Status ModelPoller::modify(net::NativeHandle handle, std::uint64_t token, poller::Interest interest) {
    kernel_.interleave();
    const auto it = registrations_.find(handle);
    if (it == registrations_.end()) return Status::not_allowed;
    Registration& reg = it->second;
    reg.token = token;
    reg.interest = interest;
    if (model_ == Model::edge || (model_ == Model::oneshot && !reg.armed)) arm(handle, reg);
    return Status::success;
}

void ModelPoller::remove(net::NativeHandle handle, std::uint64_t token) {
    kernel_.interleave();
    const auto it = registrations_.find(handle);
    if (it == registrations_.end()) return;
    if (bug_ == Bug::removed_token_reported) {
        const Condition c = condition(handle);
        if (c.readable || c.writable || c.failed) {
            removed_leftovers_.push_back(poller::Event{token, c.readable, c.writable, c.failed});
        }
    }
    registrations_.erase(it);
    live_tokens_.erase(token);
}

bool ModelPoller::ready() {
    if (wake_pending_ || spurious_wake_) return true;
    if (!held_.empty() || !removed_leftovers_.empty()) return true;
    for (auto& [fd, reg] : registrations_) {
        const Condition c = condition(fd);
        switch (model_) {
        case Model::level:
        case Model::kqueue:
            if ((reg.interest.read && c.readable) || (reg.interest.write && c.writable) ||
                (reg.interest.any() && c.failed) || (bug_ == Bug::events_without_interest && c.failed)) {
                return true;
            }
            break;
        case Model::edge:
            if (reg.edge_read || reg.edge_write || reg.edge_failed) return true;
            break;
        case Model::oneshot:
            // A terminal condition left in every mask completes every arm at
            // once, whatever the interest (the spin of mio#1304).
            if (bug_ == Bug::terminal_rearmed && c.failed) return true;
            if (reg.completed || (reg.failure_seen && reg.interest.any())) return true;
            // An idle registration is re-armed by the next wait: that arm may fire.
            if (!reg.armed && reg.interest.any() && (c.readable || c.writable || c.failed)) return true;
            break;
        }
    }
    return false;
}

void ModelPoller::collect(std::vector<poller::Event>& out) {
    for (auto& [fd, reg] : registrations_) {
        if (model_ == Model::oneshot && !reg.armed && !reg.completed && reg.interest.any()) {
            reg.armed = true; // re-armed at the start of this wait
            observe(fd, reg);
        }
        const Condition c = condition(fd);
        poller::Event event{reg.token, false, false, false};
        switch (model_) {
        case Model::level:
        case Model::kqueue: {
            const bool any_interest = reg.interest.any() || bug_ == Bug::events_without_interest;
            event.readable = (reg.interest.read || bug_ == Bug::events_without_interest) && (c.readable || c.failed);
            event.writable = reg.interest.write && (c.writable || c.failed);
            event.failed = c.failed && any_interest;
            break;
        }
        case Model::edge:
            event.readable = reg.edge_read || (reg.edge_failed && reg.interest.read);
            event.writable = reg.edge_write || (reg.edge_failed && reg.interest.write);
            event.failed = reg.edge_failed;
            reg.edge_read = reg.edge_write = reg.edge_failed = false;
            break;
        case Model::oneshot: {
            const bool remembered = reg.failure_seen && bug_ != Bug::terminal_rearmed;
            if (!reg.completed && !remembered) break;
            reg.completed = false;
            if (remembered) ++counters_.remembered_failures;
            // A completion is filtered against the interest of now.
            event.readable = reg.interest.read && (c.readable || c.failed);
            event.writable = reg.interest.write && (c.writable || c.failed);
            event.failed = c.failed && (event.readable || event.writable);
            break;
        }
        }
        if (!event.readable && !event.writable) continue;
        if (model_ == Model::kqueue && event.readable && event.writable) {
            // Two filters, two events.
            out.push_back(poller::Event{reg.token, true, false, event.failed});
            out.push_back(poller::Event{reg.token, false, true, event.failed});
            continue;
        }
        out.push_back(event);
    }
}

void ModelPoller::check(const poller::Event& event) {
    const auto live = live_tokens_.find(event.token);
    if (live == live_tokens_.end()) {
        violations_.push_back("token " + std::to_string(event.token) + " reported after remove()");
        return;
    }
    const Registration& reg = registrations_.at(live->second);
    if ((event.readable && !reg.interest.read) || (event.writable && !reg.interest.write)) {
        violations_.push_back("token " + std::to_string(event.token) + " reported without that interest");
    }
}

// A socket reported wait after wait while the reactor never touches it is
// a spin in the making (level-triggered: a paused socket whose interest was
// left on). A spurious or stale report costs the reactor one I/O call, so
// a correct reactor resets this at once.
void ModelPoller::check_acted_on(const poller::Event& event) {
    const auto live = live_tokens_.find(event.token);
    if (live == live_tokens_.end()) return;
    Registration& reg = registrations_.at(live->second);
    const std::uint64_t io = kernel_.io_calls(process_, live->second);
    if (io != reg.io_at_report) {
        reg.io_at_report = io;
        reg.reports_unacted = 0;
    } else if (++reg.reports_unacted == 64) {
        violations_.push_back("token " + std::to_string(event.token) +
                              " reported 64 times with no I/O on its socket in between: interest nobody acts on");
    }
}

// Chaos strikes on the top `percent` values: a choice of 0 (what a tape that
// ran out answers) means none, so a shrunk run is never starved by a
// poller that, say, adds a spurious event to every wait.
bool ModelPoller::chaos_roll(unsigned percent) { return choose_(100) >= 100 - percent; }

Result<std::size_t> ModelPoller::wait(std::span<poller::Event> events, std::chrono::milliseconds) {
    kernel_.interleave();
    ++counters_.waits;
    wake_pending_ = false;
    spurious_wake_ = false;
    std::vector<poller::Event> batch;
    // Held back by the chaos layer, or left by a wrong model: first.
    for (const poller::Event& event : removed_leftovers_) batch.push_back(event);
    removed_leftovers_.clear();
    for (const poller::Event& event : held_) {
        // Still a registration with that interest, else it is dropped: the
        // contract allows late events, not events without interest.
        const auto live = live_tokens_.find(event.token);
        if (live == live_tokens_.end()) continue;
        const Registration& reg = registrations_.at(live->second);
        poller::Event late = event;
        late.readable = late.readable && reg.interest.read;
        late.writable = late.writable && reg.interest.write;
        if (late.readable || late.writable) batch.push_back(late);
    }
    held_.clear();
    // What was held back once is reported now: a delay is allowed, never
    // for good (a tape of zeros would otherwise starve the reactor).
    const std::size_t late = batch.size();
    collect(batch);
    if (chaos_.enabled) {
        if (!registrations_.empty() && chaos_roll(chaos_.spurious_event_percent)) {
            auto it = registrations_.begin();
            std::advance(it, static_cast<long>(choose_(registrations_.size())));
            if (it->second.interest.any()) {
                batch.push_back(
                    poller::Event{it->second.token, it->second.interest.read, it->second.interest.write, false});
                ++counters_.spurious_events;
            }
        }
        if (batch.size() > 1 && chaos_roll(chaos_.reorder_percent)) {
            for (std::size_t i = batch.size() - 1; i > 0; --i) std::swap(batch[i], batch[choose_(i + 1)]);
            ++counters_.reordered;
        }
        if (batch.size() > 1 && chaos_roll(chaos_.truncate_percent)) {
            const std::size_t keep = std::max<std::size_t>(1 + choose_(batch.size() - 1), late);
            if (keep < batch.size()) {
                held_.assign(batch.begin() + static_cast<long>(keep), batch.end());
                batch.resize(keep);
                ++counters_.truncated;
            }
        }
        if (!batch.empty() && chaos_roll(chaos_.delay_percent) && batch.size() > late) {
            held_.push_back(batch.back());
            batch.pop_back();
            ++counters_.delayed;
        }
    }
    std::size_t count = 0;
    for (const poller::Event& event : batch) {
        if (count == events.size()) {
            held_.push_back(event); // no room: reported by the next wait
            continue;
        }
        check(event);
        check_acted_on(event);
        events[count++] = event;
    }
    counters_.events += count;
    return count;
}

} // namespace tofu::sim
