#pragma once
// Non-blocking stream sockets (TCP v4/v6, Unix domain) behind one small
// interface, so the reactor never names an operating system. One
// implementation per platform: socket_posix.cpp, socket_windows.cpp.
#include <tofu/address.hpp>
#include <tofu/result.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#ifdef _WIN32
#include <winsock2.h>
#else
#include <sys/uio.h>
#endif

namespace tofu::net {

#ifdef _WIN32
using NativeHandle = std::uintptr_t; // SOCKET
inline constexpr NativeHandle invalid_handle = ~NativeHandle{0};
using IoVec = WSABUF;
inline IoVec make_iovec(const std::byte* data, std::size_t size) noexcept {
    return IoVec{static_cast<ULONG>(size), reinterpret_cast<CHAR*>(const_cast<std::byte*>(data))};
}
#else
using NativeHandle = int;
inline constexpr NativeHandle invalid_handle = -1;
using IoVec = ::iovec;
inline IoVec make_iovec(const std::byte* data, std::size_t size) noexcept {
    return IoVec{const_cast<std::byte*>(data), size};
}
#endif

// At most this many iovecs go to one writev (IOV_MAX is 1024 on Linux).
inline constexpr std::size_t max_iovecs = 1024;

enum class IoState {
    done,        // `bytes` moved (or a socket accepted)
    would_block, // try again after readiness
    closed,      // orderly end of stream from the peer; for accept: that
                 // connection died in the backlog, take the next
    failed,      // `status` says why
};

struct IoResult {
    IoState state = IoState::done;
    std::size_t bytes = 0;
    Status status = Status::success;
    // What the OS said behind `failed` (and behind `closed` when that was
    // not an orderly end): errno, or the WSA error code on Windows; 0 when
    // it said nothing. Kept so the layers above can tell the application.
    int os_error = 0;
};

// Once per process before any socket is made (WSAStartup on Windows).
Status startup() noexcept;

class Socket {
public:
    Socket() = default;
    explicit Socket(NativeHandle handle) noexcept : handle_(handle) {}
    Socket(Socket&& other) noexcept;
    Socket& operator=(Socket&& other) noexcept;
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    ~Socket();

    NativeHandle handle() const noexcept { return handle_; }
    bool valid() const noexcept { return handle_ != invalid_handle; }

    // A non-blocking listening socket; `bound` gets the real address (the
    // port the kernel picked for port 0). listen_failed, wrong_address,
    // invalid_address or uds_path_not_found on failure.
    static Result<Socket> listen(const Address& where, Address& bound);
    // Starts a non-blocking connect; finish it with connect_result() once
    // the socket is writable. connect_failed / wrong_address / invalid_address.
    static Result<Socket> connect(const Address& to);
    // `done`, or `failed` with connect_failed and what the OS said.
    IoResult connect_result() noexcept;
    // Whether a connect started by connect() is still under way: a
    // writable report may come early (a spurious or stale event, which the
    // poller contract allows), and asking connect_result() then would turn
    // a connect still in progress into a failure.
    bool connect_pending() noexcept;

    IoResult accept(Socket& accepted) noexcept;
    // A TCP socket's peer (for the ~peer_address header of an accepted
    // channel's HelloRequest); empty for Unix sockets, whose peers are
    // almost always unnamed, and when the OS cannot say.
    std::optional<Address> peer_address() const;
    IoResult read(std::span<std::byte> into) noexcept;
    // Like read(), but the bytes stay queued in the kernel: the next read
    // or peek returns them again.
    IoResult peek(std::span<std::byte> into) noexcept;
    IoResult writev(std::span<const IoVec> parts) noexcept;
    void close() noexcept;

private:
    // The Unix socket file this listener bound. close() removes it only if
    // the path still names that very file (device and inode, or volume and
    // file index), so a file someone put there since is left alone.
    struct OwnedPath {
        std::string path;
        std::uint64_t device = 0;
        std::uint64_t file = 0;
    };
    void forget_path() noexcept;

    NativeHandle handle_ = invalid_handle;
    OwnedPath owned_;
};

} // namespace tofu::net
