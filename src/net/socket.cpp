// What every platform's Socket shares: ownership moves with the handle and
// the bound path; each platform's close() releases both.
#include "net/socket.hpp"

#include <utility>

namespace tofu::net {

Socket::Socket(Socket&& other) noexcept
    : handle_(std::exchange(other.handle_, invalid_handle)), owned_(std::exchange(other.owned_, OwnedPath{})) {}

Socket& Socket::operator=(Socket&& other) noexcept {
    if (this != &other) {
        close();
        handle_ = std::exchange(other.handle_, invalid_handle);
        owned_ = std::exchange(other.owned_, OwnedPath{});
    }
    return *this;
}

Socket::~Socket() { close(); }

} // namespace tofu::net
