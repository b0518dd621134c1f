// The log hook (Options::log): what the I/O thread tells the application,
// at the levels it asked for, in the OS's words; a hook that throws changes
// nothing.
#include "harness.hpp"
#include "raw_peer.hpp"

#include <system_error>

namespace tofu::conformance {
namespace {

class Log : public BackendTest {};

// Lines the hook heard, from the I/O threads of every engine given it.
class HeardLines {
public:
    std::function<void(LogLevel, std::string_view)> hook() {
        return [this](LogLevel level, std::string_view line) {
            std::lock_guard lock(mutex_);
            lines_.push_back(std::string(to_string(level)) + " " + std::string(line));
        };
    }
    // Waits until a line contains every one of `parts`; that line.
    std::optional<std::string> wait_for(std::initializer_list<std::string_view> parts) {
        std::optional<std::string> found;
        eventually([&] {
            std::lock_guard lock(mutex_);
            for (const std::string& line : lines_) {
                if (std::all_of(parts.begin(), parts.end(),
                                [&](std::string_view part) { return line.find(part) != std::string::npos; })) {
                    found = line;
                    return true;
                }
            }
            return false;
        });
        return found;
    }
    bool any_contains(std::string_view part) {
        std::lock_guard lock(mutex_);
        return std::any_of(lines_.begin(), lines_.end(),
                           [&](const std::string& line) { return line.find(part) != std::string::npos; });
    }
    std::string all() {
        std::lock_guard lock(mutex_);
        std::string text;
        for (const std::string& line : lines_) text += line + "\n";
        return text;
    }

private:
    std::mutex mutex_;
    std::vector<std::string> lines_;
};

TEST_P(Log, DebugTellsAChannelsWholeLife) {
    HeardLines heard;
    Options logged;
    logged.log = heard.hook();
    logged.log_level = LogLevel::debug;
    ServerAndClient p(options(logged), options(logged));
    const Link link = p.connect();
    ASSERT_TRUE(link);
    p.round_trip_from_client(link, "logged");
    abort_and_expect_closed(p.client, link.client, p.server, link.server);

    const std::string listening = "listening on " + p.listener.address.to_string();
    EXPECT_TRUE(heard.wait_for({"info channel ", listening})) << heard.all();
    EXPECT_TRUE(heard.wait_for({"debug channel " + std::to_string(link.server) + ": accepted by listener channel " +
                                std::to_string(p.listener.channel) + " from tcp|127.0.0.1|"}))
        << heard.all();
    EXPECT_TRUE(heard.wait_for({"debug channel " + std::to_string(link.client) + ": connected"})) << heard.all();
    EXPECT_TRUE(heard.wait_for({"info channel " + std::to_string(link.client) + ": closed: channel_closed"}))
        << heard.all();
    EXPECT_TRUE(heard.wait_for({"info channel " + std::to_string(link.server) + ": closed: peer_disconnected"}))
        << heard.all();
}

TEST_P(Log, InfoLeavesOutTheDebugLines) {
    HeardLines heard;
    Options logged;
    logged.log = heard.hook();
    ServerAndClient p(options(logged), options(logged));
    const Link link = p.connect();
    ASSERT_TRUE(link);
    abort_and_expect_closed(p.client, link.client, p.server, link.server);
    EXPECT_TRUE(heard.wait_for({"info channel " + std::to_string(link.client) + ": closed"})) << heard.all();
    EXPECT_FALSE(heard.any_contains("debug ")) << heard.all();
    EXPECT_FALSE(heard.any_contains("accepted by")) << heard.all();
}

TEST_P(Log, AListenTheOsRefusesIsAWarningInItsWords) {
    HeardLines heard;
    Options logged;
    logged.log = heard.hook();
    logged.log_level = LogLevel::warning;
    Engine engine(options(logged));
    Group group(engine, "server");
    const Listener first = listen(group, tcp("127.0.0.1", 0));
    ASSERT_TRUE(first);
    Message::Ptr again = get_message(engine);
    ASSERT_EQ(listen_on(*again, first.address), Status::success);
    group.post_ok(again);
    Message::Ptr response = group.next();
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status(), Status::listen_failed);
    const std::string said = std::string(response->find_header(os_error_header).value_or("?"));
    EXPECT_TRUE(heard.wait_for({"warning listen on " + first.address.to_string() + " failed: listen_failed: " + said}))
        << heard.all();
    EXPECT_FALSE(heard.any_contains("listening on")) << "info is below the level asked for: " << heard.all();
}

TEST_P(Log, AConnectionRefusedBeforeItsHelloIsADebugLine) {
    HeardLines heard;
    Options logged;
    logged.log = heard.hook();
    logged.log_level = LogLevel::debug;
    Engine engine(options(logged));
    Group group(engine, "server");
    const Listener listener = listen(group, tcp("127.0.0.1", 0));
    ASSERT_TRUE(listener);
    raw::RawPeer peer = raw::RawPeer::connect(listener.address);
    ASSERT_TRUE(peer);
    ASSERT_TRUE(peer.send_all(as_bytes("GET / HTTP/1.1\r\n\r\n")));
    EXPECT_TRUE(heard.wait_for({"debug connection from tcp|127.0.0.1|", "closed before its hello"})) << heard.all();
    group.expect_quiet();
}

TEST_P(Log, AHookThatThrowsChangesNothing) {
    std::atomic<int> calls{0};
    Options logged;
    logged.log = [&calls](LogLevel, std::string_view) {
        ++calls;
        throw std::runtime_error("the application's logger failed");
    };
    logged.log_level = LogLevel::debug;
    ServerAndClient p(options(logged), options(logged));
    const Link link = p.connect();
    ASSERT_TRUE(link);
    for (int i = 0; i < 3; ++i) p.round_trip_from_client(link, "still served");
    EXPECT_GT(calls.load(), 0);
}

TOFU_CONFORMANCE_INSTANTIATE(Log);

} // namespace
} // namespace tofu::conformance
