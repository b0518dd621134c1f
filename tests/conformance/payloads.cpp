#include "payloads.hpp"

#include <algorithm>
#include <cstring>
#include <thread>

namespace tofu::conformance {

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::uint64_t seed_of(std::uint32_t stream, std::uint64_t seq) {
    std::uint64_t state = (std::uint64_t{stream} << 48) ^ seq ^ 0x7F4A7C15F39CC060ull;
    return splitmix64(state);
}

std::string descriptor_line(std::uint32_t stream, std::uint64_t seq) {
    return "t:" + std::to_string(stream) + "." + std::to_string(seq) + "\r\n";
}

std::string header_block(std::uint32_t stream, std::uint64_t seq, std::size_t wanted) {
    std::string block = descriptor_line(stream, seq);
    wanted = std::min(wanted, max_headers_size);
    if (wanted <= block.size()) return block;
    std::size_t remaining = wanted - block.size();
    if (remaining < 5) return block;
    std::uint64_t state = seed_of(stream, seq) ^ 0xA5A5A5A5u;
    std::uint64_t bits = 0;
    int left = 0;
    block.reserve(wanted);
    while (remaining != 0) {
        std::size_t line = std::min<std::size_t>(remaining, 4000);
        if (remaining - line != 0 && remaining - line < 5) line = remaining - 5;
        block += "p:";
        for (std::size_t i = 0; i < line - 4; ++i) {
            if (left == 0) {
                bits = splitmix64(state);
                left = 12;
            }
            block += static_cast<char>('a' + (bits & 0x1F) % 26);
            bits >>= 5;
            --left;
        }
        block += "\r\n";
        remaining -= line;
    }
    return block;
}

Status fill(Message& message, std::uint32_t stream, std::uint64_t seq, Shape shape) {
    message.clear_headers();
    message.clear_body();
    const std::string block = header_block(stream, seq, shape.headers);
    std::string_view rest = block;
    while (!rest.empty()) {
        const std::size_t end = rest.find("\r\n");
        const std::string_view line = rest.substr(0, end);
        const std::size_t colon = line.find(':');
        if (Status s = message.add_header(line.substr(0, colon), line.substr(colon + 1)); s != Status::success)
            return s;
        rest.remove_prefix(end + 2);
    }
    const std::size_t body = std::min(shape.body, max_body_size);
    if (Status s = message.resize_body(body); s != Status::success) return s;
    std::uint64_t state = seed_of(stream, seq);
    std::byte* out = message.body().data();
    std::size_t i = 0;
    for (; i + 8 <= body; i += 8) {
        const std::uint64_t word = splitmix64(state);
        std::memcpy(out + i, &word, 8);
    }
    if (i < body) {
        const std::uint64_t word = splitmix64(state);
        std::memcpy(out + i, &word, body - i);
    }
    return Status::success;
}

std::optional<Identity> identity_of(const Message& message) {
    const std::optional<std::string_view> value = message.find_header("t");
    if (!value) return std::nullopt;
    const std::size_t dot = value->find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    Identity id;
    try {
        id.stream = static_cast<std::uint32_t>(std::stoul(std::string(value->substr(0, dot))));
        id.seq = std::stoull(std::string(value->substr(dot + 1)));
    } catch (...) {
        return std::nullopt;
    }
    return id;
}

std::string check_payload(const Message& message, Identity id, Shape shape) {
    const std::string block = header_block(id.stream, id.seq, shape.headers);
    const auto headers = message.raw_headers();
    if (headers.size() != block.size()) {
        return "header block of " + std::to_string(headers.size()) + " bytes, expected " + std::to_string(block.size());
    }
    if (std::memcmp(headers.data(), block.data(), block.size()) != 0) return "header bytes differ";
    const std::size_t body = std::min(shape.body, max_body_size);
    const auto bytes = message.body();
    if (bytes.size() != body)
        return "body of " + std::to_string(bytes.size()) + " bytes, expected " + std::to_string(body);
    std::uint64_t state = seed_of(id.stream, id.seq);
    std::size_t i = 0;
    for (; i + 8 <= body; i += 8) {
        const std::uint64_t word = splitmix64(state);
        if (std::memcmp(bytes.data() + i, &word, 8) != 0) return "body differs near offset " + std::to_string(i);
    }
    if (i < body) {
        const std::uint64_t word = splitmix64(state);
        if (std::memcmp(bytes.data() + i, &word, body - i) != 0) return "body differs near offset " + std::to_string(i);
    }
    return {};
}

bool StreamChecker::accept(const Message& message) {
    const std::optional<Identity> id = identity_of(message);
    if (!id || id->stream >= next_.size()) return fail("a message without a valid t: header: " + describe(&message));
    if (id->seq != next_[id->stream]) {
        return fail("stream " + std::to_string(id->stream) + ": got seq " + std::to_string(id->seq) + ", expected " +
                    std::to_string(next_[id->stream]));
    }
    const std::string why = check_payload(message, *id, shape_(id->stream, id->seq));
    if (!why.empty()) {
        return fail("stream " + std::to_string(id->stream) + " seq " + std::to_string(id->seq) + ": " + why);
    }
    ++next_[id->stream];
    ++total_;
    return true;
}

bool StreamChecker::fail(const std::string& why) {
    if (++failures_ <= 5) {
        ADD_FAILURE() << why;
    }
    return false;
}

std::optional<Identity> HandBackChecker::accept(const Message& message) {
    EXPECT_TRUE(message.from_engine()) << describe(&message);
    EXPECT_EQ(message.status(), cause_) << "handed back with the cause: " << describe(&message);
    const std::optional<Identity> id = identity_of(message);
    EXPECT_TRUE(id) << "a handed-back message that does not say which it is: " << describe(&message);
    if (!id) return id;
    if (count_ == 0) {
        first_ = id->seq;
    } else {
        EXPECT_EQ(id->seq, next_) << "returned messages keep their order";
    }
    next_ = id->seq + 1;
    ++count_;
    return id;
}

bool give_back_one_at_a_time(Group& group, std::vector<Message::Ptr>& held, ShapeFn shape, std::uint64_t count,
                             ReturnFrom from) {
    StreamChecker checker(1, shape);
    for (const Message::Ptr& message : held) checker.accept(*message);
    std::size_t index = 0;
    while (checker.total() < count && checker.failures() == 0) {
        if (index == held.size()) {
            ADD_FAILURE() << "every held message is back, yet only " << checker.total() << " of " << count
                          << " arrived";
            return false;
        }
        Message::Ptr& back = held[index++];
        if (from == ReturnFrom::another_thread) {
            std::thread([&back] { back.reset(); }).join();
        } else {
            back.reset();
        }
        Message::Ptr next = group.next();
        if (!next) {
            ADD_FAILURE() << "returning memory must resume reading without new traffic: stalled after "
                          << checker.total() << " of " << count;
            return false;
        }
        checker.accept(*next);
        held.push_back(std::move(next));
    }
    EXPECT_EQ(checker.total(), count);
    held.clear();
    return true;
}

Message::Ptr build_blocking(Engine& engine, std::uint32_t stream, std::uint64_t seq, Shape shape,
                            Clock::time_point deadline) {
    for (unsigned attempt = 0;; ++attempt) {
        Message::Ptr message = get_blocking(engine, deadline);
        if (!message) return message;
        const Status s = fill(*message, stream, seq, shape);
        if (s == Status::success) return message;
        if (s != Status::allocation_failed) {
            ADD_FAILURE() << "building message " << seq << " of stream " << stream << " failed: " << s;
            return Message::Ptr();
        }
        message.reset(); // not enough buffer memory yet: give the message back and wait
        if (Clock::now() > deadline) return Message::Ptr();
        if (attempt < 64) {
            std::this_thread::yield();
        } else {
            std::this_thread::sleep_for(50us);
        }
    }
}

bool send_stream(Engine& engine, Group& group, ChannelNumber channel, std::uint32_t stream, std::uint64_t first,
                 std::uint64_t count, ShapeFn shape, OpCode op, std::chrono::seconds patience) {
    for (std::uint64_t seq = first; seq < first + count; ++seq) {
        Message::Ptr message = build_blocking(engine, stream, seq, shape(stream, seq), Clock::now() + patience);
        if (!message) {
            ADD_FAILURE() << "sender: no pool memory for " << patience.count() << " s at seq " << seq;
            return false;
        }
        message->set_opcode(op);
        message->set_channel(channel);
        message->set_message_id(seq + 1);
        Result<BinaryHeader> posted = group.post(message);
        if (!posted) {
            ADD_FAILURE() << "sender: post of seq " << seq << " failed: " << posted.status();
            return false;
        }
    }
    return true;
}

Shape small_shape(std::uint32_t, std::uint64_t seq) { return {0, 64 + seq % 512}; }
Shape max_shape(std::uint32_t, std::uint64_t) { return {max_headers_size, max_body_size}; }
Shape mixed_shape(std::uint32_t stream, std::uint64_t seq) {
    std::uint64_t state = seed_of(stream, seq) ^ 0x5151;
    const std::uint64_t r = splitmix64(state);
    if (r % 100 >= 10) return {(r >> 8) % 300, (r >> 20) % 1500};
    if ((r >> 8) % 10 == 0) return {max_headers_size, max_body_size};
    const std::size_t half = max_body_size / 2;
    return {half + (r >> 12) % (max_headers_size - half + 1), half + (r >> 32) % (max_body_size - half + 1)};
}

} // namespace tofu::conformance
