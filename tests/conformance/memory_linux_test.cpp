// Linux only: the hard limit means what it says for the whole process. With
// hundreds of peers each holding part of a frame (a header announcing 64 KB
// and 40 KB of it), the process's resident memory grows by at most memory_limit
// plus a fixed cost per connection (docs/design.md, "Every byte inside the
// limit"): no private read buffer per parked connection.
#include "raw_peer.hpp"

#include <fstream>
#include <unistd.h>

namespace tofu::conformance {
namespace {

using namespace raw;

class MemoryLimit : public BackendTest {};

// Resident set size of this process, from /proc/self/statm.
std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0;
    std::size_t resident = 0;
    statm >> pages >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// What one connection may cost the process beyond the pool: its Channel
// (440 bytes on x86-64 Linux) with allocator overhead. The kernel's socket
// buffers are kernel memory, not part of the process.
constexpr std::size_t per_connection = 1024;
// Allocator arenas, the engine's two fixed 64 KiB read buffers first touched,
// the test's own bookkeeping.
constexpr std::size_t slack = std::size_t{2} << 20;

TEST_P(MemoryLimit, HalfFramesFromHundredsOfPeersStayInsideTheLimit) {
    Options o;
    o.memory_limit = 512 * 1024;
    o.max_messages = 512;
    o.frame_timeout = 60s;
    Engine engine(options(o));
    Group group(engine, "server");
    const Listener listener = listen(group, tcp("127.0.0.1", 0));
    ASSERT_TRUE(listener);
    constexpr std::size_t peers = 300;
    std::vector<RawPeer> raw;
    raw.reserve(peers);
    const std::size_t before = resident_bytes();

    for (std::size_t i = 0; i < peers; ++i) {
        raw.push_back(RawPeer::connect(listener.address));
        ASSERT_NE(raw_handshake(raw.back(), group, i + 1), 0u);
    }
    // The hellos answered in place have been written and came back.
    ASSERT_TRUE(eventually([&] { return engine.stats().messages_in_use == 0; }));
    Bytes half = frame({.opcode = op(OpCode::Request), .id = 1, .body = as_bytes(std::string(65535, 'x'))});
    half.resize(16 + 40000); // a private read buffer would hold (and touch) all of it, per connection
    std::size_t peak = 0;
    for (RawPeer& peer : raw) {
        ASSERT_TRUE(peer.send_all(half));
        peak = std::max(peak, resident_bytes());
    }
    // Every half frame has been looked at: it holds a message (the pool had
    // room) or its channel is paused waiting for memory.
    ASSERT_TRUE(wait_for_stats(engine,
                               [&](const EngineStats& now) {
                                   peak = std::max(peak, resident_bytes());
                                   return now.channels_paused + engine.stats().messages_in_use >= peers;
                               }))
        << engine.stats().channels_paused << " channels paused";
    peak = std::max(peak, resident_bytes());
    const std::size_t growth = peak > before ? peak - before : 0;
    const std::size_t bound = o.memory_limit + peers * per_connection + slack;
    std::cout << "[  memory  ] " << peers << " peers with half frames: RSS grew " << growth / 1024 << " KiB (bound "
              << bound / 1024 << " KiB: memory_limit " << o.memory_limit / 1024 << " + " << peers << " x "
              << per_connection << " B + " << slack / 1024 << " KiB); pool peak " << engine.stats().peak_bytes / 1024
              << " KiB" << std::endl;
    EXPECT_LE(engine.stats().peak_bytes, o.memory_limit);
    // A sanitizer's allocator (shadow memory, quarantine) makes the process's
    // resident size say nothing about the engine: there, the pool's own
    // account above is the check, and the plain build checks the process.
    if (kSanitized) {
        std::cout << "[ sanitized] the resident-memory bound is checked in the plain build only" << std::endl;
    } else {
        EXPECT_LE(growth, bound);
    }
}

TOFU_CONFORMANCE_INSTANTIATE(MemoryLimit);

} // namespace
} // namespace tofu::conformance
