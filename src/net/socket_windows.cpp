// Winsock implementation of net/socket.hpp: non-blocking TCP (IPv4, IPv6)
// and AF_UNIX stream sockets, with errors mapped to the statuses the POSIX
// implementation gives for the same situations.
//
// Sockets are made with WSA_FLAG_OVERLAPPED: the `afd` poller issues its
// IOCTL_AFD_POLL requests asynchronously on the socket's base handle, which
// needs a handle opened for overlapped I/O (a synchronous handle would make
// the request block). The data path itself is plain non-blocking
// recv / WSASend without OVERLAPPED.
//
// AF_UNIX: Windows 10 1803+ has path-name Unix sockets (afunix.sys); the
// Linux abstract namespace ('@name') is not offered here and reads as
// invalid_address. Wine 8.0 has AF_UNIX too (see docs in the report / tests).
#include "net/socket.hpp"

#include <winsock2.h>
#include <ws2tcpip.h>
#include <afunix.h>
#include <windows.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>
#include <utility>

namespace tofu::net {
namespace {

Status startup_once() noexcept {
    WSADATA data{};
    return ::WSAStartup(MAKEWORD(2, 2), &data) == 0 ? Status::success : Status::communication_failed;
}

bool set_non_blocking(SOCKET socket) noexcept {
    u_long on = 1;
    return ::ioctlsocket(socket, FIONBIO, &on) == 0;
}

void set_no_delay(SOCKET socket) noexcept {
    BOOL on = TRUE;
    ::setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&on), sizeof(on));
}

SOCKET make_socket(int family, int protocol) noexcept {
    return ::WSASocketW(family, SOCK_STREAM, protocol, nullptr, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
}

bool would_block(int error) noexcept {
    return error == WSAEWOULDBLOCK || error == WSAEINPROGRESS;
}

// The connection is gone on the peer's side (or was torn down under us).
bool disconnected(int error) noexcept {
    switch (error) {
    case WSAECONNRESET:
    case WSAECONNABORTED:
    case WSAENETRESET:
    case WSAESHUTDOWN:
    case WSAENOTCONN:
    case WSAETIMEDOUT:
    case WSAEDISCON:
        return true;
    default:
        return false;
    }
}

IoResult io_error(int error) noexcept {
    if (would_block(error)) return {IoState::would_block, 0, Status::success};
    return {IoState::failed, 0, disconnected(error) ? Status::peer_disconnected : Status::communication_failed};
}

struct AddrInfoList {
    addrinfo* head = nullptr;
    ~AddrInfoList() {
        if (head != nullptr) ::freeaddrinfo(head);
    }
};

// Resolves a TCP address. An empty host listens on all IPv4 interfaces (and
// is not a place to connect to).
Status resolve(const Address& address, bool passive, AddrInfoList& out) noexcept {
    std::string host = address.host;
    if (host.empty()) {
        if (!passive) return Status::invalid_address;
        host = "0.0.0.0";
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    const std::string port = std::to_string(address.port);
    if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &out.head) != 0 || out.head == nullptr) {
        return Status::invalid_address;
    }
    return Status::success;
}

Address to_address(const sockaddr_storage& storage) {
    char text[INET6_ADDRSTRLEN] = {};
    Address address;
    address.kind = Address::Kind::tcp;
    if (storage.ss_family == AF_INET6) {
        const auto& in6 = reinterpret_cast<const sockaddr_in6&>(storage);
        ::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof(text));
        address.port = ntohs(in6.sin6_port);
    } else {
        const auto& in4 = reinterpret_cast<const sockaddr_in&>(storage);
        ::inet_ntop(AF_INET, &in4.sin_addr, text, sizeof(text));
        address.port = ntohs(in4.sin_port);
    }
    address.host = text;
    return address;
}

// sun_path holds the path and its terminating NUL.
bool make_unix_address(const Address& address, sockaddr_un& out) noexcept {
    if (address.path.empty() || address.abstract() || address.path.size() >= sizeof(out.sun_path)) return false;
    std::memset(&out, 0, sizeof(out));
    out.sun_family = AF_UNIX;
    std::memcpy(out.sun_path, address.path.data(), address.path.size());
    return true;
}

bool path_exists(const std::string& path) noexcept {
    return ::GetFileAttributesA(path.c_str()) != INVALID_FILE_ATTRIBUTES;
}

// The folder a Unix socket would be created in exists (or is the current one).
bool parent_exists(const std::string& path) noexcept {
    const std::size_t slash = path.find_last_of("/\\");
    if (slash == std::string::npos) return true;
    std::string parent = path.substr(0, slash);
    if (parent.empty() || (parent.size() == 2 && parent[1] == ':')) return true; // root
    const DWORD attributes = ::GetFileAttributesA(parent.c_str());
    return attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_DIRECTORY) != 0;
}

} // namespace

Status startup() noexcept {
    static const Status status = startup_once(); // WSAStartup once per process
    return status;
}

Socket::Socket(Socket&& other) noexcept
    : handle_(std::exchange(other.handle_, invalid_handle)), owned_path_(std::move(other.owned_path_)) {
    other.owned_path_.clear();
}

Socket& Socket::operator=(Socket&& other) noexcept {
    if (this != &other) {
        close();
        handle_ = std::exchange(other.handle_, invalid_handle);
        owned_path_ = std::move(other.owned_path_);
        other.owned_path_.clear();
    }
    return *this;
}

Socket::~Socket() {
    close();
}

void Socket::close() noexcept {
    if (handle_ != invalid_handle) {
        ::closesocket(static_cast<SOCKET>(handle_));
        handle_ = invalid_handle;
    }
    if (!owned_path_.empty()) {
        ::DeleteFileA(owned_path_.c_str());
        owned_path_.clear();
    }
}

Result<Socket> Socket::listen(const Address& where, Address& bound) {
    if (Status status = startup(); status != Status::success) return status;
    if (where.kind == Address::Kind::uds) {
        sockaddr_un address{};
        if (!make_unix_address(where, address)) return Status::invalid_address;
        if (!parent_exists(where.path)) return Status::uds_path_not_found;
        Socket socket(static_cast<NativeHandle>(make_socket(AF_UNIX, 0)));
        if (!socket.valid()) return Status::listen_failed;
        const SOCKET s = static_cast<SOCKET>(socket.handle_);
        if (::bind(s, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
            // the folder may have gone since the check above
            return parent_exists(where.path) ? Status::listen_failed : Status::uds_path_not_found;
        }
        socket.owned_path_ = where.path; // from here on, close() removes the file
        if (::listen(s, SOMAXCONN) != 0 || !set_non_blocking(s)) return Status::listen_failed;
        bound = where;
        return socket;
    }

    AddrInfoList list;
    if (Status status = resolve(where, true, list); status != Status::success) return status;
    Status failure = Status::listen_failed;
    for (const addrinfo* ai = list.head; ai != nullptr; ai = ai->ai_next) {
        Socket socket(static_cast<NativeHandle>(make_socket(ai->ai_family, ai->ai_protocol)));
        if (!socket.valid()) continue;
        const SOCKET s = static_cast<SOCKET>(socket.handle_);
        // Windows lets another socket bind over SO_REUSEADDR; forbid it.
        BOOL exclusive = TRUE;
        ::setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, reinterpret_cast<const char*>(&exclusive),
                     sizeof(exclusive));
        if (::bind(s, ai->ai_addr, static_cast<int>(ai->ai_addrlen)) != 0) {
            failure = Status::listen_failed;
            continue;
        }
        if (::listen(s, SOMAXCONN) != 0 || !set_non_blocking(s)) continue;
        sockaddr_storage local{};
        int length = sizeof(local);
        if (::getsockname(s, reinterpret_cast<sockaddr*>(&local), &length) != 0) continue;
        bound = to_address(local);
        return socket;
    }
    return failure;
}

Result<Socket> Socket::connect(const Address& to) {
    if (Status status = startup(); status != Status::success) return status;
    if (to.kind == Address::Kind::uds) {
        sockaddr_un address{};
        if (!make_unix_address(to, address)) return Status::invalid_address;
        if (!path_exists(to.path)) return Status::uds_path_not_found;
        Socket socket(static_cast<NativeHandle>(make_socket(AF_UNIX, 0)));
        if (!socket.valid()) return Status::connect_failed;
        const SOCKET s = static_cast<SOCKET>(socket.handle_);
        if (!set_non_blocking(s)) return Status::connect_failed;
        if (::connect(s, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
            const int error = ::WSAGetLastError();
            if (!would_block(error)) return path_exists(to.path) ? Status::connect_failed : Status::uds_path_not_found;
        }
        return socket;
    }

    AddrInfoList list;
    if (Status status = resolve(to, false, list); status != Status::success) return status;
    for (const addrinfo* ai = list.head; ai != nullptr; ai = ai->ai_next) {
        Socket socket(static_cast<NativeHandle>(make_socket(ai->ai_family, ai->ai_protocol)));
        if (!socket.valid()) continue;
        const SOCKET s = static_cast<SOCKET>(socket.handle_);
        if (!set_non_blocking(s)) continue;
        set_no_delay(s);
        if (::connect(s, ai->ai_addr, static_cast<int>(ai->ai_addrlen)) != 0) {
            const int error = ::WSAGetLastError();
            if (!would_block(error)) continue; // refused at once: try the next address
        }
        return socket; // connected, or in progress: connect_result() after writability
    }
    return Status::connect_failed;
}

Status Socket::connect_result() noexcept {
    if (!valid()) return Status::connect_failed;
    const SOCKET s = static_cast<SOCKET>(handle_);
    int error = 0;
    int length = sizeof(error);
    if (::getsockopt(s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&error), &length) != 0 || error != 0) {
        return Status::connect_failed;
    }
    sockaddr_storage peer{};
    int peer_length = sizeof(peer);
    if (::getpeername(s, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0) return Status::connect_failed;
    return Status::success;
}

IoResult Socket::accept(Socket& accepted) noexcept {
    const SOCKET listener = static_cast<SOCKET>(handle_);
    for (;;) {
        sockaddr_storage peer{};
        int length = sizeof(peer);
        const SOCKET s = ::accept(listener, reinterpret_cast<sockaddr*>(&peer), &length);
        if (s == INVALID_SOCKET) {
            const int error = ::WSAGetLastError();
            if (would_block(error)) return {IoState::would_block, 0, Status::success};
            // The client gave up before we accepted: take the next one.
            if (error == WSAECONNRESET || error == WSAECONNABORTED) continue;
            return {IoState::failed, 0, Status::accept_failed};
        }
        Socket socket(static_cast<NativeHandle>(s));
        if (!set_non_blocking(s)) return {IoState::failed, 0, Status::accept_failed};
        if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) set_no_delay(s);
        accepted = std::move(socket);
        return {IoState::done, 0, Status::success};
    }
}

IoResult Socket::read(std::span<std::byte> into) noexcept {
    if (into.empty()) return {IoState::done, 0, Status::success};
    const int size = static_cast<int>(std::min<std::size_t>(into.size(), INT_MAX));
    const int got = ::recv(static_cast<SOCKET>(handle_), reinterpret_cast<char*>(into.data()), size, 0);
    if (got > 0) return {IoState::done, static_cast<std::size_t>(got), Status::success};
    if (got == 0) return {IoState::closed, 0, Status::success};
    return io_error(::WSAGetLastError());
}

IoResult Socket::writev(std::span<const IoVec> parts) noexcept {
    if (parts.empty()) return {IoState::done, 0, Status::success};
    const DWORD count = static_cast<DWORD>(std::min(parts.size(), max_iovecs));
    DWORD sent = 0;
    // WSASend does not modify the buffers; its signature just is not const.
    if (::WSASend(static_cast<SOCKET>(handle_), const_cast<WSABUF*>(parts.data()), count, &sent, 0, nullptr,
                  nullptr) != 0) {
        return io_error(::WSAGetLastError());
    }
    return {IoState::done, static_cast<std::size_t>(sent), Status::success};
}

} // namespace tofu::net
