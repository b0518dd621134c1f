#pragma once
// POSIX only: a peer speaking the tofu wire protocol over a plain BSD socket,
// byte by byte, so a test controls exactly what the engine reads (garbage,
// half frames, one big write, FIN, RST) and when. Frames are written by hand
// from SPEC §4, independently of the engine's codec.
#ifdef _WIN32
#error "raw_peer.hpp is POSIX-only"
#endif

#include "harness.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <span>

namespace tofu::conformance::posix {

using Bytes = std::vector<std::byte>;

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

// SPEC §4: channel(2) proto(1) status(1) id(8) headers_len(2) body_len(2),
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

inline std::uint8_t op(OpCode code) { return static_cast<std::uint8_t>(code); }

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

inline bool wait_fd(int fd, short events, std::chrono::milliseconds timeout) {
    pollfd p{fd, events, 0};
    for (;;) {
        const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (n < 0 && errno == EINTR) continue;
        return n > 0;
    }
}

class RawPeer {
public:
    RawPeer() = default;
    explicit RawPeer(int fd) : fd_(fd) {}
    RawPeer(RawPeer&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    RawPeer& operator=(RawPeer&& other) noexcept {
        if (this != &other) {
            close();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    ~RawPeer() { close(); }

    // A blocking connect to a tcp (numeric host) or uds address.
    static RawPeer connect(const Address& to) {
        sockaddr_storage storage{};
        socklen_t length = 0;
        int family = AF_INET;
        if (to.kind == Address::Kind::uds) {
            family = AF_UNIX;
            auto* un = reinterpret_cast<sockaddr_un*>(&storage);
            un->sun_family = AF_UNIX;
            std::memcpy(un->sun_path, to.path.data(), to.path.size());
            if (to.abstract()) un->sun_path[0] = '\0';
            length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + to.path.size() + (to.abstract() ? 0 : 1));
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
        const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        EXPECT_GE(fd, 0) << "socket: " << std::strerror(errno);
        if (fd < 0) return RawPeer();
        if (::connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
            ADD_FAILURE() << "connect to " << to.to_string() << ": " << std::strerror(errno);
            ::close(fd);
            return RawPeer();
        }
        if (family != AF_UNIX) {
            const int on = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        }
        return RawPeer(fd);
    }

    int fd() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }

    void set_nonblocking(bool on) {
        const int flags = ::fcntl(fd_, F_GETFL);
        ::fcntl(fd_, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
    }

    // Blocking (waits for room with poll when the socket is non-blocking).
    bool send_all(std::span<const std::byte> data, std::chrono::milliseconds patience = kWait) {
        const Clock::time_point deadline = Clock::now() + patience;
        while (!data.empty()) {
            const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n > 0) {
                data = data.subspan(static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                if (Clock::now() > deadline) return false;
                wait_fd(fd_, POLLOUT, 100ms);
                continue;
            }
            return false;
        }
        return true;
    }
    bool send_all(const Bytes& data, std::chrono::milliseconds patience = kWait) {
        return send_all(std::span<const std::byte>(data), patience);
    }

    // One non-blocking send: bytes taken (0 when it would block), -1 on error.
    ssize_t send_some(std::span<const std::byte> data) {
        for (;;) {
            const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n >= 0) return n;
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
    }

    bool read_exact(std::byte* out, std::size_t size, Clock::time_point deadline) {
        while (size != 0) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0 || !wait_fd(fd_, POLLIN, left)) return false;
            const ssize_t n = ::recv(fd_, out, size, MSG_DONTWAIT);
            if (n == 0) return false;
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
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
        std::byte sink[4096];
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0 || !wait_fd(fd_, POLLIN, left)) return false;
            const ssize_t n = ::recv(fd_, sink, sizeof(sink), MSG_DONTWAIT);
            if (n == 0) return true;
            if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) return true;
        }
    }

    void shutdown_write() { ::shutdown(fd_, SHUT_WR); } // FIN
    // An abortive close: RST instead of FIN.
    void reset() {
        const linger abortive{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive));
        close();
    }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
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
    request->reply(OpCode::HelloResponse);
    server.post_ok(request);
    const std::optional<ParsedFrame> response = peer.read_frame();
    if (!response) {
        ADD_FAILURE() << "no HelloResponse on the wire";
        return 0;
    }
    EXPECT_EQ(response->opcode, op(OpCode::HelloResponse));
    EXPECT_EQ(response->id, id) << "the reply keeps the message id";
    EXPECT_EQ(response->status, 0);
    EXPECT_FALSE(response->more);
    EXPECT_EQ(response->channel, channel) << "on the wire, the sender's own channel number";
    EXPECT_EQ(response->headers, "who:raw\r\n");
    return channel;
}

// CPU seconds used by the whole process (every thread) so far.
inline double process_cpu_seconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// CPU the process burns while this thread only sleeps for `window`: with no
// work to do, that is the reactors' idle cost (a spinning one costs a core).
inline double cpu_while_waiting(std::chrono::milliseconds window) {
    const double before = process_cpu_seconds();
    std::this_thread::sleep_for(window);
    return process_cpu_seconds() - before;
}

} // namespace tofu::conformance::posix
