#pragma once
/// \file
/// Addresses as text headers: `~listen_on` / `~connect_to` with values
/// `tcp|host|port` and `uds|path` (a leading '@' names a Linux abstract socket).
/// Where an address is typed, the URL forms `tcp://host:port`,
/// `tcp://[ipv6]:port`, `tcp://*:port` and `ipc://path` (`ipc://@name`) read
/// as the same addresses; the header that travels is always the tofu form.
#include <tofu/export.hpp>
#include <tofu/message.hpp>
#include <tofu/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace tofu {

/// The header of a WelcomeRequest (and its WelcomeResponse) naming where to
/// listen; the response carries the address really bound (port 0 filled in).
inline constexpr std::string_view listen_on_header = "~listen_on";
/// The header of a HelloRequest naming where to connect.
inline constexpr std::string_view connect_to_header = "~connect_to";
/// Host names resolve on the thread that posts the WelcomeRequest /
/// HelloRequest, never on the I/O thread. A post that rewrote the address
/// header (a name resolved, a URL form turned into the tofu form) keeps what
/// the application wrote here, so the answer it gets back still says it.
inline constexpr std::string_view given_address_header = "~given_address";
/// On a message whose post failed because its host name did not resolve
/// (status invalid_address): `<code> <text>`, the resolver's own words.
inline constexpr std::string_view resolve_error_header = "~resolve_error";

/// Where to listen or connect: a TCP host and port, or a Unix socket path.
struct TOFU_API Address {
    /// The transport.
    enum class Kind {
        tcp, ///< TCP over IPv4 or IPv6
        uds  ///< a Unix domain stream socket
    };
    Kind kind = Kind::tcp;  ///< which of the fields below apply
    std::string host;       ///< tcp: IPv4/IPv6 literal or name; empty = all interfaces
    std::uint16_t port = 0; ///< tcp: 0 when listening lets the kernel choose
    std::string path;       ///< uds: file path, or '@name' for the abstract namespace

    /// A Linux abstract socket (`uds|@name`): a name, no file.
    bool abstract() const noexcept { return kind == Kind::uds && !path.empty() && path[0] == '@'; }
    /// `tcp|host|port` or `uds|path`
    std::string to_string() const;
    /// Field by field.
    friend bool operator==(const Address&, const Address&) = default;
};

/// A TCP address (`host` empty: all interfaces); not checked until used.
TOFU_API Address tcp(std::string_view host, std::uint16_t port);
/// A Unix socket address (`@name`: the Linux abstract namespace).
TOFU_API Address uds(std::string_view path);

/// Parses a header value, tofu or URL form. wrong_address: not tcp/uds
/// (tcp:// / ipc://), missing parts, or an IPv6 literal without brackets in a
/// URL; invalid_address: the parts are there but unusable (port, host
/// characters, path length...).
TOFU_API Result<Address> parse_address(std::string_view text);

/// Prepares `message` as a WelcomeRequest for `address`: its opcode and its
/// `~listen_on` header. invalid_address when the address cannot be one.
TOFU_API Status listen_on(Message& message, const Address& address);
/// Prepares `message` as a HelloRequest for `address`: its opcode and its
/// `~connect_to` header. invalid_address when the address cannot be one.
TOFU_API Status connect_to(Message& message, const Address& address);

/// The address a WelcomeRequest/HelloRequest (or its answer) carries.
TOFU_API Result<Address> address_of(const Message& message);

} // namespace tofu
