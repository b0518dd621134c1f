// Property: any sequence of valid messages, encoded back to back and cut at
// random points, decodes to the same messages (re-encoding gives the very
// same bytes). Fixed seed; set TOFU_SEED=<n> to explore or to replay.
#include "test_support.hpp"

#include "message/codec.hpp"

#include "pool/pool.hpp"
#include <tofu/message.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace tofu {
namespace {

using test::Bytes;
using Event = wire::Decoder::Event;

constexpr std::uint64_t default_seed = 0x7AF0C0DEC0FFEEull;

std::uint64_t test_seed() {
    if (const char* text = std::getenv("TOFU_SEED"); text != nullptr && *text != '\0') {
        return std::strtoull(text, nullptr, 0);
    }
    return default_seed;
}

class RandomMessages {
public:
    explicit RandomMessages(std::uint64_t seed) : rng_(seed) {}

    std::uint64_t below(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_); }
    std::uint64_t between(std::uint64_t lo, std::uint64_t hi) {
        return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
    }
    std::mt19937_64& rng() { return rng_; }

    // Any byte but ':' CR LF for names; any byte but CR LF for values.
    // (Eight bytes per draw: this runs in Debug sanitizer builds too.)
    std::string text(std::size_t size, bool name) {
        std::string out(size, 'x');
        std::uint64_t bits = 0;
        for (std::size_t i = 0; i < size; ++i) {
            if (i % 8 == 0) bits = rng_();
            char c = static_cast<char>(bits >> (8 * (i % 8)));
            if (c == '\r' || c == '\n' || (name && c == ':')) c = static_cast<char>('a' + i % 26);
            out[i] = c;
        }
        return out;
    }

    // Fills a blank message; index 0 is the smallest frame, index 1 the
    // largest, the rest random (mostly small, sometimes at the limits).
    void fill(Message& m, std::size_t index) {
        const auto op = static_cast<OpCode>(below(7)); // the opcodes that travel: 0..6
        m.set_opcode(op);
        m.set_more(static_cast<std::uint8_t>(op) <= 2 && below(2) == 1);
        m.header().origin = below(2) == 1 ? Origin::engine : Origin::application;
        m.set_status(static_cast<Status>(below(32)));
        m.set_channel(static_cast<ChannelNumber>(below(65536)));
        switch (below(4)) {
        case 0: m.set_message_id(0); break;
        case 1: m.set_message_id(~std::uint64_t{0}); break;
        default: m.set_message_id(rng_()); break;
        }

        std::size_t headers_target = 0;
        const std::uint64_t hmode = below(100);
        if (index == 1 || hmode == 0) headers_target = max_headers_size;   // exactly full
        else if (hmode < 3) headers_target = between(1, max_headers_size); // large
        else if (hmode < 60) headers_target = between(1, 200);             // a few headers
        if (index == 0) headers_target = 0;
        fill_headers(m, headers_target);

        std::size_t body = 0;
        const std::uint64_t bmode = below(100);
        if (index == 1 || bmode == 0) body = max_body_size;
        else if (bmode < 3) body = between(0, max_body_size);
        else if (bmode < 85) body = between(1, 300);
        if (index == 0) body = 0;
        ASSERT_EQ(m.resize_body(body), Status::success);
        std::span<std::byte> bytes = m.body();
        std::uint64_t bits = 0;
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            if (i % 8 == 0) bits = rng_();
            bytes[i] = static_cast<std::byte>(bits >> (8 * (i % 8)));
        }
    }

private:
    void fill_headers(Message& m, std::size_t target) {
        // Random lines of at most 1 + 12 + 1 + 40 + 2 = 56 bytes while they fit...
        while (m.raw_headers().size() + 60 < target) {
            const std::string name = text(between(1, 12), true);
            const std::string value = text(between(1, 40), false);
            ASSERT_EQ(m.add_header(name, value), Status::success);
        }
        const std::size_t left = target - m.raw_headers().size();
        if (target == max_headers_size || left >= 5) {
            // ... then one line that lands exactly on the target.
            ASSERT_GE(left, 5u);
            ASSERT_EQ(m.add_header(text(1, true), text(left - 4, false)), Status::success);
            ASSERT_EQ(m.raw_headers().size(), target);
        }
    }

    std::mt19937_64 rng_;
};

TEST(CodecProperty, RandomMessagesRoundTripThroughRandomSplits) {
    const std::uint64_t seed = test_seed();
    SCOPED_TRACE(::testing::Message() << "TOFU_SEED=" << seed << " (rerun with this environment variable)");
    RandomMessages random(seed);
    Pool::Handle pool = Pool::create(PoolLimits{0, 4, std::size_t{2} << 20});

    constexpr std::size_t count = 10000;
    Bytes stream;
    std::vector<std::size_t> offsets{0}; // frame i is stream[offsets[i], offsets[i+1])
    offsets.reserve(count + 1);
    std::size_t max_frames = 0;
    for (std::size_t i = 0; i < count; ++i) {
        Message::Ptr m = pool->get(Alloc::Always);
        ASSERT_TRUE(m);
        random.fill(*m, i);
        ASSERT_FALSE(HasFatalFailure()) << "message " << i;
        ASSERT_NE(m->validate_for_post(), Status::invalid_more_usage) << "message " << i;
        const wire::Segments segments = wire::encode(*m);
        ASSERT_EQ(segments.total, wire_header_size + m->raw_headers().size() + m->body().size());
        for (std::size_t s = 0; s < segments.count; ++s) test::append(stream, segments.parts[s]);
        offsets.push_back(stream.size());
        if (segments.total == max_frame_size) ++max_frames;
    }
    ASSERT_GE(max_frames, 1u);
    ASSERT_EQ(offsets[1], wire_header_size); // the empty frame

    wire::Decoder decoder;
    std::size_t pos = 0;
    std::size_t decoded = 0;
    std::size_t chunks = 0;
    while (pos < stream.size()) {
        // Split sizes spread over 1 byte .. 128 KiB, small ones as likely as big.
        const std::size_t chunk =
            std::min<std::size_t>(stream.size() - pos, 1 + random.below(std::uint64_t{1} << random.below(18)));
        std::span<const std::byte> in(stream.data() + pos, chunk);
        ++chunks;
        for (int idle = 0;;) {
            const wire::Decoder::Step step = decoder.feed(in);
            idle = step.consumed == 0 ? idle + 1 : 0;
            ASSERT_LT(idle, 3) << "no progress at stream offset " << pos;
            ASSERT_LE(step.consumed, in.size());
            in = in.subspan(step.consumed);
            pos += step.consumed;
            if (step.event == Event::need_bytes) {
                ASSERT_TRUE(in.empty()) << "need_bytes with input left, at stream offset " << pos;
                break;
            }
            if (step.event == Event::need_message) {
                Message::Ptr target = pool->get(Alloc::Always);
                ASSERT_TRUE(target) << "pool empty at message " << decoded;
                decoder.provide(std::move(target));
                continue;
            }
            ASSERT_EQ(step.event, Event::message)
                << "message " << decoded << " at stream offset " << pos << ": " << decoder.error();
            ASSERT_LT(decoded, count);
            ASSERT_EQ(pos, offsets[decoded + 1]) << "message " << decoded << " ended at the wrong offset";
            Message::Ptr m = decoder.take();
            ASSERT_TRUE(m);
            const std::span<const std::byte> original(stream.data() + offsets[decoded],
                                                      offsets[decoded + 1] - offsets[decoded]);
            const Bytes again = test::flatten(wire::encode(*m));
            ASSERT_TRUE(std::equal(again.begin(), again.end(), original.begin(), original.end()))
                << "message " << decoded << ": " << test::describe_difference(again, original);
            ++decoded;
        }
    }
    EXPECT_EQ(decoded, count);
    EXPECT_FALSE(decoder.mid_frame());
    EXPECT_GT(chunks, count / 10);
    EXPECT_LE(pool->peak_bytes(), pool->limits().memory_limit);
}

} // namespace
} // namespace tofu
