#include <tofu/address.hpp>

#include <charconv>

namespace tofu {
namespace {

// sockaddr_un::sun_path holds 108 bytes on Linux, 104 on BSD/macOS; keep to
// what fits everywhere with the terminating NUL.
constexpr std::size_t max_uds_path = 103;

bool parse_port(std::string_view text, std::uint16_t& port) {
    if (text.empty() || text.size() > 5) return false;
    unsigned value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
    return true;
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
    const std::size_t first = text.find('|');
    if (first == std::string_view::npos) return Status::wrong_address;
    const std::string_view scheme = text.substr(0, first);
    const std::string_view rest = text.substr(first + 1);
    if (scheme == "uds") {
        if (rest.empty() || rest == "@") return Status::wrong_address;
        if (rest.size() > max_uds_path || rest.find('\0') != std::string_view::npos) return Status::invalid_address;
        return uds(rest);
    }
    if (scheme != "tcp") return Status::wrong_address;
    const std::size_t second = rest.rfind('|');
    if (second == std::string_view::npos) return Status::wrong_address;
    std::string_view host = rest.substr(0, second);
    if (host.find('|') != std::string_view::npos) return Status::wrong_address;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.size() > 255 || host.find_first_of(std::string_view("\0 \r\n", 4)) != std::string_view::npos) {
        return Status::invalid_address;
    }
    std::uint16_t port = 0;
    if (!parse_port(rest.substr(second + 1), port)) return Status::invalid_address;
    return tcp(host, port);
}

namespace {

Status prepare(Message& message, OpCode op, std::string_view header, const Address& address) {
    if (address.kind == Address::Kind::uds ? (address.path.empty() || address.path.size() > max_uds_path)
                                           : address.host.size() > 255) {
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
