#include "poller/backends.hpp"

#include <cstdlib>
#include <string>

namespace tofu {

std::string_view to_string(Backend backend) noexcept {
    switch (backend) {
    case Backend::automatic: return "automatic";
    case Backend::poll: return "poll";
    case Backend::epoll: return "epoll";
    case Backend::afd: return "afd";
    case Backend::kqueue: return "kqueue";
    }
    return "unknown";
}

std::optional<Backend> backend_from_string(std::string_view name) noexcept {
    for (Backend backend : {Backend::automatic, Backend::poll, Backend::epoll, Backend::afd, Backend::kqueue}) {
        if (to_string(backend) == name) return backend;
    }
    return std::nullopt;
}

namespace {

#ifdef _WIN32
constexpr bool have_afd = true;
constexpr bool have_poll = false;
#else
constexpr bool have_afd = false;
constexpr bool have_poll = true;
#endif
#ifdef TOFU_HAVE_EPOLL
constexpr bool have_epoll = true;
#else
constexpr bool have_epoll = false;
#endif
#ifdef TOFU_HAVE_KQUEUE
constexpr bool have_kqueue = true;
#else
constexpr bool have_kqueue = false;
#endif

} // namespace

bool backend_available(Backend backend) noexcept {
    switch (backend) {
    case Backend::automatic: return true;
    case Backend::poll: return have_poll;
    case Backend::epoll: return have_epoll;
    case Backend::afd: return have_afd;
    case Backend::kqueue: return have_kqueue;
    }
    return false;
}

namespace poller {

Backend resolve_backend(Backend requested) noexcept {
    if (requested != Backend::automatic) return requested;
    if (const char* env = std::getenv("TOFU_BACKEND"); env != nullptr && *env != '\0') {
        // An unknown name stays an error rather than silently becoming the default.
        return backend_from_string(env).value_or(Backend::automatic);
    }
#if defined(_WIN32)
    return Backend::afd;
#elif defined(TOFU_HAVE_EPOLL)
    return Backend::epoll;
#elif defined(TOFU_HAVE_KQUEUE)
    return Backend::kqueue;
#else
    return Backend::poll;
#endif
}

Result<std::unique_ptr<Poller>> make_poller(Backend requested, std::string* why) {
    const Backend backend = resolve_backend(requested);
    if (backend == Backend::automatic) { // only an unknown TOFU_BACKEND resolves to nothing
        if (why != nullptr) {
            // Read again: it may have changed since resolve_backend() read it.
            const char* env = std::getenv("TOFU_BACKEND");
            *why = "TOFU_BACKEND='" + std::string(env != nullptr ? env : "") +
                   "' names no backend (automatic, poll, epoll, afd, kqueue)";
        }
        return Status::not_implemented_yet;
    }
    if (!backend_available(backend)) {
        if (why != nullptr)
            *why = "the " + std::string(to_string(backend)) + " backend is not compiled into this build";
        return Status::not_implemented_yet;
    }
    switch (backend) {
#ifdef _WIN32
    case Backend::afd: return make_afd_poller();
#else
    case Backend::poll: return make_poll_poller();
#endif
#ifdef TOFU_HAVE_EPOLL
    case Backend::epoll: return make_epoll_poller();
#endif
#ifdef TOFU_HAVE_KQUEUE
    case Backend::kqueue: return make_kqueue_poller();
#endif
    default: return Status::not_implemented_yet;
    }
}

} // namespace poller
} // namespace tofu
