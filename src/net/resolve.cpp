#include "net/resolve.hpp"

#include "net/os_error.hpp"

#include <tofu/address.hpp>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace tofu::net {
namespace {

// The empty host (all interfaces) and numeric literals are what the socket
// layer takes as they are: no getaddrinfo, so the usual post costs no lookup.
bool needs_lookup(const Address& address) {
    if (address.kind != Address::Kind::tcp || address.host.empty()) return false;
    in_addr v4{};
    in6_addr v6{};
    return ::inet_pton(AF_INET, address.host.c_str(), &v4) != 1 &&
           ::inet_pton(AF_INET6, address.host.c_str(), &v6) != 1;
}

// "<code> <text>" in the resolver's words: a Winsock code on Windows (which
// describe_os_error knows), an EAI_* code and gai_strerror elsewhere.
std::string describe_lookup_error(int code, [[maybe_unused]] int saved_errno) {
    std::array<char, 256> text{};
#ifdef _WIN32
    const std::size_t length = describe_os_error(code, text);
#else
    int length = std::snprintf(text.data(), text.size(), "%d %s", code, ::gai_strerror(code));
    if (code == EAI_SYSTEM && length > 0 && static_cast<std::size_t>(length) + 2 < text.size()) {
        // The resolver's words for EAI_SYSTEM are "System error": errno says which.
        const std::size_t at = static_cast<std::size_t>(length);
        text[at] = ':';
        text[at + 1] = ' ';
        length += 2 + static_cast<int>(describe_os_error(saved_errno, std::span(text).subspan(at + 2)));
    }
    length = std::clamp(length, 0, static_cast<int>(text.size()) - 1);
#endif
    return std::string(text.data(), static_cast<std::size_t>(length));
}

struct Lookup {
    std::string numeric_host; // empty when the name did not resolve
    std::string error;
};

// The first address getaddrinfo gives: the system's preferred order
// (RFC 6724, /etc/gai.conf). No AI_ADDRCONFIG: on a host whose only
// interface is loopback it would hide localhost's addresses.
Lookup look_up(const std::string& host) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
        return {{}, describe_lookup_error(rc, errno)};
    }
    Lookup result;
    for (const addrinfo* each = found; each != nullptr && result.numeric_host.empty(); each = each->ai_next) {
        std::array<char, INET6_ADDRSTRLEN> text{};
        const void* raw = nullptr;
        if (each->ai_family == AF_INET) raw = &reinterpret_cast<const sockaddr_in*>(each->ai_addr)->sin_addr;
        if (each->ai_family == AF_INET6) raw = &reinterpret_cast<const sockaddr_in6*>(each->ai_addr)->sin6_addr;
        if (raw != nullptr && ::inet_ntop(each->ai_family, raw, text.data(), text.size()) != nullptr) {
            result.numeric_host = text.data();
        }
    }
    ::freeaddrinfo(found);
    if (result.numeric_host.empty()) result.error = "0 no IPv4 or IPv6 address for " + host;
    return result;
}

// Message has no call to remove one header: rebuild the block without it.
// Only a message posted again after a failed post comes here.
Status drop_header(Message& message, std::string_view name) {
    std::vector<std::pair<std::string, std::string>> kept;
    for (const TextHeader& header : message.headers()) {
        if (header.name != name) kept.emplace_back(header.name, header.value);
    }
    message.clear_headers();
    for (const auto& [kept_name, kept_value] : kept) {
        if (Status s = message.add_header(kept_name, kept_value); s != Status::success) return s;
    }
    return Status::success;
}

} // namespace

Status resolve_address_header(Message& message) {
    // A failure from an earlier post must not travel to the peer.
    if (message.find_header(resolve_error_header)) {
        if (Status s = drop_header(message, resolve_error_header); s != Status::success) return s;
    }
    const std::string_view header = message.opcode() == OpCode::WelcomeRequest ? listen_on_header : connect_to_header;
    const std::optional<std::string_view> given = message.find_header(header);
    if (!given) return Status::wrong_address;
    Result<Address> address = parse_address(*given);
    if (!address) return address.status();
    if (needs_lookup(*address)) {
        Lookup lookup = look_up(address->host);
        if (lookup.numeric_host.empty()) {
            // Without memory for the text the status still says what failed.
            static_cast<void>(message.set_header(resolve_error_header, lookup.error));
            return Status::invalid_address;
        }
        address->host = std::move(lookup.numeric_host);
    }
    const std::string numeric = address->to_string();
    if (numeric == *given) return Status::success;
    // `given` points into the header block, which set_header may move.
    const std::string as_given(*given);
    if (Status s = message.set_header(header, numeric); s != Status::success) return s;
    return message.set_header(given_address_header, as_given);
}

} // namespace tofu::net
