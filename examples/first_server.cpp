// A first tofu server, top to bottom: listen, then answer what arrives.
// No callbacks: the loop takes messages out of one queue and posts the
// same messages back as answers. Who owns a message is visible in the
// types: a Message::Ptr is ours until post() empties it.
//
//   tofu-first-server [ADDRESS]        default tcp|127.0.0.1|0 (a free port)
//
// Stop it with Ctrl-C.
#include <tofu/tofu.hpp>

#include <chrono>
#include <iostream>

int main(int argc, char** argv) {
    tofu::Result<tofu::Address> where = tofu::parse_address(argc > 1 ? argv[1] : "tcp|127.0.0.1|0");
    if (!where) {
        std::cerr << "bad address: " << where.status() << "\n";
        return 2;
    }

    tofu::Engine engine{{.max_messages = 256, .memory_limit = 32 << 20}};
    tofu::ChannelGroup group = engine.create_group().value();

    // Ask the engine to listen. `welcome` is empty after post().
    tofu::Message::Ptr welcome = engine.get(tofu::Alloc::Always);
    if (tofu::listen_on(*welcome, where.value()) != tofu::Status::success) return 2;
    group.post(welcome).value();

    for (;;) {
        tofu::Message::Ptr msg = group.wait_receive(std::chrono::seconds(1)).value();
        if (!msg) continue; // a second without news

        if (msg->from_engine()) { // the engine speaks: listener ready, channel closed, ...
            if (msg->opcode() == tofu::OpCode::WelcomeResponse) {
                if (msg->status() != tofu::Status::success) {
                    std::cerr << "cannot listen: " << msg->status() << "\n";
                    return 1;
                }
                std::cout << "listening on " << tofu::address_of(*msg).value().to_string() << std::endl;
            } else {
                std::cout << "channel " << msg->channel() << ": " << msg->status() << "\n";
            }
            continue; // msg goes back to the pool here
        }

        switch (msg->opcode()) {
        case tofu::OpCode::HelloRequest: // a new client: accept it
            std::cout << "channel " << msg->channel() << ": hello\n";
            msg->reply(tofu::OpCode::HelloResponse);
            break;
        case tofu::OpCode::Request: // echo: same id, headers and body
            std::cout << "channel " << msg->channel() << ": request \"" << msg->body_text() << "\"\n";
            msg->reply(tofu::OpCode::Response);
            break;
        case tofu::OpCode::ByeRequest: // the client leaves
            msg->reply(tofu::OpCode::ByeResponse);
            break;
        default: continue; // nothing to answer
        }
        // The same message goes back out; msg is empty now. If the client
        // has gone meanwhile, the message stays with us and says why.
        if (auto posted = group.post(msg); !posted) std::cout << "not sent: " << posted.status() << "\n";
    }
}
