// POSIX only: a peer that is a real process, killed with SIGKILL in the
// middle of a frame.
#include "raw_peer.hpp"

#include <csignal>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

namespace tofu::conformance {
namespace {

using namespace raw;

// A peer process killed with SIGKILL after its hello and half a frame: its
// channel closes with peer_disconnected, the half frame is never delivered,
// and the other channels on the engine carry on.
class PeerProcess : public BackendTest {};

TEST_P(PeerProcess, KilledMidMessage) {
    // Everything the child needs is prepared before fork(): it only makes
    // system calls (no allocation, no locks), and it is forked before this
    // test starts any engine thread.
    const Bytes hello = frame({.opcode = op(OpCode::HelloRequest), .id = 21, .body = as_bytes("child")});
    const std::string partial_body(500, 'h');
    Bytes half = frame({.opcode = op(OpCode::Request), .id = 22, .body = as_bytes(std::string(1000, 'h'))});
    half.resize(16 + partial_body.size()); // the header announces 1000 bytes; 500 follow
    std::vector<std::byte> scratch(max_frame_size);
    int to_child[2];
    int from_child[2];
    ASSERT_EQ(::pipe(to_child), 0);
    ASSERT_EQ(::pipe(from_child), 0);

    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0) << std::strerror(errno);
    if (pid == 0) {
#ifdef __linux__
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        ::close(to_child[1]);
        ::close(from_child[0]);
        std::uint16_t port = 0;
        if (::read(to_child[0], &port, sizeof(port)) != sizeof(port)) ::_exit(2);
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) ::_exit(3);
        if (::write(fd, hello.data(), hello.size()) != static_cast<ssize_t>(hello.size())) ::_exit(4);
        // The HelloResponse: 16 bytes announce the rest.
        std::size_t have = 0;
        std::size_t want = 16;
        while (have < want) {
            const ssize_t n = ::read(fd, scratch.data() + have, want - have);
            if (n <= 0) ::_exit(5);
            have += static_cast<std::size_t>(n);
            if (have == 16) {
                const auto u = [&](int i) {
                    return std::to_integer<std::size_t>(scratch[static_cast<std::size_t>(i)]);
                };
                want = 16 + ((u(12) << 8) | u(13)) + ((u(14) << 8) | u(15));
            }
        }
        if (::write(fd, half.data(), half.size()) != static_cast<ssize_t>(half.size())) ::_exit(6);
        const char ready = 'r';
        if (::write(from_child[1], &ready, 1) != 1) ::_exit(7);
        for (;;) ::pause(); // until SIGKILL
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    struct Reaper {
        pid_t pid;
        ~Reaper() {
            if (pid > 0) {
                ::kill(pid, SIGKILL);
                ::waitpid(pid, nullptr, 0);
            }
        }
    } reaper{pid};

    ServerAndClient p(options(), options(), "server", "bystander");
    const Link bystander = p.connect();
    ASSERT_TRUE(bystander);

    const std::uint16_t port = p.listener.address.port;
    ASSERT_EQ(::write(to_child[1], &port, sizeof(port)), static_cast<ssize_t>(sizeof(port)));
    Message::Ptr request = p.server.next();
    ASSERT_TRUE(request);
    ASSERT_EQ(request->opcode(), OpCode::HelloRequest) << describe(request);
    EXPECT_EQ(request->body_text(), "child");
    const ChannelNumber child_channel = request->channel();
    request->reply(OpCode::HelloResponse);
    p.server.post_ok(request);

    char ready = 0;
    ASSERT_TRUE(wait_ready(from_child[0], POLLIN, kWait)) << "the child never sent its half frame";
    ASSERT_EQ(::read(from_child[0], &ready, 1), 1);
    p.round_trip_from_client(bystander, "while the child is alive");

    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    reaper.pid = -1;
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
    ::close(to_child[1]);
    ::close(from_child[0]);

    p.server.expect_closed(child_channel, Status::peer_disconnected);
    for (int i = 0; i < 5; ++i) {
        p.round_trip_from_client(bystander, "after the kill " + std::to_string(i));
        p.round_trip_from_server(bystander, "both ways " + std::to_string(i));
    }
    p.expect_quiet();
}

TOFU_CONFORMANCE_INSTANTIATE(PeerProcess);

} // namespace
} // namespace tofu::conformance
