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
// Hosts are numeric, never resolved here, as on POSIX: names were resolved
// on the posting thread (net/resolve.hpp). An empty host listens dual-stack
// on all interfaces.
//
// AF_UNIX: Windows 10 1803+ has path-name Unix sockets (afunix.sys); the
// Linux abstract namespace ('@name') is not offered and reads as
// invalid_address. Wine 8.0 has no AF_UNIX at all: socket(AF_UNIX, ...)
// fails with WSAEAFNOSUPPORT, and listen / connect give not_implemented_yet
// (connect gives uds_path_not_found first when the path does not exist).
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

bool would_block(int error) noexcept { return error == WSAEWOULDBLOCK || error == WSAEINPROGRESS; }

// The connection is gone on the peer's side (or was torn down under us):
// the same cases socket_posix.cpp maps to peer_disconnected.
bool disconnected(int error) noexcept {
    switch (error) {
    case WSAECONNRESET:
    case WSAECONNABORTED:
    case WSAENETRESET:
    case WSAESHUTDOWN:
    case WSAENOTCONN:
    case WSAETIMEDOUT:
    case WSAEHOSTUNREACH:
    case WSAENETUNREACH:
    case WSAEDISCON: return true;
    default: return false;
    }
}

IoResult io_error(int error, Status otherwise) noexcept {
    if (would_block(error)) return {IoState::would_block, 0, Status::success};
    return {IoState::failed, 0, disconnected(error) ? Status::peer_disconnected : otherwise, error};
}

struct SocketAddress {
    sockaddr_storage storage{};
    int length = 0;
    const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
    int family() const noexcept { return storage.ss_family; }
};

// Numeric hosts only, as on POSIX: the reactor thread never blocks on name
// resolution. An empty host listens on all interfaces
// (IPv6 any, dual-stack); connecting to it means this machine.
Status to_socket_address(const Address& address, bool passive, SocketAddress& out) noexcept {
    std::string host = address.host;
    if (host.empty()) host = passive ? "::" : "::1";
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
    if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(address.port);
        out.length = sizeof(sockaddr_in);
        return Status::success;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(address.port);
        out.length = sizeof(sockaddr_in6);
        return Status::success;
    }
    return Status::invalid_address;
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

// Why an AF_UNIX socket could not be made. A Windows without afunix.sys
// (before 10 1803, or Wine 8) says WSAEAFNOSUPPORT: that is
// not_implemented_yet, so a caller can tell "no Unix sockets on this
// system" from a listen or connect that failed.
Status unix_socket_failure(Status otherwise) noexcept {
    return ::WSAGetLastError() == WSAEAFNOSUPPORT ? Status::not_implemented_yet : otherwise;
}

// Windows marks an AF_UNIX socket file with a reparse point of this tag
// (ntifs.h IO_REPARSE_TAG_AF_UNIX; MinGW's headers lack it).
constexpr DWORD reparse_tag_af_unix = 0x80000023;

bool is_socket_file(const std::string& path) noexcept {
    WIN32_FIND_DATAA data{};
    const HANDLE found = ::FindFirstFileA(path.c_str(), &data);
    if (found == INVALID_HANDLE_VALUE) return false;
    ::FindClose(found);
    return (data.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0 && data.dwReserved0 == reparse_tag_af_unix;
}

// Volume serial number and file index of the file itself (not of what a
// reparse point would lead to); false when it cannot be opened.
bool file_identity(const std::string& path, std::uint64_t& volume, std::uint64_t& index) noexcept {
    const HANDLE file =
        ::CreateFileA(path.c_str(), FILE_READ_ATTRIBUTES, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                      nullptr, OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, nullptr);
    if (file == INVALID_HANDLE_VALUE) return false;
    BY_HANDLE_FILE_INFORMATION info{};
    const bool ok = ::GetFileInformationByHandle(file, &info) != 0;
    ::CloseHandle(file);
    volume = info.dwVolumeSerialNumber;
    index = (std::uint64_t{info.nFileIndexHigh} << 32) | info.nFileIndexLow;
    return ok;
}

// A socket file nobody accepts on is a leftover of a dead process: safe to
// remove. Anything else at the path is not ours to touch.
bool stale_unix_socket(const std::string& path, const sockaddr_un& address) noexcept {
    if (!is_socket_file(path)) return false;
    const SOCKET probe = make_socket(AF_UNIX, 0);
    if (probe == INVALID_SOCKET) return false;
    const bool refused = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 &&
                         ::WSAGetLastError() == WSAECONNREFUSED;
    ::closesocket(probe);
    return refused;
}

} // namespace

Status startup() noexcept {
    static const Status status = startup_once(); // WSAStartup once per process
    return status;
}

void Socket::close() noexcept {
    if (handle_ != invalid_handle) {
        ::closesocket(static_cast<SOCKET>(handle_));
        handle_ = invalid_handle;
    }
    forget_path();
}

void Socket::forget_path() noexcept {
    if (owned_.path.empty()) return;
    std::uint64_t volume = 0;
    std::uint64_t index = 0;
    if (is_socket_file(owned_.path) && file_identity(owned_.path, volume, index) && volume == owned_.device &&
        index == owned_.file) {
        ::DeleteFileA(owned_.path.c_str());
    }
    owned_ = OwnedPath{};
}

namespace {

// A failed Winsock call: the status, and what the OS said (read before the
// half-made socket closes).
Result<Socket> os_failure(Status status) noexcept {
    return {status, std::error_code(::WSAGetLastError(), os_category())};
}

} // namespace

Result<Socket> Socket::listen(const Address& where, Address& bound) {
    if (Status status = startup(); status != Status::success) return status;
    if (where.kind == Address::Kind::uds) {
        sockaddr_un address{};
        if (!make_unix_address(where, address)) return Status::invalid_address;
        if (!parent_exists(where.path)) return Status::uds_path_not_found;
        Socket socket(static_cast<NativeHandle>(make_socket(AF_UNIX, 0)));
        if (!socket.valid()) return unix_socket_failure(Status::listen_failed);
        const SOCKET s = static_cast<SOCKET>(socket.handle_);
        int rc = ::bind(s, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
        if (rc != 0 && ::WSAGetLastError() == WSAEADDRINUSE && stale_unix_socket(where.path, address)) {
            // a leftover of a process that is gone, as socket_posix.cpp does
            ::DeleteFileA(where.path.c_str());
            rc = ::bind(s, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
        }
        if (rc != 0) {
            const std::error_code said(::WSAGetLastError(), os_category());
            // the folder may have gone since the check above
            return {parent_exists(where.path) ? Status::listen_failed : Status::uds_path_not_found, said};
        }
        if (std::uint64_t volume = 0, index = 0; file_identity(where.path, volume, index)) {
            socket.owned_ = OwnedPath{where.path, volume, index}; // from here on, close() removes the file
        }
        if (::listen(s, SOMAXCONN) != 0 || !set_non_blocking(s)) return os_failure(Status::listen_failed);
        bound = where;
        return socket;
    }

    SocketAddress address;
    if (Status status = to_socket_address(where, true, address); status != Status::success) return status;
    Socket socket(static_cast<NativeHandle>(make_socket(address.family(), IPPROTO_TCP)));
    if (!socket.valid()) return os_failure(Status::listen_failed);
    const SOCKET s = static_cast<SOCKET>(socket.handle_);
    // Windows lets another socket bind over a port with SO_REUSEADDR (it does
    // not mean what it means on POSIX); forbid that. A listener can rebind a
    // port in TIME_WAIT without it.
    BOOL exclusive = TRUE;
    if (::setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, reinterpret_cast<const char*>(&exclusive),
                     sizeof(exclusive)) != 0) {
        return os_failure(Status::setsockopt_failed);
    }
    if (address.family() == AF_INET6) {
        DWORD off = 0; // "all interfaces" means IPv4 too
        ::setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, reinterpret_cast<const char*>(&off), sizeof(off));
    }
    if (::bind(s, address.get(), address.length) != 0) return os_failure(Status::listen_failed);
    if (::listen(s, SOMAXCONN) != 0 || !set_non_blocking(s)) return os_failure(Status::listen_failed);
    bound = where;
    sockaddr_storage local{};
    int length = sizeof(local);
    if (::getsockname(s, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
        bound = to_address(local);
        if (where.host.empty()) bound.host.clear();
    }
    return socket;
}

Result<Socket> Socket::connect(const Address& to) {
    if (Status status = startup(); status != Status::success) return status;
    if (to.kind == Address::Kind::uds) {
        sockaddr_un address{};
        if (!make_unix_address(to, address)) return Status::invalid_address;
        if (!path_exists(to.path)) return Status::uds_path_not_found;
        Socket socket(static_cast<NativeHandle>(make_socket(AF_UNIX, 0)));
        if (!socket.valid()) return unix_socket_failure(Status::connect_failed);
        const SOCKET s = static_cast<SOCKET>(socket.handle_);
        if (!set_non_blocking(s)) return os_failure(Status::connect_failed);
        if (::connect(s, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
            const int error = ::WSAGetLastError();
            if (!would_block(error)) {
                return {path_exists(to.path) ? Status::connect_failed : Status::uds_path_not_found,
                        std::error_code(error, os_category())};
            }
        }
        return socket;
    }

    SocketAddress address;
    if (Status status = to_socket_address(to, false, address); status != Status::success) return status;
    if (to.port == 0) return Status::invalid_address;
    Socket socket(static_cast<NativeHandle>(make_socket(address.family(), IPPROTO_TCP)));
    if (!socket.valid()) return os_failure(Status::connect_failed);
    const SOCKET s = static_cast<SOCKET>(socket.handle_);
    if (!set_non_blocking(s)) return os_failure(Status::connect_failed);
    set_no_delay(s);
    if (::connect(s, address.get(), address.length) != 0) {
        const int error = ::WSAGetLastError();
        if (!would_block(error)) return {Status::connect_failed, std::error_code(error, os_category())};
    }
    return socket; // connected, or in progress: connect_result() after writability
}

IoResult Socket::connect_result() noexcept {
    if (!valid()) return {IoState::failed, 0, Status::connect_failed, WSAENOTSOCK};
    const SOCKET s = static_cast<SOCKET>(handle_);
    int error = 0;
    int length = sizeof(error);
    if (::getsockopt(s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&error), &length) != 0) {
        error = ::WSAGetLastError();
    }
    if (error != 0) return {IoState::failed, 0, Status::connect_failed, error};
    sockaddr_storage peer{};
    int peer_length = sizeof(peer);
    if (::getpeername(s, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0) {
        return {IoState::failed, 0, Status::connect_failed, ::WSAGetLastError()};
    }
    return {};
}

bool Socket::connect_pending() noexcept {
    // A connect that succeeded is writable, one that failed is in the
    // exception set (select, not WSAPoll, which misses failed connects).
    if (!valid()) return false;
    const SOCKET s = static_cast<SOCKET>(handle_);
    fd_set writable;
    fd_set failed;
    FD_ZERO(&writable);
    FD_ZERO(&failed);
    FD_SET(s, &writable);
    FD_SET(s, &failed);
    timeval now{0, 0};
    return ::select(0, nullptr, &writable, &failed, &now) == 0;
}

std::optional<Address> Socket::peer_address() const {
    sockaddr_storage peer{};
    int length = sizeof(peer);
    if (::getpeername(static_cast<SOCKET>(handle_), reinterpret_cast<sockaddr*>(&peer), &length) != 0) {
        return std::nullopt;
    }
    if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6) return std::nullopt;
    return to_address(peer);
}

IoResult Socket::accept(Socket& accepted) noexcept {
    sockaddr_storage peer{};
    int length = sizeof(peer);
    const SOCKET s = ::accept(static_cast<SOCKET>(handle_), reinterpret_cast<sockaddr*>(&peer), &length);
    if (s == INVALID_SOCKET) {
        switch (const int error = ::WSAGetLastError()) {
        // Out of sockets or buffer space: the listener must wait.
        case WSAEMFILE:
        case WSAENOBUFS:
        // The listener itself is unusable.
        case WSANOTINITIALISED:
        case WSAEINVAL:
        case WSAENOTSOCK:
        case WSAEOPNOTSUPP:
        case WSAEFAULT: return {IoState::failed, 0, Status::accept_failed, error};
        default:
            if (would_block(error)) return {IoState::would_block, 0, Status::success};
            // Anything else is about the one connection: reset or aborted
            // before we took it (Wine reports such a one as WSAENOTCONN).
            return {IoState::closed, 0, Status::peer_disconnected, error};
        }
    }
    Socket socket(static_cast<NativeHandle>(s));
    if (!set_non_blocking(s)) return {IoState::closed, 0, Status::peer_disconnected};
    if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) set_no_delay(s);
    accepted = std::move(socket);
    return {IoState::done, 0, Status::success};
}

namespace {

IoResult receive(SOCKET socket, std::span<std::byte> into, int flags) noexcept {
    if (into.empty()) return {IoState::done, 0, Status::success};
    const int size = static_cast<int>(std::min<std::size_t>(into.size(), INT_MAX));
    const int got = ::recv(socket, reinterpret_cast<char*>(into.data()), size, flags);
    if (got > 0) return {IoState::done, static_cast<std::size_t>(got), Status::success};
    if (got == 0) return {IoState::closed, 0, Status::peer_disconnected};
    return io_error(::WSAGetLastError(), Status::recv_failed);
}

} // namespace

IoResult Socket::read(std::span<std::byte> into) noexcept { return receive(static_cast<SOCKET>(handle_), into, 0); }

IoResult Socket::peek(std::span<std::byte> into) noexcept {
    return receive(static_cast<SOCKET>(handle_), into, MSG_PEEK);
}

IoResult Socket::writev(std::span<const IoVec> parts) noexcept {
    if (parts.empty()) return {IoState::done, 0, Status::success};
    const DWORD count = static_cast<DWORD>(std::min(parts.size(), max_iovecs));
    DWORD sent = 0;
    // WSASend does not modify the buffers; its signature just is not const.
    if (::WSASend(static_cast<SOCKET>(handle_), const_cast<WSABUF*>(parts.data()), count, &sent, 0, nullptr, nullptr) !=
        0) {
        return io_error(::WSAGetLastError(), Status::send_failed);
    }
    return {IoState::done, static_cast<std::size_t>(sent), Status::success};
}

} // namespace tofu::net
