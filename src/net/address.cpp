#include <tofu/address.hpp>

#include <charconv>

namespace tofu {
namespace {

// sockaddr_un::sun_path holds 108 bytes on Linux, 104 on BSD/macOS; keep to
// what fits everywhere with the terminating NUL.
constexpr std::size_t max_uds_path = 103;
constexpr std::size_t max_host = 255;

bool parse_port(std::string_view text, std::uint16_t& port) {
    if (text.empty() || text.size() > 5) return false;
    unsigned value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

// RFC 3986 §3.1: a URL scheme is case-insensitive (`TCP://` is `tcp://`).
// The tofu form is the wire's and stays exact.
bool has_scheme(std::string_view text, std::string_view lowercase_scheme) {
    if (text.size() < lowercase_scheme.size()) return false;
    for (std::size_t i = 0; i < lowercase_scheme.size(); ++i) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != lowercase_scheme[i]) return false;
    }
    return true;
}

bool is_ascii_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// A URL host is a name or IPv4 literal (letters, digits, '-', '.', '_') or,
// in brackets, an IPv6 literal (hex digits, ':', and '.' for an embedded
// IPv4). Anything else -- '|', '/', '@', '%', spaces -- is refused, so
// what parses prints as a tofu form that parses back to the same address.
bool valid_url_host(std::string_view host, bool bracketed) {
    for (const char c : host) {
        const bool fits = bracketed ? (is_ascii_alnum(c) || c == ':' || c == '.')
                                    : (is_ascii_alnum(c) || c == '-' || c == '.' || c == '_');
        if (!fits) return false;
    }
    return !bracketed || host.find(':') != std::string_view::npos;
}

Result<Address> parse_uds_path(std::string_view path) {
    if (path.empty() || path == "@") return Status::wrong_address;
    if (path.size() > max_uds_path || path.find('\0') != std::string_view::npos) return Status::invalid_address;
    return uds(path);
}

// `host:port`, `[ipv6]:port`, `*:port` or `:port` (all interfaces).
Result<Address> parse_tcp_authority(std::string_view authority) {
    std::string_view host;
    std::string_view port_part; // from the ':' on
    const bool bracketed = !authority.empty() && authority.front() == '[';
    if (bracketed) {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return Status::wrong_address;
        host = authority.substr(1, close - 1);
        port_part = authority.substr(close + 1);
        if (host.empty()) return Status::invalid_address;
    } else {
        const std::size_t colon = authority.rfind(':');
        if (colon == std::string_view::npos) return Status::wrong_address; // no port
        host = authority.substr(0, colon);
        port_part = authority.substr(colon);
        // `::1:80`: where the address ends and the port starts is anyone's
        // guess; an IPv6 literal needs its brackets.
        if (host.find(':') != std::string_view::npos) return Status::wrong_address;
        if (host == "*") host = {};
    }
    if (port_part.empty() || port_part.front() != ':') return Status::wrong_address;
    if (host.size() > max_host || !valid_url_host(host, bracketed)) return Status::invalid_address;
    std::uint16_t port = 0;
    if (!parse_port(port_part.substr(1), port)) return Status::invalid_address;
    return tcp(host, port);
}

} // namespace

std::string Address::to_string() const {
    if (kind == Kind::uds) return "uds|" + path;
    return "tcp|" + host + "|" + std::to_string(port);
}

Address tcp(std::string_view host, std::uint16_t port) {
    Address address;
    address.kind = Address::Kind::tcp;
    address.host = std::string(host);
    address.port = port;
    return address;
}

Address uds(std::string_view path) {
    Address address;
    address.kind = Address::Kind::uds;
    address.path = std::string(path);
    return address;
}

Result<Address> parse_address(std::string_view text) {
    constexpr std::string_view tcp_url = "tcp://";
    constexpr std::string_view ipc_url = "ipc://";
    if (has_scheme(text, tcp_url)) return parse_tcp_authority(text.substr(tcp_url.size()));
    // As ZeroMQ reads it: everything after `ipc://` is the path, so
    // `ipc:///abs` is absolute, `ipc://rel` relative, `ipc://@name` abstract.
    if (has_scheme(text, ipc_url)) return parse_uds_path(text.substr(ipc_url.size()));
    const std::size_t first = text.find('|');
    if (first == std::string_view::npos) return Status::wrong_address;
    const std::string_view scheme = text.substr(0, first);
    const std::string_view rest = text.substr(first + 1);
    if (scheme == "uds") return parse_uds_path(rest);
    if (scheme != "tcp") return Status::wrong_address;
    const std::size_t second = rest.rfind('|');
    if (second == std::string_view::npos) return Status::wrong_address;
    std::string_view host = rest.substr(0, second);
    if (host.find('|') != std::string_view::npos) return Status::wrong_address;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.size() > max_host || host.find_first_of(std::string_view("\0 \r\n", 4)) != std::string_view::npos) {
        return Status::invalid_address;
    }
    std::uint16_t port = 0;
    if (!parse_port(rest.substr(second + 1), port)) return Status::invalid_address;
    return tcp(host, port);
}

namespace {

Status prepare(Message& message, OpCode op, std::string_view header, const Address& address) {
    if (address.kind == Address::Kind::uds ? (address.path.empty() || address.path.size() > max_uds_path)
                                           : address.host.size() > max_host) {
        return Status::invalid_address;
    }
    message.set_opcode(op);
    return message.set_header(header, address.to_string());
}

} // namespace

Status listen_on(Message& message, const Address& address) {
    return prepare(message, OpCode::WelcomeRequest, listen_on_header, address);
}

Status connect_to(Message& message, const Address& address) {
    return prepare(message, OpCode::HelloRequest, connect_to_header, address);
}

Result<Address> address_of(const Message& message) {
    const bool listener = message.opcode() == OpCode::WelcomeRequest || message.opcode() == OpCode::WelcomeResponse;
    const std::optional<std::string_view> value = message.find_header(listener ? listen_on_header : connect_to_header);
    if (!value) return Status::wrong_address;
    return parse_address(*value);
}

} // namespace tofu
