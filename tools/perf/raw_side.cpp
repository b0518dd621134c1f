// tofu-perf, the raw-socket limit: what the kernel's loopback allows with
// tofu's framing and no library at all. Its frames are tofu's (16-byte
// binary header, text headers, body; protocol §4), so a message costs the
// kernel the same bytes as tofu's does.
//
// Throughput: the client writes from a blocking socket, gathering up to
// 1,024 frames (at most 256 KiB) into each writev; the end marker is a
// frame with a text header, as tofu's is. The server reads 256 KiB at a
// time and walks every frame header to count the messages.
// Latency: one frame out, one back, blocking calls on both sides.
#include "perf/perf.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

namespace perf {
namespace {

// SOCK_CLOEXEC and accept4 are not on macOS: the flag is set afterwards.
int close_on_exec(int descriptor) {
    if (descriptor >= 0) ::fcntl(descriptor, F_SETFD, FD_CLOEXEC);
    return descriptor;
}

constexpr std::size_t frame_header_size = 16;
constexpr std::size_t max_iovecs_per_write = 1024;
constexpr std::size_t max_bytes_per_write = std::size_t{256} << 10;
constexpr std::size_t read_chunk = std::size_t{256} << 10;
constexpr std::string_view end_marker_header = "perf-end:1\r\n";

using FrameHeader = std::array<unsigned char, frame_header_size>;

void put_u16(unsigned char* at, std::size_t value) {
    at[0] = static_cast<unsigned char>(value >> 8);
    at[1] = static_cast<unsigned char>(value);
}
std::size_t get_u16(const unsigned char* at) { return (std::size_t{at[0]} << 8) | at[1]; }

// Channel 1, a Signal (opcode 2, protocol §3), the given lengths.
FrameHeader frame_header(std::size_t text_length, std::size_t body_length) {
    FrameHeader header{};
    put_u16(header.data(), 1);
    header[2] = 2;
    put_u16(header.data() + 12, text_length);
    put_u16(header.data() + 14, body_length);
    return header;
}

std::size_t frame_length(const unsigned char* header) {
    return frame_header_size + get_u16(header + 12) + get_u16(header + 14);
}

std::string system_error(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// A socket descriptor, closed once.
class Descriptor {
public:
    explicit Descriptor(int fd = -1) noexcept : fd_(fd) {}
    Descriptor(Descriptor&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    Descriptor& operator=(Descriptor&& other) noexcept {
        std::swap(fd_, other.fd_);
        return *this;
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    ~Descriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const noexcept { return fd_; }

private:
    int fd_;
};

// sockaddr_in or sockaddr_un for `address`, with its length.
struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;
    int family() const { return storage.ss_family; }
    sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

bool socket_address_of(const tofu::Address& address, SocketAddress& out, std::string& error) {
    if (address.kind == tofu::Address::Kind::uds) {
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        if (address.path.size() >= sizeof(un.sun_path)) {
            error = "socket path too long: " + address.path;
            return false;
        }
        std::memcpy(un.sun_path, address.path.c_str(), address.path.size() + 1);
        std::memcpy(&out.storage, &un, sizeof(un));
        out.length = sizeof(un);
        return true;
    }
    // tofu-perf speaks loopback TCP only; anything else is refused rather than resolved.
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(address.port);
    if (address.host != "127.0.0.1" && address.host != "localhost") {
        error = "the raw implementation takes 127.0.0.1 only, not " + address.host;
        return false;
    }
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::memcpy(&out.storage, &in, sizeof(in));
    out.length = sizeof(in);
    return true;
}

// The latency case would otherwise wait for Nagle's delayed ACK on every
// small frame; tofu and the peers set TCP_NODELAY too.
void set_no_delay(int fd, int family) {
    if (family != AF_INET) return;
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

bool write_all(int fd, const unsigned char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t written = ::write(fd, data, size);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return false;
        data += written;
        size -= static_cast<std::size_t>(written);
    }
    return true;
}

// Reads exactly `size` bytes; false at end of stream or on error.
bool read_exact(int fd, unsigned char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t got = ::read(fd, data, size);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        data += got;
        size -= static_cast<std::size_t>(got);
    }
    return true;
}

// One frame into `frame` (header first, resized to the whole frame).
bool read_frame(int fd, std::vector<unsigned char>& frame) {
    frame.resize(frame_header_size);
    if (!read_exact(fd, frame.data(), frame_header_size)) return false;
    const std::size_t length = frame_length(frame.data());
    frame.resize(length);
    return read_exact(fd, frame.data() + frame_header_size, length - frame_header_size);
}

// Counts the frames of a byte stream delivered in arbitrary pieces: a frame
// header may straddle two reads, a body many.
class FrameCounter {
public:
    // False when the stream holds anything after the end marker.
    bool consume(const unsigned char* data, std::size_t size) {
        while (size > 0) {
            if (skip_ > 0) {
                const std::size_t skipped = std::min<std::size_t>(skip_, size);
                skip_ -= skipped;
                data += skipped;
                size -= skipped;
                continue;
            }
            if (ended_) return false;
            const unsigned char* header = data;
            if (header_have_ > 0 || size < frame_header_size) {
                const std::size_t copied = std::min(frame_header_size - header_have_, size);
                std::memcpy(partial_.data() + header_have_, data, copied);
                header_have_ += copied;
                data += copied;
                size -= copied;
                if (header_have_ < frame_header_size) return true;
                header = partial_.data();
                header_have_ = 0;
            } else {
                data += frame_header_size;
                size -= frame_header_size;
            }
            skip_ = frame_length(header) - frame_header_size;
            if (get_u16(header + 12) > 0) ended_ = true; // the end marker carries the only text header
            else if (++messages_ == 1) first_ = Clock::now();
        }
        return true;
    }
    bool ended() const noexcept { return ended_; }
    std::uint64_t messages() const noexcept { return messages_; }
    Clock::time_point first() const noexcept { return first_; }

private:
    FrameHeader partial_{};
    std::size_t header_have_ = 0;
    std::size_t skip_ = 0; // text headers and body of the current frame not yet seen
    std::uint64_t messages_ = 0;
    bool ended_ = false;
    Clock::time_point first_{};
};

int serve_throughput(int fd) {
    std::vector<unsigned char> buffer(read_chunk);
    FrameCounter counter;
    while (!counter.ended()) {
        const ssize_t got = ::read(fd, buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            print_server_error(got == 0 ? "client left after " + std::to_string(counter.messages()) + " messages"
                                        : system_error("read"));
            return 1;
        }
        if (!counter.consume(buffer.data(), static_cast<std::size_t>(got))) {
            print_server_error("bytes after the end marker");
            return 1;
        }
    }
    if (counter.messages() == 0) {
        print_server_error("end marker before any message");
        return 1;
    }
    print_result(counter.messages(), Clock::now() - counter.first());
    // The client closes once it has read the result from the driver.
    char rest = 0;
    while (::read(fd, &rest, 1) > 0) {}
    return 0;
}

int serve_latency(const Case& c, int fd) {
    std::vector<unsigned char> frame;
    for (std::uint64_t i = 0; i < c.warmup + c.count; ++i) {
        if (!read_frame(fd, frame) || !write_all(fd, frame.data(), frame.size())) {
            print_server_error(system_error("echo"));
            return 1;
        }
    }
    print_round_trips_result(c.warmup + c.count);
    return 0;
}

ClientResult throughput_client(const Case& c, int fd, const std::function<bool()>& server_done) {
    ClientResult result;
    // Every iovec points at the same frame: the payload bytes do not matter,
    // only how many go through the kernel and how.
    std::vector<unsigned char> frame(frame_header_size + c.size, 'x');
    const FrameHeader header = frame_header(0, c.size);
    std::copy(header.begin(), header.end(), frame.begin());
    const std::size_t frames_per_write =
        std::clamp<std::size_t>(max_bytes_per_write / frame.size(), 1, max_iovecs_per_write);
    std::vector<iovec> iovecs(frames_per_write, iovec{frame.data(), frame.size()});

    const Clock::time_point deadline = deadline_of(c);
    std::uint64_t sent = 0;
    while (sent < c.count) {
        if (c.max_seconds > 0 && Clock::now() >= deadline) break;
        const std::size_t frames = static_cast<std::size_t>(std::min<std::uint64_t>(frames_per_write, c.count - sent));
        // A short write leaves the rest of the batch: resume inside it.
        iovec* next = iovecs.data();
        std::size_t left = frames;
        while (left > 0) {
            const ssize_t written = ::writev(fd, next, static_cast<int>(left));
            if (written < 0 && errno == EINTR) continue;
            if (written < 0) {
                result.error = system_error("writev");
                return result;
            }
            // Written iovecs get their whole frame back for the next batch.
            std::size_t advance = static_cast<std::size_t>(written);
            while (left > 0 && advance >= next->iov_len) {
                advance -= next->iov_len;
                next->iov_base = frame.data();
                next->iov_len = frame.size();
                ++next;
                --left;
            }
            if (left > 0) {
                next->iov_base = static_cast<unsigned char*>(next->iov_base) + advance;
                next->iov_len -= advance;
            }
        }
        sent += frames;
    }
    std::vector<unsigned char> marker(frame_header_size + end_marker_header.size());
    const FrameHeader marker_header = frame_header(end_marker_header.size(), 0);
    std::copy(marker_header.begin(), marker_header.end(), marker.begin());
    std::copy(end_marker_header.begin(), end_marker_header.end(), marker.begin() + frame_header_size);
    if (!write_all(fd, marker.data(), marker.size())) {
        result.error = system_error("write end marker");
        return result;
    }
    return after_server_report(server_done);
}

ClientResult latency_client(const Case& c, int fd) {
    std::vector<unsigned char> request(frame_header_size + c.size, 'x');
    const FrameHeader header = frame_header(0, c.size);
    std::copy(header.begin(), header.end(), request.begin());
    std::vector<unsigned char> answer;
    return time_round_trips(c, [&] {
        if (!write_all(fd, request.data(), request.size())) return system_error("write");
        if (!read_frame(fd, answer)) return system_error("read");
        return std::string();
    });
}

} // namespace

int raw_serve(const Case& c, const tofu::Address& where) {
    SocketAddress address;
    std::string error;
    if (!socket_address_of(where, address, error)) {
        print_server_error(error);
        return 1;
    }
    Descriptor listener(close_on_exec(::socket(address.family(), SOCK_STREAM, 0)));
    if (listener.get() < 0) {
        print_server_error(system_error("socket"));
        return 1;
    }
    if (::bind(listener.get(), address.get(), address.length) != 0 || ::listen(listener.get(), 1) != 0) {
        print_server_error(system_error("bind/listen"));
        return 1;
    }
    tofu::Address bound = where;
    if (address.family() == AF_INET) {
        sockaddr_in in{};
        socklen_t length = sizeof(in);
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&in), &length);
        bound.port = ntohs(in.sin_port);
    }
    print_listening(bound);
    Descriptor connection(close_on_exec(::accept(listener.get(), nullptr, nullptr)));
    if (connection.get() < 0) {
        print_server_error(system_error("accept"));
        return 1;
    }
    set_no_delay(connection.get(), address.family());
    return c.mode == Mode::throughput ? serve_throughput(connection.get()) : serve_latency(c, connection.get());
}

ClientResult raw_client(const Case& c, const tofu::Address& server, const std::function<bool()>& server_done) {
    ClientResult result;
    SocketAddress address;
    if (!socket_address_of(server, address, result.error)) return result;
    Descriptor connection(close_on_exec(::socket(address.family(), SOCK_STREAM, 0)));
    if (connection.get() < 0 || ::connect(connection.get(), address.get(), address.length) != 0) {
        result.error = system_error("connect");
        return result;
    }
    set_no_delay(connection.get(), address.family());
    return c.mode == Mode::throughput ? throughput_client(c, connection.get(), server_done)
                                      : latency_client(c, connection.get());
}

} // namespace perf
