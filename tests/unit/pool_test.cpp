// The bounded pool (protocol §1 "Bounded memory", §2 get(strategy)).
#include "test_support.hpp"

#include "pool/pool.hpp"
#include <tofu/message.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <initializer_list>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tofu {
namespace {

constexpr std::size_t overhead = sizeof(Message);
constexpr std::size_t MiB = std::size_t{1} << 20;

TEST(Pool, PoolOnlyGivesNothingWhenNoneIsFree) {
    Pool::Handle pool = Pool::create(PoolLimits{0, 4, MiB});
    EXPECT_FALSE(pool->get(Alloc::PoolOnly)); // empty, not an error, nothing created
    EXPECT_EQ(pool->messages_created(), 0u);
    EXPECT_EQ(pool->messages_in_use(), 0u);
    EXPECT_EQ(pool->bytes_in_use(), 0u);

    Message::Ptr m = pool->get(Alloc::Always);
    ASSERT_TRUE(m);
    Message* raw = m.get();
    EXPECT_FALSE(pool->get(Alloc::PoolOnly)); // the only one is out
    m.reset();
    Message::Ptr again = pool->get(Alloc::PoolOnly);
    EXPECT_EQ(again.get(), raw);
    EXPECT_EQ(pool->messages_created(), 1u);
}

TEST(Pool, InitialMessagesArePreCreated) {
    Pool::Handle pool = Pool::create(PoolLimits{3, 8, MiB});
    EXPECT_EQ(pool->messages_created(), 3u);
    EXPECT_EQ(pool->messages_in_use(), 0u);
    EXPECT_EQ(pool->bytes_in_use(), 3 * overhead);
    std::vector<Message::Ptr> out;
    for (int i = 0; i < 3; ++i) {
        out.push_back(pool->get(Alloc::PoolOnly));
        EXPECT_TRUE(out.back());
    }
    EXPECT_FALSE(pool->get(Alloc::PoolOnly));
    EXPECT_EQ(pool->messages_in_use(), 3u);
    EXPECT_EQ(pool->messages_created(), 3u);
}

TEST(Pool, AlwaysStopsAtTheCountLimit) {
    Pool::Handle pool = Pool::create(PoolLimits{0, 3, MiB});
    std::vector<Message::Ptr> out;
    for (int i = 0; i < 3; ++i) {
        out.push_back(pool->get(Alloc::Always));
        ASSERT_TRUE(out.back()) << i;
    }
    EXPECT_FALSE(pool->get(Alloc::Always));
    EXPECT_FALSE(pool->get(Alloc::PoolOnly));
    EXPECT_EQ(pool->messages_created(), 3u);
    EXPECT_EQ(pool->messages_in_use(), 3u);
    EXPECT_FALSE(pool->has_room(Pool::Tier::application));

    ASSERT_EQ(pool->put(std::move(out.back())), Status::success);
    out.pop_back();
    EXPECT_TRUE(pool->has_room(Pool::Tier::application));
    out.push_back(pool->get(Alloc::Always));
    EXPECT_TRUE(out.back());
    EXPECT_EQ(pool->messages_created(), 3u); // recycled, not created
}

TEST(Pool, AlwaysStopsAtTheByteLimit) {
    const std::size_t limit = 2 * overhead + overhead / 2;
    Pool::Handle pool = Pool::create(PoolLimits{0, 100, limit});
    Message::Ptr a = pool->get(Alloc::Always);
    Message::Ptr b = pool->get(Alloc::Always);
    ASSERT_TRUE(a);
    ASSERT_TRUE(b);
    EXPECT_FALSE(pool->get(Alloc::Always)); // count allows it, bytes do not
    EXPECT_EQ(pool->messages_created(), 2u);
    EXPECT_EQ(pool->messages_in_use(), 2u);
    EXPECT_EQ(pool->bytes_in_use(), 2 * overhead);
    EXPECT_LE(pool->peak_bytes(), limit);
}

TEST(Pool, BufferCapacityIsChargedAndBounded) {
    const std::size_t limit = overhead + 1000;
    Pool::Handle pool = Pool::create(PoolLimits{0, 4, limit});
    Message::Ptr m = pool->get(Alloc::Always);
    ASSERT_TRUE(m);
    EXPECT_EQ(pool->bytes_in_use(), overhead);
    ASSERT_EQ(m->reserve_body(600), Status::success);
    EXPECT_EQ(pool->bytes_in_use(), overhead + 600);
    ASSERT_EQ(m->append_body(std::string(1000, 'a')), Status::success); // grows to exactly what is left
    EXPECT_EQ(pool->bytes_in_use(), overhead + 1000);
    EXPECT_EQ(m->append_body("x"), Status::allocation_failed);
    EXPECT_EQ(m->add_header("k", "v"), Status::allocation_failed);
    EXPECT_EQ(m->body().size(), 1000u);
    EXPECT_FALSE(pool->get(Alloc::Always));
    EXPECT_LE(pool->peak_bytes(), limit);
    m.reset();
    // Capacity stays with the idle message (kept for reuse) ...
    EXPECT_EQ(pool->bytes_in_use(), overhead + 1000);
    pool.reset();
}

TEST(Pool, IdleCapacityIsReclaimedWhenAnotherMessageNeedsIt) {
    const std::size_t limit = 2 * overhead + 1000;
    Pool::Handle pool = Pool::create(PoolLimits{0, 2, limit});
    Message::Ptr a = pool->get(Alloc::Always);
    Message::Ptr b = pool->get(Alloc::Always);
    ASSERT_EQ(a->reserve_body(800), Status::success);
    Message* raw_a = a.get();
    a.reset(); // idle, still holding 800 bytes
    EXPECT_EQ(pool->bytes_in_use(), 2 * overhead + 800);
    ASSERT_EQ(b->reserve_body(900), Status::success);
    EXPECT_EQ(pool->bytes_in_use(), 2 * overhead + 900);
    Message::Ptr again = pool->get(Alloc::PoolOnly);
    ASSERT_EQ(again.get(), raw_a);
    EXPECT_EQ(again->capacity_bytes(), 0u);
    EXPECT_LE(pool->peak_bytes(), limit);
}

// free_bytes counts the buffer capacity idle messages hold as free (it
// would be trimmed for whoever needs it; the message objects stay), and
// keeps counting it right as messages leave and rejoin the free list and as
// a trim takes it.
TEST(Pool, FreeBytesCountIdleCapacityExactly) {
    const std::size_t limit = 4 * overhead + 10000;
    Pool::Handle pool = Pool::create(PoolLimits{0, 4, limit});
    const auto free_bytes = [&] { return pool->free_bytes(Pool::Tier::application); };
    Message::Ptr a = pool->get(Alloc::Always);
    Message::Ptr b = pool->get(Alloc::Always);
    ASSERT_EQ(a->reserve_body(3000), Status::success);
    ASSERT_EQ(b->reserve_body(2000), Status::success);
    const std::size_t in_use_free = limit - 2 * overhead - 5000;
    EXPECT_EQ(free_bytes(), in_use_free);
    a.reset();
    EXPECT_EQ(free_bytes(), in_use_free + 3000) << "the idle message's buffer is free";
    EXPECT_TRUE(pool->can_charge(limit - 2 * overhead - 2000, Pool::Tier::application));
    EXPECT_FALSE(pool->can_charge(limit - 2 * overhead - 2000 + 1, Pool::Tier::application));

    Message::Ptr again = pool->get(Alloc::PoolOnly);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->capacity_bytes(), 3000u) << "taken from the free list with its buffer";
    EXPECT_EQ(free_bytes(), in_use_free);
    again.reset();
    b.reset();
    const std::size_t all_buffers = limit - 2 * overhead;
    EXPECT_EQ(free_bytes(), all_buffers);

    // One message taking every byte trims the other's idle buffer.
    Message::Ptr big = pool->get(Alloc::PoolOnly);
    ASSERT_TRUE(big);
    ASSERT_EQ(big->reserve_body(all_buffers), Status::success);
    EXPECT_EQ(free_bytes(), 0u);
    big.reset();
    EXPECT_EQ(free_bytes(), all_buffers);
}

TEST(Pool, ReservedMessagesOnlyForNotifications) {
    Pool::Handle pool = Pool::create(PoolLimits{0, 4, MiB}, 2);
    std::vector<Message::Ptr> app;
    app.push_back(pool->get(Alloc::Always));
    app.push_back(pool->get(Alloc::Always));
    ASSERT_TRUE(app[0]);
    ASSERT_TRUE(app[1]);
    EXPECT_FALSE(pool->get(Alloc::Always));
    EXPECT_FALSE(pool->acquire(Alloc::Always, Pool::Tier::application));
    EXPECT_FALSE(pool->acquire(Alloc::Always, Pool::Tier::inbound));
    EXPECT_FALSE(pool->has_room(Pool::Tier::application));
    EXPECT_FALSE(pool->has_room(Pool::Tier::inbound));
    EXPECT_TRUE(pool->has_room(Pool::Tier::notification));

    Message::Ptr n1 = pool->acquire(Alloc::Always, Pool::Tier::notification);
    Message::Ptr n2 = pool->acquire(Alloc::Always, Pool::Tier::notification);
    ASSERT_TRUE(n1);
    ASSERT_TRUE(n2);
    EXPECT_FALSE(pool->acquire(Alloc::Always, Pool::Tier::notification)); // the hard limit
    EXPECT_EQ(pool->messages_created(), 4u);

    // With all four idle, the application still only gets two of them.
    app.clear();
    n1.reset();
    n2.reset();
    Message::Ptr x = pool->get(Alloc::PoolOnly);
    Message::Ptr y = pool->get(Alloc::PoolOnly);
    EXPECT_TRUE(x);
    EXPECT_TRUE(y);
    EXPECT_FALSE(pool->get(Alloc::PoolOnly));
    EXPECT_FALSE(pool->get(Alloc::Always));
    EXPECT_TRUE(pool->acquire(Alloc::PoolOnly, Pool::Tier::notification));
}

TEST(Pool, ReservedBytesOnlyForNotifications) {
    // Bytes for three bare messages, one of them held back for notifications
    // (the reserve may keep a little more than the bare message).
    const std::size_t limit = 3 * overhead + 64;
    Pool::Handle pool = Pool::create(PoolLimits{0, 100, limit}, 1);
    std::vector<Message::Ptr> app;
    while (Message::Ptr m = pool->get(Alloc::Always)) app.push_back(std::move(m));
    ASSERT_GE(app.size(), 1u);
    ASSERT_LE(app.size(), 2u);
    // The application was stopped by bytes, not by the count limit ...
    EXPECT_TRUE(pool->has_room(Pool::Tier::application));
    // ... while a whole message still fits: that is the reserve.
    EXPECT_GE(limit - pool->bytes_in_use(), overhead);
    Message::Ptr n = pool->acquire(Alloc::Always, Pool::Tier::notification);
    EXPECT_TRUE(n);
    EXPECT_LE(pool->peak_bytes(), limit);
    // Buffers of application messages cannot eat into the reserve either,
    // not even by one byte, once the reserve message is back.
    ASSERT_EQ(n.get() != nullptr, true);
    n.reset();
    EXPECT_EQ(app[0]->reserve_body(1), Status::allocation_failed);
}

TEST(Pool, PutRefusesAMessageOfAnotherPool) {
    Pool::Handle a = Pool::create(PoolLimits{0, 4, MiB});
    Pool::Handle b = Pool::create(PoolLimits{0, 4, MiB});
    Message::Ptr from_b = b->get(Alloc::Always);
    ASSERT_TRUE(from_b);
    Message* raw = from_b.get();
    EXPECT_EQ(a->put(std::move(from_b)), Status::invalid_message);
    // Not taken in by `a` ...
    EXPECT_EQ(a->messages_created(), 0u);
    EXPECT_FALSE(a->get(Alloc::PoolOnly));
    // ... but home in `b`, not lost.
    EXPECT_EQ(b->messages_in_use(), 0u);
    Message::Ptr back = b->get(Alloc::PoolOnly);
    EXPECT_EQ(back.get(), raw);

    EXPECT_EQ(a->put(Message::Ptr()), Status::null_message);
}

TEST(Pool, MessageReturnedFromAnotherThread) {
    Pool::Handle pool = Pool::create(PoolLimits{0, 4, MiB});
    Message::Ptr m = pool->get(Alloc::Always);
    ASSERT_TRUE(m);
    ASSERT_EQ(m->append_body("from main"), Status::success);
    Message* raw = m.get();
    Status put_status = Status::unknown_error;
    std::thread([&pool, &put_status, m = std::move(m)]() mutable { put_status = pool->put(std::move(m)); }).join();
    EXPECT_EQ(put_status, Status::success);
    EXPECT_EQ(pool->messages_in_use(), 0u);

    // And the other way round: got on a thread, returned here.
    Message::Ptr got;
    std::thread([&] { got = pool->get(Alloc::PoolOnly); }).join();
    ASSERT_EQ(got.get(), raw);
    EXPECT_TRUE(got->body().empty());
    got.reset();
    EXPECT_EQ(pool->messages_in_use(), 0u);
}

TEST(Pool, MessageOutlivesThePoolHandle) {
    Pool::Handle pool = Pool::create(PoolLimits{2, 4, MiB});
    Message::Ptr kept = pool->get(Alloc::Always);
    Message::Ptr other = pool->get(Alloc::Always);
    Message::Ptr third = pool->get(Alloc::Always); // one more than pre-created
    ASSERT_TRUE(kept && other && third);
    ASSERT_EQ(third->append_body(std::string(3000, 't')), Status::success);
    third.reset(); // idle in the free list when the owner goes
    pool.reset();  // owner gone; the pool lives on for the messages still out

    ASSERT_EQ(kept->append_body(std::string(5000, 'k')), Status::success); // still charged and usable
    ASSERT_EQ(kept->add_header("still", "alive"), Status::success);
    EXPECT_EQ(detail::MessageAccess::pool(*kept).messages_in_use(), 2u);
    const std::size_t bytes_before = detail::MessageAccess::pool(*kept).bytes_in_use();
    other.reset(); // an orphan now: freed at once, its bytes refunded
    EXPECT_EQ(detail::MessageAccess::pool(*kept).messages_in_use(), 1u);
    EXPECT_EQ(detail::MessageAccess::pool(*kept).bytes_in_use(), bytes_before - overhead);
    // The last one comes back from another thread; the pool is freed then
    // (ASan/LSan report a use-after-free or a leak otherwise).
    std::thread([m = std::move(kept)]() mutable { m.reset(); }).join();
}

// The reactor asks to hear of the return that brings the count of returns
// to a target: that one return tells the listener, no other does.
TEST(Pool, ListenerToldOnlyByTheReturnThatReachesTheTarget) {
    struct Counter : PoolListener {
        std::atomic<int> calls{0};
        void memory_returned() noexcept override { ++calls; }
    } counter;
    Pool::Handle pool = Pool::create(PoolLimits{0, 8, MiB});
    pool->set_listener(&counter);
    const auto return_one = [&] { pool->get(Alloc::Always).reset(); };
    return_one();
    EXPECT_EQ(counter.calls.load(), 0) << "nobody waiting";
    EXPECT_EQ(pool->returns_seen(), 1u);

    pool->wake_at(pool->returns_seen() + 3);
    return_one();
    return_one();
    EXPECT_EQ(counter.calls.load(), 0) << "two of three";
    std::thread(return_one).join();
    EXPECT_EQ(counter.calls.load(), 1) << "the third, from another thread";
    return_one();
    EXPECT_EQ(counter.calls.load(), 1) << "past the target: no more calls";

    pool->wake_at(pool->returns_seen()); // already reached: nobody will reach it again
    return_one();
    EXPECT_EQ(counter.calls.load(), 1);

    pool->wake_at(Pool::never_wake);
    return_one();
    EXPECT_EQ(counter.calls.load(), 1);

    pool->wake_at(pool->returns_seen() + 1);
    pool->set_listener(nullptr);
    return_one();
    EXPECT_EQ(counter.calls.load(), 1) << "a cleared listener is never called";
}

// Eight threads get, grow and return messages (some returned by another
// thread through a shared exchange) under tight count and byte limits.
TEST(Pool, BytesNeverExceedTheLimitUnderContention) {
    constexpr int threads = 8;
    constexpr int iterations = 1500;
    const std::size_t limit = 6 * overhead + 256 * 1024;
    Pool::Handle pool = Pool::create(PoolLimits{0, 6, limit});

    std::mutex exchange_mutex;
    std::array<Message::Ptr, 3> exchange;
    std::atomic<bool> over_limit{false};
    std::atomic<int> bad_status{0};
    std::atomic<long> got{0};
    std::atomic<long> refused{0};

    auto worker = [&](int id) {
        std::mt19937_64 rng(1234 + static_cast<std::uint64_t>(id));
        for (int i = 0; i < iterations; ++i) {
            Message::Ptr m = pool->get(rng() % 4 == 0 ? Alloc::PoolOnly : Alloc::Always);
            if (!m) {
                ++refused;
                continue;
            }
            ++got;
            const std::size_t size = rng() % 8 == 0 ? max_body_size : rng() % 20000;
            const Status s = m->resize_body(size);
            if (s != Status::success && s != Status::allocation_failed) ++bad_status;
            if (s == Status::success && !m->body().empty()) m->body()[size - 1] = std::byte{1};
            const Status h = m->add_header("thread", std::to_string(id));
            if (h != Status::success && h != Status::allocation_failed) ++bad_status;
            if (pool->bytes_in_use() > limit) over_limit = true;
            if (rng() % 2 == 0) {
                // Leave it for another thread to return; return what was there.
                Message::Ptr previous;
                {
                    std::lock_guard lock(exchange_mutex);
                    previous = std::exchange(exchange[rng() % exchange.size()], std::move(m));
                }
                previous.reset();
            } else if (pool->put(std::move(m)) != Status::success) {
                ++bad_status;
            }
        }
    };
    std::vector<std::thread> pool_threads;
    for (int t = 0; t < threads; ++t) pool_threads.emplace_back(worker, t);
    for (std::thread& t : pool_threads) t.join();
    for (Message::Ptr& m : exchange) m.reset();

    EXPECT_FALSE(over_limit.load());
    EXPECT_EQ(bad_status.load(), 0);
    EXPECT_GT(got.load(), 0);
    EXPECT_LE(pool->peak_bytes(), limit);
    EXPECT_LE(pool->bytes_in_use(), limit);
    EXPECT_EQ(pool->messages_in_use(), 0u);
    EXPECT_LE(pool->messages_created(), 6u);

    // Exact accounting: every created message plus the capacity idle
    // messages retain, nothing more, nothing less.
    std::vector<Message::Ptr> idle;
    std::size_t retained = 0;
    while (Message::Ptr m = pool->get(Alloc::PoolOnly)) {
        retained += m->capacity_bytes();
        idle.push_back(std::move(m));
    }
    EXPECT_EQ(idle.size(), pool->messages_created());
    EXPECT_EQ(pool->bytes_in_use(), pool->messages_created() * overhead + retained);
}

// The notification reserve is a bucket of its own: notifications the
// application holds take nothing from the space inbound reads share, so one
// returned message is enough to read again (a held pool_empty once made two
// necessary with a 16-message pool).
TEST(Pool, HeldNotificationsDoNotShrinkTheInboundTier) {
    Pool::Handle pool = Pool::create(PoolLimits{0, 16, MiB}, Pool::Reserve{2, 1, 0});
    std::vector<Message::Ptr> inbound;
    while (Message::Ptr m = pool->acquire(Alloc::Always, Pool::Tier::inbound)) inbound.push_back(std::move(m));
    EXPECT_EQ(inbound.size(), 14u) << "everything but the notification reserve";
    Message::Ptr held_notice = pool->acquire(Alloc::Always, Pool::Tier::notification);
    ASSERT_TRUE(held_notice);
    EXPECT_EQ(pool->messages_in_use(), 15u);
    EXPECT_FALSE(pool->can_acquire(Pool::Tier::inbound));

    inbound.pop_back(); // one message back, the notice still held
    EXPECT_TRUE(pool->can_acquire(Pool::Tier::inbound));
    EXPECT_TRUE(pool->acquire(Alloc::Always, Pool::Tier::inbound));
    // The second reserve message is still there for the next notification.
    EXPECT_TRUE(pool->acquire(Alloc::Always, Pool::Tier::notification));
}

// Bytes likewise: a held reserve message stands on the bytes kept back for
// it, so it does not count against the inbound tier's byte limit.
TEST(Pool, HeldNotificationBytesDoNotShrinkTheInboundTier) {
    const std::size_t frame = 10000;
    const std::size_t limit = 3 * (overhead + frame) + 2 * Pool::reserve_footprint;
    Pool::Handle pool = Pool::create(PoolLimits{0, 100, limit}, Pool::Reserve{2, 0, 0});
    std::vector<Message::Ptr> inbound;
    for (int i = 0; i < 3; ++i) {
        Message::Ptr m = pool->acquire(Alloc::Always, Pool::Tier::inbound);
        ASSERT_TRUE(m);
        ASSERT_EQ(detail::MessageAccess::body(*m).reserve(frame, Status::invalid_body_len, Pool::Tier::inbound),
                  Status::success);
        inbound.push_back(std::move(m));
    }
    EXPECT_FALSE(pool->can_charge(1, Pool::Tier::inbound));
    Message::Ptr held_notice = pool->acquire(Alloc::Always, Pool::Tier::notification);
    ASSERT_TRUE(held_notice);
    EXPECT_EQ(held_notice->capacity_bytes(), Pool::reserved_header_bytes);

    inbound.pop_back(); // its message and its 10,000 bytes come back
    Message::Ptr again = pool->acquire(Alloc::Always, Pool::Tier::inbound);
    ASSERT_TRUE(again);
    EXPECT_EQ(detail::MessageAccess::body(*again).reserve(frame, Status::invalid_body_len, Pool::Tier::inbound),
              Status::success);
    EXPECT_LE(pool->peak_bytes(), limit);
}

// A reserve message holds exactly its footprint, whatever idle capacity the
// free message it was made from had.
TEST(Pool, ReserveMessagesDropIdleBuffers) {
    Pool::Handle pool = Pool::create(PoolLimits{0, 4, MiB}, 1);
    Message::Ptr big = pool->get(Alloc::Always);
    ASSERT_TRUE(big);
    ASSERT_EQ(big->reserve_body(50000), Status::success);
    big.reset();
    Message::Ptr notice = pool->acquire(Alloc::PoolOnly, Pool::Tier::notification);
    ASSERT_TRUE(notice);
    EXPECT_EQ(detail::MessageAccess::body(*notice).capacity(), 0u);
    EXPECT_EQ(detail::MessageAccess::headers(*notice).capacity(), Pool::reserved_header_bytes);
    EXPECT_EQ(pool->bytes_in_use(), Pool::reserve_footprint);
}

// A batch of returns is one return of many: its messages stay in use until
// the batch goes back, then every count moves at once (in use, idle bytes,
// the reserve, channel shares) and a waiting listener hears it once.
TEST(Pool, ReturnBatchGivesEverythingBackAtOnce) {
    struct Counter : PoolListener {
        std::atomic<int> calls{0};
        void memory_returned() noexcept override { ++calls; }
    } counter;
    Pool::Handle pool = Pool::create(PoolLimits{0, 8, MiB}, Pool::Reserve{1, 0, 0});
    pool->track_channel_shares();
    pool->set_listener(&counter);
    std::vector<Message*> seen;
    {
        Pool::ReturnBatch batch(*pool);
        for (int i = 0; i < 4; ++i) {
            Message::Ptr m = pool->get(Alloc::Always);
            ASSERT_TRUE(m);
            ASSERT_EQ(m->reserve_body(100), Status::success);
            pool->attribute(*m, 3, 1000);
            seen.push_back(m.get());
            batch.add(std::move(m));
        }
        Message::Ptr notice = pool->acquire(Alloc::Always, Pool::Tier::notification);
        ASSERT_TRUE(notice);
        batch.add(std::move(notice));
        EXPECT_EQ(pool->messages_in_use(), 5u) << "in a batch is still in use";
        EXPECT_EQ(pool->share_returns(3), 0u);
        pool->wake_at(pool->returns_seen() + 2); // the batch passes it at once
        batch.give_back();
        EXPECT_EQ(pool->messages_in_use(), 0u);
        EXPECT_EQ(counter.calls.load(), 1) << "one wake-up for the batch";
        EXPECT_EQ(pool->returns_seen(), 5u);
        EXPECT_EQ(pool->share_returns(3), 4 * Pool::share_unit(1000));
        batch.give_back(); // empty now: nothing moves
        EXPECT_EQ(counter.calls.load(), 1);
    }
    pool->wake_at(Pool::never_wake);
    EXPECT_EQ(pool->free_bytes(Pool::Tier::notification), MiB - 5 * overhead) << "the buffers are idle, not lost";
    std::vector<Message::Ptr> again;
    while (Message::Ptr m = pool->get(Alloc::PoolOnly)) again.push_back(std::move(m));
    EXPECT_EQ(again.size(), 5u) << "every batched message is on the free list";
    EXPECT_EQ(std::count_if(
                  again.begin(), again.end(),
                  [&](const Message::Ptr& m) { return std::find(seen.begin(), seen.end(), m.get()) != seen.end(); }),
              4);
    while (Message::Ptr m = pool->get(Alloc::Always)) again.push_back(std::move(m));
    EXPECT_EQ(again.size(), 7u) << "all but the reserve";
    EXPECT_TRUE(pool->acquire(Alloc::Always, Pool::Tier::notification)) << "the reserve message is free again";
    pool->set_listener(nullptr);
}

// A batch not given back explicitly goes back when it ends.
TEST(Pool, ReturnBatchGivesBackWhenItEnds) {
    Pool::Handle pool = Pool::create(PoolLimits{0, 4, MiB});
    {
        Pool::ReturnBatch batch(*pool);
        batch.add(pool->get(Alloc::Always));
        batch.add(pool->get(Alloc::Always));
        EXPECT_EQ(pool->messages_in_use(), 2u);
    }
    EXPECT_EQ(pool->messages_in_use(), 0u);
}

// Per-channel shares: a message charged to a channel is credited back to it
// when it returns, from any thread; the counts are cumulative and wrap.
TEST(Pool, ChannelShareReturnsAreCountedPerChannel) {
    Pool::Handle pool = Pool::create(PoolLimits{0, 8, MiB});
    pool->track_channel_shares();
    Message::Ptr a = pool->get(Alloc::Always);
    Message::Ptr b = pool->get(Alloc::Always);
    Message::Ptr c = pool->get(Alloc::Always);
    ASSERT_TRUE(a && b && c);
    pool->attribute(*a, 7, 100);
    pool->attribute(*b, 7, 250);
    pool->attribute(*c, 65534, 1);
    EXPECT_EQ(pool->share_returns(7), 0u);
    a.reset();
    std::thread([&] { b.reset(); }).join();
    EXPECT_EQ(pool->share_returns(7), Pool::share_unit(100) + Pool::share_unit(250));
    EXPECT_EQ(pool->share_returns(7) >> 32, 2u) << "messages in the high half";
    EXPECT_EQ(pool->share_returns(7) & 0xFFFFFFFFu, 350u) << "bytes in the low half";
    EXPECT_EQ(pool->share_returns(65534), 0u);
    c.reset();
    EXPECT_EQ(pool->share_returns(65534), Pool::share_unit(1));
    // A message comes back without its charge: reused, it is nobody's.
    Message::Ptr reused = pool->get(Alloc::PoolOnly);
    ASSERT_TRUE(reused);
    reused.reset();
    EXPECT_EQ(pool->share_returns(7), Pool::share_unit(100) + Pool::share_unit(250));
    EXPECT_EQ(pool->share_returns(65534), Pool::share_unit(1));
}

// The packed share counts: exact across the wrap of either half, and a
// channel never reads as holding less than nothing.
TEST(Pool, HeldSharesAreExactAcrossWrapsAndNeverNegative) {
    const auto charge = [](std::uint64_t base, std::initializer_list<std::uint32_t> sizes) {
        for (std::uint32_t size : sizes) base += Pool::share_unit(size);
        return base;
    };
    for (std::uint64_t base : {std::uint64_t{0}, ~std::uint64_t{0} - 5, (std::uint64_t{7} << 32) + 0xFFFFFF00u}) {
        const std::uint64_t charged = charge(base, {100, 65535, 4000000, 1});
        std::uint64_t returned = base;
        Pool::Held held = Pool::held(charged, returned);
        EXPECT_EQ(held.messages, 4u);
        EXPECT_EQ(held.bytes, 100u + 65535 + 4000000 + 1);
        returned = charge(returned, {65535, 4000000}); // two came back, in another order
        held = Pool::held(charged, returned);
        EXPECT_EQ(held.messages, 2u);
        EXPECT_EQ(held.bytes, 101u);
        // A stale return of an older channel with this number overtakes.
        returned = charge(returned, {100, 1, 5000});
        held = Pool::held(charged, returned);
        EXPECT_EQ(held.messages, 0u);
        EXPECT_EQ(held.bytes, 0u);
    }
}

} // namespace
} // namespace tofu
