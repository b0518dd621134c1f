#include "world.hpp"

#include "engine/engine_core.hpp"
#include "reactor/reactor.hpp"

#include <tofu/tofu.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>

namespace tofu::sim {
namespace {

using namespace std::chrono_literals;

// An invariant broke: the run stops there and says where.
struct Violation : std::runtime_error {
    using std::runtime_error::runtime_error;
};

constexpr std::string_view uid_header = "u";

std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    return x ^ (x >> 33);
}

// A payload that names itself: the body's bytes follow from the uid.
void fill_body(Message& message, std::uint64_t uid, std::size_t size) {
    message.clear_body();
    if (message.resize_body(size) != Status::success) return;
    std::span<std::byte> body = message.body();
    for (std::size_t i = 0; i < size; ++i) body[i] = static_cast<std::byte>(mix(uid + i / 8) >> (8 * (i % 8)));
}

bool body_is(const Message& message, std::uint64_t uid, std::size_t size) {
    const std::span<const std::byte> body = message.body();
    if (body.size() != size) return false;
    for (std::size_t i = 0; i < size; ++i) {
        if (body[i] != static_cast<std::byte>(mix(uid + i / 8) >> (8 * (i % 8)))) return false;
    }
    return true;
}

std::optional<std::uint64_t> uid_of(const Message& message) {
    const std::optional<std::string_view> text = message.find_header(uid_header);
    if (!text) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : *text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}

bool is_closed_notice(const Message& m) {
    return m.from_engine() && m.status() == Status::channel_closed && m.opcode() == OpCode::ByeSignal &&
           m.find_header(cause_header).has_value();
}

// ---- the world ------------------------------------------------------------------------

class World {
public:
    World(Choices& choices, const Config& config) : choices_(choices), config_(config) {}
    Outcome run();

private:
    enum class ReactorState { turn, asleep, stopped };

    // A channel as an application knows it, and what it posted on it.
    struct ChannelRecord {
        bool known = false; // the application has its number (posted its hello, got one, or listens)
        bool listener = false;
        bool hostile = false;     // its peer is a hostile raw socket, not an application
        bool established = false; // hello exchange done, as the application saw it
        bool bye_sent = false;
        bool closed = false;
        bool failed = false; // closed by anything but a graceful Bye
        std::vector<std::uint64_t> posted;
        // Where the last payload the peer's application got stands in
        // `posted` (+1; 0: none yet): deliveries only ever move forward. A
        // gap is a post the engine handed back (a Request after our
        // ByeRequest, before the ByeResponse it still allows).
        std::size_t delivered_up_to = 0;
        // The other end, once the hello told: a loss on either end (a reset
        // after our graceful close still loses what was on its way) allows
        // posts to stay unresolved.
        int peer_group = -1;
        ChannelNumber peer_channel = 0;
    };
    struct Post {
        int group = -1;            // sender's group actor
        ChannelNumber channel = 0; // sender's channel number
        std::size_t index = 0;     // position in the channel's `posted`
        std::size_t size = 0;
        OpCode op = OpCode::Request;
        bool written = false;       // its frame went into a socket whole
        bool lost_in_reset = false; // written on a connection a reset then tore down, not resolved by then
        // skipped: a later post of its channel arrived first, so it must come
        // back (handed_back) and never arrive.
        enum class State { posted, skipped, delivered, handed_back } state = State::posted;
    };
    struct GroupActor {
        int engine = -1;
        std::optional<ChannelGroup> group;
        std::map<ChannelNumber, ChannelRecord> channels;
        std::vector<Message::Ptr> held;
        bool wakeup_queued = false;
        bool destroyed = false; // what its queue held, or was on its way to it, may be gone
    };
    struct EngineActor {
        std::shared_ptr<detail::EngineCore> core;
        std::optional<Engine> engine;
        ModelPoller* poller = nullptr;
        int process = -1;
        Options options;
        ReactorState state = ReactorState::turn;
        Time deadline{};
        std::optional<Address> listening;
        std::vector<int> groups;
        std::uint64_t last_progress = 0;
        std::size_t turns_without_progress = 0;
    };
    struct Hostile {
        int fd = -1;
        bool open = false;
        std::size_t sent = 0;
    };

    // decisions
    std::uint64_t pick(std::uint64_t bound) { return choices_.below(bound); }
    bool chance(unsigned percent) { return choices_.percent(percent); }
    void note(const std::string& what);
    void cover(const std::string& item) {
        const std::vector<std::string>& items = coverage_items();
        if (std::find(items.begin(), items.end(), item) == items.end())
            fail("coverage item \"" + item + "\" is not listed");
        outcome_.coverage.insert(item);
    }
    [[noreturn]] void fail(const std::string& what) { throw Violation(what); }

    // world
    void build();
    int start_engine();
    void stop_engine(int e);
    void enter(int e) { set_current(&kernel_, engines_[static_cast<std::size_t>(e)].process); }
    bool step(bool healing);
    bool runnable(EngineActor& e);
    void step_reactor(int e);
    void wait_once(EngineActor& e);
    void advance_time(bool healing);
    void check_after_step();
    void finish();
    std::string describe_unrest();

    // applications
    void app_action(int g, bool healing, bool inside_step);
    void receive(int g);
    void handle(int g, Message::Ptr message);
    bool post_payload(int g, ChannelNumber channel, OpCode op, Message::Ptr message, bool bulk = false);
    Message::Ptr payload(int g, OpCode op, ChannelNumber channel);
    void connect(int g);
    void create_group(int e);
    void destroy_group(int g);
    void interleave();

    // hostile peers
    void hostile_action();

    Choices& choices_;
    const Config& config_;
    Outcome outcome_;
    Kernel kernel_;
    detail::Clock clock_ = detail::Clock::driven();
    detail::Clock::time_point epoch_ = clock_.now();
    std::vector<EngineActor> engines_;
    std::vector<GroupActor> groups_;
    std::map<std::uint64_t, Post> ledger_;
    std::map<int, std::vector<std::uint64_t>> written_on_; // kernel socket id -> payloads it wrote
    std::uint64_t next_uid_ = 1;
    std::uint64_t app_actions_ = 0;
    int hostile_process_ = -1;
    std::vector<Hostile> hostiles_;
    bool in_interleave_ = false;
    bool healing_ = false;
    bool chaos_ = true;
};

void World::note(const std::string& what) {
    for (char c : what) outcome_.trace_hash = (outcome_.trace_hash ^ static_cast<unsigned char>(c)) * 0x100000001B3ull;
    outcome_.trace_hash = (outcome_.trace_hash ^ '\n') * 0x100000001B3ull;
    if (config_.trace) outcome_.trace.push_back(std::to_string(outcome_.steps) + " " + what);
}

// ---- building and stopping engines --------------------------------------------------------

void World::build() {
    outcome_.trace_hash = 0xCBF29CE484222325ull;
    // One world in four without chaos: spurious events and wake-ups rescue a
    // reactor that waits for a report it will never get, and hide the bug.
    chaos_ = config_.chaos && pick(4) != 0;
    kernel_.delay = [this] { return Time(std::chrono::microseconds(pick(4) == 0 ? 0 : pick(3000))); };
    kernel_.watch = [this](int process, int fd) {
        for (EngineActor& e : engines_) {
            if (e.process == process && e.poller != nullptr && e.core) e.poller->changed(fd);
        }
    };
    kernel_.interleave = [this] { interleave(); };
    kernel_.abort_reset_in_backlog = [this] { return pick(2) == 0; };
    // From a few segments to more than the reactor reads at once (64 KiB),
    // so that a full read, and what is left behind it, happen.
    kernel_.buffer_size = [this] {
        constexpr std::size_t sizes[] = {1024, 16 * 1024, 64 * 1024, 256 * 1024};
        return sizes[pick(std::size(sizes))];
    };
    kernel_.log = [this](const std::string& what) { note("kernel: " + what); };
    kernel_.wrote = [this](int socket, std::uint64_t uid) {
        written_on_[socket].push_back(uid);
        ledger_.at(uid).written = true;
    };
    kernel_.was_reset = [this](int socket, int peer) {
        for (int id : {socket, peer}) {
            for (std::uint64_t uid : written_on_[id]) {
                Post& post = ledger_.at(uid);
                if (post.state == Post::State::posted || post.state == Post::State::skipped) {
                    post.lost_in_reset = true;
                    cover("payload lost to a reset");
                }
            }
        }
    };
    hostile_process_ = kernel_.add_process(64);
    const int engines = 2;
    for (int i = 0; i < engines; ++i) start_engine();
}

int World::start_engine() {
    EngineActor actor;
    actor.process = kernel_.add_process(8 + pick(40));
    Options& o = actor.options;
    // Mostly tight pools, where reading stops and starts all the time; one
    // engine in four roomy, where a channel reads on without pausing (and a
    // stall of its reading shows instead of being rescued by a pause).
    const bool roomy = pick(4) == 0;
    o.max_messages = roomy ? 1024 : std::size_t{8} << pick(4); // 8 .. 64
    o.initial_messages = pick(o.max_messages);
    o.memory_limit = (roomy ? 32 : 2 + pick(4)) * max_frame_size;
    o.io_budget_bytes = std::size_t{256} << pick(9); // 256 B .. 64 KiB
    o.max_hello_bytes = 256 + pick(4000);
    o.max_pending_handshakes = 1 + pick(6);
    o.pending_grace = std::chrono::milliseconds(pick(3) * 50);
    o.connect_timeout = std::chrono::milliseconds(500 + pick(2000));
    o.handshake_timeout = std::chrono::milliseconds(500 + pick(2000));
    o.frame_timeout = std::chrono::milliseconds(500 + pick(3000));
    if (chance(30)) o.channel_share_messages = 1 + pick(o.max_messages);
    const int index = static_cast<int>(engines_.size());
    Chaos chaos;
    chaos.enabled = chaos_;
    auto poller = std::make_unique<ModelPoller>(kernel_, actor.process, config_.model, config_.bug, chaos,
                                                [this](std::uint64_t bound) { return pick(bound); });
    actor.poller = poller.get();
    set_current(&kernel_, actor.process);
    Result<std::shared_ptr<detail::EngineCore>> core = detail::EngineCore::start_stepped(o, std::move(poller), clock_);
    if (!core) fail("engine did not start: " + std::string(to_string(core.status())));
    actor.core = core.value();
    actor.engine.emplace(detail::EngineAccess::wrap(actor.core));
    engines_.push_back(std::move(actor));
    note("engine " + std::to_string(index) + " starts (" + std::to_string(o.max_messages) + " messages, " +
         std::to_string(o.memory_limit) + " bytes)");
    create_group(index);
    // Its first group listens.
    const int g = engines_[static_cast<std::size_t>(index)].groups.front();
    Message::Ptr welcome = engines_[static_cast<std::size_t>(index)].engine->get(Alloc::Always);
    (void)listen_on(*welcome, tcp("10.0.0." + std::to_string(index + 1), 0));
    if (!groups_[static_cast<std::size_t>(g)].group->post(welcome)) fail("listen post refused");
    return index;
}

// ~Engine runs the stepped reactor's last turn here; then every group drains
// what was handed back and learns the engine is gone.
void World::stop_engine(int e) {
    EngineActor& actor = engines_[static_cast<std::size_t>(e)];
    enter(e);
    note("engine " + std::to_string(e) + " stops");
    for (int g : actor.groups) {
        GroupActor& group = groups_[static_cast<std::size_t>(g)];
        group.held.clear();
        group.destroyed = true;
    }
    actor.engine.reset();
    actor.state = ReactorState::stopped;
    for (int g : actor.groups) {
        GroupActor& group = groups_[static_cast<std::size_t>(g)];
        while (group.group) {
            Result<Message::Ptr> got = group.group->wait_receive(0ns);
            if (!got) break; // shutdown_started: drained
            if (!*got) fail("engine " + std::to_string(e) + ": wait_receive timed out after the engine stopped");
            handle(g, std::move(got.value()));
        }
        group.held.clear();
        group.group.reset();
    }
    actor.groups.clear();
    actor.listening.reset();
    actor.poller = nullptr;
    actor.core.reset();
}

// ---- one step ---------------------------------------------------------------------------

bool World::runnable(EngineActor& e) {
    if (!e.core || e.state == ReactorState::stopped) return false;
    if (e.state == ReactorState::turn) return true;
    return e.poller->ready() || kernel_.now() >= e.deadline;
}

// The reactor of production, step by step: turn, then the wait. A reactor
// that would block sleeps until its poller has something, a wake-up comes,
// or its timeout passes: a missing wake-up shows as a stall.
void World::step_reactor(int index) {
    EngineActor& e = engines_[static_cast<std::size_t>(index)];
    enter(index);
    detail::Reactor& reactor = e.core->reactor();
    if (e.state == ReactorState::turn) {
        if (!reactor.turn()) {
            e.state = ReactorState::stopped;
            return;
        }
        const std::chrono::milliseconds timeout = reactor.wait_timeout();
        interleave(); // the edge of sleep: a post or a returned message may come now
        if (timeout.count() == 0 || e.poller->ready()) {
            wait_once(e);
        } else {
            e.state = ReactorState::asleep;
            e.deadline = timeout.count() < 0 ? Time::max() : kernel_.now() + timeout;
            e.poller->set_sleeping(true);
            cover("reactor slept");
        }
    } else {
        e.poller->set_sleeping(false);
        wait_once(e);
    }
    // A reactor that keeps turning without sleeping must make progress.
    const EngineStats stats = e.engine ? e.engine->stats() : EngineStats{};
    const std::uint64_t progress = kernel_.effects(e.process) + app_actions_ + stats.connections_accepted +
                                   stats.connections_refused + stats.channels_closed +
                                   (e.engine ? e.engine->stats().messages_in_use : 0);
    if (e.state == ReactorState::asleep || progress != e.last_progress) {
        e.turns_without_progress = 0;
        e.last_progress = progress;
    } else if (++e.turns_without_progress > 200) {
        fail("engine " + std::to_string(index) + ": busy loop (200 turns without progress or sleep)");
    }
}

void World::wait_once(EngineActor& e) {
    detail::Reactor& reactor = e.core->reactor();
    const Result<std::size_t> ready = e.poller->wait(reactor.events(), std::chrono::milliseconds(0));
    if (ready && ready.value() != 0) cover("events dispatched");
    reactor.after_wait(ready);
    e.state = ReactorState::turn;
}

void World::advance_time(bool healing) {
    // To the next thing due: an arrival, a sleeping reactor's timeout; or a
    // little, to let time-based behaviour (grace, timeouts) move.
    std::optional<Time> next = kernel_.next_event();
    for (const EngineActor& e : engines_) {
        if (e.core && e.state == ReactorState::asleep && e.deadline != Time::max()) {
            if (!next || e.deadline < *next) next = e.deadline;
        }
    }
    Time to = kernel_.now() + Time(std::chrono::microseconds(1 + pick(20000)));
    if (next && (healing || chance(70))) {
        // Straight to it, unless a reactor has work: a thread with work runs
        // within moments, so time may not leap past it (the leap would turn
        // its delay into a peer's timeout, and hide a stall as one).
        bool work_waits = false;
        for (EngineActor& e : engines_) work_waits = work_waits || runnable(e);
        to = std::max(work_waits ? std::min(*next, to) : *next, kernel_.now());
    }
    const Time by = to - kernel_.now();
    clock_.advance(std::chrono::duration_cast<detail::Clock::duration>(by));
    kernel_.set_now(to);
    kernel_.deliver_due();
    note("time +" + std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(by).count()) + "us");
}

// One action of the world. False when nothing at all can happen any more.
bool World::step(bool healing) {
    ++outcome_.steps;
    std::vector<int> ready_engines;
    for (std::size_t i = 0; i < engines_.size(); ++i) {
        if (runnable(engines_[i])) ready_engines.push_back(static_cast<int>(i));
    }
    const bool network_busy = !kernel_.idle();
    // Choice 0 is progress: a reactor, else time. A tape that ran out (0s)
    // therefore drives the world to rest.
    enum Kind { reactor, time, application, hostile, fault };
    std::vector<std::pair<Kind, int>> menu;
    for (int e : ready_engines) menu.emplace_back(reactor, e);
    menu.emplace_back(time, 0);
    for (std::size_t g = 0; g < groups_.size(); ++g) {
        if (groups_[g].group) menu.emplace_back(application, static_cast<int>(g));
    }
    if (!healing && config_.faults) {
        menu.emplace_back(hostile, 0);
        menu.emplace_back(fault, 0);
    }
    if (healing && ready_engines.empty() && !network_busy) {
        // Rest, if the applications hold nothing and no reactor waits for a
        // deadline.
        bool busy = false;
        for (const GroupActor& g : groups_) busy = busy || !g.held.empty();
        for (const EngineActor& e : engines_) {
            busy = busy || (e.core && e.state == ReactorState::asleep && e.deadline != Time::max());
        }
        if (!busy) return false;
    }
    const auto [kind, which] = menu[pick(menu.size())];
    switch (kind) {
    case reactor:
        note("reactor " + std::to_string(which));
        step_reactor(which);
        break;
    case time: advance_time(healing); break;
    case application: app_action(which, healing, false); break;
    case hostile: hostile_action(); break;
    case fault: {
        switch (pick(4)) {
        case 0: { // a reset on a random connection
            const std::size_t count = kernel_.socket_count();
            if (count == 0) break;
            const int id = static_cast<int>(pick(count));
            Socket& s = kernel_.by_id(id);
            if (s.kind == Socket::Kind::stream && s.link == Socket::Link::established) {
                note("fault: reset socket " + std::to_string(id));
                kernel_.reset(id);
                cover("connection reset");
            }
            break;
        }
        case 1: { // descriptors run out for a while
            const int e = static_cast<int>(pick(engines_.size()));
            if (!engines_[static_cast<std::size_t>(e)].core) break;
            const std::size_t limit = pick(3) == 0 ? 1024 : 4 + pick(8);
            kernel_.set_descriptor_limit(engines_[static_cast<std::size_t>(e)].process, limit);
            note("fault: engine " + std::to_string(e) + " descriptor limit " + std::to_string(limit));
            break;
        }
        case 2: { // a spurious wake-up
            const int e = static_cast<int>(pick(engines_.size()));
            if (engines_[static_cast<std::size_t>(e)].poller != nullptr && chaos_) {
                engines_[static_cast<std::size_t>(e)].poller->spurious_wakeup();
                note("chaos: spurious wake-up of engine " + std::to_string(e));
            }
            break;
        }
        case 3: { // an engine stops and a new one starts
            if (!chance(5)) break;
            const int e = static_cast<int>(pick(engines_.size()));
            if (!engines_[static_cast<std::size_t>(e)].core) break;
            stop_engine(e);
            start_engine();
            cover("engine restarted");
            break;
        }
        }
        break;
    }
    }
    check_after_step();
    return true;
}

void World::check_after_step() {
    for (std::size_t i = 0; i < engines_.size(); ++i) {
        const EngineActor& e = engines_[i];
        if (!e.core) continue;
        const Pool& pool = e.core->pool();
        if (pool.messages_in_use() > e.options.max_messages) {
            fail("engine " + std::to_string(i) + ": " + std::to_string(pool.messages_in_use()) + " messages in use, " +
                 "limit " + std::to_string(e.options.max_messages));
        }
        if (pool.peak_bytes() > e.options.memory_limit) {
            fail("engine " + std::to_string(i) + ": pool peak " + std::to_string(pool.peak_bytes()) + " bytes, limit " +
                 std::to_string(e.options.memory_limit));
        }
        if (kernel_.counters().early_connect_results != 0) {
            fail("a connect's result was taken while it was still in progress: a connect that may yet succeed "
                 "counted as failed");
        }
        if (!e.poller->violations().empty()) {
            fail("engine " + std::to_string(i) + ": poller contract: " + e.poller->violations().front());
        }
        const EngineStats stats = e.core->stats().snapshot(e.core->clock().now());
        if (stats.channels_paused != 0) cover("reading paused");
        if (stats.closed_by(Limit::pending_evicted) != 0) cover("pending connection evicted");
        if (stats.closed_by(Limit::handshake_timeout) != 0) cover("handshake timeout");
        if (stats.closed_by(Limit::frame_timeout) != 0) cover("frame timeout");
        if (stats.closed_by(Limit::connect_timeout) != 0) cover("connect timeout");
        if (stats.connections_refused != 0) cover("connection refused before its hello");
    }
}

// ---- applications -------------------------------------------------------------------------

void World::create_group(int e) {
    EngineActor& actor = engines_[static_cast<std::size_t>(e)];
    Result<ChannelGroup> made = actor.engine->create_group();
    if (!made) fail("create_group: " + std::string(to_string(made.status())));
    GroupActor group;
    group.engine = e;
    group.group.emplace(std::move(made.value()));
    groups_.push_back(std::move(group));
    actor.groups.push_back(static_cast<int>(groups_.size()) - 1);
}

void World::destroy_group(int g) {
    GroupActor& group = groups_[static_cast<std::size_t>(g)];
    note("group " + std::to_string(g) + " destroyed");
    group.destroyed = true;
    group.held.clear();
    group.group.reset();
    std::erase(engines_[static_cast<std::size_t>(group.engine)].groups, g);
    cover("group destroyed");
}

Message::Ptr World::payload(int g, OpCode op, ChannelNumber channel) {
    GroupActor& group = groups_[static_cast<std::size_t>(g)];
    Engine& engine = *engines_[static_cast<std::size_t>(group.engine)].engine;
    Message::Ptr message = engine.get(chance(50) ? Alloc::Always : Alloc::PoolOnly);
    if (!message) return message;
    message->set_opcode(op);
    message->set_channel(channel);
    return message;
}

// Posts `message` with a fresh uid and a body that follows from it.
bool World::post_payload(int g, ChannelNumber channel, OpCode op, Message::Ptr message, bool bulk) {
    GroupActor& group = groups_[static_cast<std::size_t>(g)];
    const std::uint64_t uid = next_uid_++;
    // Hellos stay small: every engine's max_hello_bytes (at least 256)
    // holds one, with its text headers.
    const bool hello = op == OpCode::HelloRequest || op == OpCode::HelloResponse;
    const std::size_t size = hello ? pick(100) : bulk || chance(10) ? pick(max_body_size + 1) : pick(300);
    const bool answer = op == OpCode::HelloResponse || op == OpCode::Response || op == OpCode::ByeResponse;
    message->set_opcode(op);
    message->set_channel(channel);
    if (!answer) message->set_message_id(0); // answers keep their question's id
    if (message->set_header(uid_header, std::to_string(uid)) != Status::success) return false;
    fill_body(*message, uid, size);
    if (message->body().size() != size) return false; // no memory for it: not posted
    Result<BinaryHeader> posted = group.group->post(message);
    if (!posted) return false;
    const ChannelNumber number = posted.value().channel;
    ChannelRecord& record = group.channels[number];
    record.known = true;
    ledger_[uid] = Post{g, number, record.posted.size(), size, op, false, false, Post::State::posted};
    record.posted.push_back(uid);
    note("group " + std::to_string(g) + " posts " + std::string(to_string(op)) + " u" + std::to_string(uid) + " on " +
         std::to_string(number) + " (" + std::to_string(size) + " B)");
    return true;
}

void World::connect(int g) {
    // To a listener of any engine (its own included).
    std::vector<Address> listeners;
    for (const EngineActor& e : engines_) {
        if (e.core && e.listening) listeners.push_back(*e.listening);
    }
    if (listeners.empty()) return;
    Message::Ptr hello = payload(g, OpCode::HelloRequest, 0);
    if (!hello) return;
    if (connect_to(*hello, listeners[pick(listeners.size())]) != Status::success) return;
    post_payload(g, 0, OpCode::HelloRequest, std::move(hello));
}

void World::app_action(int g, bool healing, bool inside_step) {
    GroupActor& group = groups_[static_cast<std::size_t>(g)];
    if (!group.group) return;
    // Progress a spinning reactor cannot fake: only actions between steps count.
    if (!inside_step) ++app_actions_;
    const std::uint64_t what = pick(inside_step ? 6 : 10);
    switch (what) {
    case 0:
    case 1:
    case 2: receive(g); break;
    case 3: // give back what it holds, some or all
        if (group.held.empty()) break;
        if (chance(50)) {
            group.held.clear();
        } else {
            group.held.erase(group.held.begin() + static_cast<long>(pick(group.held.size())));
        }
        note("group " + std::to_string(g) + " returns memory");
        break;
    case 4: { // send on a channel it believes established
        if (healing) break;
        std::vector<ChannelNumber> open;
        for (const auto& [number, record] : group.channels) {
            if (record.established && !record.closed && !record.bye_sent && !record.listener && !record.hostile) {
                open.push_back(number);
            }
        }
        if (open.empty()) break;
        const ChannelNumber channel = open[pick(open.size())];
        // Now and then a burst of large messages: more than the reactor reads
        // at once can then wait in a socket buffer behind a full read.
        const bool bulk = chance(10);
        for (std::size_t n = bulk ? 2 + pick(15) : 1; n != 0; --n) {
            const OpCode op = chance(50) ? OpCode::Request : OpCode::Signal;
            Message::Ptr message = payload(g, op, channel);
            if (!message || !post_payload(g, channel, op, std::move(message), bulk)) break;
        }
        break;
    }
    case 5: { // a wake-up, bare or with a message
        if (chance(50)) {
            const Status s = group.group->update_receiver(Message::Ptr());
            if (s != Status::success && s != Status::pool_empty) fail("bare wake-up: " + std::string(to_string(s)));
            if (group.wakeup_queued) cover("bare wake-up coalesced");
            group.wakeup_queued = true;
        } else if (Message::Ptr message =
                       engines_[static_cast<std::size_t>(group.engine)].engine->get(Alloc::PoolOnly)) {
            (void)group.group->update_receiver(std::move(message));
        }
        break;
    }
    case 6:
        if (!healing) connect(g);
        break;
    case 7: { // end a channel: gracefully, or abort
        if (healing) break;
        std::vector<ChannelNumber> known;
        for (const auto& [number, record] : group.channels) {
            if (!record.closed && (record.established || record.listener)) known.push_back(number);
        }
        if (known.empty()) break;
        const ChannelNumber channel = known[pick(known.size())];
        ChannelRecord& record = group.channels[channel];
        if (!record.listener && !record.hostile && chance(60) && !record.bye_sent) {
            if (Message::Ptr bye = payload(g, OpCode::ByeRequest, channel)) {
                if (post_payload(g, channel, OpCode::ByeRequest, std::move(bye))) record.bye_sent = true;
            }
        } else if (Message::Ptr abort = payload(g, OpCode::ByeSignal, channel)) {
            if (group.group->post(abort)) note("group " + std::to_string(g) + " aborts " + std::to_string(channel));
        }
        break;
    }
    case 8:
        if (!healing && chance(20)) create_group(group.engine);
        break;
    case 9:
        if (!healing && chance(10) && engines_[static_cast<std::size_t>(group.engine)].groups.size() > 1 &&
            engines_[static_cast<std::size_t>(group.engine)].groups.front() != g) {
            destroy_group(g);
        }
        break;
    }
}

void World::receive(int g) {
    GroupActor& group = groups_[static_cast<std::size_t>(g)];
    Result<Message::Ptr> got = group.group->wait_receive(0ns);
    if (!got) fail("group " + std::to_string(g) + ": wait_receive: " + std::string(to_string(got.status())));
    if (!*got) return;
    handle(g, std::move(got.value()));
}

// What an application does with what it receives, checking the engine's
// promises on the way: exactly one channel_closed per channel it knew,
// nothing after it, every payload once, in order, byte for byte.
void World::handle(int g, Message::Ptr message) {
    GroupActor& group = groups_[static_cast<std::size_t>(g)];
    const ChannelNumber channel = message->channel();
    const std::string where = "group " + std::to_string(g) + " channel " + std::to_string(channel);
    if (message->from_engine()) {
        if (is_closed_notice(*message)) {
            const auto it = group.channels.find(channel);
            if (it == group.channels.end() || !it->second.known) {
                fail(where + ": channel_closed for a channel the application never had");
            }
            if (it->second.closed) fail(where + ": a second channel_closed");
            it->second.closed = true;
            const std::string_view cause = message->find_header(cause_header).value_or("");
            if (cause != "success") it->second.failed = true;
            if (it->second.established && (cause == "handshake_timeout" || cause == "connect_timeout")) {
                fail(where + ": " + std::string(cause) + " after the handshake was done");
            }
            // Between two engines nobody breaks the protocol. (A frame
            // timeout is no proof of a stall: 32 KiB through a 1 KiB buffer
            // with a few ms per segment can take longer than the deadline.)
            static constexpr std::string_view violations[] = {"invalid_message",     "invalid_op_code",
                                                              "invalid_headers_len", "invalid_body_len",
                                                              "invalid_more_usage",  "not_allowed"};
            if (!it->second.hostile && !it->second.listener &&
                std::find(std::begin(violations), std::end(violations), cause) != std::end(violations)) {
                fail(where + ": closed for " + std::string(cause) + " between two engines");
            }
            note(where + " closed (" + std::string(cause) + ")");
            cover(cause == "success" ? "graceful close" : "channel closed by failure");
            return;
        }
        if (message->status() == Status::pool_empty) {
            cover("pool_empty delivered");
            return;
        }
        if (message->status() == Status::receiver_update) {
            if (&detail::MessageAccess::pool(*message) !=
                &engines_[static_cast<std::size_t>(group.engine)].core->pool()) {
                group.wakeup_queued = false;
            }
            return;
        }
        if (message->opcode() == OpCode::WelcomeResponse) {
            if (message->status() == Status::success) {
                group.channels[channel].listener = true;
                group.channels[channel].known = true;
                if (Result<Address> bound = address_of(*message)) {
                    engines_[static_cast<std::size_t>(group.engine)].listening = bound.value();
                }
            }
            return;
        }
        // A posted message handed back.
        const std::optional<std::uint64_t> uid = uid_of(*message);
        if (!uid) return; // a ByeSignal or a wake-up message of ours
        const auto post = ledger_.find(*uid);
        if (post == ledger_.end()) fail(where + ": a message handed back that was never posted");
        if (post->second.state != Post::State::posted && post->second.state != Post::State::skipped) {
            fail(where + ": u" + std::to_string(*uid) + " resolved twice");
        }
        post->second.state = Post::State::handed_back;
        note(where + " gets u" + std::to_string(*uid) + " back (" + std::string(to_string(message->status())) + ")");
        cover("message handed back");
        return;
    }
    // From the peer's application.
    ChannelRecord& record = group.channels[channel];
    if (record.closed) fail(where + ": a message after its channel_closed");
    const std::optional<std::uint64_t> uid = uid_of(*message);
    if (!uid || record.hostile) {
        // A hostile raw peer's frames: no ledger. Its hello is answered like
        // any (its channel may then fail any way it likes).
        if (message->opcode() != OpCode::HelloRequest && !record.hostile) {
            fail(where + ": a message without its uid: " + std::string(to_string(message->opcode())));
        }
        if (message->opcode() == OpCode::HelloRequest) {
            record.known = record.established = record.hostile = true;
            cover("hostile hello answered");
            message->reply(OpCode::HelloResponse);
            (void)group.group->post(message);
        }
        return;
    }
    const auto post = ledger_.find(*uid);
    if (post == ledger_.end()) fail(where + ": a message nobody posted (u" + std::to_string(*uid) + ")");
    if (post->second.state == Post::State::skipped)
        fail(where + ": u" + std::to_string(*uid) + " arrived after a later post");
    if (post->second.state != Post::State::posted) fail(where + ": u" + std::to_string(*uid) + " delivered twice");
    if (!body_is(*message, *uid, post->second.size)) fail(where + ": u" + std::to_string(*uid) + " bytes differ");
    ChannelRecord& sender = groups_[static_cast<std::size_t>(post->second.group)].channels[post->second.channel];
    if (post->second.index + 1 <= sender.delivered_up_to) {
        fail(where + ": u" + std::to_string(*uid) + " out of order (position " + std::to_string(post->second.index) +
             " after position " + std::to_string(sender.delivered_up_to - 1) + ")");
    }
    for (std::size_t skipped = sender.delivered_up_to; skipped < post->second.index; ++skipped) {
        // Passed over: it must have been handed back, never to arrive later.
        if (ledger_[sender.posted[skipped]].state == Post::State::posted) {
            ledger_[sender.posted[skipped]].state = Post::State::skipped;
        }
    }
    sender.delivered_up_to = post->second.index + 1;
    post->second.state = Post::State::delivered;
    note(where + " gets u" + std::to_string(*uid));
    switch (message->opcode()) {
    case OpCode::HelloRequest:
        record.known = record.established = true; // the application has the channel from here on
        record.peer_group = post->second.group;
        record.peer_channel = post->second.channel;
        sender.peer_group = g;
        sender.peer_channel = channel;
        if (chance(80)) {
            message->reply(OpCode::HelloResponse);
            post_payload(g, channel, OpCode::HelloResponse, std::move(message));
        } else {
            // A rejection: the message becomes a ByeSignal with no payload of
            // the ledger's (the engine hands it back if the channel is gone).
            message->clear_headers();
            message->set_opcode(OpCode::ByeSignal);
            (void)group.group->post(message);
        }
        return;
    case OpCode::HelloResponse: record.established = true; return;
    case OpCode::Request:
        if (chance(60)) { // answered in place
            message->reply(OpCode::Response);
            post_payload(g, channel, OpCode::Response, std::move(message));
            return;
        }
        break;
    case OpCode::ByeRequest:
        message->reply(OpCode::ByeResponse);
        post_payload(g, channel, OpCode::ByeResponse, std::move(message));
        return;
    default: break;
    }
    if (chance(40)) group.held.push_back(std::move(message)); // kept a while
}

// Inside a reactor step, at a socket or poller call: what another thread
// of the application could do at that moment.
void World::interleave() {
    if (in_interleave_ || groups_.empty() || !chance(10)) return;
    in_interleave_ = true;
    std::vector<int> live;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
        if (groups_[g].group) live.push_back(static_cast<int>(g));
    }
    if (!live.empty()) {
        const int g = live[pick(live.size())];
        note("inside a step: group " + std::to_string(g));
        app_action(g, healing_, true);
        cover("application inside a reactor step");
    }
    in_interleave_ = false;
}

// ---- hostile peers ------------------------------------------------------------------------

void World::hostile_action() {
    std::vector<Address> listeners;
    for (const EngineActor& e : engines_) {
        if (e.core && e.listening) listeners.push_back(*e.listening);
    }
    set_current(&kernel_, hostile_process_);
    const auto bytes = [](std::initializer_list<int> values) {
        Bytes out;
        for (int v : values) out.push_back(static_cast<std::byte>(v));
        return out;
    };
    switch (pick(4)) {
    case 0: { // a new connection
        if (listeners.empty() || hostiles_.size() > 12) break;
        int error = 0;
        const int fd = kernel_.connect(hostile_process_, listeners[pick(listeners.size())], error);
        if (fd >= 0) hostiles_.push_back(Hostile{fd, true, 0});
        note("hostile connects");
        break;
    }
    case 1: { // bytes: a hello header and some of it, junk, a forged engine frame
        if (hostiles_.empty()) break;
        Hostile& h = hostiles_[pick(hostiles_.size())];
        if (!h.open) break;
        Bytes out;
        switch (pick(5)) {
        case 0: out = bytes({0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x03, 0xE8}); break; // hello, 1000 B announced
        case 1: out = bytes({0, 0, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}); break;    // origin bit
        case 2:
            for (std::size_t i = 0; i < 1 + pick(64); ++i) out.push_back(static_cast<std::byte>(pick(256)));
            break;
        case 3: out = bytes({'h'}); break;                                            // one more byte of a drip
        case 4: out = bytes({0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0}); break; // a bare, valid hello
        }
        const std::span<const std::byte> part(out);
        int error = 0;
        (void)kernel_.write(hostile_process_, h.fd, std::span<const std::span<const std::byte>>(&part, 1), error);
        h.sent += out.size();
        note("hostile sends " + std::to_string(out.size()) + " B");
        break;
    }
    case 2: { // reads and drops what the engine sends
        for (Hostile& h : hostiles_) {
            if (!h.open) continue;
            std::byte sink[4096];
            int error = 0;
            while (kernel_.read(hostile_process_, h.fd, sink, false, error) > 0) {}
        }
        break;
    }
    case 3: { // goes away: FIN or RST
        if (hostiles_.empty()) break;
        const std::size_t i = pick(hostiles_.size());
        if (!hostiles_[i].open) break;
        if (chance(50)) kernel_.reset(kernel_.id_of(hostile_process_, hostiles_[i].fd));
        kernel_.close(hostile_process_, hostiles_[i].fd);
        hostiles_.erase(hostiles_.begin() + static_cast<long>(i));
        note("hostile leaves");
        break;
    }
    }
}

// ---- the end ----------------------------------------------------------------------------

std::string World::describe_unrest() {
    std::string out;
    for (std::size_t i = 0; i < engines_.size(); ++i) {
        EngineActor& e = engines_[i];
        if (!e.core) continue;
        out += "engine " + std::to_string(i) + ": " +
               (e.state == ReactorState::turn     ? "turning"
                : e.state == ReactorState::asleep ? "asleep"
                                                  : "stopped") +
               (e.state == ReactorState::asleep && e.deadline != Time::max() ? " with a deadline" : "") +
               (e.poller->ready() ? ", poller ready" : "") + "; ";
    }
    std::size_t held = 0;
    for (const GroupActor& g : groups_) held += g.held.size();
    out += std::to_string(held) + " messages held, network " + (kernel_.idle() ? "idle" : "busy");
    return out;
}

void World::finish() {
    // Every payload delivered or handed back, except where the world itself
    // destroyed it: a reset tore down the connection it was written on, its
    // sender's or its receiver's group (or engine) went away, or it was a
    // hello an engine dropped with the connection before it said hello back.
    for (const auto& [uid, post] : ledger_) {
        if (post.state != Post::State::posted && post.state != Post::State::skipped) continue;
        const GroupActor& sender = groups_[static_cast<std::size_t>(post.group)];
        if (sender.destroyed) continue; // its queued posts went with it
        const ChannelRecord& record = sender.channels.at(post.channel);
        const std::string what = "u" + std::to_string(uid) + " (" + std::string(to_string(post.op)) +
                                 ") posted by group " + std::to_string(post.group) + " on channel " +
                                 std::to_string(post.channel);
        // Not written: the engine still had it, so it must have come back.
        if (!post.written) fail(what + " was never written, and never handed back");
        // Written: the receiving end may have lost it only by going away,
        // by a reset, or by dropping the connection (its channel failed,
        // with the bytes maybe read and not yet a message).
        const ChannelRecord* receiver =
            record.peer_group >= 0
                ? &groups_[static_cast<std::size_t>(record.peer_group)].channels.at(record.peer_channel)
                : nullptr;
        const bool receiver_gone =
            record.peer_group >= 0 && groups_[static_cast<std::size_t>(record.peer_group)].destroyed;
        const bool receiver_failed = receiver != nullptr && receiver->closed && receiver->failed;
        const bool hello_dropped = post.op == OpCode::HelloRequest && record.failed;
        if (post.lost_in_reset || receiver_gone || receiver_failed || hello_dropped) continue;
        fail(what + " was written and never delivered, and no reset, failure or destroyed side explains it (" +
             (receiver == nullptr ? "no peer known"
              : receiver->closed  ? "peer closed"
                                  : "peer open") +
             ")");
    }
    for (std::size_t i = 0; i < engines_.size(); ++i) {
        EngineActor& e = engines_[i];
        if (!e.core) continue;
        if (const std::size_t queued = kernel_.queued_connections(e.process); queued != 0) {
            fail("engine " + std::to_string(i) + " is at rest with " + std::to_string(queued) +
                 " connections in its listener's backlog: it stopped accepting");
        }
        if (e.poller->counters().spurious_events != 0) cover("spurious event");
        if (e.poller->counters().truncated != 0) cover("truncated batch");
        if (e.poller->counters().delayed != 0) cover("delayed event");
    }
    const Kernel::Counters& k = kernel_.counters();
    if (k.peeks != 0) cover("peeked read");
    if (k.short_writes != 0) cover("partial write");
    if (k.emfile != 0) cover("descriptors exhausted");
    if (k.aborted_in_backlog != 0) cover("connection aborted in the backlog");
    if (k.full_reads_with_more != 0) cover("a read filled the buffer, more queued behind it");
    if (k.backlog_full != 0) cover("backlog full");
    if (k.refused != 0) cover("connect refused");
}

Outcome World::run() {
    try {
        build();
        for (std::size_t i = 0; i < config_.steps; ++i) step(false);
        // Heal: no faults, no new work; the world must come to rest, and stay
        // there once the applications took what their queues still held.
        healing_ = true;
        note("heal");
        // Descriptors come back too, whether or not a channel of the engine
        // closes to free one: a listener that ran out must notice by itself.
        for (const EngineActor& e : engines_) kernel_.set_descriptor_limit(e.process, 1024);
        std::size_t healing_steps = 0;
        for (bool drained_something = true; drained_something;) {
            while (step(true)) {
                if (++healing_steps > 200000) fail("no rest after 200,000 healing steps: " + describe_unrest());
            }
            drained_something = false;
            for (std::size_t g = 0; g < groups_.size(); ++g) {
                while (groups_[g].group) {
                    Result<Message::Ptr> got = groups_[g].group->wait_receive(0ns);
                    if (!got || !*got) break;
                    handle(static_cast<int>(g), std::move(got.value()));
                    drained_something = true;
                }
                if (!groups_[g].held.empty()) {
                    groups_[g].held.clear();
                    drained_something = true;
                }
            }
        }
        finish();
        for (std::size_t e = 0; e < engines_.size(); ++e) {
            if (engines_[e].core) stop_engine(static_cast<int>(e));
        }
    } catch (const Violation& violation) {
        outcome_.failed = true;
        outcome_.failure = std::string(violation.what()) + " (step " + std::to_string(outcome_.steps) + ")";
        // The world is abandoned as it is: engines stop here, outside the checks.
        for (std::size_t e = 0; e < engines_.size(); ++e) {
            if (engines_[e].core) {
                set_current(&kernel_, engines_[e].process);
                in_interleave_ = true; // no more application actions
                engines_[e].engine.reset();
                for (int g : engines_[e].groups) groups_[static_cast<std::size_t>(g)].group.reset();
                engines_[e].core.reset();
            }
        }
    }
    return outcome_;
}

} // namespace

Outcome run(Choices& choices, const Config& config) {
    World world(choices, config);
    return world.run();
}

const std::vector<std::string>& coverage_items() {
    static const std::vector<std::string> items = {"reactor slept",
                                                   "events dispatched",
                                                   "application inside a reactor step",
                                                   "reading paused",
                                                   "pool_empty delivered",
                                                   "message handed back",
                                                   "graceful close",
                                                   "channel closed by failure",
                                                   "connection reset",
                                                   "connection aborted in the backlog",
                                                   "payload lost to a reset",
                                                   "peeked read",
                                                   "a read filled the buffer, more queued behind it",
                                                   "partial write",
                                                   "descriptors exhausted",
                                                   "backlog full",
                                                   "connect refused",
                                                   "connect timeout",
                                                   "pending connection evicted",
                                                   "handshake timeout",
                                                   "frame timeout",
                                                   "hostile hello answered",
                                                   "connection refused before its hello",
                                                   "bare wake-up coalesced",
                                                   "group destroyed",
                                                   "engine restarted",
                                                   "spurious event",
                                                   "truncated batch",
                                                   "delayed event"};
    return items;
}

} // namespace tofu::sim
