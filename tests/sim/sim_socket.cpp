// net::Socket on the simulated kernel: the link seam. The simulation's copy
// of the library is built from the same sources as the real one, with this
// file in place of socket_posix.cpp; no #ifdef in src/, no virtual call.
// Statuses follow socket_posix.cpp for the same errors.
#include "kernel.hpp"

#include "net/socket.hpp"

#include <cerrno>
#include <utility>

namespace tofu::net {
namespace {

// Every call is a point where another thread could run: the world may.
sim::Kernel& kernel() {
    sim::Kernel& k = sim::current_kernel();
    k.interleave();
    return k;
}
int process() { return sim::current_process(); }

Status failure_status(int error, Status otherwise) noexcept {
    return error == ECONNRESET || error == EPIPE ? Status::peer_disconnected : otherwise;
}

} // namespace

Status startup() noexcept { return Status::success; }

void Socket::close() noexcept {
    if (handle_ != invalid_handle) {
        kernel().close(process(), handle_);
        handle_ = invalid_handle;
    }
}

void Socket::forget_path() noexcept {}

Result<Socket> Socket::listen(const Address& where, Address& bound) {
    int error = 0;
    const int fd = kernel().listen(process(), where, bound, error);
    if (fd < 0) return Status::listen_failed;
    return Socket(fd);
}

Result<Socket> Socket::connect(const Address& to) {
    if (to.kind == Address::Kind::tcp && to.port == 0) return Status::invalid_address;
    int error = 0;
    const int fd = kernel().connect(process(), to, error);
    if (fd < 0) return Status::connect_failed;
    return Socket(fd);
}

bool Socket::connect_pending() noexcept {
    kernel().count_io(process(), handle_);
    return kernel().connect_result(process(), handle_) == EINPROGRESS;
}

IoResult Socket::connect_result() noexcept {
    kernel().count_io(process(), handle_);
    // Asked before the connect completed, the answer would be a failure
    // of a connect that may yet succeed.
    if (kernel().connect_result(process(), handle_) == EINPROGRESS) kernel().asked_too_early();
    const int error = kernel().connect_result(process(), handle_);
    if (error != 0) return {IoState::failed, 0, Status::connect_failed, error};
    return {};
}

// The simulated kernel connects by port alone and keeps no peer addresses.
std::optional<Address> Socket::peer_address() const { return std::nullopt; }

IoResult Socket::accept(Socket& accepted) noexcept {
    int error = 0;
    kernel().count_io(process(), handle_);
    const int fd = kernel().accept(process(), handle_, error);
    if (fd < 0) {
        if (error == EAGAIN) return {IoState::would_block, 0, Status::success};
        if (error == ECONNABORTED) return {IoState::closed, 0, Status::peer_disconnected, error};
        return {IoState::failed, 0, Status::accept_failed, error};
    }
    accepted = Socket(fd);
    return {};
}

namespace {

IoResult receive(int handle, std::span<std::byte> into, bool peek) {
    int error = 0;
    kernel().count_io(process(), handle);
    const long n = kernel().read(process(), handle, into, peek, error);
    if (n > 0) return {IoState::done, static_cast<std::size_t>(n), Status::success};
    if (n == 0) return {IoState::closed, 0, Status::peer_disconnected};
    if (error == EAGAIN) return {IoState::would_block, 0, Status::success};
    return {IoState::failed, 0, failure_status(error, Status::recv_failed), error};
}

} // namespace

IoResult Socket::read(std::span<std::byte> into) noexcept { return receive(handle_, into, false); }

IoResult Socket::peek(std::span<std::byte> into) noexcept { return receive(handle_, into, true); }

IoResult Socket::writev(std::span<const IoVec> parts) noexcept {
    std::vector<std::span<const std::byte>> spans;
    spans.reserve(parts.size());
    for (const IoVec& part : parts) spans.emplace_back(static_cast<const std::byte*>(part.iov_base), part.iov_len);
    int error = 0;
    kernel().count_io(process(), handle_);
    const long n = kernel().write(process(), handle_, spans, error);
    if (n >= 0) return {IoState::done, static_cast<std::size_t>(n), Status::success};
    if (error == EAGAIN) return {IoState::would_block, 0, Status::success};
    return {IoState::failed, 0, failure_status(error, Status::send_failed), error};
}

} // namespace tofu::net
