// Address helpers (protocol §2): `tcp|host|port`, `uds|path`, the URL forms
// `tcp://host:port` and `ipc://path`, and the ~listen_on / ~connect_to headers.
#include "pool/pool.hpp"
#include <tofu/address.hpp>

#include <gtest/gtest.h>

#include <iterator>
#include <random>
#include <string>

namespace tofu {
namespace {

TEST(Address, BuildersAndToString) {
    const Address t = tcp("127.0.0.1", 7099);
    EXPECT_EQ(t.kind, Address::Kind::tcp);
    EXPECT_EQ(t.host, "127.0.0.1");
    EXPECT_EQ(t.port, 7099);
    EXPECT_EQ(t.to_string(), "tcp|127.0.0.1|7099");
    EXPECT_FALSE(t.abstract());
    EXPECT_EQ(tcp("::1", 0).to_string(), "tcp|::1|0");
    EXPECT_EQ(tcp("", 65535).to_string(), "tcp||65535");

    const Address u = uds("/tmp/app.sock");
    EXPECT_EQ(u.kind, Address::Kind::uds);
    EXPECT_EQ(u.path, "/tmp/app.sock");
    EXPECT_EQ(u.to_string(), "uds|/tmp/app.sock");
    EXPECT_FALSE(u.abstract());
    EXPECT_TRUE(uds("@abstract").abstract());
    EXPECT_EQ(uds("@abstract").to_string(), "uds|@abstract");
}

void expect_parses(std::string_view text, const Address& want) {
    SCOPED_TRACE(text);
    Result<Address> got = parse_address(text);
    ASSERT_TRUE(got.has_value()) << got.status();
    EXPECT_EQ(got.status(), Status::success);
    EXPECT_EQ(got.value(), want);
}

TEST(Address, ParseAccepts) {
    expect_parses("tcp|127.0.0.1|7099", tcp("127.0.0.1", 7099));
    expect_parses("tcp|::1|0", tcp("::1", 0));
    expect_parses("tcp|[::1]|80", tcp("::1", 80));
    expect_parses("tcp||7099", tcp("", 7099)); // empty host: all interfaces
    expect_parses("tcp|localhost|65535", tcp("localhost", 65535));
    expect_parses("tcp|fe80::1:2:3|1", tcp("fe80::1:2:3", 1));
    expect_parses("uds|/tmp/x.sock", uds("/tmp/x.sock"));
    expect_parses("uds|@abstract", uds("@abstract"));
    expect_parses("uds|relative.sock", uds("relative.sock"));
    Result<Address> abstract = parse_address("uds|@abstract");
    ASSERT_TRUE(abstract);
    EXPECT_TRUE(abstract->abstract());
}

void expect_rejected(std::string_view text, Status want) {
    SCOPED_TRACE(text);
    Result<Address> got = parse_address(text);
    EXPECT_FALSE(got.has_value());
    EXPECT_EQ(got.status(), want);
    EXPECT_THROW((void)got.value(), Error);
}

TEST(Address, ParseRejectsWrongAddress) {
    expect_rejected("", Status::wrong_address);
    expect_rejected("127.0.0.1:7099", Status::wrong_address); // no scheme
    expect_rejected("/tmp/x.sock", Status::wrong_address);
    expect_rejected("|127.0.0.1|7099", Status::wrong_address);
    expect_rejected("udp|127.0.0.1|7099", Status::wrong_address);
    expect_rejected("TCP|127.0.0.1|7099", Status::wrong_address);
    expect_rejected("tcp|127.0.0.1", Status::wrong_address); // missing port part
    expect_rejected("tcp|", Status::wrong_address);
    expect_rejected("tcp", Status::wrong_address);
    expect_rejected("uds|", Status::wrong_address); // missing path
    expect_rejected("uds", Status::wrong_address);
    expect_rejected("tcp|a|b|80", Status::wrong_address); // too many parts
}

TEST(Address, ParseRejectsInvalidAddress) {
    expect_rejected("tcp|127.0.0.1|65536", Status::invalid_address);
    expect_rejected("tcp|127.0.0.1|99999", Status::invalid_address);
    expect_rejected("tcp|127.0.0.1|123456", Status::invalid_address);
    expect_rejected("tcp|127.0.0.1|abc", Status::invalid_address);
    expect_rejected("tcp|127.0.0.1|80a", Status::invalid_address);
    expect_rejected("tcp|127.0.0.1|-1", Status::invalid_address);
    expect_rejected("tcp|127.0.0.1| 80", Status::invalid_address);
    expect_rejected("tcp|127.0.0.1|", Status::invalid_address); // empty port
    expect_rejected("tcp|bad host|80", Status::invalid_address);
    expect_rejected("tcp|" + std::string(256, 'h') + "|80", Status::invalid_address);

    // uds paths: 103 bytes fit everywhere (sun_path with its NUL), 104 do not.
    const std::string longest = "/" + std::string(102, 'p');
    ASSERT_EQ(longest.size(), 103u);
    expect_parses("uds|" + longest, uds(longest));
    expect_rejected("uds|" + longest + "p", Status::invalid_address);
    expect_rejected("uds|@" + std::string(103, 'a'), Status::invalid_address);
    expect_rejected(std::string("uds|/tmp/a\0b", 12), Status::invalid_address);
}

TEST(Address, ParseAcceptsTcpUrls) {
    expect_parses("tcp://127.0.0.1:7099", tcp("127.0.0.1", 7099));
    expect_parses("tcp://localhost:80", tcp("localhost", 80));
    expect_parses("tcp://my-host_1.example.org:65535", tcp("my-host_1.example.org", 65535));
    expect_parses("tcp://[::1]:7099", tcp("::1", 7099));
    expect_parses("tcp://[fe80::1:2:3]:1", tcp("fe80::1:2:3", 1));
    expect_parses("tcp://[::ffff:127.0.0.1]:2", tcp("::ffff:127.0.0.1", 2));
    expect_parses("tcp://127.0.0.1:0", tcp("127.0.0.1", 0)); // a listener: the kernel picks
    // All interfaces, as the empty host of the tofu form.
    expect_parses("tcp://*:7099", tcp("", 7099));
    expect_parses("tcp://:7099", tcp("", 7099));
    // RFC 3986: the scheme is case-insensitive.
    expect_parses("TCP://127.0.0.1:1", tcp("127.0.0.1", 1));
    expect_parses("Tcp://[::1]:1", tcp("::1", 1));
}

TEST(Address, ParseAcceptsIpcUrls) {
    expect_parses("ipc:///tmp/x.sock", uds("/tmp/x.sock"));
    expect_parses("ipc://relative/x.sock", uds("relative/x.sock"));
    expect_parses("ipc://x.sock", uds("x.sock"));
    expect_parses("ipc://@abstract", uds("@abstract"));
    expect_parses("IPC:///tmp/x.sock", uds("/tmp/x.sock"));
    EXPECT_TRUE(parse_address("ipc://@abstract")->abstract());
    const std::string longest = "/" + std::string(102, 'p');
    expect_parses("ipc://" + longest, uds(longest));
}

TEST(Address, UrlsPrintInTheTofuForm) {
    EXPECT_EQ(parse_address("tcp://[::1]:80")->to_string(), "tcp|::1|80");
    EXPECT_EQ(parse_address("tcp://*:80")->to_string(), "tcp||80");
    EXPECT_EQ(parse_address("tcp://localhost:80")->to_string(), "tcp|localhost|80");
    EXPECT_EQ(parse_address("ipc:///tmp/x.sock")->to_string(), "uds|/tmp/x.sock");
    EXPECT_EQ(parse_address("ipc://@name")->to_string(), "uds|@name");
}

TEST(Address, ParseRejectsMalformedUrls) {
    // Missing parts, or parts that cannot be told apart: wrong_address.
    expect_rejected("tcp://", Status::wrong_address);
    expect_rejected("tcp://127.0.0.1", Status::wrong_address);    // missing port
    expect_rejected("tcp://localhost", Status::wrong_address);    // missing port
    expect_rejected("tcp://[::1]", Status::wrong_address);        // missing port
    expect_rejected("tcp://::1:80", Status::wrong_address);       // IPv6 without brackets
    expect_rejected("tcp://fe80::1:80", Status::wrong_address);   // IPv6 without brackets
    expect_rejected("tcp://[::1:80", Status::wrong_address);      // unclosed bracket
    expect_rejected("tcp://[::1]80", Status::wrong_address);      // no ':' before the port
    expect_rejected("tcp://[::1]x:80", Status::wrong_address);    // garbage after the bracket
    expect_rejected("ipc://", Status::wrong_address);             // empty path
    expect_rejected("ipc://@", Status::wrong_address);            // empty abstract name
    expect_rejected("udp://127.0.0.1:80", Status::wrong_address); // not tcp or ipc
    expect_rejected("tcp:/127.0.0.1:80", Status::wrong_address);  // one slash
    expect_rejected("tcp:127.0.0.1:80", Status::wrong_address);
    expect_rejected("127.0.0.1:80", Status::wrong_address); // no scheme
    expect_rejected("//127.0.0.1:80", Status::wrong_address);

    // The parts are there but unusable: invalid_address.
    expect_rejected("tcp://127.0.0.1:", Status::invalid_address); // empty port
    expect_rejected("tcp://127.0.0.1:65536", Status::invalid_address);
    expect_rejected("tcp://127.0.0.1:99999", Status::invalid_address);
    expect_rejected("tcp://127.0.0.1:-1", Status::invalid_address);
    expect_rejected("tcp://127.0.0.1:http", Status::invalid_address);
    expect_rejected("tcp://127.0.0.1:80/", Status::invalid_address); // trailing garbage
    expect_rejected("tcp://127.0.0.1:80/path", Status::invalid_address);
    expect_rejected("tcp://127.0.0.1:80?x=1", Status::invalid_address);
    expect_rejected("tcp://[::1]:80x", Status::invalid_address);
    expect_rejected("tcp://127.0.0.1:80 ", Status::invalid_address);
    expect_rejected("tcp://[]:80", Status::invalid_address);             // empty brackets
    expect_rejected("tcp://[127.0.0.1]:80", Status::invalid_address);    // brackets hold IPv6 only
    expect_rejected("tcp://[fe80::1%eth0]:80", Status::invalid_address); // no zone ids
    expect_rejected("tcp://user@host:80", Status::invalid_address);
    expect_rejected("tcp://bad host:80", Status::invalid_address);
    expect_rejected("tcp://a|b:80", Status::invalid_address); // '|' would break the tofu form
    expect_rejected("tcp://**:80", Status::invalid_address);
    expect_rejected(std::string("tcp://local\0host:80", 20), Status::invalid_address);
    expect_rejected("tcp://" + std::string(256, 'h') + ":80", Status::invalid_address);
    expect_parses("tcp://" + std::string(255, 'h') + ":80", tcp(std::string(255, 'h'), 80));
    expect_rejected("ipc:///" + std::string(103, 'p'), Status::invalid_address); // too long
    expect_rejected("ipc://@" + std::string(103, 'a'), Status::invalid_address);
    expect_rejected(std::string("ipc:///tmp/a\0b", 15), Status::invalid_address); // embedded NUL
}

TEST(Address, ToStringParsesBack) {
    for (const Address& a : {tcp("127.0.0.1", 7099), tcp("::1", 0), tcp("", 1), tcp("example.org", 65535),
                             uds("/tmp/x.sock"), uds("@name")}) {
        SCOPED_TRACE(a.to_string());
        Result<Address> back = parse_address(a.to_string());
        ASSERT_TRUE(back);
        EXPECT_EQ(*back, a);
    }
}

class AddressMessage : public ::testing::Test {
protected:
    Pool::Handle pool_ = Pool::create(PoolLimits{0, 4, std::size_t{1} << 20});
};

TEST_F(AddressMessage, ListenOnSetsOpcodeAndHeader) {
    Message::Ptr m = pool_->get(Alloc::Always);
    ASSERT_EQ(listen_on(*m, tcp("127.0.0.1", 7099)), Status::success);
    EXPECT_EQ(m->opcode(), OpCode::WelcomeRequest);
    EXPECT_EQ(m->find_header("~listen_on"), std::optional<std::string_view>("tcp|127.0.0.1|7099"));
    EXPECT_FALSE(m->find_header("~connect_to").has_value());
    Result<Address> back = address_of(*m);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, tcp("127.0.0.1", 7099));

    // Again: the header is replaced, not duplicated.
    ASSERT_EQ(listen_on(*m, uds("/tmp/s.sock")), Status::success);
    int count = 0;
    for (const TextHeader& h : m->headers()) count += h.name == listen_on_header ? 1 : 0;
    EXPECT_EQ(count, 1);
    EXPECT_EQ(address_of(*m).value(), uds("/tmp/s.sock"));

    // The answer (WelcomeResponse) carries it too.
    m->set_opcode(OpCode::WelcomeResponse);
    EXPECT_EQ(address_of(*m).value(), uds("/tmp/s.sock"));
}

TEST_F(AddressMessage, ConnectToSetsOpcodeAndHeader) {
    Message::Ptr m = pool_->get(Alloc::Always);
    ASSERT_EQ(m->add_header("app", "x"), Status::success);
    ASSERT_EQ(connect_to(*m, tcp("::1", 80)), Status::success);
    EXPECT_EQ(m->opcode(), OpCode::HelloRequest);
    EXPECT_EQ(m->find_header("~connect_to"), std::optional<std::string_view>("tcp|::1|80"));
    EXPECT_EQ(m->find_header("app"), std::optional<std::string_view>("x"));
    EXPECT_EQ(address_of(*m).value(), tcp("::1", 80));
    EXPECT_EQ(m->validate_for_post(), Status::success);

    ASSERT_EQ(connect_to(*m, uds("@abstract")), Status::success);
    Result<Address> back = address_of(*m);
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->abstract());
    m->set_opcode(OpCode::HelloResponse);
    EXPECT_EQ(address_of(*m).value(), uds("@abstract"));
}

TEST_F(AddressMessage, BadAddressesAreRefused) {
    Message::Ptr m = pool_->get(Alloc::Always);
    EXPECT_EQ(listen_on(*m, uds("")), Status::invalid_address);
    EXPECT_EQ(connect_to(*m, uds("/" + std::string(103, 'p'))), Status::invalid_address);
    EXPECT_EQ(connect_to(*m, tcp(std::string(256, 'h'), 1)), Status::invalid_address);
    EXPECT_TRUE(m->raw_headers().empty());

    Message::Ptr none = pool_->get(Alloc::Always);
    none->set_opcode(OpCode::HelloRequest);
    EXPECT_EQ(address_of(*none).status(), Status::wrong_address);
    ASSERT_EQ(none->add_header("~connect_to", "udp|x|1"), Status::success);
    EXPECT_EQ(address_of(*none).status(), Status::wrong_address);
    ASSERT_EQ(none->set_header("~connect_to", "tcp|x|70000"), Status::success);
    EXPECT_EQ(address_of(*none).status(), Status::invalid_address);
}

TEST(Address, RandomStringsNeverCrash) {
    std::mt19937_64 rng(20240611);
    static constexpr char alphabet[] = "tcpuds|[]:.@/0123456789abcxyz \r\n-+";
    std::string prefixes[] = {"", "tcp|", "uds|", "tcp||", "tcp|[", "uds|@", "tcp://", "tcp://[", "ipc://", "ipc://@"};
    for (int i = 0; i < 20000; ++i) {
        std::string text = prefixes[rng() % std::size(prefixes)];
        const std::size_t size = rng() % 130;
        for (std::size_t k = 0; k < size; ++k) {
            text += rng() % 16 == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % (sizeof alphabet - 1)];
        }
        Result<Address> got = parse_address(text);
        if (!got) {
            ASSERT_TRUE(got.status() == Status::wrong_address || got.status() == Status::invalid_address)
                << text << " -> " << got.status();
            continue;
        }
        if (got->kind == Address::Kind::uds) {
            ASSERT_FALSE(got->path.empty()) << text;
            ASSERT_LE(got->path.size(), 103u) << text;
        }
        // Anything accepted prints as something that parses to itself.
        if (got->host.find_first_of("[]") == std::string::npos) {
            Result<Address> again = parse_address(got->to_string());
            ASSERT_TRUE(again) << text;
            ASSERT_EQ(*again, *got) << text;
        }
    }
}

} // namespace
} // namespace tofu
