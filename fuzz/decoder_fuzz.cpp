// libFuzzer target: arbitrary bytes from a peer through wire::Decoder.
//
// Input layout: byte 0 picks the split sizes (bit 7: large chunks, bits 0-6:
// the largest chunk); byte 1 seeds the split sequence and the choice of which
// completed messages to keep for a while, and its high nibble says how much
// memory the "application" holds from the start (0..240 KiB), so that small
// inputs already meet need_memory; the rest is the byte stream as a peer
// would send it.
//
// Checked on every input, besides what ASan/UBSan see:
//  - the pool never holds more than its byte limit;
//  - every decoded message re-encodes to the very bytes it came from (but
//    the reserved proto bits 6-7 and status bytes above 31, which read as
//    unknown_error);
//  - errors are the three protocol-violation statuses;
//  - need_memory only while the application holds memory, and the decoder
//    resumes once it is returned;
//  - afterwards every message is back and the byte count is exact.
#include "message/codec.hpp"

#include "pool/pool.hpp"
#include <tofu/message.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

namespace {

using namespace tofu;
using Event = wire::Decoder::Event;

constexpr std::size_t memory_limit = 300 * 1024;
constexpr std::size_t max_messages = 4;

[[noreturn]] void fail(const char* what, int line) {
    std::fprintf(stderr, "decoder_fuzz: check failed at line %d: %s\n", line, what);
    std::abort();
}
#define FUZZ_CHECK(condition)                                                                                          \
    do {                                                                                                               \
        if (!(condition)) fail(#condition, __LINE__);                                                                  \
    } while (false)

class Random {
public:
    explicit Random(std::uint32_t seed) : state_(seed * 2654435761u + 0x9E3779B9u) {}
    std::uint32_t next() {
        state_ ^= state_ << 13;
        state_ ^= state_ >> 17;
        state_ ^= state_ << 5;
        return state_;
    }

private:
    std::uint32_t state_;
};

// The decoded message, encoded again, against the bytes it was decoded from.
void check_round_trip(Message& message, std::span<const std::byte> frame) {
    const wire::Segments segments = wire::encode(message);
    FUZZ_CHECK(segments.total == frame.size());
    std::size_t at = 0;
    for (std::size_t s = 0; s < segments.count; ++s) {
        for (std::byte b : segments.parts[s]) {
            std::byte want = frame[at];
            if (at == 2) want &= std::byte{0x3F}; // reserved bits are not kept
            if (at == 3 && std::to_integer<unsigned>(want) > 31) want = std::byte{31};
            FUZZ_CHECK(b == want);
            ++at;
        }
    }
    FUZZ_CHECK(validate_text_headers(message.raw_headers()) == Status::success);
    FUZZ_CHECK(message.opcode() <= OpCode::ByeResponse);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const unsigned mode = data[0];
    Random random(data[1]);
    const std::size_t max_chunk = (mode & 0x80) != 0 ? 1 + (mode & 0x7F) * 1024 : 1 + (mode & 0x7F);
    const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data + 2), size - 2);

    Pool::Handle pool = Pool::create(PoolLimits{0, max_messages, memory_limit});
    {
        wire::Decoder decoder;
        std::array<Message::Ptr, 2> held; // completed messages the "application" keeps
        const auto held_any = [&held] { return held[0] || held[1]; };
        const auto release_held = [&held] {
            for (Message::Ptr& m : held) m.reset();
        };

        // The application starts out holding memory: up to 4 x 64 KiB of
        // buffer capacity in the two held messages.
        std::size_t hog = static_cast<std::size_t>(data[1] >> 4) * 16 * 1024;
        for (Message::Ptr& m : held) {
            if (hog == 0) break;
            m = pool->get(Alloc::Always);
            FUZZ_CHECK(m);
            const std::size_t body = std::min(hog, max_body_size);
            FUZZ_CHECK(m->reserve_body(body) == Status::success);
            hog -= body;
            const std::size_t text = std::min(hog, max_headers_size);
            FUZZ_CHECK(detail::MessageAccess::headers(*m).reserve(text, Status::invalid_headers_len) ==
                       Status::success);
            hog -= text;
        }

        std::size_t pos = 0;
        std::size_t frame_start = 0;
        bool stop = false;
        while (!stop && pos < input.size()) {
            std::span<const std::byte> in =
                input.subspan(pos, std::min<std::size_t>(input.size() - pos, 1 + random.next() % max_chunk));
            for (;;) {
                const wire::Decoder::Step step = decoder.feed(in);
                FUZZ_CHECK(step.consumed <= in.size());
                in = in.subspan(step.consumed);
                pos += step.consumed;
                FUZZ_CHECK(pool->bytes_in_use() <= memory_limit);

                if (step.event == Event::need_bytes) {
                    FUZZ_CHECK(in.empty());
                    break;
                }
                if (step.event == Event::need_message) {
                    Message::Ptr target = pool->get(Alloc::Always);
                    if (!target && held_any()) {
                        release_held();
                        target = pool->get(Alloc::Always);
                    }
                    // With nothing held, a message is always there to be had.
                    FUZZ_CHECK(target);
                    decoder.provide(std::move(target));
                    continue;
                }
                if (step.event == Event::need_memory) {
                    // Frames are at most 128 KiB: only what the application
                    // keeps can stand in the way, and returning it must do.
                    FUZZ_CHECK(held_any());
                    release_held();
                    continue;
                }
                if (step.event == Event::error) {
                    const Status error = decoder.error();
                    FUZZ_CHECK(error == Status::invalid_op_code || error == Status::invalid_more_usage ||
                               error == Status::invalid_headers_len);
                    // A violator's stream is over; sticky error, nothing eaten.
                    const wire::Decoder::Step again = decoder.feed(in);
                    FUZZ_CHECK(again.event == Event::error && again.consumed == 0);
                    stop = true;
                    break;
                }
                FUZZ_CHECK(step.event == Event::message);
                Message::Ptr message = decoder.take();
                FUZZ_CHECK(message);
                check_round_trip(*message, input.subspan(frame_start, pos - frame_start));
                frame_start = pos;
                const std::uint32_t keep = random.next() % 4;
                if (keep < held.size()) held[keep] = std::move(message); // the one there goes back
            }
        }
        FUZZ_CHECK(pool->peak_bytes() <= memory_limit);
        // Give everything back: the decoder's target goes with the decoder.
        release_held();
    }

    FUZZ_CHECK(pool->messages_in_use() == 0);
    FUZZ_CHECK(pool->messages_created() <= max_messages);
    std::array<Message::Ptr, max_messages> idle;
    std::size_t retained = 0;
    std::size_t count = 0;
    while (Message::Ptr m = pool->get(Alloc::PoolOnly)) {
        FUZZ_CHECK(count < idle.size());
        retained += m->capacity_bytes();
        idle[count++] = std::move(m);
    }
    FUZZ_CHECK(count == pool->messages_created());
    FUZZ_CHECK(pool->bytes_in_use() == pool->messages_created() * sizeof(Message) + retained);
    return 0;
}
