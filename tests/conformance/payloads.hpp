#pragma once
// Deterministic payloads: a message names its stream and sequence number in a
// `t:` header; its sizes and bytes follow from those, so a receiver checks
// order and every byte without a copy of what was sent.
#include "group.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tofu::conformance {

std::uint64_t splitmix64(std::uint64_t& state);
std::uint64_t seed_of(std::uint32_t stream, std::uint64_t seq);

// Sizes of one message: the whole text-header block and the body.
struct Shape {
    std::size_t headers = 0;
    std::size_t body = 0;
};
using ShapeFn = Shape (*)(std::uint32_t stream, std::uint64_t seq);

std::string descriptor_line(std::uint32_t stream, std::uint64_t seq);

// The exact header block a message of (stream, seq, shape) carries: the
// `t:stream.seq` line, then `p:` lines of pseudo-random letters up to the
// requested size (a remainder too short for a line is dropped).
std::string header_block(std::uint32_t stream, std::uint64_t seq, std::size_t wanted);

// Writes message `seq` of `stream`: its header block and its body bytes.
Status fill(Message& message, std::uint32_t stream, std::uint64_t seq, Shape shape);

struct Identity {
    std::uint32_t stream = 0;
    std::uint64_t seq = 0;
};

// Which (stream, seq) a message says it is (its first header).
std::optional<Identity> identity_of(const Message& message);

// Empty when `message` is exactly message `id` of shape `shape`; else why not.
std::string check_payload(const Message& message, Identity id, Shape shape);

// Checks arriving payload messages: per stream in order, from seq 0, every
// byte as sent. accept() is called by one thread at a time.
class StreamChecker {
public:
    StreamChecker(std::size_t streams, ShapeFn shape) : next_(streams, 0), shape_(shape) {}

    // true when `message` is the next message of its stream, byte-exact
    bool accept(const Message& message);
    std::uint64_t received(std::size_t stream) const { return next_[stream]; }
    std::uint64_t total() const { return total_; }
    std::size_t failures() const { return failures_; }

private:
    bool fail(const std::string& why);

    std::vector<std::uint64_t> next_;
    ShapeFn shape_;
    std::uint64_t total_ = 0;
    std::size_t failures_ = 0;
};

// Checks the messages an engine hands back unsent: from the engine, with the
// status `cause`, one stretch of a stream in order.
class HandBackChecker {
public:
    explicit HandBackChecker(Status cause) : cause_(cause) {}

    // Which message `message` is; empty (a failure) when it does not say.
    std::optional<Identity> accept(const Message& message);
    std::uint64_t count() const { return count_; }
    std::uint64_t first() const { return first_; }
    // One past the last seq handed back.
    std::uint64_t end() const { return next_; }

private:
    Status cause_;
    std::uint64_t count_ = 0;
    std::uint64_t first_ = 0;
    std::uint64_t next_ = 0;
};

// Where the application gives a held message back: the I/O thread must wake
// up either way.
enum class ReturnFrom { this_thread, another_thread };

// The application holds `held`, the start of stream 0 (`count` messages of
// `shape`), while the rest waits for memory: gives them back one at a time,
// each return alone (no new traffic) letting the next message in, and checks
// the whole stream arrives; then gives back the rest. False when reading
// stalled.
bool give_back_one_at_a_time(Group& group, std::vector<Message::Ptr>& held, ShapeFn shape, std::uint64_t count,
                             ReturnFrom from);

// A message from `engine` filled as message `seq` of `stream`, waiting (with
// a back-off) while the pool has no message or no buffer memory for it.
Message::Ptr build_blocking(Engine& engine, std::uint32_t stream, std::uint64_t seq, Shape shape,
                            Clock::time_point deadline);

// Posts messages [first, first + count) of `stream` on `channel`, waiting for
// pool memory when the sender's pool is exhausted. False on a failure.
bool send_stream(Engine& engine, Group& group, ChannelNumber channel, std::uint32_t stream, std::uint64_t first,
                 std::uint64_t count, ShapeFn shape, OpCode op = OpCode::Signal,
                 std::chrono::seconds patience = std::chrono::seconds(60));

// Shapes used by several scenarios.
Shape small_shape(std::uint32_t stream, std::uint64_t seq);
Shape max_shape(std::uint32_t stream, std::uint64_t seq);
// 90% small, 10% large (each part between half and all of its maximum, one
// in ten of those at exactly the maximum): about 10 KB per message on average.
Shape mixed_shape(std::uint32_t stream, std::uint64_t seq);

} // namespace tofu::conformance
