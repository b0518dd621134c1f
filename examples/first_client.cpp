// A first tofu client, top to bottom: connect, greet, ask three questions,
// print the answers, say goodbye. No callbacks: post() hands a message to
// the engine, wait_receive() takes the next one out of the group's queue.
//
//   tofu-first-client ADDRESS [COUNT]      e.g. tofu-first-client 'tcp|127.0.0.1|7099'
//
// Exits 0 when every request was answered and the goodbye completed, 1 when
// not, 2 on bad arguments.
#include <tofu/tofu.hpp>

#include <charconv>
#include <chrono>
#include <iostream>
#include <string>
#include <string_view>

namespace {

using namespace std::chrono_literals;

// The next message for us, or an empty Ptr after a few seconds of silence.
tofu::Message::Ptr next_message(tofu::ChannelGroup& group) {
    for (int attempt = 0; attempt < 5; ++attempt) {
        tofu::Message::Ptr msg = group.wait_receive(1s).value();
        if (msg) return msg;
    }
    return {};
}

// COUNT is a whole number, all of it: "abc" or "3x" would otherwise become 0 or 3.
bool parse_count(std::string_view text, int& count) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    return error == std::errc() && end == text.data() + text.size() && count >= 0;
}

void print_answer(const tofu::Message& answer) {
    std::cout << "  answer id " << answer.message_id() << ": \"" << answer.body_text() << "\"";
    for (const tofu::TextHeader& header : answer.headers())
        std::cout << " [" << header.name << ": " << header.value << "]";
    std::cout << "\n";
}

} // namespace

int main(int argc, char** argv) {
    const char* const usage = "usage: tofu-first-client ADDRESS [COUNT]   (ADDRESS: tcp|host|port or uds|path)\n";
    if (argc < 2 || argc > 3) {
        std::cerr << usage;
        return 2;
    }
    tofu::Result<tofu::Address> server = tofu::parse_address(argv[1]);
    if (!server) {
        std::cerr << "bad address '" << argv[1] << "': " << server.status() << "\n";
        return 2;
    }
    int count = 3;
    if (argc > 2 && !parse_count(argv[2], count)) {
        std::cerr << "bad COUNT '" << argv[2] << "': a whole number, 0 or more\n" << usage;
        return 2;
    }

    tofu::Engine engine{{.max_messages = 64, .memory_limit = 4 << 20}};
    tofu::ChannelGroup group = engine.create_group().value();

    // 1. Connect: a HelloRequest addressed to the server. post() empties
    //    `hello` and tells us the channel number the engine chose.
    tofu::Message::Ptr hello = engine.get(tofu::Alloc::Always);
    if (tofu::connect_to(*hello, server.value()) != tofu::Status::success) return 2;
    const tofu::ChannelNumber channel = group.post(hello).value().channel;
    std::cout << "connecting to " << server.value().to_string() << " on channel " << channel << "\n";

    tofu::Message::Ptr welcome = next_message(group);
    if (!welcome || welcome->from_engine() || welcome->opcode() != tofu::OpCode::HelloResponse) {
        std::cerr << "no HelloResponse: " << (welcome ? welcome->status() : tofu::Status::unknown_error) << "\n";
        return 1;
    }
    std::cout << "connected\n";

    // 2. Ask: each Request carries a text header and a body; the answer
    //    comes back with the same message id.
    for (int i = 1; i <= count; ++i) {
        tofu::Message::Ptr request = engine.get(tofu::Alloc::Always);
        request->set_opcode(tofu::OpCode::Request);
        request->set_channel(channel);
        if (request->add_header("question", std::to_string(i)) != tofu::Status::success ||
            request->append_body("hello #" + std::to_string(i)) != tofu::Status::success) {
            std::cerr << "request " << i << " does not fit in a message\n";
            return 1;
        }
        const std::uint64_t id = group.post(request).value().message_id;
        std::cout << "request id " << id << " sent\n";

        tofu::Message::Ptr answer = next_message(group);
        if (!answer || answer->from_engine() || answer->opcode() != tofu::OpCode::Response ||
            answer->message_id() != id) {
            std::cerr << "no answer to request " << id << "\n";
            return 1;
        }
        print_answer(*answer);
    } // `answer` and the emptied `request` go back to the pool here

    // 3. Goodbye: ByeRequest; the server answers ByeResponse and the engine
    //    then reports the channel closed.
    tofu::Message::Ptr bye = engine.get(tofu::Alloc::Always);
    bye->set_opcode(tofu::OpCode::ByeRequest);
    bye->set_channel(channel);
    group.post(bye).value();
    bool said_bye = false;
    while (tofu::Message::Ptr msg = next_message(group)) {
        if (!msg->from_engine() && msg->opcode() == tofu::OpCode::ByeResponse) said_bye = true;
        if (msg->from_engine() && msg->status() == tofu::Status::channel_closed) {
            std::cout << "channel " << channel << " closed" << (said_bye ? " after ByeResponse" : "") << "\n";
            return said_bye ? 0 : 1;
        }
    }
    std::cerr << "the channel did not close\n";
    return 1;
}
