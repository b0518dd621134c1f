#pragma once
// Poller backends: how an engine's I/O thread learns which sockets are ready.
#include <tofu/export.hpp>

#include <optional>
#include <string_view>

namespace tofu {

// `automatic` takes TOFU_BACKEND from the environment when set, else the
// platform default (epoll on Linux, afd on Windows, kqueue on macOS/BSD).
enum class Backend { automatic, poll, epoll, afd, kqueue };
TOFU_API std::string_view to_string(Backend backend) noexcept;
TOFU_API std::optional<Backend> backend_from_string(std::string_view name) noexcept;
// Whether this build has the backend compiled in.
TOFU_API bool backend_available(Backend backend) noexcept;

} // namespace tofu
