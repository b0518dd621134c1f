#include "message/codec.hpp"

#include "pool/pool.hpp"

#include <algorithm>
#include <cstring>

namespace tofu::wire {
namespace {

constexpr std::uint8_t opcode_mask = 0x0F;
constexpr std::uint8_t origin_bit = 0x10;
constexpr std::uint8_t more_bit = 0x20;

void put16(std::byte* out, std::uint16_t value) noexcept {
    out[0] = static_cast<std::byte>(value >> 8);
    out[1] = static_cast<std::byte>(value);
}

std::uint16_t get16(const std::byte* in) noexcept {
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(in[0]) << 8) | std::to_integer<unsigned>(in[1]));
}

bool travels_on_wire(OpCode op) noexcept {
    return op != OpCode::ByeSignal && op != OpCode::WelcomeRequest && op != OpCode::WelcomeResponse;
}

} // namespace

void encode_header(const BinaryHeader& header, std::size_t headers_size, std::size_t body_size,
                   std::span<std::byte, wire_header_size> out) noexcept {
    put16(&out[0], header.channel);
    std::uint8_t proto = static_cast<std::uint8_t>(header.opcode) & opcode_mask;
    if (header.origin == Origin::engine) proto |= origin_bit;
    if (header.more) proto |= more_bit;
    out[2] = static_cast<std::byte>(proto);
    out[3] = static_cast<std::byte>(to_byte(header.status));
    for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<std::byte>(header.message_id >> (56 - 8 * i));
    put16(&out[12], static_cast<std::uint16_t>(headers_size));
    put16(&out[14], static_cast<std::uint16_t>(body_size));
}

FrameHeader decode_header(std::span<const std::byte, wire_header_size> in) noexcept {
    FrameHeader frame;
    frame.header.channel = get16(&in[0]);
    const auto proto = std::to_integer<std::uint8_t>(in[2]);
    frame.opcode_bits = proto & opcode_mask;
    frame.header.opcode = static_cast<OpCode>(frame.opcode_bits <= 9 ? frame.opcode_bits : 0);
    frame.header.origin = (proto & origin_bit) != 0 ? Origin::engine : Origin::application;
    frame.header.more = (proto & more_bit) != 0;
    frame.header.status = status_from_byte(std::to_integer<std::uint8_t>(in[3]));
    std::uint64_t id = 0;
    for (int i = 0; i < 8; ++i) id = (id << 8) | std::to_integer<std::uint64_t>(in[4 + i]);
    frame.header.message_id = id;
    frame.headers_size = get16(&in[12]);
    frame.body_size = get16(&in[14]);
    return frame;
}

Status check_incoming(const FrameHeader& frame) noexcept {
    if (frame.opcode_bits > 9 || !travels_on_wire(frame.header.opcode)) return Status::invalid_op_code;
    const OpCode op = frame.header.opcode;
    const bool streams = op == OpCode::Request || op == OpCode::Response || op == OpCode::Signal;
    if (frame.header.more && !streams) return Status::invalid_more_usage;
    return Status::success;
}

Segments encode(Message& message) noexcept {
    encode_header(message.header(), message.raw_headers().size(), message.body().size(),
                  detail::MessageAccess::wire_header(message));
    Segments segments;
    const auto add = [&segments](std::span<const std::byte> part) {
        if (part.empty()) return;
        segments.parts[segments.count++] = part;
        segments.total += part.size();
    };
    add(detail::MessageAccess::wire_header(message));
    add(message.raw_headers());
    add(std::as_const(message).body());
    return segments;
}

Decoder::Step Decoder::feed(std::span<const std::byte> input) {
    std::size_t used = 0;
    for (;;) {
        switch (state_) {
        case State::header: {
            const std::size_t n = std::min(wire_header_size - header_filled_, input.size() - used);
            // n == 0 with an empty span would pass memcpy a null source (UB)
            if (n != 0) std::memcpy(header_bytes_.data() + header_filled_, input.data() + used, n);
            header_filled_ += n;
            used += n;
            if (header_filled_ < wire_header_size) return {Event::need_bytes, used};
            frame_ = decode_header(header_bytes_);
            if (Status s = check_incoming(frame_); s != Status::success) {
                error_ = s;
                state_ = State::failed;
                return {Event::error, used};
            }
            state_ = State::buffers;
            break;
        }
        case State::buffers: {
            if (!target_) return {Event::need_message, used};
            // Capacity for exactly what the frame announces, charged to the pool.
            if (detail::MessageAccess::headers(*target_).reserve(frame_.headers_size, Status::invalid_headers_len,
                                                                 MemoryTier::inbound) != Status::success ||
                detail::MessageAccess::body(*target_).reserve(frame_.body_size, Status::invalid_body_len,
                                                              MemoryTier::inbound) != Status::success) {
                return {Event::need_memory, used};
            }
            (void)detail::MessageAccess::headers(*target_).resize(frame_.headers_size, Status::invalid_headers_len);
            (void)detail::MessageAccess::body(*target_).resize(frame_.body_size, Status::invalid_body_len);
            target_->header() = frame_.header;
            part_filled_ = 0;
            state_ = State::text;
            break;
        }
        case State::text:
        case State::body: {
            MessageBuffer& part = state_ == State::text ? detail::MessageAccess::headers(*target_)
                                                        : detail::MessageAccess::body(*target_);
            const std::size_t n = std::min(part.size() - part_filled_, input.size() - used);
            if (n != 0) std::memcpy(part.bytes().data() + part_filled_, input.data() + used, n);
            part_filled_ += n;
            used += n;
            if (part_filled_ < part.size()) return {Event::need_bytes, used};
            part_filled_ = 0;
            if (state_ == State::text) {
                if (Status s = validate_text_headers(part.bytes()); s != Status::success) {
                    error_ = s;
                    state_ = State::failed;
                    return {Event::error, used};
                }
                state_ = State::body;
            } else {
                state_ = State::complete;
            }
            break;
        }
        case State::complete: return {Event::message, used};
        case State::failed: return {Event::error, used};
        }
    }
}

Message::Ptr Decoder::take() noexcept {
    if (state_ != State::complete) return Message::Ptr();
    state_ = State::header;
    header_filled_ = 0;
    ++frames_;
    return std::move(target_);
}

std::size_t Decoder::bytes_wanted() const noexcept {
    if (state_ != State::buffers || !target_) return 0;
    const auto missing = [](std::size_t wanted, std::size_t have) { return wanted > have ? wanted - have : 0; };
    return missing(frame_.headers_size, detail::MessageAccess::headers(*target_).capacity()) +
           missing(frame_.body_size, detail::MessageAccess::body(*target_).capacity());
}

Message::Ptr Decoder::release_target() noexcept {
    if (state_ == State::text || state_ == State::body || state_ == State::complete) return Message::Ptr();
    return std::move(target_);
}

} // namespace tofu::wire
