// A program built against an installed tofu (scripts/install-check.sh): one
// engine, a server group listening on a kernel-chosen loopback port, a client
// group that connects, asks one question and gets the answer. Exits 0 only
// when the whole exchange happened and the library's version is the headers'.
#include <tofu/tofu.hpp>

#include <chrono>
#include <iostream>
#include <string_view>

namespace {

using namespace std::chrono_literals;

tofu::Message::Ptr next(tofu::ChannelGroup& group) {
    tofu::Result<tofu::Message::Ptr> got = group.wait_receive(30s);
    return got ? std::move(got.value()) : tofu::Message::Ptr{};
}

int fail(std::string_view what) {
    std::cerr << "consumer: " << what << "\n";
    return 1;
}

} // namespace

int main() {
    if (tofu::version().text != TOFU_VERSION_STRING) return fail("library and headers disagree on the version");
    tofu::Engine engine;
    tofu::ChannelGroup server = engine.create_group().value();
    tofu::ChannelGroup client = engine.create_group().value();

    tofu::Message::Ptr welcome = engine.get(tofu::Alloc::Always);
    if (tofu::listen_on(*welcome, tofu::tcp("127.0.0.1", 0)) != tofu::Status::success) return fail("listen_on");
    if (!server.post(welcome)) return fail("post WelcomeRequest");
    tofu::Message::Ptr listening = next(server);
    if (!listening || listening->status() != tofu::Status::success) return fail("no WelcomeResponse");
    const tofu::Result<tofu::Address> address = tofu::address_of(*listening);
    if (!address) return fail("WelcomeResponse without an address");

    tofu::Message::Ptr hello = engine.get(tofu::Alloc::Always);
    if (tofu::connect_to(*hello, address.value()) != tofu::Status::success) return fail("connect_to");
    const tofu::Result<tofu::BinaryHeader> connecting = client.post(hello);
    if (!connecting) return fail("post HelloRequest");
    tofu::Message::Ptr request = next(server);
    if (!request || request->opcode() != tofu::OpCode::HelloRequest) return fail("no HelloRequest");
    request->reply(tofu::OpCode::HelloResponse);
    if (!server.post(request)) return fail("post HelloResponse");
    tofu::Message::Ptr accepted = next(client);
    if (!accepted || accepted->opcode() != tofu::OpCode::HelloResponse) return fail("no HelloResponse");

    tofu::Message::Ptr question = engine.get(tofu::Alloc::Always);
    question->set_opcode(tofu::OpCode::Request);
    question->set_channel(connecting.value().channel);
    if (question->append_body("ping") != tofu::Status::success) return fail("append_body");
    if (!client.post(question)) return fail("post Request");
    tofu::Message::Ptr asked = next(server);
    if (!asked || asked->body_text() != "ping") return fail("the Request did not arrive intact");
    asked->reply(tofu::OpCode::Response);
    if (!server.post(asked)) return fail("post Response");
    tofu::Message::Ptr answer = next(client);
    if (!answer || answer->opcode() != tofu::OpCode::Response || answer->body_text() != "ping") {
        return fail("no Response");
    }
    std::cout << "consumer: tofu " << tofu::version().text << ": request answered over " << address.value().to_string()
              << "\n";
    return 0;
}
