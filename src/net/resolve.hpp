#pragma once
// Host names in `~listen_on` / `~connect_to`, resolved on the application
// thread that posts, before the command reaches the I/O thread: getaddrinfo
// may block for as long as DNS takes, and the reactor must never block. The
// I/O thread only ever sees numeric addresses in the tofu form.
#include <tofu/message.hpp>
#include <tofu/status.hpp>

namespace tofu::net {

// For a WelcomeRequest / HelloRequest about to be posted. An address that is
// already a numeric literal in the tofu form is left as it is, without any
// lookup. Otherwise the header is rewritten to the tofu form with the first
// address getaddrinfo gives for the host, and what the application wrote is
// kept in `~given_address`. A name that does not resolve: invalid_address,
// with `~resolve_error:<code> <text>` on the message (which stays with the
// caller). A malformed address: the parser's status, message untouched.
Status resolve_address_header(Message& message);

} // namespace tofu::net
