#pragma once
// Constructors of the compiled-in backends; only factory.cpp picks one.
#include "net/os_error.hpp"
#include "poller/poller.hpp"

#include <memory>
#include <utility>

namespace tofu::poller {

Result<std::unique_ptr<Poller>> make_poll_poller();
Result<std::unique_ptr<Poller>> make_epoll_poller();
Result<std::unique_ptr<Poller>> make_afd_poller();
Result<std::unique_ptr<Poller>> make_kqueue_poller();

// For the backends whose constructor makes their kernel objects (an epoll or
// kqueue instance, a waker) and records in valid() whether that worked.
template <class Backend>
Result<std::unique_ptr<Poller>> make_if_valid() {
    auto poller = std::make_unique<Backend>();
    // Read before the half-made poller closes what it did open.
    if (!poller->valid()) return {Status::communication_failed, std::error_code(net::last_os_error(), os_category())};
    return std::unique_ptr<Poller>(std::move(poller));
}

} // namespace tofu::poller
