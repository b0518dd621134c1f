// Wire codec golden vectors (protocol §4). Every expected frame below is written
// out byte by byte from the table: big-endian integers, proto byte = opcode
// in bits 0-3, origin in bit 4, more in bit 5.
#include "test_support.hpp"

#include "message/codec.hpp"

#include "pool/pool.hpp"
#include <tofu/message.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace tofu {
namespace {

using test::as_span;
using test::bytes;
using test::Bytes;

struct Golden {
    const char* name;
    std::function<void(Message&)> build; // fills a blank message
    Bytes expected;                      // the frame, by hand
};

// "n0000:vvvvvvvvvv\r\n" ... then one padding line, 65,535 bytes in all.
std::string max_header_block() {
    std::string block;
    for (int i = 0; i < 3000; ++i) {
        char name[8];
        std::snprintf(name, sizeof name, "n%04d", i);
        block += name;
        block += ":vvvvvvvvvv\r\n"; // 5 + 1 + 10 + 2 = 18 bytes a line
    }
    // 3000 * 18 = 54,000; the last line takes the remaining 11,535 bytes.
    block += "pad:";
    block += std::string(max_headers_size - block.size() - 2, 'p');
    block += "\r\n";
    return block;
}

std::string max_body() {
    std::string body(max_body_size, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>((i * 7 + 3) & 0xFF);
    return body;
}

std::vector<Golden> golden_frames() {
    std::vector<Golden> frames;

    frames.push_back({"HelloRequest with ~connect_to",
                      [](Message& m) {
                          m.set_channel(5);
                          m.set_opcode(OpCode::HelloRequest);
                          m.set_message_id(1);
                          ASSERT_EQ(m.add_header("~connect_to", "tcp|127.0.0.1|7099"), Status::success);
                      },
                      test::concat({bytes({
                                        0x00, 0x05,                                     // channel 5
                                        0x03,                                           // HelloRequest
                                        0x00,                                           // success
                                        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // message id 1
                                        0x00, 0x20,                                     // 32 bytes of headers
                                        0x00, 0x00,                                     // no body
                                    }),
                                    bytes("~connect_to:tcp|127.0.0.1|7099\r\n")})});

    frames.push_back({"Response with more and a long id",
                      [](Message& m) {
                          m.set_channel(0x1234);
                          m.set_opcode(OpCode::Response);
                          m.set_more(true);
                          m.set_message_id(0x0102030405060708ull);
                          ASSERT_EQ(m.append_body("ok"), Status::success);
                      },
                      bytes({
                          0x12,
                          0x34, // channel 0x1234
                          0x21, // Response(1) | more(0x20)
                          0x00, // success
                          0x01,
                          0x02,
                          0x03,
                          0x04,
                          0x05,
                          0x06,
                          0x07,
                          0x08, // message id
                          0x00,
                          0x00, // no headers
                          0x00,
                          0x02, // 2 bytes of body
                          'o',
                          'k',
                      })});

    frames.push_back({"Signal from the engine with a status",
                      [](Message& m) {
                          m.set_channel(65534);
                          m.set_opcode(OpCode::Signal);
                          m.header().origin = Origin::engine;
                          m.set_status(Status::channel_closed);
                          m.set_message_id(0xDEADBEEFull);
                          ASSERT_EQ(m.add_header("a", "b"), Status::success);
                          const Bytes body = bytes({0x00, 0xFF, 0x7F});
                          ASSERT_EQ(m.append_body(body), Status::success);
                      },
                      bytes({
                          0xFF, 0xFE,                                     // channel 65534
                          0x12,                                           // Signal(2) | origin engine(0x10)
                          0x16,                                           // channel_closed = 22
                          0x00, 0x00, 0x00, 0x00, 0xDE, 0xAD, 0xBE, 0xEF, // message id
                          0x00, 0x05,                                     // "a:b\r\n"
                          0x00, 0x03,                                     // 3 bytes of body
                          'a',  ':',  'b',  '\r', '\n',                   //
                          0x00, 0xFF, 0x7F,
                      })});

    frames.push_back({"empty Request", [](Message&) {}, Bytes(16, std::byte{0})});

    frames.push_back({"ByeResponse, engine, more bit clear, status and max id",
                      [](Message& m) {
                          m.set_channel(0x0100);
                          m.set_opcode(OpCode::ByeResponse);
                          m.header().origin = Origin::engine;
                          m.set_status(Status::unknown_error);
                          m.set_message_id(0xFFFFFFFFFFFFFFFFull);
                      },
                      bytes({
                          0x01,
                          0x00, // channel 256
                          0x16, // ByeResponse(6) | origin(0x10)
                          0x1F, // unknown_error = 31
                          0xFF,
                          0xFF,
                          0xFF,
                          0xFF,
                          0xFF,
                          0xFF,
                          0xFF,
                          0xFF, // message id
                          0x00,
                          0x00,
                          0x00,
                          0x00,
                      })});

    frames.push_back({"Signal with more, engine origin, two headers",
                      [](Message& m) {
                          m.set_channel(0x00FF);
                          m.set_opcode(OpCode::Signal);
                          m.set_more(true);
                          m.header().origin = Origin::engine;
                          m.set_status(Status::receiver_update);
                          m.set_message_id(0x8000000000000001ull);
                          ASSERT_EQ(m.add_header("x", "1"), Status::success);
                          ASSERT_EQ(m.add_header("yy", "22"), Status::success);
                          ASSERT_EQ(m.append_body("Z"), Status::success);
                      },
                      bytes({
                          0x00, 0xFF,                                     // channel 255
                          0x32,                                           // Signal | origin | more
                          0x15,                                           // receiver_update = 21
                          0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // message id
                          0x00, 0x0C,                                     // "x:1\r\nyy:22\r\n" = 12
                          0x00, 0x01,                                     // 1 byte of body
                          'x',  ':',  '1',  '\r', '\n', 'y',  'y',  ':',  '2', '2', '\r', '\n', 'Z',
                      })});

    frames.push_back({"HelloResponse, application, no headers",
                      [](Message& m) {
                          m.set_channel(1);
                          m.set_opcode(OpCode::HelloResponse);
                          m.set_message_id(2);
                      },
                      bytes({0x00, 0x01, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x00, 0x00, 0x00})});

    frames.push_back(
        {"ByeRequest with body only",
         [](Message& m) {
             m.set_channel(7);
             m.set_opcode(OpCode::ByeRequest);
             m.set_message_id(3);
             ASSERT_EQ(m.append_body("bye"), Status::success);
         },
         bytes({0x00, 0x07, 0x05, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x03, 0x00, 0x00, 0x00, 0x03, 'b', 'y', 'e'})});

    {
        const std::string headers = max_header_block();
        const std::string body = max_body();
        frames.push_back({"maximum-size headers and body",
                          [](Message& m) {
                              m.set_channel(0x0A0B);
                              m.set_opcode(OpCode::Request);
                              m.set_message_id(0x1122334455667788ull);
                              for (int i = 0; i < 3000; ++i) {
                                  char name[8];
                                  std::snprintf(name, sizeof name, "n%04d", i);
                                  ASSERT_EQ(m.add_header(name, "vvvvvvvvvv"), Status::success);
                              }
                              ASSERT_EQ(m.add_header("pad", std::string(max_headers_size - 54000 - 6, 'p')),
                                        Status::success);
                              ASSERT_EQ(m.append_body(max_body()), Status::success);
                          },
                          test::concat({bytes({
                                            0x0A, 0x0B,                                     // channel
                                            0x00,                                           // Request
                                            0x00,                                           // success
                                            0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // message id
                                            0xFF, 0xFF,                                     // 65,535 bytes of headers
                                            0xFF, 0xFF,                                     // 65,535 bytes of body
                                        }),
                                        bytes(headers), bytes(body)})});
    }
    return frames;
}

class CodecGolden : public ::testing::Test {
protected:
    Pool::Handle pool_ = Pool::create(PoolLimits{0, 8, std::size_t{4} << 20});
};

TEST_F(CodecGolden, MaxHeaderBlockIsExactly65535ValidBytes) {
    const std::string block = max_header_block();
    EXPECT_EQ(block.size(), 65535u);
    EXPECT_EQ(validate_text_headers(as_span(block)), Status::success);
}

TEST_F(CodecGolden, EncodeMatchesHandWrittenBytes) {
    for (const Golden& golden : golden_frames()) {
        SCOPED_TRACE(golden.name);
        Message::Ptr m = pool_->get(Alloc::Always);
        ASSERT_TRUE(m);
        golden.build(*m);
        ASSERT_FALSE(HasFatalFailure());

        const wire::Segments segments = wire::encode(*m);
        const Bytes encoded = test::flatten(segments);
        EXPECT_EQ(segments.total, golden.expected.size());
        ASSERT_EQ(encoded, golden.expected) << test::describe_difference(encoded, golden.expected);

        // Scatter-gather: header, text headers, body, empty parts left out,
        // and the text and body segments point INTO the message: no copy.
        std::size_t expected_count = 1 + (m->raw_headers().empty() ? 0 : 1) + (m->body().empty() ? 0 : 1);
        ASSERT_EQ(segments.count, expected_count);
        EXPECT_EQ(segments.parts[0].data(), detail::MessageAccess::wire_header(*m).data());
        EXPECT_EQ(segments.parts[0].size(), wire_header_size);
        std::size_t next = 1;
        if (!m->raw_headers().empty()) {
            EXPECT_EQ(segments.parts[next].data(), m->raw_headers().data());
            EXPECT_EQ(segments.parts[next].size(), m->raw_headers().size());
            ++next;
        }
        if (!m->body().empty()) {
            EXPECT_EQ(segments.parts[next].data(), m->body().data());
            EXPECT_EQ(segments.parts[next].data(), detail::MessageAccess::body(*m).bytes().data());
            EXPECT_EQ(segments.parts[next].size(), m->body().size());
        }
    }
}

void expect_same_message(const Message& got, const Message& want) {
    EXPECT_EQ(got.channel(), want.channel());
    EXPECT_EQ(got.opcode(), want.opcode());
    EXPECT_EQ(got.origin(), want.origin());
    EXPECT_EQ(got.more(), want.more());
    EXPECT_EQ(got.status(), want.status());
    EXPECT_EQ(got.message_id(), want.message_id());
    EXPECT_TRUE(std::equal(got.raw_headers().begin(), got.raw_headers().end(), want.raw_headers().begin(),
                           want.raw_headers().end()));
    EXPECT_TRUE(std::equal(got.body().begin(), got.body().end(), want.body().begin(), want.body().end()));
}

TEST_F(CodecGolden, DecodeGivesBackTheSameMessage) {
    for (const Golden& golden : golden_frames()) {
        SCOPED_TRACE(golden.name);
        Message::Ptr want = pool_->get(Alloc::Always);
        ASSERT_TRUE(want);
        golden.build(*want);
        ASSERT_FALSE(HasFatalFailure());

        wire::Decoder decoder;
        decoder.provide(pool_->get(Alloc::Always));
        const wire::Decoder::Step step = decoder.feed(golden.expected);
        ASSERT_EQ(step.event, wire::Decoder::Event::message);
        EXPECT_EQ(step.consumed, golden.expected.size());
        Message::Ptr got = decoder.take();
        ASSERT_TRUE(got);
        expect_same_message(*got, *want);
        EXPECT_FALSE(decoder.mid_frame());
        EXPECT_FALSE(decoder.holds_message());
    }
}

TEST_F(CodecGolden, DecodeSpecificFields) {
    // Spot checks against literal values, independent of the builders.
    const Bytes frame = bytes(
        {0xFF, 0xFE, 0x32, 0x15, 0x80, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x05, 0x00, 0x01, 'a', ':', 'b', '\r', '\n', 'Z'});
    wire::Decoder decoder;
    decoder.provide(pool_->get(Alloc::Always));
    ASSERT_EQ(decoder.feed(frame).event, wire::Decoder::Event::message);
    Message::Ptr m = decoder.take();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->channel(), 65534);
    EXPECT_EQ(m->opcode(), OpCode::Signal);
    EXPECT_EQ(m->origin(), Origin::engine);
    EXPECT_TRUE(m->more());
    EXPECT_EQ(m->status(), Status::receiver_update);
    EXPECT_EQ(m->message_id(), 0x8000000000000001ull);
    EXPECT_EQ(m->find_header("a"), std::optional<std::string_view>("b"));
    EXPECT_EQ(m->body_text(), "Z");
}

TEST_F(CodecGolden, DecodeAllFramesBackToBack) {
    const std::vector<Golden> frames = golden_frames();
    Bytes stream;
    for (const Golden& golden : frames) test::append(stream, golden.expected);

    wire::Decoder decoder;
    std::span<const std::byte> rest(stream);
    for (const Golden& golden : frames) {
        SCOPED_TRACE(golden.name);
        decoder.provide(pool_->get(Alloc::Always));
        const wire::Decoder::Step step = decoder.feed(rest);
        ASSERT_EQ(step.event, wire::Decoder::Event::message);
        ASSERT_EQ(step.consumed, golden.expected.size());
        rest = rest.subspan(step.consumed);
        Message::Ptr got = decoder.take();
        ASSERT_TRUE(got);
        const Bytes again = test::flatten(wire::encode(*got));
        EXPECT_EQ(again, golden.expected) << test::describe_difference(again, golden.expected);
    }
    EXPECT_TRUE(rest.empty());
}

TEST_F(CodecGolden, EncodeHeaderAndDecodeHeader) {
    BinaryHeader h;
    h.channel = 0xABCD;
    h.opcode = OpCode::ByeRequest;
    h.origin = Origin::engine;
    h.status = Status::send_failed;
    h.message_id = 0x0011223344556677ull;
    std::array<std::byte, wire_header_size> out{};
    wire::encode_header(h, 0x0102, 0xFFFF, out);
    const Bytes expected =
        bytes({0xAB, 0xCD, 0x15, 0x1B, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x01, 0x02, 0xFF, 0xFF});
    EXPECT_EQ(Bytes(out.begin(), out.end()), expected);

    const wire::FrameHeader f = wire::decode_header(out);
    EXPECT_EQ(f.header.channel, 0xABCD);
    EXPECT_EQ(f.header.opcode, OpCode::ByeRequest);
    EXPECT_EQ(f.opcode_bits, 5);
    EXPECT_EQ(f.header.origin, Origin::engine);
    EXPECT_FALSE(f.header.more);
    EXPECT_EQ(f.header.status, Status::send_failed);
    EXPECT_EQ(f.header.message_id, 0x0011223344556677ull);
    EXPECT_EQ(f.headers_size, 0x0102);
    EXPECT_EQ(f.body_size, 0xFFFF);
}

TEST_F(CodecGolden, DecodeHeaderStatusAbove31IsUnknownError) {
    const Bytes raw = bytes({0, 1, 0x02, 0xC8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0});
    const wire::FrameHeader f = wire::decode_header(std::span<const std::byte, wire_header_size>(raw.data(), 16));
    EXPECT_EQ(f.header.status, Status::unknown_error);
    EXPECT_EQ(wire::check_incoming(f), Status::success);
}

} // namespace
} // namespace tofu
