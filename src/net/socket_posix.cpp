// Sockets for Linux, macOS and the BSDs. Where a platform lacks the atomic
// forms (macOS: no SOCK_NONBLOCK / SOCK_CLOEXEC, no accept4, no
// MSG_NOSIGNAL), fcntl() sets non-blocking and close-on-exec right after the
// socket is made or accepted, and SO_NOSIGPIPE on every socket keeps a
// vanished peer from raising SIGPIPE. Without SOCK_CLOEXEC a fork + exec in
// another thread can inherit a socket made in that window; nothing in this
// library forks.
#include "net/socket.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace tofu::net {
namespace {

struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;
    const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
    int family() const noexcept { return storage.ss_family; }
};

// Numeric hosts only: the reactor thread must never block on name
// resolution, so names were resolved on the posting thread (net/resolve.hpp).
// Empty host = all interfaces (IPv6 any, dual-stack).
Status to_socket_address(const Address& address, SocketAddress& out) {
    if (address.kind == Address::Kind::uds) {
        auto* un = reinterpret_cast<sockaddr_un*>(&out.storage);
        un->sun_family = AF_UNIX;
        if (address.path.empty() || address.path.size() >= sizeof(un->sun_path)) return Status::invalid_address;
        if (address.abstract()) {
#ifdef __linux__
            // Abstract names start with NUL and are not NUL-terminated.
            un->sun_path[0] = '\0';
            std::memcpy(un->sun_path + 1, address.path.data() + 1, address.path.size() - 1);
            out.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.path.size());
            return Status::success;
#else
            // The abstract namespace is Linux's alone; the address is well
            // formed, this platform just does not have it.
            return Status::not_implemented_yet;
#endif
        }
        std::memcpy(un->sun_path, address.path.data(), address.path.size());
        out.length = static_cast<socklen_t>(sizeof(sockaddr_un));
        return Status::success;
    }
    const std::string host = address.host.empty() ? std::string("::") : address.host;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(address.port);
        out.length = sizeof(sockaddr_in);
        return Status::success;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(address.port);
        out.length = sizeof(sockaddr_in6);
        return Status::success;
    }
    return Status::invalid_address;
}

Address from_socket_address(const sockaddr_storage& storage, const Address& fallback) {
    char text[INET6_ADDRSTRLEN] = {};
    if (storage.ss_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
        inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
        return tcp(text, ntohs(v4->sin_port));
    }
    if (storage.ss_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
        inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
        return tcp(text, ntohs(v6->sin6_port));
    }
    return fallback;
}

// What a socket needs beyond what socket() / accept4() gave it here.
bool prepare(int fd) noexcept {
#ifndef SOCK_NONBLOCK
    const int status_flags = ::fcntl(fd, F_GETFL);
    if (status_flags < 0 || ::fcntl(fd, F_SETFL, status_flags | O_NONBLOCK) != 0) return false;
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return false;
#endif
#ifndef MSG_NOSIGNAL
    const int on = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof(on)) != 0) return false;
#endif
    static_cast<void>(fd);
    return true;
}

int open_socket(int family) noexcept {
#ifdef SOCK_NONBLOCK
    const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
    const int fd = ::socket(family, SOCK_STREAM, 0);
#endif
    if (fd >= 0 && !prepare(fd)) {
        ::close(fd);
        return -1;
    }
    return fd;
}

#ifdef MSG_NOSIGNAL
constexpr int send_flags = MSG_NOSIGNAL; // a vanished peer is a status, not a SIGPIPE
#else
constexpr int send_flags = 0; // SO_NOSIGPIPE, set by prepare(), does that here
#endif

void tune_stream(int fd, int family) noexcept {
    if (family == AF_INET || family == AF_INET6) {
        const int on = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    }
}

bool is_socket_file(const std::string& path, struct stat& info) noexcept {
    return ::lstat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode);
}

// A socket file nobody accepts on is a leftover of a dead process: safe to
// remove. Anything else at the path (a regular file, a directory, a socket
// someone listens on) is not ours to touch.
bool stale_unix_socket(const std::string& path, const SocketAddress& address) noexcept {
    struct stat info {};
    if (!is_socket_file(path, info)) return false;
    const int probe = open_socket(AF_UNIX);
    if (probe < 0) return false;
    const bool refused = ::connect(probe, address.get(), address.length) != 0 && errno == ECONNREFUSED;
    ::close(probe);
    return refused;
}

Status failure_status(int error, Status otherwise) noexcept {
    switch (error) {
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH: return Status::peer_disconnected;
    default: return otherwise;
    }
}

} // namespace

Status startup() noexcept { return Status::success; }

void Socket::close() noexcept {
    if (handle_ != invalid_handle) {
        ::close(handle_);
        handle_ = invalid_handle;
    }
    forget_path();
}

void Socket::forget_path() noexcept {
    if (owned_.path.empty()) return;
    struct stat info {};
    if (is_socket_file(owned_.path, info) && static_cast<std::uint64_t>(info.st_dev) == owned_.device &&
        static_cast<std::uint64_t>(info.st_ino) == owned_.file) {
        ::unlink(owned_.path.c_str());
    }
    owned_ = OwnedPath{};
}

namespace {

// A failed system call: the status, and what the OS said (errno is read
// before the half-made socket closes).
Result<Socket> os_failure(Status status) noexcept { return {status, std::error_code(errno, os_category())}; }

} // namespace

Result<Socket> Socket::listen(const Address& where, Address& bound) {
    SocketAddress address;
    if (Status s = to_socket_address(where, address); s != Status::success) return s;
    Socket socket(open_socket(address.family()));
    if (!socket.valid()) return os_failure(Status::listen_failed);
    const int on = 1;
    if (address.family() != AF_UNIX) {
        if (::setsockopt(socket.handle_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0) {
            return os_failure(Status::setsockopt_failed);
        }
    }
    if (address.family() == AF_INET6) {
        const int off = 0; // "all interfaces" means IPv4 too
        ::setsockopt(socket.handle_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    }
    const bool unix_path = where.kind == Address::Kind::uds && !where.abstract();
    int rc = ::bind(socket.handle_, address.get(), address.length);
    if (rc != 0 && errno == EADDRINUSE && unix_path && stale_unix_socket(where.path, address)) {
        ::unlink(where.path.c_str());
        rc = ::bind(socket.handle_, address.get(), address.length);
    }
    if (rc != 0)
        return os_failure(errno == ENOENT || errno == ENOTDIR ? Status::uds_path_not_found : Status::listen_failed);
    if (struct stat info{}; unix_path && is_socket_file(where.path, info)) {
        socket.owned_ =
            OwnedPath{where.path, static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino)};
    }
    if (::listen(socket.handle_, SOMAXCONN) != 0) return os_failure(Status::listen_failed);

    bound = where;
    if (where.kind == Address::Kind::tcp) {
        sockaddr_storage actual{};
        socklen_t length = sizeof(actual);
        if (::getsockname(socket.handle_, reinterpret_cast<sockaddr*>(&actual), &length) == 0) {
            bound = from_socket_address(actual, where);
            if (where.host.empty()) bound.host.clear();
        }
    }
    return socket;
}

Result<Socket> Socket::connect(const Address& to) {
    SocketAddress address;
    if (Status s = to_socket_address(to, address); s != Status::success) return s;
    if (to.kind == Address::Kind::tcp && to.port == 0) return Status::invalid_address;
    Socket socket(open_socket(address.family()));
    if (!socket.valid()) return os_failure(Status::connect_failed);
    tune_stream(socket.handle_, address.family());
    if (::connect(socket.handle_, address.get(), address.length) != 0 && errno != EINPROGRESS) {
        if (to.kind == Address::Kind::uds && (errno == ENOENT || errno == ENOTDIR))
            return os_failure(Status::uds_path_not_found);
        return os_failure(Status::connect_failed);
    }
    return socket;
}

IoResult Socket::connect_result() noexcept {
    int error = 0;
    socklen_t length = sizeof(error);
    if (::getsockopt(handle_, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error != 0) return {IoState::failed, 0, Status::connect_failed, error};
    // Reading SO_ERROR clears it, and a poller may have read it first
    // (libkqueue does, to fill in the event it reports): a connect that
    // failed can show no error here. Only a socket with a peer is connected.
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof(peer);
    if (::getpeername(handle_, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0) {
        return {IoState::failed, 0, Status::connect_failed, errno};
    }
    return {};
}

bool Socket::connect_pending() noexcept {
    // Neither writable nor failed yet (SO_ERROR may be gone already: some
    // pollers read it to fill in their events).
    pollfd probe{handle_, POLLOUT, 0};
    return ::poll(&probe, 1, 0) == 0;
}

std::optional<Address> Socket::peer_address() const {
    sockaddr_storage peer{};
    socklen_t length = sizeof(peer);
    if (::getpeername(handle_, reinterpret_cast<sockaddr*>(&peer), &length) != 0) return std::nullopt;
    if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6) return std::nullopt;
    return from_socket_address(peer, Address{});
}

IoResult Socket::accept(Socket& accepted) noexcept {
    sockaddr_storage peer{};
    socklen_t length = sizeof(peer);
#ifdef SOCK_NONBLOCK // every system with these flags has accept4 (Linux, the BSDs)
    const int fd = ::accept4(handle_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    const int fd = ::accept(handle_, reinterpret_cast<sockaddr*>(&peer), &length);
#endif
    if (fd < 0) {
        const int error = errno;
        switch (error) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return {IoState::would_block, 0, Status::success};
        // Out of descriptors or kernel memory: the listener must wait.
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
        // The listener itself is unusable.
        case EBADF:
        case EINVAL:
        case ENOTSOCK:
        case EOPNOTSUPP:
        case EFAULT: return {IoState::failed, 0, Status::accept_failed, error};
        // Anything else is about the one connection (ECONNABORTED, EPROTO,
        // EPERM from a firewall, the network errors Linux passes on,
        // EINTR): it is not the listener's failure.
        default: return {IoState::closed, 0, Status::peer_disconnected, error};
        }
    }
    if (!prepare(fd)) {
        // XNU refuses socket options once both directions are shut: the
        // connection died before it was accepted.
        ::close(fd);
        return {IoState::closed, 0, Status::peer_disconnected};
    }
    tune_stream(fd, peer.ss_family);
    accepted = Socket(fd);
    return {};
}

namespace {

IoResult receive(int handle, std::span<std::byte> into, int flags) noexcept {
    for (;;) {
        const ssize_t n = ::recv(handle, into.data(), into.size(), flags);
        if (n > 0) return {IoState::done, static_cast<std::size_t>(n), Status::success};
        if (n == 0) return {IoState::closed, 0, Status::peer_disconnected};
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoState::would_block, 0, Status::success};
        return {IoState::failed, 0, failure_status(errno, Status::recv_failed), errno};
    }
}

} // namespace

IoResult Socket::read(std::span<std::byte> into) noexcept { return receive(handle_, into, 0); }

IoResult Socket::peek(std::span<std::byte> into) noexcept { return receive(handle_, into, MSG_PEEK); }

IoResult Socket::writev(std::span<const IoVec> parts) noexcept {
    msghdr message{};
    message.msg_iov = const_cast<IoVec*>(parts.data());
    message.msg_iovlen = parts.size();
    for (;;) {
        const ssize_t n = ::sendmsg(handle_, &message, send_flags);
        if (n >= 0) return {IoState::done, static_cast<std::size_t>(n), Status::success};
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoState::would_block, 0, Status::success};
        return {IoState::failed, 0, failure_status(errno, Status::send_failed), errno};
    }
}

} // namespace tofu::net
