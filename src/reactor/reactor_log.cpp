// What the reactor tells the application's log hook (Options::log). Every
// line is formatted only when its level is heard.
#include "reactor/reactor.hpp"

namespace tofu::detail {
namespace {

struct Text {
    explicit Text(std::string_view text) noexcept : size(static_cast<int>(text.size())), data(text.data()) {}
    int size;
    const char* data;
};

} // namespace

void Reactor::log_refused(const char* what, const Message& message, Status status, std::error_code os_error) const {
    if (!core_.log().enabled(LogLevel::warning)) return;
    const bool listener = message.opcode() == OpCode::WelcomeRequest || message.opcode() == OpCode::WelcomeResponse;
    const Text where(message.find_header(listener ? listen_on_header : connect_to_header).value_or("?"));
    const Text why(to_string(status));
    const Log::OsWords said(os_error.value());
    core_.log()(LogLevel::warning, "%s %.*s failed: %.*s%s%s", what, where.size, where.data, why.size, why.data,
                said.text[0] != '\0' ? ": " : "", said.text);
}

void Reactor::log_closed(const Channel& channel, Cause cause, bool refused) const {
    const LogLevel level = refused ? LogLevel::debug : LogLevel::info;
    if (!core_.log().enabled(level)) return;
    const Text why(cause.name());
    const Log::OsWords said(cause.os_error);
    const char* separator = said.text[0] != '\0' ? ": " : "";
    if (refused) {
        const Text peer(channel.peer_address.empty() ? std::string_view("a Unix socket") : channel.peer_address);
        core_.log()(level, "connection from %.*s closed before its hello reached the application: %.*s%s%s", peer.size,
                    peer.data, why.size, why.data, separator, said.text);
        return;
    }
    const char* kind = channel.kind == ChannelKind::listener ? "listener closed" : "closed";
    core_.log()(level, "channel %u: %s: %.*s%s%s", unsigned{channel.number}, kind, why.size, why.data, separator,
                said.text);
}

void Reactor::log_poller_failure(Status status) const {
    const Text why(to_string(status));
    core_.log()(LogLevel::error, "the poller's wait failed: %.*s", why.size, why.data);
}

} // namespace tofu::detail
