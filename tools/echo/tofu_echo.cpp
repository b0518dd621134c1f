// tofu-echo: a tofu peer to try by hand, and a fixed point for scripts.
//
//   tofu-echo ADDRESS [--backend B] [--max-messages N] [--memory-limit BYTES]
//
// Listens on ADDRESS (`tcp|host|port`, port 0 = any free one, or
// `uds|path`), prints exactly one line `listening on <real address>` on
// stdout, then answers every peer:
//   HelloRequest -> HelloResponse    Request    -> Response (same id, headers, body)
//   Signal       -> the same Signal  ByeRequest -> ByeResponse
// Engine notifications go to stderr, one short line each. SIGINT/SIGTERM
// stop it cleanly (exit 0). Bad arguments exit 2, engine failures exit 1.
#include <tofu/tofu.hpp>

#include "common/cli.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <pthread.h>
#include <string>
#include <thread>

namespace {

constexpr int exit_usage = 2;
constexpr int exit_failure = 1;

const char* const usage_text =
    "usage: tofu-echo ADDRESS [--backend poll|epoll|kqueue|automatic] [--max-messages N] [--memory-limit BYTES]\n"
    "  ADDRESS  tcp|HOST|PORT (PORT 0 picks a free port) or uds|PATH ('@name': Linux abstract socket)\n"
    "  prints 'listening on ADDRESS' once the listener is up; SIGINT/SIGTERM stop it (exit 0)\n";

int usage_error(const std::string& what) {
    std::cerr << "tofu-echo: " << what << "\n" << usage_text;
    return exit_usage;
}

struct Config {
    tofu::Address address;
    tofu::Options options;
};

// Fills `config`; returns -1 when it is usable, else the exit code.
int parse(int argc, char** argv, Config& config) {
    tofu::cli::Args args(argc, argv);
    bool have_address = false;
    while (!args.done()) {
        const std::string token = args.take();
        if (token == "-h" || token == "--help") {
            std::cout << usage_text;
            return 0;
        }
        if (!tofu::cli::Args::is_option(token)) {
            if (have_address) return usage_error("more than one ADDRESS: '" + token + "'");
            tofu::Result<tofu::Address> address = tofu::parse_address(token);
            if (!address) {
                return usage_error("bad ADDRESS '" + token + "': " + std::string(tofu::to_string(address.status())));
            }
            config.address = address.value();
            have_address = true;
            continue;
        }
        const std::string_view name = tofu::cli::Args::name_of(token);
        const std::optional<std::string> value = args.value_of(token);
        if (!value) return usage_error("--" + std::string(name) + " needs a value");
        if (name == "backend") {
            const std::optional<tofu::Backend> backend = tofu::cli::parse_backend(*value);
            if (!backend) return usage_error("unknown or unavailable backend '" + *value + "'");
            config.options.backend = *backend;
        } else if (name == "max-messages") {
            const std::optional<std::uint64_t> n = tofu::cli::parse_size(*value);
            if (!n || *n == 0) return usage_error("bad --max-messages '" + *value + "'");
            config.options.max_messages = static_cast<std::size_t>(*n);
        } else if (name == "memory-limit") {
            const std::optional<std::uint64_t> n = tofu::cli::parse_size(*value);
            if (!n) return usage_error("bad --memory-limit '" + *value + "'");
            config.options.memory_limit = static_cast<std::size_t>(*n);
        } else {
            return usage_error("unknown option '" + token + "'");
        }
    }
    if (!have_address) return usage_error("missing ADDRESS");
    return -1;
}

// SIGINT/SIGTERM are blocked in every thread and taken by sigwait() in one
// dedicated thread, so nothing runs in signal context at all. That thread
// sets the flag and wakes the receive loop through update_receiver().
class SignalWatcher {
public:
    // Call before any other thread exists, so all of them inherit the mask.
    static void block_signals() {
        sigset_t set = stop_set();
        pthread_sigmask(SIG_BLOCK, &set, nullptr);
    }

    explicit SignalWatcher(tofu::ChannelGroup& group) : group_(group), thread_([this] { watch(); }) {}

    ~SignalWatcher() {
        // Make the watcher return from sigwait() if no signal came.
        finished_.store(true);
        pthread_kill(thread_.native_handle(), SIGTERM);
        thread_.join();
    }

    bool stop_requested() const noexcept { return signal_.load() != 0; }
    int signal_number() const noexcept { return signal_.load(); }

private:
    static sigset_t stop_set() {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        return set;
    }

    void watch() {
        const sigset_t set = stop_set();
        for (;;) {
            int number = 0;
            if (sigwait(&set, &number) != 0) continue;
            if (finished_.load()) return;
            signal_.store(number);
            // A bare wake-up; if the pool is exhausted it fails, and the
            // loop's receive timeout notices the flag instead.
            (void)group_.update_receiver(tofu::Message::Ptr());
        }
    }

    tofu::ChannelGroup& group_;
    std::atomic<int> signal_{0};
    std::atomic<bool> finished_{false};
    std::thread thread_;
};

// Engine notifications, briefly: one line per closed channel (with how many
// of our answers came back unsent), the first returned message of a channel,
// and pool exhaustion at most once a second. A flood of returned messages
// (a fast client that vanished) is summarised, never printed one by one.
class NotificationLog {
public:
    void note(const tofu::Message& msg) {
        const tofu::ChannelNumber channel = msg.channel();
        switch (msg.status()) {
        case tofu::Status::channel_closed: {
            std::cerr << "tofu-echo: channel " << channel << " closed";
            if (std::optional<std::string_view> cause = msg.find_header("~cause")) std::cerr << " (" << *cause << ")";
            if (const auto it = returned_.find(channel); it != returned_.end()) {
                std::cerr << "; " << it->second.count << " unsent answer(s) came back (" << it->second.status << ")";
                returned_.erase(it);
            }
            std::cerr << "\n";
            return;
        }
        case tofu::Status::pool_empty: {
            ++pool_empty_;
            const Clock::time_point now = Clock::now();
            if (now - last_pool_report_ >= std::chrono::seconds(1)) {
                std::cerr << "tofu-echo: message memory exhausted, reading paused until answers go out (" << pool_empty_
                          << "x)\n";
                pool_empty_ = 0;
                last_pool_report_ = now;
            }
            return;
        }
        default: {
            Returned& returned = returned_[channel];
            if (returned.count++ == 0) {
                std::cerr << "tofu-echo: channel " << channel << ": " << tofu::to_string(msg.opcode()) << " id "
                          << msg.message_id() << " came back: " << msg.status() << " (more are only counted)\n";
            }
            returned.status = msg.status();
            return;
        }
        }
    }

private:
    using Clock = std::chrono::steady_clock;
    struct Returned {
        std::uint64_t count = 0;
        tofu::Status status = tofu::Status::success;
    };
    std::map<tofu::ChannelNumber, Returned> returned_;
    std::uint64_t pool_empty_ = 0;
    Clock::time_point last_pool_report_{};
};

// Turns a peer's message into its answer; false: nothing to send back.
bool make_answer(tofu::Message& msg) {
    switch (msg.opcode()) {
    case tofu::OpCode::HelloRequest: msg.reply(tofu::OpCode::HelloResponse); return true;
    case tofu::OpCode::Request: msg.reply(tofu::OpCode::Response); return true;
    case tofu::OpCode::Signal: return true; // back as it came, `more` flag included
    case tofu::OpCode::ByeRequest: msg.reply(tofu::OpCode::ByeResponse); return true;
    default: return false; // Response, ByeResponse: we never ask, so nothing to do
    }
}

int run(const Config& config) {
    SignalWatcher::block_signals();

    tofu::Result<tofu::Engine> created = tofu::Engine::create(config.options);
    if (!created) {
        std::cerr << "tofu-echo: engine did not start: " << created.status()
                  << (created.status() == tofu::Status::not_allowed
                          ? " (check --max-messages / --memory-limit: at least 262172 bytes)"
                          : "")
                  << "\n";
        return created.status() == tofu::Status::not_allowed ? exit_usage : exit_failure;
    }
    tofu::Engine engine = std::move(created.value());
    tofu::Result<tofu::ChannelGroup> made = engine.create_group();
    if (!made) {
        std::cerr << "tofu-echo: no channel group: " << made.status() << "\n";
        return exit_failure;
    }
    tofu::ChannelGroup group = std::move(made.value());
    SignalWatcher signals(group);

    tofu::Message::Ptr welcome = engine.get(tofu::Alloc::Always);
    if (!welcome) {
        std::cerr << "tofu-echo: pool empty at start\n";
        return exit_failure;
    }
    if (tofu::Status s = tofu::listen_on(*welcome, config.address); s != tofu::Status::success) {
        std::cerr << "tofu-echo: cannot listen on " << config.address.to_string() << ": " << s << "\n";
        return exit_usage;
    }
    if (tofu::Result<tofu::BinaryHeader> posted = group.post(welcome); !posted) {
        std::cerr << "tofu-echo: cannot listen on " << config.address.to_string() << ": " << posted.status() << "\n";
        return exit_failure;
    }

    bool listening = false;
    NotificationLog log;
    while (!signals.stop_requested()) {
        tofu::Result<tofu::Message::Ptr> received = group.wait_receive(std::chrono::milliseconds(500));
        if (!received) {
            std::cerr << "tofu-echo: receive failed: " << received.status() << "\n";
            return exit_failure;
        }
        tofu::Message::Ptr msg = std::move(received.value());
        if (!msg) continue; // timeout: look at the stop flag again

        if (msg->from_engine()) {
            if (msg->status() == tofu::Status::receiver_update) continue; // our own wake-up
            if (msg->opcode() == tofu::OpCode::WelcomeResponse && !listening) {
                if (msg->status() != tofu::Status::success) {
                    std::cerr << "tofu-echo: cannot listen on " << config.address.to_string() << ": "
                              << msg->status() << "\n";
                    return exit_failure;
                }
                tofu::Result<tofu::Address> bound = tofu::address_of(*msg);
                std::cout << "listening on "
                          << (bound ? bound.value().to_string() : config.address.to_string()) << std::endl;
                listening = true;
                continue;
            }
            log.note(*msg);
            continue;
        }
        if (!make_answer(*msg)) continue; // dropping the Ptr returns it to the pool
        const tofu::ChannelNumber channel = msg->channel();
        const tofu::OpCode op = msg->opcode();
        if (tofu::Result<tofu::BinaryHeader> posted = group.post(msg); !posted) {
            // The message stayed with us; it goes back to the pool here.
            std::cerr << "tofu-echo: channel " << channel << ": " << tofu::to_string(op)
                      << " not sent: " << posted.status() << "\n";
        }
    }
    std::cerr << "tofu-echo: " << (signals.signal_number() == SIGINT ? "SIGINT" : "SIGTERM")
              << ", shutting down\n";
    return 0; // group, watcher and engine close in reverse order: channels closed, thread joined
}

} // namespace

int main(int argc, char** argv) {
    Config config;
    if (const int code = parse(argc, argv, config); code >= 0) return code;
    try {
        return run(config);
    } catch (const std::exception& error) {
        std::cerr << "tofu-echo: " << error.what() << "\n";
        return exit_failure;
    }
}
