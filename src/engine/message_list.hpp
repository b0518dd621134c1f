#pragma once
// FIFO of messages linked through Message::next: queues never allocate, and
// a batch moves between threads by splicing two pointers.
#include "message/message_access.hpp"

#include <cstddef>

namespace tofu::detail {

class MessageList {
public:
    MessageList() = default;
    MessageList(const MessageList&) = delete;
    MessageList& operator=(const MessageList&) = delete;
    MessageList(MessageList&& other) noexcept { splice(other); }
    MessageList& operator=(MessageList&& other) noexcept {
        splice(other);
        return *this;
    }
    ~MessageList() { clear(); }

    bool empty() const noexcept { return head_ == nullptr; }
    std::size_t size() const noexcept { return size_; }
    Message* front() const noexcept { return head_; }

    void push(Message::Ptr message) noexcept {
        Message* raw = message.release();
        MessageAccess::next(*raw) = nullptr;
        if (tail_ != nullptr) MessageAccess::next(*tail_) = raw;
        else head_ = raw;
        tail_ = raw;
        ++size_;
    }

    Message::Ptr pop() noexcept {
        Message* raw = head_;
        if (raw == nullptr) return Message::Ptr();
        head_ = MessageAccess::next(*raw);
        if (head_ == nullptr) tail_ = nullptr;
        MessageAccess::next(*raw) = nullptr;
        --size_;
        return Message::Ptr(raw);
    }

    // Moves all of `other` to the back of this list.
    void splice(MessageList& other) noexcept {
        if (other.head_ == nullptr) return;
        if (tail_ != nullptr) MessageAccess::next(*tail_) = other.head_;
        else head_ = other.head_;
        tail_ = other.tail_;
        size_ += other.size_;
        other.head_ = other.tail_ = nullptr;
        other.size_ = 0;
    }

    void clear() noexcept {
        while (!empty()) pop();
    }

private:
    Message* head_ = nullptr;
    Message* tail_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace tofu::detail
