#pragma once
// Small helpers shared by the foundation unit tests.
#include "message/codec.hpp"

#include "pool/pool.hpp"
#include <tofu/message.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tofu::test {

using Bytes = std::vector<std::byte>;

// Bytes written out by hand: bytes({0x00, 0x05, ...}).
inline Bytes bytes(std::initializer_list<unsigned> values) {
    Bytes out;
    out.reserve(values.size());
    for (unsigned v : values) out.push_back(static_cast<std::byte>(v));
    return out;
}

inline Bytes bytes(std::string_view text) {
    Bytes out(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<std::byte>(static_cast<unsigned char>(text[i]));
    return out;
}

inline std::span<const std::byte> as_span(std::string_view text) {
    return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

inline std::string_view as_text(std::span<const std::byte> data) {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
}

inline Bytes concat(std::initializer_list<std::span<const std::byte>> parts) {
    Bytes out;
    for (auto part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
}

inline void append(Bytes& out, std::span<const std::byte> part) { out.insert(out.end(), part.begin(), part.end()); }

// The encoded message as one contiguous byte string.
inline Bytes flatten(const wire::Segments& segments) {
    Bytes out;
    out.reserve(segments.total);
    for (std::size_t i = 0; i < segments.count; ++i) append(out, segments.parts[i]);
    return out;
}

// First difference, for readable failures on big frames.
inline std::string describe_difference(std::span<const std::byte> got, std::span<const std::byte> want) {
    std::size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    if (i == got.size() && i == want.size()) return "equal";
    std::string out = "sizes " + std::to_string(got.size()) + " vs " + std::to_string(want.size()) +
                      ", first difference at offset " + std::to_string(i);
    if (i < got.size() && i < want.size()) {
        out += ": got " + std::to_string(std::to_integer<unsigned>(got[i])) + " want " +
               std::to_string(std::to_integer<unsigned>(want[i]));
    }
    return out;
}

// A fixture with a pool of 16 messages to take blank messages from.
class PooledTest : public ::testing::Test {
protected:
    explicit PooledTest(std::size_t memory_limit = std::size_t{16} << 20)
        : pool_(Pool::create(PoolLimits{0, 16, memory_limit})) {}
    Message::Ptr get() {
        Message::Ptr message = pool_->get(Alloc::Always);
        EXPECT_TRUE(message);
        return message;
    }
    Pool::Handle pool_;
};

} // namespace tofu::test
