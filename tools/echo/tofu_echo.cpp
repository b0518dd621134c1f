// tofu-echo: a tofu peer to try by hand, and a fixed point for scripts.
//
//   tofu-echo ADDRESS [-v] [--backend B] [--max-messages N] [--memory-limit BYTES]
//
// Listens on ADDRESS (`tcp|host|port` or `tcp://host:port`, port 0 = any
// free one, or `uds|path` / `ipc://path`), prints exactly one line
// `listening on <real address>` (in the tofu form) on stdout, then answers
// every peer:
//   HelloRequest -> HelloResponse    Request    -> Response (same id, headers, body)
//   Signal       -> the same Signal  ByeRequest -> ByeResponse
// Engine notifications go to stderr, one short line each (with -v, every
// channel opened and closed too), and the engine's counters at exit.
// SIGINT/SIGTERM stop it cleanly (exit 0). Bad arguments exit 2, engine
// failures exit 1.
#include <tofu/tofu.hpp>

#include "common/cli.hpp"
#include "common/signals.hpp"
#include "common/stats.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <string>

namespace {

using tofu::cli::exit_failure;
using tofu::cli::exit_usage;

struct Config {
    tofu::Address address;
    tofu::Options options;
    bool verbose = false;
};

// Fills `config`; nothing when it is usable, else the exit code.
std::optional<int> parse(int argc, char** argv, Config& config) {
    CLI::App app("tofu-echo: a tofu peer that answers every request, for trying things by hand and for scripts.\n"
                 "Prints 'listening on ADDRESS' once the listener is up; SIGINT/SIGTERM stop it (exit 0).",
                 "tofu-echo");
    tofu::cli::set_version(app, "tofu-echo");
    const CLI::Option* address =
        app.add_option_function<std::string>(
               "ADDRESS", [&config](const std::string& text) { config.address = tofu::parse_address(text).value(); },
               "tcp|HOST|PORT (PORT 0 picks a free port) or uds|PATH ('@name': Linux abstract socket)")
            ->check(tofu::cli::address_value);
    app.add_option_function<std::string>(
           "--backend",
           [&config](const std::string& name) { config.options.backend = *tofu::backend_from_string(name); },
           "poller backend (default automatic)")
        ->check(tofu::cli::backend_value());
    app.add_option("--max-messages", config.options.max_messages, "engine pool: messages")
        ->capture_default_str()
        ->transform(tofu::cli::size_value)
        ->check(tofu::cli::positive);
    app.add_option("--memory-limit", config.options.memory_limit, "engine pool: bytes (64K, 32M, ...)")
        ->capture_default_str()
        ->transform(tofu::cli::size_value);
    app.add_flag("-v,--verbose", config.verbose, "log every channel opened and closed on stderr");
    return tofu::cli::parse(app, argc, argv, [address] { tofu::cli::require(*address); });
}

// Engine notifications, briefly: the first returned message of a channel,
// how many of our answers came back unsent when it closes, and pool
// exhaustion at most once a second. A flood of returned messages (a fast
// client that vanished) is summarised, never printed one by one. Verbose:
// every channel opened and closed, with the cause the engine gave.
class NotificationLog {
public:
    explicit NotificationLog(bool verbose) : verbose_(verbose) {}

    void opened(tofu::ChannelNumber channel) const {
        if (verbose_) std::cerr << "tofu-echo: channel " << channel << " opened\n";
    }

    void note(const tofu::Message& msg) {
        const tofu::ChannelNumber channel = msg.channel();
        switch (msg.status()) {
        case tofu::Status::channel_closed: {
            const auto returned = returned_.find(channel);
            if (!verbose_ && returned == returned_.end()) return;
            std::cerr << "tofu-echo: channel " << channel << " closed";
            for (std::string_view name : {tofu::cause_header, tofu::os_error_header}) {
                if (std::optional<std::string_view> value = msg.find_header(name)) std::cerr << " (" << *value << ")";
            }
            if (returned != returned_.end()) {
                std::cerr << "; " << returned->second.count << " unsent answer(s) came back ("
                          << returned->second.status << ")";
                returned_.erase(returned);
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
    bool verbose_;
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
    tofu::cli::SignalWatcher::block_signals();

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
    // Set by the watcher thread, which then wakes the receive loop; if the
    // pool is exhausted the bare wake-up fails and the receive timeout
    // notices the flag instead.
    std::atomic<int> stop_signal{0};
    tofu::cli::SignalWatcher signals([&](int number) {
        stop_signal.store(number);
        (void)group.update_receiver(tofu::Message::Ptr());
    });

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
        std::cerr << "tofu-echo: cannot listen on " << config.address.to_string() << ": " << posted.status();
        // A host name that did not resolve: the resolver says why.
        if (const auto why = welcome->find_header(tofu::resolve_error_header)) std::cerr << " (" << *why << ")";
        std::cerr << "\n";
        return exit_failure;
    }

    bool listening = false;
    NotificationLog log(config.verbose);
    while (stop_signal.load() == 0) {
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
                    std::cerr << "tofu-echo: cannot listen on " << config.address.to_string() << ": " << msg->status()
                              << "\n";
                    return exit_failure;
                }
                tofu::Result<tofu::Address> bound = tofu::address_of(*msg);
                std::cout << "listening on " << (bound ? bound.value().to_string() : config.address.to_string())
                          << std::endl;
                listening = true;
                continue;
            }
            log.note(*msg);
            continue;
        }
        if (msg->opcode() == tofu::OpCode::HelloRequest) log.opened(msg->channel());
        if (!make_answer(*msg)) continue; // dropping the Ptr returns it to the pool
        const tofu::ChannelNumber channel = msg->channel();
        const tofu::OpCode op = msg->opcode();
        if (tofu::Result<tofu::BinaryHeader> posted = group.post(msg); !posted) {
            // The message stayed with us; it goes back to the pool here.
            std::cerr << "tofu-echo: channel " << channel << ": " << tofu::to_string(op)
                      << " not sent: " << posted.status() << "\n";
        }
    }
    std::cerr << "tofu-echo: " << (stop_signal.load() == SIGINT ? "SIGINT" : "SIGTERM") << ", shutting down\n";
    tofu::cli::print_stats(std::cerr, "tofu-echo", engine.stats());
    return 0; // watcher, group and engine close in reverse order: thread joined, channels closed
}

} // namespace

int main(int argc, char** argv) {
    Config config;
    if (const std::optional<int> code = parse(argc, argv, config)) return *code;
    try {
        return run(config);
    } catch (const std::exception& error) {
        std::cerr << "tofu-echo: " << error.what() << "\n";
        return exit_failure;
    }
}
