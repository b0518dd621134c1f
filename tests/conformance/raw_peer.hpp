#pragma once
// A peer speaking the tofu wire protocol over a plain socket, byte by byte,
// so a test controls exactly what the engine reads (garbage, half frames,
// one big write, silence, FIN, RST) and when. Frames are written by hand from
// protocol §4, independently of the engine's codec. POSIX sockets, or Winsock on
// Windows: the hostile-peer and protocol-violation cases run on every
// backend, afd included.
#include "harness.hpp"

#include "net/socket.hpp"

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#endif

#include <span>

namespace tofu::conformance::raw {

using Bytes = std::vector<std::byte>;

// ---- the platform, as little of it as the peer needs --------------------------

#ifdef _WIN32
using Handle = SOCKET;
inline constexpr Handle no_handle = INVALID_SOCKET;
inline int last_error() { return ::WSAGetLastError(); }
inline bool would_block(int error) { return error == WSAEWOULDBLOCK; }
inline bool interrupted(int) { return false; }
inline void close_handle(Handle h) { ::closesocket(h); }
inline int poll_one(Handle h, short events, int ms) {
    WSAPOLLFD p{h, events, 0};
    return ::WSAPoll(&p, 1, ms);
}
inline int send_flags() { return 0; }
inline int shutdown_write_how() { return SD_SEND; }
#else
using Handle = int;
inline constexpr Handle no_handle = -1;
inline int last_error() { return errno; }
inline bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }
inline bool interrupted(int error) { return error == EINTR; }
inline void close_handle(Handle h) { ::close(h); }
inline int poll_one(Handle h, short events, int ms) {
    pollfd p{h, events, 0};
    return ::poll(&p, 1, ms);
}
// No SIGPIPE when the engine hung up first: MSG_NOSIGNAL where it exists,
// SO_NOSIGPIPE on the socket elsewhere (set in connect()).
#ifdef MSG_NOSIGNAL
inline int send_flags() { return MSG_NOSIGNAL; }
#else
inline int send_flags() { return 0; }
#endif
inline int shutdown_write_how() { return SHUT_WR; }
#endif

inline std::string error_text(int error) {
#ifdef _WIN32
    return "WSA error " + std::to_string(error);
#else
    return std::strerror(error);
#endif
}

// ---- frames -------------------------------------------------------------------

// The 4-bit opcode field, raw: 0..15, valid or not.
struct FrameSpec {
    std::uint8_t opcode = 0;
    bool more = false;
    bool engine_origin = false;
    std::uint8_t status = 0;
    std::uint16_t channel = 0;
    std::uint64_t id = 1;
    std::string_view headers{};
    std::span<const std::byte> body{};
};

// protocol §4: channel(2) proto(1) status(1) id(8) headers_len(2) body_len(2),
// big-endian, then the header block, then the body.
inline void append_frame(Bytes& out, const FrameSpec& f) {
    const auto put = [&out](std::uint64_t value, int bytes) {
        for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::byte>((value >> (8 * i)) & 0xFF));
    };
    put(f.channel, 2);
    put(static_cast<std::uint8_t>((f.opcode & 0x0F) | (f.engine_origin ? 0x10 : 0) | (f.more ? 0x20 : 0)), 1);
    put(f.status, 1);
    put(f.id, 8);
    put(f.headers.size(), 2);
    put(f.body.size(), 2);
    for (char c : f.headers) out.push_back(static_cast<std::byte>(c));
    out.insert(out.end(), f.body.begin(), f.body.end());
}

inline Bytes frame(const FrameSpec& f) {
    Bytes out;
    append_frame(out, f);
    return out;
}

inline Bytes text_bytes(std::string_view text) {
    Bytes out(text.size());
    std::memcpy(out.data(), text.data(), text.size());
    return out;
}

inline std::uint8_t op(OpCode code) { return static_cast<std::uint8_t>(code); }

// Bytes that follow from `seed` and nothing else.
inline Bytes pseudo_random(std::size_t size, std::uint64_t seed) {
    Bytes out(size);
    for (auto& b : out) b = static_cast<std::byte>(splitmix64(seed));
    return out;
}

struct ParsedFrame {
    std::uint16_t channel = 0;
    std::uint8_t opcode = 0;
    bool engine_origin = false;
    bool more = false;
    std::uint8_t status = 0;
    std::uint64_t id = 0;
    std::string headers;
    Bytes body;
};

// Whether `handle` gets `events` (or an error) within `timeout`.
inline bool wait_ready(Handle handle, short events, std::chrono::milliseconds timeout) {
    for (;;) {
        const int n = poll_one(handle, events, static_cast<int>(timeout.count()));
        if (n < 0 && interrupted(last_error())) continue;
        return n > 0;
    }
}

// ---- the peer -----------------------------------------------------------------

class RawPeer {
public:
    RawPeer() = default;
    explicit RawPeer(Handle handle) : handle_(handle) {}
    RawPeer(RawPeer&& other) noexcept : handle_(std::exchange(other.handle_, no_handle)) {}
    RawPeer& operator=(RawPeer&& other) noexcept {
        if (this != &other) {
            close();
            handle_ = std::exchange(other.handle_, no_handle);
        }
        return *this;
    }
    ~RawPeer() { close(); }

    // A blocking connect to a tcp (numeric host) or uds address. Failures
    // are test failures unless `quiet` (a flood may outrun the backlog).
    static RawPeer connect(const Address& to, bool quiet = false) {
        EXPECT_EQ(net::startup(), Status::success);
        sockaddr_storage storage{};
        int length = 0;
        int family = AF_INET;
        if (to.kind == Address::Kind::uds) {
#ifdef _WIN32
            ADD_FAILURE() << "no Unix sockets for raw peers on Windows";
            return RawPeer();
#else
            family = AF_UNIX;
            auto* un = reinterpret_cast<sockaddr_un*>(&storage);
            un->sun_family = AF_UNIX;
            std::memcpy(un->sun_path, to.path.data(), to.path.size());
            if (to.abstract()) un->sun_path[0] = '\0';
            length = static_cast<int>(offsetof(sockaddr_un, sun_path) + to.path.size() + (to.abstract() ? 0 : 1));
#endif
        } else if (to.host.find(':') != std::string::npos) {
            family = AF_INET6;
            auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons(to.port);
            ::inet_pton(AF_INET6, to.host.c_str(), &v6->sin6_addr);
            length = sizeof(sockaddr_in6);
        } else {
            auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
            v4->sin_family = AF_INET;
            v4->sin_port = htons(to.port);
            ::inet_pton(AF_INET, to.host.c_str(), &v4->sin_addr);
            length = sizeof(sockaddr_in);
        }
        const Handle handle = ::socket(family, SOCK_STREAM, 0);
        if (handle == no_handle) {
            if (!quiet) ADD_FAILURE() << "socket: " << error_text(last_error());
            return RawPeer();
        }
        RawPeer peer(handle);
#if !defined(_WIN32)
        ::fcntl(handle, F_SETFD, FD_CLOEXEC);
#if defined(SO_NOSIGPIPE)
        const int on_nosigpipe = 1;
        ::setsockopt(handle, SOL_SOCKET, SO_NOSIGPIPE, &on_nosigpipe, sizeof(on_nosigpipe));
#endif
#endif
        if (::connect(handle, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
            if (!quiet) ADD_FAILURE() << "connect to " << to.to_string() << ": " << error_text(last_error());
            return RawPeer();
        }
        if (family != AF_UNIX) {
            const int on = 1;
            ::setsockopt(handle, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&on), sizeof(on));
        }
        return peer;
    }

    Handle handle() const { return handle_; }
    explicit operator bool() const { return handle_ != no_handle; }

    void set_nonblocking(bool on) {
#ifdef _WIN32
        u_long mode = on ? 1 : 0;
        ::ioctlsocket(handle_, FIONBIO, &mode);
#else
        const int flags = ::fcntl(handle_, F_GETFL);
        ::fcntl(handle_, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
#endif
    }

    // One send call: bytes taken, 0 when it would block, -1 on error.
    long send_some(std::span<const std::byte> data) {
        for (;;) {
            const int size = static_cast<int>(std::min<std::size_t>(data.size(), 1 << 30));
            const auto n = ::send(handle_, reinterpret_cast<const char*>(data.data()), size, send_flags());
            if (n >= 0) return static_cast<long>(n);
            const int error = last_error();
            if (interrupted(error)) continue;
            if (would_block(error)) return 0;
            return -1;
        }
    }

    // Everything, waiting for room when the socket is non-blocking.
    bool send_all(std::span<const std::byte> data, std::chrono::milliseconds patience = kWait) {
        const Clock::time_point deadline = Clock::now() + patience;
        while (!data.empty()) {
            const long n = send_some(data);
            if (n < 0) return false;
            if (n > 0) {
                data = data.subspan(static_cast<std::size_t>(n));
                continue;
            }
            if (Clock::now() > deadline) return false;
            wait_ready(handle_, POLLOUT, std::chrono::milliseconds(100));
        }
        return true;
    }
    bool send_all(const Bytes& data, std::chrono::milliseconds patience = kWait) {
        return send_all(std::span<const std::byte>(data), patience);
    }

    bool read_exact(std::byte* out, std::size_t size, Clock::time_point deadline) {
        while (size != 0) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0 || !wait_ready(handle_, POLLIN, left)) return false;
            const int want = static_cast<int>(std::min<std::size_t>(size, 1 << 30));
            const auto n = ::recv(handle_, reinterpret_cast<char*>(out), want, 0);
            if (n == 0) return false;
            if (n < 0) {
                const int error = last_error();
                if (interrupted(error) || would_block(error)) continue;
                return false;
            }
            out += n;
            size -= static_cast<std::size_t>(n);
        }
        return true;
    }

    std::optional<ParsedFrame> read_frame(std::chrono::milliseconds timeout = kWait) {
        const Clock::time_point deadline = Clock::now() + timeout;
        std::byte h[16];
        if (!read_exact(h, 16, deadline)) return std::nullopt;
        const auto u = [&h](int i) { return static_cast<std::uint64_t>(std::to_integer<unsigned>(h[i])); };
        ParsedFrame f;
        f.channel = static_cast<std::uint16_t>((u(0) << 8) | u(1));
        f.opcode = static_cast<std::uint8_t>(u(2) & 0x0F);
        f.engine_origin = (u(2) & 0x10) != 0;
        f.more = (u(2) & 0x20) != 0;
        f.status = static_cast<std::uint8_t>(u(3));
        for (int i = 4; i < 12; ++i) f.id = (f.id << 8) | u(i);
        const std::size_t headers = (u(12) << 8) | u(13);
        const std::size_t body = (u(14) << 8) | u(15);
        f.headers.resize(headers);
        f.body.resize(body);
        if (headers != 0 && !read_exact(reinterpret_cast<std::byte*>(f.headers.data()), headers, deadline)) {
            return std::nullopt;
        }
        if (body != 0 && !read_exact(f.body.data(), body, deadline)) return std::nullopt;
        return f;
    }

    // true once the engine closed its end (end of stream or reset), reading
    // and discarding anything before that.
    bool wait_closed(std::chrono::milliseconds timeout = kWait) {
        const Clock::time_point deadline = Clock::now() + timeout;
        char sink[4096];
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0 || !wait_ready(handle_, POLLIN, left)) return false;
            const auto n = ::recv(handle_, sink, sizeof(sink), 0);
            if (n == 0) return true;
            if (n < 0) {
                const int error = last_error();
                if (!interrupted(error) && !would_block(error)) return true;
            }
        }
    }

    // Whether the engine still holds the connection open: nothing to read
    // and no end of stream within `window`.
    bool still_open(std::chrono::milliseconds window) {
        if (!wait_ready(handle_, POLLIN, window)) return true;
        char byte;
        return ::recv(handle_, &byte, 1, MSG_PEEK) > 0;
    }

    void shutdown_write() { ::shutdown(handle_, shutdown_write_how()); } // FIN
    // An abortive close: RST instead of FIN.
    void reset() {
        linger abortive{};
        abortive.l_onoff = 1;
        abortive.l_linger = 0;
        ::setsockopt(handle_, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&abortive), sizeof(abortive));
        close();
    }
    void close() {
        if (handle_ != no_handle) close_handle(handle_);
        handle_ = no_handle;
    }

private:
    Handle handle_ = no_handle;
};

// A plain listening socket on 127.0.0.1 that never accepts. With a backlog
// of 0 its accept queue fills with the first connection; the kernel then
// drops further SYNs, so a later connect stays in progress: a black hole on
// loopback, for connect timeouts.
class BlackHole {
public:
    BlackHole() {
        EXPECT_EQ(net::startup(), Status::success);
        handle_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = 0;
        ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
        socklen_type length = sizeof(address);
        if (handle_ == no_handle || ::bind(handle_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
            ::listen(handle_, 0) != 0 || ::getsockname(handle_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            ADD_FAILURE() << "black hole listener: " << error_text(last_error());
            return;
        }
        port_ = ntohs(address.sin_port);
        // Fill the accept queue: connects that never complete are fine too.
        for (int i = 0; i < 4; ++i) {
            RawPeer filler(::socket(AF_INET, SOCK_STREAM, 0));
            filler.set_nonblocking(true);
            (void)::connect(filler.handle(), reinterpret_cast<sockaddr*>(&address), sizeof(address));
            fillers_.push_back(std::move(filler));
        }
    }
    ~BlackHole() {
        fillers_.clear();
        if (handle_ != no_handle) close_handle(handle_);
    }
    Address address() const { return tcp("127.0.0.1", port_); }

private:
#ifdef _WIN32
    using socklen_type = int;
#else
    using socklen_type = socklen_t;
#endif
    Handle handle_ = no_handle;
    std::uint16_t port_ = 0;
    std::vector<RawPeer> fillers_;
};

// HelloRequest from a raw client, the server application's HelloResponse
// back on the wire. The server-side channel number, or 0.
inline ChannelNumber raw_handshake(RawPeer& peer, Group& server, std::uint64_t id = 7) {
    const Bytes hello = frame({.opcode = op(OpCode::HelloRequest), .id = id, .headers = "who:raw\r\n"});
    if (!peer.send_all(hello)) {
        ADD_FAILURE() << "raw hello not sent";
        return 0;
    }
    Message::Ptr request = server.next();
    if (!request) return 0;
    EXPECT_EQ(request->opcode(), OpCode::HelloRequest) << describe(request);
    EXPECT_EQ(request->message_id(), id);
    EXPECT_EQ(request->find_header("who").value_or(""), "raw");
    const ChannelNumber channel = request->channel();
    // The reply keeps the headers, the engine's ~peer_address among them.
    const std::string headers(reinterpret_cast<const char*>(request->raw_headers().data()),
                              request->raw_headers().size());
    request->reply(OpCode::HelloResponse);
    server.post_ok(request);
    const std::optional<ParsedFrame> response = peer.read_frame();
    if (!response) {
        ADD_FAILURE() << "no HelloResponse on the wire";
        return 0;
    }
    EXPECT_EQ(response->opcode, op(OpCode::HelloResponse));
    EXPECT_FALSE(response->engine_origin) << "the engine never sends the origin bit";
    EXPECT_EQ(response->id, id) << "the reply keeps the message id";
    EXPECT_EQ(response->status, 0);
    EXPECT_FALSE(response->more);
    EXPECT_EQ(response->channel, channel) << "on the wire, the sender's own channel number";
    EXPECT_EQ(response->headers, headers);
    return channel;
}

} // namespace tofu::conformance::raw
