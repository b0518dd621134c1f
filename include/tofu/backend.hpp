#pragma once
/// \file
/// Poller backends: how an engine's I/O thread learns which sockets are ready.
#include <tofu/export.hpp>

#include <optional>
#include <string_view>

namespace tofu {

/// A poller backend, chosen with Options::backend.
///
/// `automatic` takes TOFU_BACKEND from the environment when set, else the
/// platform default (epoll on Linux, afd on Windows, kqueue on macOS/BSD).
enum class Backend {
    automatic, ///< TOFU_BACKEND when set, else the platform default
    poll,      ///< poll(2), POSIX systems
    epoll,     ///< epoll, level-triggered, Linux
    afd,       ///< IOCP with AFD_POLL through the NT APIs, Windows 10+
    kqueue,    ///< kqueue, level-triggered, macOS and the BSDs
};
/// The backend's name as declared, e.g. `"epoll"`.
TOFU_API std::string_view to_string(Backend backend) noexcept;
/// The backend with that name (as to_string() spells it), if there is one.
TOFU_API std::optional<Backend> backend_from_string(std::string_view name) noexcept;
/// Whether this build has the backend compiled in.
TOFU_API bool backend_available(Backend backend) noexcept;

} // namespace tofu
