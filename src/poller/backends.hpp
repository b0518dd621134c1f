#pragma once
// Constructors of the compiled-in backends; only factory.cpp picks one.
#include "poller/poller.hpp"

namespace tofu::poller {

Result<std::unique_ptr<Poller>> make_poll_poller();
Result<std::unique_ptr<Poller>> make_epoll_poller();
Result<std::unique_ptr<Poller>> make_afd_poller();
Result<std::unique_ptr<Poller>> make_kqueue_poller();

} // namespace tofu::poller
