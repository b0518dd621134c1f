#pragma once
/// \file
/// A tofu message: binary header, optional text headers, optional body.
/// Every byte of buffer capacity is charged to the Pool the message came from.
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

/// What a message is: one of the operations of docs/protocol.md §3. The
/// number is the opcode's wire value.
enum class OpCode : std::uint8_t {
    Request = 0,         ///< ask the peer
    Response = 1,        ///< answer (non-zero message id, usually the request's)
    Signal = 2,          ///< one-way notification
    HelloRequest = 3,    ///< connect (`~connect_to`) and greet
    HelloResponse = 4,   ///< the server accepts: both sides are peers from now on
    ByeRequest = 5,      ///< graceful close, queued after what is pending
    ByeResponse = 6,     ///< acknowledges a ByeRequest; the connection then closes
    ByeSignal = 7,       ///< abort a channel or stop a listener now (never on the wire)
    WelcomeRequest = 8,  ///< listen (`~listen_on`) on a new listener channel
    WelcomeResponse = 9, ///< from the engine: listening, or why not (status)
};

/// The opcode's name as declared, e.g. `"HelloRequest"`; `"invalid"` for a
/// value outside the enum.
TOFU_API std::string_view to_string(OpCode op) noexcept;

/// Who made a message.
enum class Origin : std::uint8_t {
    application = 0, ///< the application (every message a peer sends)
    engine = 1,      ///< the engine: a notification, a message handed back, a wake-up
};

/// A channel's number, unique within an engine from creation to closure;
/// each side of a connection numbers its channels independently.
using ChannelNumber = std::uint16_t;
/// The number of no channel: a message not yet on a channel.
inline constexpr ChannelNumber unassigned_channel = 0;
/// Reserved: never a channel's number.
inline constexpr ChannelNumber reserved_channel = 65535;
/// How many channel numbers there are (tables indexed by number have this size).
inline constexpr std::size_t channel_number_count = std::size_t{1} << 16;
/// The largest number a channel gets.
inline constexpr ChannelNumber max_channel = 65534;

/// Bytes of the binary header on the wire.
inline constexpr std::size_t wire_header_size = 16;
/// At most this many bytes of text headers in a message.
inline constexpr std::size_t max_headers_size = 65535;
/// At most this many bytes of body in a message.
inline constexpr std::size_t max_body_size = 65535;
/// The largest frame on the wire.
inline constexpr std::size_t max_frame_size = wire_header_size + max_headers_size + max_body_size;

/// The binary header as the application sees it (lengths come from the buffers).
struct BinaryHeader {
    ChannelNumber channel = unassigned_channel; ///< this side's number of the channel
    OpCode opcode = OpCode::Request;            ///< what the message is
    Origin origin = Origin::application;        ///< who made it
    bool more = false;                          ///< more messages of this stream (same message id) follow
    Status status = Status::success;            ///< why the engine handed it back, or what it notifies
    std::uint64_t message_id = 0;               ///< 0 when posted: the engine assigns one
};

/// One `name:value` text header.
struct TextHeader {
    std::string_view name;  ///< non-empty, without ':'
    std::string_view value; ///< non-empty
};

/// Forward iteration over `name:value\r\n` lines of a well-formed header block.
class TOFU_API TextHeaders {
public:
    /// Walks the lines, stopping at the end of the block or at a malformed line.
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag; ///< a forward iterator
        using value_type = TextHeader;                       ///< a header
        using difference_type = std::ptrdiff_t;              ///< a distance
        using pointer = const TextHeader*;                   ///< read-only
        using reference = const TextHeader&;                 ///< read-only

        /// The end.
        iterator() = default;
        /// The first line of `rest`, or the end when there is none.
        iterator(std::string_view rest) : rest_(rest) { advance(); }
        /// The current header; its views point into the block.
        reference operator*() const { return current_; }
        /// The current header's members.
        pointer operator->() const { return &current_; }
        /// The next line.
        iterator& operator++() {
            advance();
            return *this;
        }
        /// The next line; returns the iterator as it was.
        iterator operator++(int) {
            iterator copy = *this;
            advance();
            return copy;
        }
        /// Both at the end, or at the same line of the same block.
        bool operator==(const iterator& other) const {
            return at_end_ == other.at_end_ && (at_end_ || rest_.data() == other.rest_.data());
        }

    private:
        void advance();
        std::string_view rest_;
        TextHeader current_;
        bool at_end_ = true;
    };

    /// Views `block`, which must outlive this object; nothing is copied.
    explicit TextHeaders(std::string_view block) : block_(block) {}
    /// The first header.
    iterator begin() const { return iterator(block_); }
    /// Past the last header.
    iterator end() const { return iterator(); }

private:
    std::string_view block_;
};

/// Checks a raw header block: every line `name:value\r\n`, name non-empty
/// without ':', value non-empty. Returns success or invalid_headers_len.
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

/// A message of an engine's pool, reached through a Message::Ptr from
/// Engine::get() or ChannelGroup::wait_receive().
class TOFU_API Message {
public:
    /// Returns the message to its pool; a Ptr that was posted or put back is
    /// empty, so a message cannot be used twice.
    struct Returner {
        /// Gives `message` back to the pool it came from.
        void operator()(Message* message) const noexcept;
    };
    /// The one owner of a message; dropping it returns the message to its pool.
    using Ptr = std::unique_ptr<Message, Returner>;

    Message(const Message&) = delete;
    Message& operator=(const Message&) = delete;

    /// The binary header.
    const BinaryHeader& header() const noexcept { return header_; }
    /// The binary header, to change several fields at once.
    BinaryHeader& header() noexcept { return header_; }

    /// The channel's number (on this side).
    ChannelNumber channel() const noexcept { return header_.channel; }
    /// Sets the channel the message goes to.
    void set_channel(ChannelNumber channel) noexcept { header_.channel = channel; }
    /// What the message is.
    OpCode opcode() const noexcept { return header_.opcode; }
    /// Sets what the message is.
    void set_opcode(OpCode op) noexcept { header_.opcode = op; }
    /// Who made the message.
    Origin origin() const noexcept { return header_.origin; }
    /// Whether the engine made it: a notification, a message handed back or
    /// a wake-up; status() says which.
    bool from_engine() const noexcept { return header_.origin == Origin::engine; }
    /// Whether more messages of this stream (same message id) follow.
    bool more() const noexcept { return header_.more; }
    /// Sets whether more messages of this stream follow (Request, Response
    /// and Signal only).
    void set_more(bool more) noexcept { header_.more = more; }
    /// Why the engine handed the message back, or what it notifies.
    Status status() const noexcept { return header_.status; }
    /// Sets the status byte.
    void set_status(Status status) noexcept { header_.status = status; }
    /// The message id; a message posted with 0 gets a process-unique
    /// increasing one.
    std::uint64_t message_id() const noexcept { return header_.message_id; }
    /// Sets the message id (a Response must carry a non-zero one).
    void set_message_id(std::uint64_t id) noexcept { header_.message_id = id; }

    /// \name Text headers
    /// add_header validates name and value.
    /// @{

    /// Appends `name:value`: invalid_message for a name that is empty or holds
    /// ':' or a line break, or a value that is empty or holds a line break;
    /// invalid_headers_len past 65,535 bytes; allocation_failed when the pool
    /// has no room.
    Status add_header(std::string_view name, std::string_view value);
    /// The value of the first header called `name`, if there is one.
    std::optional<std::string_view> find_header(std::string_view name) const noexcept;
    /// Replaces the first header called `name` (or appends it).
    Status set_header(std::string_view name, std::string_view value);
    /// The text headers, in order.
    TextHeaders headers() const noexcept;
    /// The text headers as on the wire: `name:value\r\n` lines.
    std::span<const std::byte> raw_headers() const noexcept { return headers_.bytes(); }
    /// Removes every text header; the capacity is kept.
    void clear_headers() noexcept { headers_.clear(); }
    /// @}

    /// \name Body
    /// Body: opaque bytes, at most 65,535.
    /// @{

    /// Appends `data`: invalid_body_len past 65,535 bytes, allocation_failed
    /// when the pool has no room.
    Status append_body(std::span<const std::byte> data);
    /// Appends the bytes of `text`.
    Status append_body(std::string_view text);
    /// Makes room for `capacity` bytes of body; the body's size is unchanged.
    Status reserve_body(std::size_t capacity);
    /// Sets the body's size; bytes past the old size are unspecified until
    /// written through body().
    Status resize_body(std::size_t size);
    /// The body.
    std::span<const std::byte> body() const noexcept { return body_.bytes(); }
    /// The body, to write in place.
    std::span<std::byte> body() noexcept { return body_.bytes(); }
    /// The body's bytes as text.
    std::string_view body_text() const noexcept;
    /// Empties the body; the capacity is kept.
    void clear_body() noexcept { body_.clear(); }
    /// @}

    /// Turns a received message into its answer on the same channel with the
    /// same message id: the way a server replies without a new allocation.
    /// Sets the opcode to `op`, origin application and status success, and
    /// clears `more`; text headers and body stay.
    void reply(OpCode op) noexcept;

    /// protocol §3 rules a message must meet to be posted (opcode, more, ids):
    /// success, invalid_op_code, invalid_more_usage or invalid_message_id.
    Status validate_for_post() const noexcept;

    /// Back to a blank application message; capacity is kept for reuse.
    void reset() noexcept;

    /// \name Capacity
    /// Buffer capacities in bytes, as charged to the pool.
    /// @{

    /// Text headers and body together.
    std::size_t capacity_bytes() const noexcept { return headers_.capacity() + body_.capacity(); }
    /// The body alone.
    std::size_t body_capacity() const noexcept { return body_.capacity(); }
    /// @}

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
