#pragma once
// The tofu wire format (protocol §4): a 16-byte big-endian binary header, the
// text header block, the body. Encoding points at the message's own buffers;
// decoding is incremental and takes memory from the pool only for what a
// frame announces, at most 65,535 + 65,535 bytes.
#include <tofu/message.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace tofu::wire {

struct FrameHeader {
    BinaryHeader header;
    std::uint16_t headers_size = 0;
    std::uint16_t body_size = 0;
    std::uint8_t opcode_bits = 0; // raw 4-bit opcode, may be invalid
};

void encode_header(const BinaryHeader& header, std::size_t headers_size, std::size_t body_size,
                   std::span<std::byte, wire_header_size> out) noexcept;
FrameHeader decode_header(std::span<const std::byte, wire_header_size> in) noexcept;

// Rules a frame from a peer must meet before any memory is spent on it.
Status check_incoming(const FrameHeader& frame) noexcept;

// Scatter-gather view of one encoded message: wire_header, text headers,
// body (empty parts left out). Fills the message's encoded binary header.
struct Segments {
    std::array<std::span<const std::byte>, 3> parts;
    std::size_t count = 0;
    std::size_t total = 0;
};
Segments encode(Message& message) noexcept;

class Decoder {
public:
    enum class Event {
        need_bytes,   // all input consumed, frame not complete
        need_message, // a header is complete: provide() a message to fill
        need_memory,  // the pool refused the frame's buffers: retry later
        message,      // take() the completed message
        error,        // protocol violation: error() says which
    };
    struct Step {
        Event event;
        std::size_t consumed;
    };

    Step feed(std::span<const std::byte> input);
    void provide(Message::Ptr target) noexcept { target_ = std::move(target); }
    Message::Ptr take() noexcept;
    Status error() const noexcept { return error_; }
    // true while part of a frame has been consumed
    bool mid_frame() const noexcept { return state_ != State::header || header_filled_ != 0; }
    bool holds_message() const noexcept { return static_cast<bool>(target_); }
    // After need_message / need_memory: the header of the frame under way.
    const FrameHeader& frame() const noexcept { return frame_; }
    // Frames completed (taken) so far.
    std::uint64_t frames() const noexcept { return frames_; }
    // After need_memory: how many more bytes the announced frame needs.
    std::size_t bytes_wanted() const noexcept;
    // Gives back a provided message that has not been filled yet.
    Message::Ptr release_target() noexcept;

private:
    enum class State { header, buffers, text, body, complete, failed };

    State state_ = State::header;
    std::array<std::byte, wire_header_size> header_bytes_{};
    std::size_t header_filled_ = 0;
    FrameHeader frame_;
    std::size_t part_filled_ = 0;
    Message::Ptr target_;
    Status error_ = Status::success;
    std::uint64_t frames_ = 0;
};

} // namespace tofu::wire
