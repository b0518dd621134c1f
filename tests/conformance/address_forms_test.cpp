// The address forms people type (protocol §2): URL forms and host names are
// turned into numeric tofu forms on the posting thread, so the I/O thread and
// the peer only ever see `tcp|<literal>|port` / `uds|path`; what the
// application typed comes back in ~given_address; a name that does not
// resolve fails the post itself. Names come from /etc/hosts, never DNS
// (".invalid" is reserved never to resolve, RFC 6761).
#include "harness.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#ifndef _WIN32
#include <unistd.h>
#endif

namespace tofu::conformance {
namespace {

bool is_loopback_literal(std::string_view host) { return host.starts_with("127.") || host == "::1"; }

// A name /etc/hosts gives only loopback addresses, other than "localhost"
// (e.g. ip6-localhost, or the machine's own name); empty when there is none.
std::string loopback_alias_from_hosts_file() {
    std::ifstream hosts("/etc/hosts");
    std::map<std::string, bool> only_loopback;
    for (std::string line; std::getline(hosts, line);) {
        std::istringstream fields(line.substr(0, line.find('#')));
        std::string address;
        if (!(fields >> address)) continue;
        for (std::string name; fields >> name;) {
            const auto [entry, inserted] = only_loopback.emplace(name, true);
            entry->second = entry->second && is_loopback_literal(address);
        }
    }
    for (const auto& [name, loopback] : only_loopback) {
        if (loopback && name != "localhost") return name;
    }
    return {};
}

// A socket path of its own for each test; short enough for sun_path.
std::string unique_socket_name(std::string_view what) {
    static int counter = 0;
#ifdef _WIN32
    const int process = 0;
#else
    const int process = static_cast<int>(::getpid());
#endif
    return "tofu-" + std::string(what) + "-" + std::to_string(process) + "-" + std::to_string(++counter) + ".sock";
}

class AddressForms : public BackendTest {
protected:
    // A WelcomeRequest with ~listen_on exactly as typed: the WelcomeResponse,
    // which must say success with the bound address in the tofu form.
    static Message::Ptr listen_as_typed(Group& group, std::string_view typed) {
        Message::Ptr welcome = get_message(group.engine());
        if (!welcome) return {};
        welcome->set_opcode(OpCode::WelcomeRequest);
        EXPECT_EQ(welcome->set_header(listen_on_header, typed), Status::success);
        const BinaryHeader posted = group.post_ok(welcome);
        if (posted.channel == unassigned_channel) return {};
        Message::Ptr response = group.next();
        if (!response) return {};
        EXPECT_EQ(response->opcode(), OpCode::WelcomeResponse) << describe(response);
        EXPECT_EQ(response->status(), Status::success) << typed << ": " << describe(response);
        expect_tofu_form(*response, listen_on_header);
        EXPECT_EQ(response->find_header(given_address_header), std::optional<std::string_view>(typed));
        if (response->status() != Status::success) return {};
        return response;
    }

    // The header holds an address in the tofu form with a numeric host: what
    // the I/O thread got, and what a peer may see.
    static void expect_tofu_form(const Message& message, std::string_view header) {
        const std::optional<std::string_view> value = message.find_header(header);
        ASSERT_TRUE(value.has_value()) << describe(&message);
        EXPECT_TRUE(value->starts_with("tcp|") || value->starts_with("uds|")) << *value;
        Result<Address> address = parse_address(*value);
        ASSERT_TRUE(address) << *value;
        if (address->kind == Address::Kind::tcp) {
            EXPECT_TRUE(is_loopback_literal(address->host)) << *value;
        }
    }

    // The port a TCP listener's WelcomeResponse says it bound.
    static std::uint16_t bound_port(const Message& response) {
        Result<Address> bound = address_of(response);
        EXPECT_TRUE(bound) << describe(&response);
        return bound ? bound->port : 0;
    }

    // A HelloRequest with ~connect_to exactly as typed, the handshake, and a
    // round trip on the new channel.
    static void connect_as_typed(Group& client, Group& server, std::string_view typed) {
        Message::Ptr hello = get_message(client.engine());
        ASSERT_TRUE(hello);
        hello->set_opcode(OpCode::HelloRequest);
        ASSERT_EQ(hello->set_header(connect_to_header, typed), Status::success);
        ASSERT_EQ(hello->append_body("hello"), Status::success);
        const BinaryHeader posted = client.post_ok(hello);
        ASSERT_NE(posted.channel, unassigned_channel) << typed;

        Message::Ptr request = server.next();
        ASSERT_TRUE(request) << typed;
        ASSERT_EQ(request->opcode(), OpCode::HelloRequest) << describe(request);
        // The peer sees a valid tofu header, and what the client typed.
        expect_tofu_form(*request, connect_to_header);
        EXPECT_EQ(request->find_header(given_address_header), std::optional<std::string_view>(typed));
        const ChannelNumber server_channel = request->channel();
        request->reply(OpCode::HelloResponse);
        server.post_ok(request);

        Message::Ptr response = client.next();
        ASSERT_TRUE(response) << typed;
        ASSERT_EQ(response->opcode(), OpCode::HelloResponse) << describe(response);
        EXPECT_EQ(response->status(), Status::success) << describe(response);
        round_trip(client, posted.channel, server, server_channel, "over " + std::string(typed));
    }

    // Listens on `tcp://<listen_host>:0`, connects to `tcp://<connect_host>:<port>`.
    void tcp_round_trip(const std::string& listen_host, const std::string& connect_host) {
        Engine server_engine(options());
        Engine client_engine(options());
        Group server(server_engine, "server");
        Group client(client_engine, "client");
        Message::Ptr welcome = listen_as_typed(server, "tcp://" + listen_host + ":0");
        ASSERT_TRUE(welcome);
        connect_as_typed(client, server, "tcp://" + connect_host + ":" + std::to_string(bound_port(*welcome)));
    }

    // Listens and connects on the same `ipc://` address.
    void ipc_round_trip(const std::string& typed) {
        Engine server_engine(options());
        Engine client_engine(options());
        Group server(server_engine, "server");
        Group client(client_engine, "client");
        ASSERT_TRUE(listen_as_typed(server, typed));
        connect_as_typed(client, server, typed);
    }
};

TEST_P(AddressForms, NumericTcpUrlConnects) { tcp_round_trip("127.0.0.1", "127.0.0.1"); }

// localhost may come first as ::1 or 127.0.0.1 (the system's choice): both
// sides resolve it the same way.
TEST_P(AddressForms, LocalhostUrlConnects) { tcp_round_trip("localhost", "localhost"); }

TEST_P(AddressForms, LocalhostInTheTofuFormConnects) {
    Engine server_engine(options());
    Engine client_engine(options());
    Group server(server_engine, "server");
    Group client(client_engine, "client");
    const Listener listener = listen(server, tcp("localhost", 0));
    ASSERT_TRUE(listener);
    EXPECT_TRUE(is_loopback_literal(listener.address.host)) << listener.address.to_string();
    const Link link = connect(client, server, tcp("localhost", listener.address.port));
    ASSERT_TRUE(link);
    round_trip(client, link.client, server, link.server, "localhost");
}

TEST_P(AddressForms, AnotherLoopbackNameFromTheHostsFileConnects) {
    const std::string name = loopback_alias_from_hosts_file();
    if (name.empty()) GTEST_SKIP() << "/etc/hosts names no loopback alias besides localhost";
    tcp_round_trip(name, name);
}

TEST_P(AddressForms, AnUnresolvableNameFailsThePostAndStaysWithTheCaller) {
    Engine engine(options());
    Group group(engine, "g");
    const std::pair<OpCode, std::string_view> cases[] = {
        {OpCode::HelloRequest, "tcp://no-such-host.invalid:7099"},
        {OpCode::HelloRequest, "tcp|no-such-host.invalid|7099"},
        {OpCode::WelcomeRequest, "tcp://no-such-host.invalid:0"},
    };
    for (const auto& [op, typed] : cases) {
        SCOPED_TRACE(typed);
        Message::Ptr message = get_message(engine);
        ASSERT_TRUE(message);
        message->set_opcode(op);
        const std::string_view header = op == OpCode::WelcomeRequest ? listen_on_header : connect_to_header;
        ASSERT_EQ(message->set_header(header, typed), Status::success);
        const Result<BinaryHeader> posted = group.post(message);
        EXPECT_EQ(posted.status(), Status::invalid_address);
        ASSERT_TRUE(message) << "a failed post leaves the message with the caller";
        EXPECT_EQ(message->channel(), unassigned_channel);
        EXPECT_EQ(message->find_header(header), std::optional<std::string_view>(typed));
        const std::optional<std::string_view> error = message->find_header(resolve_error_header);
        ASSERT_TRUE(error.has_value()) << describe(message);
        EXPECT_NE(error->find(' '), std::string_view::npos) << *error;
    }
    // Nothing reached the I/O thread: nothing comes back.
    group.expect_quiet();
}

TEST_P(AddressForms, MalformedUrlsFailThePost) {
    Engine engine(options());
    Group group(engine, "g");
    const std::pair<std::string_view, Status> cases[] = {
        {"tcp://127.0.0.1", Status::wrong_address},
        {"tcp://::1:7099", Status::wrong_address},
        {"tcp://127.0.0.1:65536", Status::invalid_address},
        {"ipc://", Status::wrong_address},
    };
    for (const auto& [typed, status] : cases) {
        SCOPED_TRACE(typed);
        Message::Ptr hello = get_message(engine);
        ASSERT_TRUE(hello);
        hello->set_opcode(OpCode::HelloRequest);
        ASSERT_EQ(hello->set_header(connect_to_header, typed), Status::success);
        EXPECT_EQ(group.post(hello).status(), status);
        ASSERT_TRUE(hello);
        EXPECT_FALSE(hello->find_header(resolve_error_header).has_value());
    }
    group.expect_quiet();
}

class IpcAddressForms : public AddressForms {
protected:
    void SetUp() override {
        AddressForms::SetUp();
#ifdef _WIN32
        if (!IsSkipped()) GTEST_SKIP() << "Unix socket scenarios run on POSIX (Wine has no AF_UNIX)";
#endif
    }
};

TEST_P(IpcAddressForms, AbsolutePathConnects) {
    const std::string path = (std::filesystem::temp_directory_path() / unique_socket_name("ipc")).string();
    ipc_round_trip("ipc://" + path);
    EXPECT_FALSE(std::filesystem::exists(path)) << "the listener removes the socket it bound";
}

// Relative to the working directory, as for `uds|relative`.
TEST_P(IpcAddressForms, RelativePathConnects) {
    const std::string path = unique_socket_name("rel");
    ipc_round_trip("ipc://" + path);
    EXPECT_FALSE(std::filesystem::exists(path)) << "the listener removes the socket it bound";
}

TEST_P(IpcAddressForms, AbstractNameConnects) {
#ifdef __linux__
    ipc_round_trip("ipc://@" + unique_socket_name("abstract"));
#else
    GTEST_SKIP() << "the abstract namespace is Linux's";
#endif
}

TOFU_CONFORMANCE_INSTANTIATE(AddressForms);
TOFU_CONFORMANCE_INSTANTIATE(IpcAddressForms);

} // namespace
} // namespace tofu::conformance
