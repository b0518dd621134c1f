// POSIX: listening on a Unix socket path never removes what is not a stale
// socket, and a listener removes at close only the socket file it bound.
#include "harness.hpp"

#include <filesystem>
#include <fstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace tofu::conformance {
namespace {

namespace fs = std::filesystem;

class UnixPath : public BackendTest {
protected:
    void SetUp() override {
        BackendTest::SetUp();
        if (IsSkipped()) return;
        // Short: a Unix socket path must fit in sun_path (104 bytes on macOS).
        static int counter = 0;
        dir_ = fs::temp_directory_path() / ("tofu-uds-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string path(const char* name) const { return (dir_ / name).string(); }

    // WelcomeRequest on `where`: the WelcomeResponse's status.
    static Status listen_status(Group& group, const std::string& where) {
        Message::Ptr welcome = get_message(group.engine());
        EXPECT_EQ(listen_on(*welcome, uds(where)), Status::success);
        group.post_ok(welcome);
        Message::Ptr response = group.next();
        if (!response) return Status::unknown_error;
        EXPECT_EQ(response->opcode(), OpCode::WelcomeResponse) << describe(response);
        return response->status();
    }

    static void write_file(const std::string& where, const std::string& text) { std::ofstream(where) << text; }
    static std::string read_file(const std::string& where) {
        std::ifstream in(where);
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }

    // A socket file left behind by a listener that is gone (closed, never
    // unlinked), or one that still listens when `keep` is given.
    static void bind_socket_file(const std::string& where, int* keep = nullptr) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        ASSERT_GE(fd, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, where.data(), where.size());
        ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0) << std::strerror(errno);
        ASSERT_EQ(::listen(fd, 4), 0);
        if (keep != nullptr) *keep = fd;
        else ::close(fd);
    }

    fs::path dir_;
};

TEST_P(UnixPath, ARegularFileAtThePathIsLeftAlone) {
    Engine engine(options());
    Group group(engine, "g");
    const std::string notes = path("notes.txt");
    write_file(notes, "do not delete me");
    EXPECT_EQ(listen_status(group, notes), Status::listen_failed);
    EXPECT_EQ(read_file(notes), "do not delete me");
    group.expect_quiet();
}

TEST_P(UnixPath, ASocketSomeoneListensOnIsNotTaken) {
    Engine engine(options());
    Group group(engine, "g");
    const std::string where = path("busy.sock");
    int alive = -1;
    bind_socket_file(where, &alive);
    EXPECT_EQ(listen_status(group, where), Status::listen_failed);
    EXPECT_TRUE(fs::is_socket(where)) << "the live socket's file stays";
    ::close(alive);
    group.expect_quiet();
}

TEST_P(UnixPath, AStaleSocketIsReplacedAndItsOwnIsRemovedAtClose) {
    const std::string where = path("stale.sock");
    bind_socket_file(where);
    ASSERT_TRUE(fs::is_socket(where));
    {
        Engine engine(options());
        Group group(engine, "g");
        EXPECT_EQ(listen_status(group, where), Status::success);
        EXPECT_TRUE(fs::is_socket(where));
    }
    EXPECT_FALSE(fs::exists(where)) << "the listener removes the socket it bound";
}

TEST_P(UnixPath, AFilePutInPlaceOfItsSocketSurvivesTheListener) {
    const std::string where = path("swapped.sock");
    Engine engine(options());
    Group group(engine, "g");
    Message::Ptr welcome = get_message(engine);
    ASSERT_EQ(listen_on(*welcome, uds(where)), Status::success);
    group.post_ok(welcome);
    Message::Ptr response = group.next();
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status(), Status::success);
    // Someone replaces the socket file with a file of their own ...
    fs::remove(where);
    write_file(where, "mine now");
    // ... and the listener closes: the file is not its socket any more.
    Message::Ptr abort = make(engine, OpCode::ByeSignal, response->channel());
    group.post_ok(abort);
    group.expect_closed(response->channel(), Status::channel_closed);
    EXPECT_EQ(read_file(where), "mine now");
}

TOFU_CONFORMANCE_INSTANTIATE(UnixPath);

} // namespace
} // namespace tofu::conformance
