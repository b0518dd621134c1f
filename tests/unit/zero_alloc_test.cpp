// protocol §1 "no allocation in the steady state": once warm, getting a message,
// filling it, encoding/decoding it and giving it back never touches the heap.
// This program replaces every global operator new/delete with a counting one.
#include "test_support.hpp"

#include "message/codec.hpp"

#include "pool/pool.hpp"
#include <tofu/message.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iterator>
#include <new>
#ifdef _WIN32
#include <malloc.h>
#endif
#include <string>
#include <vector>

namespace {

std::atomic<std::size_t> allocations{0};

void* allocate(std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size == 0 ? 1 : size);
}

void* allocate_aligned(std::size_t size, std::align_val_t align) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    const auto alignment = static_cast<std::size_t>(align);
    std::size_t rounded = (size + alignment - 1) / alignment * alignment;
    if (rounded == 0) rounded = alignment;
#ifdef _WIN32
    return _aligned_malloc(rounded, alignment); // no std::aligned_alloc in the Windows CRT
#else
    return std::aligned_alloc(alignment, rounded);
#endif
}

void free_aligned(void* p) noexcept {
#ifdef _WIN32
    _aligned_free(p);
#else
    std::free(p);
#endif
}

void* allocate_or_throw(std::size_t size) {
    void* p = allocate(size);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}

void* allocate_aligned_or_throw(std::size_t size, std::align_val_t align) {
    void* p = allocate_aligned(size, align);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}

} // namespace

// NOLINTBEGIN: the replaceable global allocation functions, all of them.
void* operator new(std::size_t size) { return allocate_or_throw(size); }
void* operator new[](std::size_t size) { return allocate_or_throw(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new(std::size_t size, std::align_val_t align) { return allocate_aligned_or_throw(size, align); }
void* operator new[](std::size_t size, std::align_val_t align) { return allocate_aligned_or_throw(size, align); }
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
    return allocate_aligned(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
    return allocate_aligned(size, align);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { free_aligned(p); }
void operator delete[](void* p, std::align_val_t) noexcept { free_aligned(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { free_aligned(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { free_aligned(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { free_aligned(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { free_aligned(p); }
// NOLINTEND

namespace tofu {
namespace {

using test::Bytes;
using Event = wire::Decoder::Event;

void* volatile sink = nullptr;

TEST(ZeroAllocation, TheCounterSeesAllocations) {
    const std::size_t before = allocations.load();
    sink = ::operator new(64);
    ::operator delete(sink);
    sink = ::operator new[](64, std::nothrow);
    ::operator delete[](sink);
    sink = ::operator new (64, std::align_val_t{64});
    ::operator delete (sink, std::align_val_t{64});
    EXPECT_EQ(allocations.load() - before, 3u);
}

constexpr std::string_view body_source =
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrst";

// One steady-state round: get, fill headers and body, encode, give back.
bool round_trip(Pool& pool, std::size_t i) {
    Message::Ptr m = pool.get(Alloc::PoolOnly);
    if (!m) return false;
    m->set_channel(static_cast<ChannelNumber>(1 + i % 100));
    m->set_opcode(OpCode::Request);
    m->set_message_id(i + 1);
    bool ok = m->add_header("~connect_to", "tcp|127.0.0.1|7099") == Status::success;
    ok &= m->add_header("content-type", "application/octet-stream") == Status::success;
    ok &=
        m->set_header("~connect_to", i % 2 == 0 ? "tcp|[::1]|80" : "uds|/tmp/some/longer/path.sock") == Status::success;
    // 0 .. 4,000 bytes, appended in pieces
    const std::size_t body = (i * 397) % 4001;
    for (std::size_t done = 0; done < body;) {
        const std::size_t n = std::min(body - done, body_source.size());
        ok &= m->append_body(body_source.substr(0, n)) == Status::success;
        done += n;
    }
    ok &= m->find_header("content-type").has_value();
    const wire::Segments segments = wire::encode(*m);
    ok &= segments.total == wire_header_size + m->raw_headers().size() + body;
    ok &= pool.put(std::move(m)) == Status::success;
    return ok;
}

TEST(ZeroAllocation, GetFillPutSteadyState) {
    Pool::Handle pool = Pool::create(PoolLimits{4, 4, std::size_t{4} << 20});
    // Warm up: the recycled message grows its buffers to the largest round.
    bool ok = true;
    for (std::size_t i = 0; i < 4001; ++i) ok &= round_trip(*pool, i);
    ASSERT_TRUE(ok);

    const std::size_t before = allocations.load();
    for (std::size_t i = 0; i < 10000; ++i) ok &= round_trip(*pool, i);
    const std::size_t during = allocations.load() - before;
    EXPECT_TRUE(ok);
    EXPECT_EQ(during, 0u) << "allocations in 10,000 steady-state get/fill/put rounds";
}

// The reactor's way back for sent messages: many go back as one batch, with
// their share counts, and the pool tells its listener once.
TEST(ZeroAllocation, BatchedReturnsSteadyState) {
    struct Quiet : PoolListener {
        void memory_returned() noexcept override {}
    } listener;
    Pool::Handle pool = Pool::create(PoolLimits{64, 64, std::size_t{4} << 20});
    pool->track_channel_shares();
    pool->set_listener(&listener);
    const auto round = [&] {
        Pool::ReturnBatch batch(*pool);
        bool ok = true;
        for (std::uint32_t i = 0; i < 64; ++i) {
            Message::Ptr m = pool->get(Alloc::PoolOnly);
            ok &= static_cast<bool>(m) && m->reserve_body(100 + i) == Status::success;
            if (m) pool->attribute(*m, static_cast<ChannelNumber>(1 + i % 3), 200);
            batch.add(std::move(m));
        }
        pool->wake_at(pool->returns_seen() + 10);
        batch.give_back();
        return ok && pool->messages_in_use() == 0;
    };
    // Warm up: a message comes back in another place of the list each time,
    // so it meets larger bodies until its buffer holds the largest.
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(round());

    const std::size_t before = allocations.load();
    bool ok = true;
    for (int i = 0; i < 1000; ++i) ok &= round();
    const std::size_t during = allocations.load() - before;
    EXPECT_TRUE(ok);
    EXPECT_EQ(during, 0u) << "allocations in 1,000 batches of 64 returns";
    pool->set_listener(nullptr);
}

Bytes make_stream(Pool& pool) {
    Bytes stream;
    for (std::size_t i = 0; i < 10; ++i) {
        Message::Ptr m = pool.get(Alloc::Always);
        m->set_opcode(static_cast<OpCode>(i % 7));
        m->set_message_id(1000 + i);
        m->set_channel(static_cast<ChannelNumber>(i + 1));
        for (std::size_t h = 0; h < i; ++h) (void)m->add_header("h" + std::to_string(h), std::string(10 * h + 1, 'v'));
        (void)m->resize_body(i == 9 ? max_body_size : i * 1000);
        test::append(stream, test::flatten(wire::encode(*m)));
    }
    return stream;
}

// Decodes the whole stream in chunks of `chunk` bytes; returns frames decoded.
std::size_t decode_all(wire::Decoder& decoder, Pool& pool, std::span<const std::byte> stream, std::size_t chunk,
                       bool& ok) {
    std::size_t frames = 0;
    while (!stream.empty()) {
        std::span<const std::byte> in = stream.first(std::min(chunk, stream.size()));
        stream = stream.subspan(in.size());
        for (int idle = 0;;) {
            const wire::Decoder::Step step = decoder.feed(in);
            idle = step.consumed == 0 ? idle + 1 : 0;
            if (idle == 3) { // no progress: a broken decoder must not hang the test
                ok = false;
                return frames;
            }
            in = in.subspan(step.consumed);
            if (step.event == Event::need_bytes) break;
            if (step.event == Event::need_message) {
                Message::Ptr target = pool.get(Alloc::PoolOnly);
                if (!target) {
                    ok = false;
                    return frames;
                }
                decoder.provide(std::move(target));
                continue;
            }
            if (step.event != Event::message) {
                ok = false;
                return frames;
            }
            Message::Ptr m = decoder.take();
            ok &= m != nullptr && wire::encode(*m).total != 0;
            ok &= pool.put(std::move(m)) == Status::success;
            ++frames;
        }
    }
    return frames;
}

TEST(ZeroAllocation, BufferGrowthIsGeometric) {
    Pool::Handle pool = Pool::create(PoolLimits{0, 1, std::size_t{1} << 20});
    Message::Ptr m = pool->get(Alloc::Always);
    ASSERT_TRUE(m);
    const std::size_t before = allocations.load();
    bool ok = true;
    for (std::size_t i = 0; i < max_body_size; ++i) ok &= m->append_body("x") == Status::success;
    const std::size_t during = allocations.load() - before;
    EXPECT_TRUE(ok);
    EXPECT_EQ(m->body().size(), max_body_size);
    EXPECT_LE(during, 16u) << "appending 65,535 single bytes";
}

TEST(ZeroAllocation, DecodeSteadyState) {
    Pool::Handle pool = Pool::create(PoolLimits{0, 2, std::size_t{4} << 20});
    const Bytes stream = make_stream(*pool);
    wire::Decoder decoder;
    bool ok = true;
    // Warm up once: the recycled message grows to the largest frame.
    EXPECT_EQ(decode_all(decoder, *pool, stream, stream.size(), ok), 10u);
    ASSERT_TRUE(ok);

    constexpr std::size_t chunks[] = {13, 100, 1000, 4096, 70000, 1 << 20, 1 << 20, 1 << 20};
    std::size_t frames = 0;
    const std::size_t before = allocations.load();
    for (std::size_t pass = 0; pass < 1000; ++pass) {
        frames += decode_all(decoder, *pool, stream, chunks[pass % std::size(chunks)], ok);
    }
    const std::size_t during = allocations.load() - before;
    EXPECT_TRUE(ok);
    EXPECT_EQ(frames, 10000u);
    EXPECT_EQ(during, 0u) << "allocations while decoding 10,000 frames into recycled messages";
}

} // namespace
} // namespace tofu
