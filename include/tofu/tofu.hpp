#pragma once
/// \file
/// The whole API in one include.
///
/// \mainpage tofu
/// Message-oriented networking over TCP and Unix sockets for C++20. Include
/// `<tofu/tofu.hpp>`; start with tofu::Engine, tofu::ChannelGroup and
/// tofu::Message. README.md has a tour of the API, docs/protocol.md the
/// model and the wire format.

/// \namespace tofu
/// Everything tofu offers; tofu::detail is the library's inside, not API.

#include <tofu/address.hpp>
#include <tofu/backend.hpp>
#include <tofu/engine.hpp>
#include <tofu/message.hpp>
#include <tofu/result.hpp>
#include <tofu/status.hpp>
#include <tofu/version.hpp>
