// The incremental decoder: byte-at-a-time input, protocol errors, and the
// need_message / need_memory hand-shakes with the pool.
#include "test_support.hpp"

#include "message/codec.hpp"

#include "pool/pool.hpp"
#include <tofu/message.hpp>

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace tofu {
namespace {

using test::Bytes;
using Event = wire::Decoder::Event;

// A raw frame: 16-byte header built field by field, then headers and body
// exactly as given (they may be malformed on purpose).
Bytes frame(unsigned proto, std::string_view headers = {}, std::string_view body = {}, unsigned status = 0,
            std::uint64_t id = 1, unsigned channel = 3) {
    Bytes out = test::bytes({(channel >> 8) & 0xFF, channel & 0xFF, proto, status});
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::byte>(id >> (8 * i)));
    out.push_back(static_cast<std::byte>(headers.size() >> 8));
    out.push_back(static_cast<std::byte>(headers.size()));
    out.push_back(static_cast<std::byte>(body.size() >> 8));
    out.push_back(static_cast<std::byte>(body.size()));
    test::append(out, test::as_span(headers));
    test::append(out, test::as_span(body));
    return out;
}

class DecoderTest : public test::PooledTest {
protected:
    DecoderTest() : PooledTest(std::size_t{4} << 20) {}
};

TEST_F(DecoderTest, EmptyInputNeedsBytes) {
    wire::Decoder decoder;
    const wire::Decoder::Step step = decoder.feed({});
    EXPECT_EQ(step.event, Event::need_bytes);
    EXPECT_EQ(step.consumed, 0u);
    EXPECT_FALSE(decoder.mid_frame());
    EXPECT_FALSE(decoder.take());
}

TEST_F(DecoderTest, OneByteAtATime) {
    const Bytes f1 =
        frame(0x21, "~connect_to:tcp|127.0.0.1|7099\r\nk:v\r\n", "body bytes", 22, 0x0102030405060708ull, 0xFFFE);
    const Bytes f2 = frame(0x00); // empty Request
    const Bytes f3 = frame(0x04, "", "only body", 0, 9, 1);
    Bytes stream;
    for (const Bytes* f : {&f1, &f2, &f3}) test::append(stream, *f);

    wire::Decoder decoder;
    std::vector<Message::Ptr> got;
    std::size_t needs = 0;
    for (std::size_t i = 0; i < stream.size(); ++i) {
        std::span<const std::byte> one(&stream[i], 1);
        for (int guard = 0;; ++guard) {
            ASSERT_LT(guard, 4) << "no progress at byte " << i;
            const wire::Decoder::Step step = decoder.feed(one);
            one = one.subspan(step.consumed);
            if (step.event == Event::need_bytes) {
                ASSERT_TRUE(one.empty());
                break;
            }
            if (step.event == Event::need_message) {
                ++needs;
                EXPECT_FALSE(decoder.holds_message());
                decoder.provide(get());
                continue;
            }
            ASSERT_EQ(step.event, Event::message) << "at byte " << i;
            got.push_back(decoder.take());
        }
        // A frame ends exactly on its last byte: the message comes out with
        // that byte (the header-only frame included).
    }
    EXPECT_EQ(needs, 3u);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(test::flatten(wire::encode(*got[0])), f1);
    EXPECT_EQ(test::flatten(wire::encode(*got[1])), f2);
    EXPECT_EQ(test::flatten(wire::encode(*got[2])), f3);
    EXPECT_EQ(got[0]->find_header("~connect_to"), std::optional<std::string_view>("tcp|127.0.0.1|7099"));
    EXPECT_EQ(got[0]->body_text(), "body bytes");
    EXPECT_EQ(got[0]->status(), Status::channel_closed);
    EXPECT_TRUE(got[0]->more());
    EXPECT_EQ(got[2]->opcode(), OpCode::HelloResponse);
    EXPECT_FALSE(decoder.mid_frame());
}

TEST_F(DecoderTest, MidFrameIsTracked) {
    const Bytes f = frame(0x02, "a:b\r\n", "xyz");
    wire::Decoder decoder;
    decoder.provide(get());
    EXPECT_FALSE(decoder.mid_frame());
    ASSERT_EQ(decoder.feed(std::span(f).first(3)).event, Event::need_bytes);
    EXPECT_TRUE(decoder.mid_frame());
    ASSERT_EQ(decoder.feed(std::span(f).subspan(3, 16)).event, Event::need_bytes);
    EXPECT_TRUE(decoder.mid_frame());
    EXPECT_FALSE(decoder.release_target()); // being filled: not released
    const wire::Decoder::Step step = decoder.feed(std::span(f).subspan(19));
    ASSERT_EQ(step.event, Event::message);
    EXPECT_EQ(step.consumed, f.size() - 19);
    EXPECT_TRUE(decoder.take());
    EXPECT_FALSE(decoder.mid_frame());
}

TEST_F(DecoderTest, SeveralFramesInOneFeedComeOutOneByOne) {
    Bytes stream = frame(0x00, "", "one");
    test::append(stream, frame(0x02, "", "two"));
    wire::Decoder decoder;
    decoder.provide(get());
    wire::Decoder::Step step = decoder.feed(stream);
    ASSERT_EQ(step.event, Event::message);
    EXPECT_EQ(step.consumed, 19u);
    // Until the message is taken the decoder keeps reporting it.
    EXPECT_EQ(decoder.feed(std::span(stream).subspan(19)).event, Event::message);
    EXPECT_EQ(decoder.take()->body_text(), "one");
    step = decoder.feed(std::span(stream).subspan(19));
    ASSERT_EQ(step.event, Event::need_message);
    EXPECT_EQ(step.consumed, 16u);
    decoder.provide(get());
    step = decoder.feed(std::span(stream).subspan(35));
    ASSERT_EQ(step.event, Event::message);
    EXPECT_EQ(step.consumed, 3u);
    EXPECT_EQ(decoder.take()->body_text(), "two");
}

void expect_error(const Bytes& f, Status want, std::size_t consumed_at_most, Pool& pool) {
    wire::Decoder decoder;
    decoder.provide(pool.get(Alloc::Always));
    std::span<const std::byte> rest(f);
    wire::Decoder::Step step{};
    std::size_t consumed = 0;
    // fed byte by byte, so the error must come at the first bad point
    for (std::size_t guard = 0; !rest.empty(); ++guard) {
        ASSERT_LT(guard, 2 * f.size()) << "no progress";
        step = decoder.feed(rest.first(1));
        consumed += step.consumed;
        rest = rest.subspan(step.consumed);
        if (step.event != Event::need_bytes) break;
    }
    ASSERT_EQ(step.event, Event::error);
    EXPECT_EQ(decoder.error(), want);
    EXPECT_LE(consumed, consumed_at_most);
    // Sticky: the stream is unusable after a protocol violation.
    const Bytes good = frame(0x00);
    const wire::Decoder::Step again = decoder.feed(good);
    EXPECT_EQ(again.event, Event::error);
    EXPECT_EQ(again.consumed, 0u);
    EXPECT_EQ(decoder.error(), want);
    // The provided message can be given back.
    EXPECT_TRUE(decoder.release_target());
}

TEST_F(DecoderTest, OpcodesTenToFifteenAreInvalid) {
    for (unsigned op = 10; op <= 15; ++op) {
        SCOPED_TRACE(op);
        expect_error(frame(op), Status::invalid_op_code, 16, *pool_);
        expect_error(frame(op | 0x10, "a:b\r\n", "x"), Status::invalid_op_code, 16, *pool_);
    }
}

TEST_F(DecoderTest, OpcodesThatNeverTravelAreInvalid) {
    for (unsigned op : {7u /*ByeSignal*/, 8u /*WelcomeRequest*/, 9u /*WelcomeResponse*/}) {
        SCOPED_TRACE(op);
        expect_error(frame(op), Status::invalid_op_code, 16, *pool_);
        expect_error(frame(op, "~listen_on:tcp|127.0.0.1|7099\r\n"), Status::invalid_op_code, 16, *pool_);
    }
}

TEST_F(DecoderTest, MoreOnNonStreamOpcodes) {
    for (unsigned op = 3; op <= 6; ++op) {
        SCOPED_TRACE(op);
        expect_error(frame(op | 0x20), Status::invalid_more_usage, 16, *pool_);
    }
    // ... and allowed on Request/Response/Signal.
    for (unsigned op = 0; op <= 2; ++op) {
        SCOPED_TRACE(op);
        wire::Decoder decoder;
        decoder.provide(get());
        const Bytes f = frame(op | 0x20 | 0x10, "", "x");
        ASSERT_EQ(decoder.feed(f).event, Event::message);
        Message::Ptr m = decoder.take();
        EXPECT_TRUE(m->more());
        EXPECT_EQ(static_cast<unsigned>(m->opcode()), op);
    }
}

TEST_F(DecoderTest, MalformedTextHeaders) {
    const std::pair<const char*, std::string_view> cases[] = {
        {"missing CRLF", "a:b"},
        {"LF only", "a:b\n"},
        {"CR only", "a:b\r"},
        {"second line missing CRLF", "a:b\r\nc:d"},
        {"no colon", "ab\r\n"},
        {"empty name", ":b\r\n"},
        {"empty value", "a:\r\n"},
        {"empty line", "\r\n"},
        {"bare LF inside value", "a:b\nc\r\n"},
    };
    for (const auto& [what, headers] : cases) {
        SCOPED_TRACE(what);
        const Bytes f = frame(0x00, headers, "body");
        // The error comes once the header block is complete, before the body.
        expect_error(f, Status::invalid_headers_len, 16 + headers.size(), *pool_);
    }
}

TEST_F(DecoderTest, NeedMessageWhenNoTarget) {
    const Bytes f = frame(0x02, "k:v\r\n", "data");
    wire::Decoder decoder;
    wire::Decoder::Step step = decoder.feed(std::span(f).first(15));
    EXPECT_EQ(step.event, Event::need_bytes);
    EXPECT_EQ(step.consumed, 15u);
    step = decoder.feed(std::span(f).subspan(15));
    ASSERT_EQ(step.event, Event::need_message);
    EXPECT_EQ(step.consumed, 1u); // exactly the rest of the binary header
    EXPECT_TRUE(decoder.mid_frame());
    // Asking again without providing changes nothing.
    step = decoder.feed(std::span(f).subspan(16));
    EXPECT_EQ(step.event, Event::need_message);
    EXPECT_EQ(step.consumed, 0u);

    decoder.provide(get());
    step = decoder.feed(std::span(f).subspan(16));
    ASSERT_EQ(step.event, Event::message);
    EXPECT_EQ(step.consumed, f.size() - 16);
    Message::Ptr m = decoder.take();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->find_header("k"), std::optional<std::string_view>("v"));
    EXPECT_EQ(m->body_text(), "data");
}

TEST_F(DecoderTest, BareFrameCompletesOnEmptyFeedOnceAMessageIsProvided) {
    // A 16-byte frame (no headers, no body) read in full while no message was
    // at hand: nothing is left to read, so the caller resumes with no bytes.
    for (unsigned proto : {0x02u /*Signal*/, 0x05u /*ByeRequest*/}) {
        SCOPED_TRACE(proto);
        const Bytes f = frame(proto, "", "", 0, 4711);
        wire::Decoder decoder;
        wire::Decoder::Step step = decoder.feed(f);
        ASSERT_EQ(step.event, Event::need_message);
        EXPECT_EQ(step.consumed, 16u);
        EXPECT_TRUE(decoder.mid_frame()); // tells the caller a frame is pending
        decoder.provide(get());
        step = decoder.feed({});
        ASSERT_EQ(step.event, Event::message);
        EXPECT_EQ(step.consumed, 0u);
        Message::Ptr m = decoder.take();
        ASSERT_TRUE(m);
        EXPECT_EQ(static_cast<unsigned>(m->opcode()), proto);
        EXPECT_EQ(m->message_id(), 4711u);
        EXPECT_FALSE(decoder.mid_frame());
    }
}

TEST_F(DecoderTest, ProvidedMessageCanBeReleasedBeforeUse) {
    wire::Decoder decoder;
    Message::Ptr m = get();
    Message* raw = m.get();
    decoder.provide(std::move(m));
    EXPECT_TRUE(decoder.holds_message());
    Message::Ptr back = decoder.release_target();
    EXPECT_EQ(back.get(), raw);
    EXPECT_FALSE(decoder.holds_message());
}

TEST(DecoderMemory, NeedMemoryThenResumeWhenMemoryReturns) {
    // Room for two messages and 70,000 bytes of buffers.
    const std::size_t limit = 2 * sizeof(Message) + 70000;
    Pool::Handle pool = Pool::create(PoolLimits{0, 2, limit});
    Message::Ptr hog = pool->get(Alloc::Always);
    ASSERT_TRUE(hog);
    ASSERT_EQ(hog->reserve_body(40000), Status::success);
    Message::Ptr target = pool->get(Alloc::Always);
    ASSERT_TRUE(target);
    const std::size_t before = pool->bytes_in_use();

    const std::string body(40000, 'q');
    const Bytes f = frame(0x00, "h:1\r\n", body);
    wire::Decoder decoder;
    decoder.provide(std::move(target));
    wire::Decoder::Step step = decoder.feed(f);
    ASSERT_EQ(step.event, Event::need_memory);
    EXPECT_EQ(step.consumed, 16u);
    EXPECT_LE(pool->bytes_in_use(), limit);
    // Retrying while nothing came back still says need_memory and eats nothing.
    step = decoder.feed(std::span(f).subspan(16));
    EXPECT_EQ(step.event, Event::need_memory);
    EXPECT_EQ(step.consumed, 0u);
    EXPECT_LE(pool->bytes_in_use(), limit);
    EXPECT_GE(pool->bytes_in_use(), before);

    // Memory comes back (the idle message's capacity can be reclaimed).
    hog.reset();
    step = decoder.feed(std::span(f).subspan(16));
    ASSERT_EQ(step.event, Event::message);
    EXPECT_EQ(step.consumed, f.size() - 16);
    Message::Ptr m = decoder.take();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->body_text(), body);
    EXPECT_EQ(m->find_header("h"), std::optional<std::string_view>("1"));
    EXPECT_EQ(test::flatten(wire::encode(*m)), f);
    EXPECT_LE(pool->peak_bytes(), limit);
}

TEST(DecoderMemory, NeedMemoryResumesByteByByte) {
    const std::size_t limit = 2 * sizeof(Message) + 1000;
    Pool::Handle pool = Pool::create(PoolLimits{0, 2, limit});
    Message::Ptr hog = pool->get(Alloc::Always);
    ASSERT_EQ(hog->append_body(std::string(900, 'h')), Status::success);

    const Bytes f = frame(0x01, "x:y\r\n", std::string(500, 'r'), 0, 77);
    wire::Decoder decoder;
    std::size_t memory_waits = 0;
    Message::Ptr got;
    for (std::size_t i = 0, guard = 0; i < f.size() && !got; ++guard) {
        ASSERT_LT(guard, 3 * f.size()) << "no progress";
        const wire::Decoder::Step step = decoder.feed(std::span(f).subspan(i, 1));
        i += step.consumed;
        switch (step.event) {
        case Event::need_bytes: break;
        case Event::need_message: decoder.provide(pool->get(Alloc::Always)); break;
        case Event::need_memory:
            ++memory_waits;
            hog.reset(); // the application returns what it held
            break;
        case Event::message: got = decoder.take(); break;
        case Event::error: FAIL() << decoder.error();
        }
        ASSERT_LT(memory_waits, 3u);
    }
    ASSERT_TRUE(got);
    EXPECT_EQ(memory_waits, 1u);
    EXPECT_EQ(test::flatten(wire::encode(*got)), f);
}

TEST(DecoderMemory, FrameTooBigForThePoolKeepsAskingWithoutOvercharging) {
    const std::size_t limit = sizeof(Message) + 100;
    Pool::Handle pool = Pool::create(PoolLimits{0, 1, limit});
    const Bytes f = frame(0x00, "", std::string(200, 'b'));
    wire::Decoder decoder;
    decoder.provide(pool->get(Alloc::Always));
    for (int i = 0; i < 3; ++i) {
        const wire::Decoder::Step step = decoder.feed(std::span(f).subspan(i == 0 ? 0 : 16));
        EXPECT_EQ(step.event, Event::need_memory);
        EXPECT_LE(pool->bytes_in_use(), limit);
    }
    // The untouched target can be handed back, and the pool is whole again.
    Message::Ptr back = decoder.release_target();
    ASSERT_TRUE(back);
    back.reset();
    EXPECT_EQ(pool->messages_in_use(), 0u);
    EXPECT_LE(pool->peak_bytes(), limit);
}

} // namespace
} // namespace tofu
