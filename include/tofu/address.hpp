#pragma once
// Addresses as text headers: `~listen_on` / `~connect_to` with values
// `tcp|host|port` and `uds|path` (a leading '@' names a Linux abstract socket).
// Where an address is typed, the URL forms `tcp://host:port`,
// `tcp://[ipv6]:port`, `tcp://*:port` and `ipc://path` (`ipc://@name`) read
// as the same addresses; the header that travels is always the tofu form.
#include <tofu/export.hpp>
#include <tofu/message.hpp>
#include <tofu/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace tofu {

inline constexpr std::string_view listen_on_header = "~listen_on";
inline constexpr std::string_view connect_to_header = "~connect_to";
// Host names resolve on the thread that posts the WelcomeRequest /
// HelloRequest, never on the I/O thread. A post that rewrote the address
// header (a name resolved, a URL form turned into the tofu form) keeps what
// the application wrote here, so the answer it gets back still says it.
inline constexpr std::string_view given_address_header = "~given_address";
// On a message whose post failed because its host name did not resolve
// (status invalid_address): `<code> <text>`, the resolver's own words.
inline constexpr std::string_view resolve_error_header = "~resolve_error";

struct TOFU_API Address {
    enum class Kind { tcp, uds };
    Kind kind = Kind::tcp;
    std::string host; // tcp: IPv4/IPv6 literal or name; empty = all interfaces
    std::uint16_t port = 0;
    std::string path; // uds: file path, or '@name' for the abstract namespace

    bool abstract() const noexcept { return kind == Kind::uds && !path.empty() && path[0] == '@'; }
    // `tcp|host|port` or `uds|path`
    std::string to_string() const;
    friend bool operator==(const Address&, const Address&) = default;
};

TOFU_API Address tcp(std::string_view host, std::uint16_t port);
TOFU_API Address uds(std::string_view path);

// Parses a header value, tofu or URL form. wrong_address: not tcp/uds
// (tcp:// / ipc://), missing parts, or an IPv6 literal without brackets in a
// URL; invalid_address: the parts are there but unusable (port, host
// characters, path length...).
TOFU_API Result<Address> parse_address(std::string_view text);

// Prepares `message` as a WelcomeRequest / HelloRequest for `address`.
TOFU_API Status listen_on(Message& message, const Address& address);
TOFU_API Status connect_to(Message& message, const Address& address);

// The address a WelcomeRequest/HelloRequest (or its answer) carries.
TOFU_API Result<Address> address_of(const Message& message);

} // namespace tofu
