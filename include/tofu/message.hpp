#pragma once
// A tofu message: binary header, optional text headers, optional body.
// Every byte of buffer capacity is charged to the Pool the message came from.
#include <tofu/export.hpp>
#include <tofu/status.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

namespace tofu {

class Pool;
class Message;

enum class OpCode : std::uint8_t {
    Request = 0,
    Response = 1,
    Signal = 2,
    HelloRequest = 3,
    HelloResponse = 4,
    ByeRequest = 5,
    ByeResponse = 6,
    ByeSignal = 7,
    WelcomeRequest = 8,
    WelcomeResponse = 9,
};

TOFU_API std::string_view to_string(OpCode op) noexcept;

enum class Origin : std::uint8_t { application = 0, engine = 1 };

using ChannelNumber = std::uint16_t;
inline constexpr ChannelNumber unassigned_channel = 0;
inline constexpr ChannelNumber reserved_channel = 65535;
// How many channel numbers there are (tables indexed by number have this size).
inline constexpr std::size_t channel_number_count = std::size_t{1} << 16;
inline constexpr ChannelNumber max_channel = 65534;

inline constexpr std::size_t wire_header_size = 16;
inline constexpr std::size_t max_headers_size = 65535;
inline constexpr std::size_t max_body_size = 65535;
inline constexpr std::size_t max_frame_size = wire_header_size + max_headers_size + max_body_size;

// The binary header as the application sees it (lengths come from the buffers).
struct BinaryHeader {
    ChannelNumber channel = unassigned_channel;
    OpCode opcode = OpCode::Request;
    Origin origin = Origin::application;
    bool more = false;
    Status status = Status::success;
    std::uint64_t message_id = 0;
};

// One `name:value` text header.
struct TextHeader {
    std::string_view name;
    std::string_view value;
};

// Forward iteration over `name:value\r\n` lines of a well-formed header block.
class TOFU_API TextHeaders {
public:
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = TextHeader;
        using difference_type = std::ptrdiff_t;
        using pointer = const TextHeader*;
        using reference = const TextHeader&;

        iterator() = default;
        iterator(std::string_view rest) : rest_(rest) { advance(); }
        reference operator*() const { return current_; }
        pointer operator->() const { return &current_; }
        iterator& operator++() {
            advance();
            return *this;
        }
        iterator operator++(int) {
            iterator copy = *this;
            advance();
            return copy;
        }
        bool operator==(const iterator& other) const {
            return at_end_ == other.at_end_ && (at_end_ || rest_.data() == other.rest_.data());
        }

    private:
        void advance();
        std::string_view rest_;
        TextHeader current_;
        bool at_end_ = true;
    };

    explicit TextHeaders(std::string_view block) : block_(block) {}
    iterator begin() const { return iterator(block_); }
    iterator end() const { return iterator(); }

private:
    std::string_view block_;
};

// Checks a raw header block: every line `name:value\r\n`, name non-empty
// without ':', value non-empty. Returns success or invalid_headers_len.
TOFU_API Status validate_text_headers(std::span<const std::byte> block) noexcept;

// The engine's side of a message, not part of the API: its buffers, the
// pool bookkeeping and the intrusive queue link (reached through
// detail::MessageAccess, inside the library).
namespace detail {

struct MessageAccess;

// Who asks the pool for memory decides how much of the engine's reserve may
// be used: the reserve is kept for the engine's own notifications.
enum class MemoryTier { application, inbound, notification };

// Growable byte buffer whose capacity is charged to a Pool; it never grows
// past 65,535 bytes, the wire limit of both text headers and body.
class MessageBuffer {
public:
    MessageBuffer() = default;
    MessageBuffer(const MessageBuffer&) = delete;
    MessageBuffer& operator=(const MessageBuffer&) = delete;
    ~MessageBuffer();

    std::span<const std::byte> bytes() const noexcept { return {data_.get(), size_}; }
    std::span<std::byte> bytes() noexcept { return {data_.get(), size_}; }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return capacity_; }
    bool empty() const noexcept { return size_ == 0; }

    // invalid_*_len style failures are chosen by the caller; here: success,
    // allocation_failed (pool limit) or `too_long` when past 65,535.
    Status reserve(std::size_t capacity, Status too_long, MemoryTier tier = MemoryTier::application);
    Status append(std::span<const std::byte> data, Status too_long, MemoryTier tier = MemoryTier::application);
    Status resize(std::size_t size, Status too_long, MemoryTier tier = MemoryTier::application);
    void clear() noexcept { size_ = 0; }
    // gives the capacity back to the pool
    void release() noexcept;

private:
    friend class tofu::Message;
    Pool* pool_ = nullptr;
    std::unique_ptr<std::byte[]> data_;
    std::uint32_t size_ = 0;
    std::uint32_t capacity_ = 0;
};

} // namespace detail

class TOFU_API Message {
public:
    // Returns the message to its pool; a Ptr that was posted or put back is
    // empty, so a message cannot be used twice.
    struct Returner {
        void operator()(Message* message) const noexcept;
    };
    using Ptr = std::unique_ptr<Message, Returner>;

    Message(const Message&) = delete;
    Message& operator=(const Message&) = delete;

    const BinaryHeader& header() const noexcept { return header_; }
    BinaryHeader& header() noexcept { return header_; }

    ChannelNumber channel() const noexcept { return header_.channel; }
    void set_channel(ChannelNumber channel) noexcept { header_.channel = channel; }
    OpCode opcode() const noexcept { return header_.opcode; }
    void set_opcode(OpCode op) noexcept { header_.opcode = op; }
    Origin origin() const noexcept { return header_.origin; }
    bool from_engine() const noexcept { return header_.origin == Origin::engine; }
    bool more() const noexcept { return header_.more; }
    void set_more(bool more) noexcept { header_.more = more; }
    Status status() const noexcept { return header_.status; }
    void set_status(Status status) noexcept { header_.status = status; }
    std::uint64_t message_id() const noexcept { return header_.message_id; }
    void set_message_id(std::uint64_t id) noexcept { header_.message_id = id; }

    // Text headers. add_header validates name and value.
    Status add_header(std::string_view name, std::string_view value);
    std::optional<std::string_view> find_header(std::string_view name) const noexcept;
    // Replaces the first header called `name` (or appends it).
    Status set_header(std::string_view name, std::string_view value);
    TextHeaders headers() const noexcept;
    std::span<const std::byte> raw_headers() const noexcept { return headers_.bytes(); }
    void clear_headers() noexcept { headers_.clear(); }

    // Body: opaque bytes, at most 65,535.
    Status append_body(std::span<const std::byte> data);
    Status append_body(std::string_view text);
    Status reserve_body(std::size_t capacity);
    Status resize_body(std::size_t size);
    std::span<const std::byte> body() const noexcept { return body_.bytes(); }
    std::span<std::byte> body() noexcept { return body_.bytes(); }
    std::string_view body_text() const noexcept;
    void clear_body() noexcept { body_.clear(); }

    // Turns a received message into its answer on the same channel with the
    // same message id: the way a server replies without a new allocation.
    void reply(OpCode op) noexcept;

    // protocol §3 rules a message must meet to be posted (opcode, more, ids).
    Status validate_for_post() const noexcept;

    // Back to a blank application message; capacity is kept for reuse.
    void reset() noexcept;

    // Buffer capacities in bytes, as charged to the pool.
    std::size_t capacity_bytes() const noexcept { return headers_.capacity() + body_.capacity(); }
    std::size_t body_capacity() const noexcept { return body_.capacity(); }

private:
    friend class Pool;
    friend struct detail::MessageAccess;
    explicit Message(Pool& pool) noexcept;
    ~Message() = default;

    // Intrusive link: a message sits in one queue at a time (free list,
    // command queue, send queue or receive queue), so queues never allocate.
    Message* next_ = nullptr;
    // Encoded binary header kept with the message so a writev can point at it.
    std::array<std::byte, wire_header_size> wire_header_{};
    Pool* pool_;
    BinaryHeader header_;
    detail::MessageBuffer headers_;
    detail::MessageBuffer body_;
    // Pool bookkeeping while the message is in use: which bucket it came
    // from, and the channel (with the bytes) its share is charged to.
    bool in_reserve_ = false;
    ChannelNumber share_channel_ = unassigned_channel;
    std::uint32_t share_bytes_ = 0;
};

} // namespace tofu
