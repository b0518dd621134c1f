#include "pool/pool.hpp"
#include <tofu/message.hpp>

#include <algorithm>
#include <cstring>
#include <new>

namespace tofu {

std::string_view to_string(OpCode op) noexcept {
    switch (op) {
    case OpCode::Request: return "Request";
    case OpCode::Response: return "Response";
    case OpCode::Signal: return "Signal";
    case OpCode::HelloRequest: return "HelloRequest";
    case OpCode::HelloResponse: return "HelloResponse";
    case OpCode::ByeRequest: return "ByeRequest";
    case OpCode::ByeResponse: return "ByeResponse";
    case OpCode::ByeSignal: return "ByeSignal";
    case OpCode::WelcomeRequest: return "WelcomeRequest";
    case OpCode::WelcomeResponse: return "WelcomeResponse";
    }
    return "invalid";
}

// ---- MessageBuffer ----------------------------------------------------------

MessageBuffer::~MessageBuffer() { release(); }

Status MessageBuffer::reserve(std::size_t capacity, Status too_long, MemoryTier tier) {
    if (capacity > max_body_size) return too_long;
    if (capacity <= capacity_) return Status::success;
    const std::size_t extra = capacity - capacity_;
    if (!pool_->charge(extra, tier)) return Status::allocation_failed;
    std::unique_ptr<std::byte[]> grown(new (std::nothrow) std::byte[capacity]);
    if (!grown) {
        pool_->refund(extra);
        return Status::allocation_failed;
    }
    if (size_ != 0) std::memcpy(grown.get(), data_.get(), size_);
    data_ = std::move(grown);
    capacity_ = static_cast<std::uint32_t>(capacity);
    return Status::success;
}

Status MessageBuffer::resize(std::size_t size, Status too_long, MemoryTier tier) {
    if (size > max_body_size) return too_long;
    if (size > capacity_) {
        // Geometric growth keeps appends amortised; the cap is the wire limit.
        const std::size_t grown =
            std::min(max_body_size, std::max<std::size_t>({size, 64, std::size_t{capacity_} * 2}));
        if (Status s = reserve(grown, too_long, tier); s != Status::success) {
            if (s != Status::allocation_failed) return s;
            if (Status exact = reserve(size, too_long, tier); exact != Status::success) return exact;
        }
    }
    size_ = static_cast<std::uint32_t>(size);
    return Status::success;
}

Status MessageBuffer::append(std::span<const std::byte> data, Status too_long, MemoryTier tier) {
    const std::size_t old_size = size_;
    if (Status s = resize(old_size + data.size(), too_long, tier); s != Status::success) return s;
    if (!data.empty()) std::memcpy(data_.get() + old_size, data.data(), data.size());
    return Status::success;
}

void MessageBuffer::release() noexcept {
    if (capacity_ != 0) pool_->refund(capacity_);
    data_.reset();
    capacity_ = 0;
    size_ = 0;
}

// ---- text headers -----------------------------------------------------------

namespace {

std::string_view as_text(std::span<const std::byte> bytes) noexcept {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::span<const std::byte> as_bytes(std::string_view text) noexcept {
    return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

bool has_line_break(std::string_view text) noexcept { return text.find_first_of("\r\n") != std::string_view::npos; }

bool valid_name(std::string_view name) noexcept {
    return !name.empty() && name.find(':') == std::string_view::npos && !has_line_break(name);
}

bool valid_value(std::string_view value) noexcept { return !value.empty() && !has_line_break(value); }

// Splits the next `name:value\r\n` off `rest`; false when malformed.
bool next_line(std::string_view& rest, TextHeader& header) noexcept {
    const std::size_t end = rest.find("\r\n");
    if (end == std::string_view::npos) return false;
    const std::string_view line = rest.substr(0, end);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    header.name = line.substr(0, colon);
    header.value = line.substr(colon + 1);
    rest.remove_prefix(end + 2);
    return valid_name(header.name) && valid_value(header.value);
}

} // namespace

void TextHeaders::iterator::advance() { at_end_ = rest_.empty() || !next_line(rest_, current_); }

Status validate_text_headers(std::span<const std::byte> block) noexcept {
    std::string_view rest = as_text(block);
    TextHeader header;
    while (!rest.empty()) {
        if (!next_line(rest, header)) return Status::invalid_headers_len;
    }
    return Status::success;
}

// ---- Message ----------------------------------------------------------------

Message::Message(Pool& pool) noexcept : pool_(&pool) {
    headers_.pool_ = &pool;
    body_.pool_ = &pool;
}

void Message::Returner::operator()(Message* message) const noexcept { message->pool_->give_back(message); }

Status Message::add_header(std::string_view name, std::string_view value) {
    if (!valid_name(name) || !valid_value(value)) return Status::invalid_message;
    const std::size_t line = name.size() + 1 + value.size() + 2;
    const std::size_t old_size = headers_.size();
    if (old_size + line > max_headers_size) return Status::invalid_headers_len;
    if (Status s = headers_.resize(old_size + line, Status::invalid_headers_len); s != Status::success) return s;
    char* out = reinterpret_cast<char*>(headers_.bytes().data()) + old_size;
    std::memcpy(out, name.data(), name.size());
    out[name.size()] = ':';
    std::memcpy(out + name.size() + 1, value.data(), value.size());
    std::memcpy(out + name.size() + 1 + value.size(), "\r\n", 2);
    return Status::success;
}

std::optional<std::string_view> Message::find_header(std::string_view name) const noexcept {
    for (const TextHeader& header : headers()) {
        if (header.name == name) return header.value;
    }
    return std::nullopt;
}

Status Message::set_header(std::string_view name, std::string_view value) {
    if (!valid_name(name) || !valid_value(value)) return Status::invalid_message;
    const std::optional<std::string_view> old_value = find_header(name);
    if (!old_value) return add_header(name, value);

    const std::string_view block = as_text(headers_.bytes());
    const std::size_t value_at = static_cast<std::size_t>(old_value->data() - block.data());
    const std::size_t tail_at = value_at + old_value->size();
    const std::size_t tail_size = block.size() - tail_at;
    const std::size_t new_size = block.size() - old_value->size() + value.size();
    if (new_size > max_headers_size) return Status::invalid_headers_len;
    if (new_size > headers_.size()) {
        if (Status s = headers_.resize(new_size, Status::invalid_headers_len); s != Status::success) return s;
    }
    std::byte* base = headers_.bytes().data();
    std::memmove(base + value_at + value.size(), base + tail_at, tail_size);
    std::memcpy(base + value_at, value.data(), value.size());
    headers_.size_ = static_cast<std::uint32_t>(new_size);
    return Status::success;
}

TextHeaders Message::headers() const noexcept { return TextHeaders(as_text(headers_.bytes())); }

Status Message::append_body(std::span<const std::byte> data) { return body_.append(data, Status::invalid_body_len); }

Status Message::append_body(std::string_view text) { return append_body(as_bytes(text)); }

Status Message::reserve_body(std::size_t capacity) { return body_.reserve(capacity, Status::invalid_body_len); }

Status Message::resize_body(std::size_t size) { return body_.resize(size, Status::invalid_body_len); }

std::string_view Message::body_text() const noexcept { return as_text(body_.bytes()); }

void Message::reply(OpCode op) noexcept {
    header_.opcode = op;
    header_.origin = Origin::application;
    header_.status = Status::success;
    header_.more = false;
}

Status Message::validate_for_post() const noexcept {
    const auto op = static_cast<std::uint8_t>(header_.opcode);
    if (op > static_cast<std::uint8_t>(OpCode::WelcomeResponse) || header_.opcode == OpCode::WelcomeResponse) {
        return Status::invalid_op_code;
    }
    const bool streams =
        header_.opcode == OpCode::Request || header_.opcode == OpCode::Response || header_.opcode == OpCode::Signal;
    if (header_.more && !streams) return Status::invalid_more_usage;
    if (header_.opcode == OpCode::Response && header_.message_id == 0) return Status::invalid_message_id;
    return Status::success;
}

void Message::reset() noexcept {
    header_ = BinaryHeader{};
    headers_.clear();
    body_.clear();
    next_ = nullptr;
}

} // namespace tofu
