#include <tofu/tofu.hpp>

#include <chrono>
#include <iostream>

using namespace std::chrono_literals;

int main() {
    tofu::Engine engine{{.max_messages = 256, .memory_limit = 32 << 20}};
    tofu::ChannelGroup group = engine.create_group().value();

    tofu::Message::Ptr welcome = engine.get(tofu::Alloc::Always);
    if (tofu::listen_on(*welcome, tofu::tcp("127.0.0.1", 0)) != tofu::Status::success) return 1; // port 0: any
    group.post(welcome).value();                                                                 // welcome is empty now

    for (;;) {
        tofu::Message::Ptr msg = group.wait_receive(1s).value();
        if (!msg) continue;       // timeout
        if (msg->from_engine()) { // WelcomeResponse, channel_closed, pool_empty, ...
            std::cout << msg->status() << " on channel " << msg->channel() << '\n';
            continue;
        }
        switch (msg->opcode()) {
        case tofu::OpCode::HelloRequest: msg->reply(tofu::OpCode::HelloResponse); break;
        case tofu::OpCode::Request: msg->reply(tofu::OpCode::Response); break;
        default: continue; // dropping a Ptr returns it to the pool
        }
        group.post(msg).value();
    }
}
