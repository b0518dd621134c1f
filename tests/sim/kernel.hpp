#pragma once
// The simulated kernel: stream sockets and listeners in processes with
// POSIX-like descriptor tables (lowest free number first, so numbers are
// reused at once, as the real ones are), bounded socket buffers, bytes in
// flight that arrive at a simulated time, connect/accept with a backlog,
// FIN, RST, and descriptor exhaustion (EMFILE). One thread, no real I/O.
//
// Semantics the engine's contract relies on, kept exactly: a read returns
// everything readable up to the buffer's size (a short read means nothing
// more is readable now); a write takes everything that fits (a short write
// means the buffer is full); readiness is a function of state, and the
// pollers (pollers.hpp) decide how it is reported.
#include <tofu/address.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tofu::sim {

using Bytes = std::vector<std::byte>;
using Time = std::chrono::nanoseconds; // simulated time since the world began

// A socket as the kernel keeps it; processes name it by descriptor.
struct Socket {
    enum class Kind { listener, stream };
    enum class Link { connecting, established, refused, reset };

    Kind kind = Kind::stream;
    int process = -1;
    int fd = -1;
    bool open = true; // its descriptor is still open

    // listener
    std::string address;
    std::deque<int> backlog; // ids of established streams not accepted yet
    std::size_t backlog_limit = 8;

    // stream
    int peer = -1; // the other end's id (-1: none yet or gone)
    Link link = Link::connecting;
    std::string target;            // a connect's listener address
    Time connects_at{};            // when a connect in flight completes (its SYN arrives)
    std::deque<std::byte> inbound; // arrived, readable
    struct Segment {
        Bytes bytes;
        bool fin = false;
        Time arrives{};
    };
    std::deque<Segment> in_flight; // sent by the peer, on its way here
    std::size_t in_flight_bytes = 0;
    std::size_t buffer = 16 * 1024; // inbound + in flight, like a receive window
    std::uint64_t io_calls = 0;
    bool fin_arrived = false; // end of stream after `inbound`
    bool write_shut = false;  // this end sent its FIN
    Bytes written_unparsed;   // what this end wrote, not yet read as whole frames

    bool readable() const noexcept;
    bool writable_state() const noexcept; // established and not shut (room is the peer's)
    bool failed() const noexcept { return link == Link::refused || link == Link::reset; }
};

class Kernel {
public:
    explicit Kernel(Time now = Time{0}) : now_(now) {}

    Time now() const noexcept { return now_; }
    void set_now(Time now) noexcept { now_ = now; }

    int add_process(std::size_t descriptor_limit);
    // Descriptors beyond `limit` fail with EMFILE (a fault the world injects).
    void set_descriptor_limit(int process, std::size_t limit);
    // I/O calls the engine made on a socket (read, peek, write, accept, the
    // connect result): pollers use it to see a socket reported again and
    // again that nobody acts on.
    void count_io(int process, int fd);
    // A connect's result was asked for while it was still in progress.
    void asked_too_early() { ++counters_.early_connect_results; }
    std::uint64_t io_calls(int process, int fd) const;
    // Connections established and not accepted yet, over every listener
    // `process` holds.
    std::size_t queued_connections(int process) const;

    // ---- the calls a socket layer makes (errno-style: -1 and `error`) ----
    int listen(int process, const Address& where, Address& bound, int& error);
    int connect(int process, const Address& to, int& error);
    int connect_result(int process, int fd) const; // 0, or the error
    int accept(int process, int fd, int& error);
    long read(int process, int fd, std::span<std::byte> into, bool peek, int& error);
    long write(int process, int fd, std::span<const std::span<const std::byte>> parts, int& error);
    void shutdown_write(int process, int fd);
    void close(int process, int fd);
    // An abortive close, or a reset from the network: both ends fail.
    void reset(int id);

    // ---- the world's view ----
    Socket* socket(int process, int fd) noexcept;
    const Socket* socket(int process, int fd) const noexcept;
    Socket& by_id(int id) noexcept { return sockets_[static_cast<std::size_t>(id)]; }
    std::size_t socket_count() const noexcept { return sockets_.size(); }
    int id_of(int process, int fd) const noexcept;
    // Room the peer's buffer has for a write from `s`.
    std::size_t room(const Socket& s) const noexcept;
    bool writable(const Socket& s) const noexcept { return s.writable_state() && room(s) > 0; }

    // Network progress: the earliest arrival or connect completion due.
    std::optional<Time> next_event() const;
    // Lets everything due by now() arrive; true when something did.
    bool deliver_due();
    // Bytes in flight anywhere (quiescence needs none).
    bool idle() const;

    // The network's delay for the next segment or connect (set by the world).
    std::function<Time()> delay = [] { return Time{0}; };
    // The receive buffer of a new stream socket (inbound + in flight).
    std::function<std::size_t()> buffer_size = [] { return std::size_t{16 * 1024}; };
    // Whether accept() reports a connection reset in the backlog as
    // ECONNABORTED (the BSDs) rather than handing it out (Linux).
    std::function<bool()> abort_reset_in_backlog = [] { return false; };
    // Called at the start of every call the engine's socket layer and its
    // poller make: the world may run an application action there, as
    // another thread could (no lock is held across I/O).
    std::function<void()> interleave = [] {};
    // Told whenever a socket's readiness may have changed (data arrived or
    // was read, room came or went, a connect completed, FIN, RST, a
    // connection queued for accept): pollers recompute what they report.
    std::function<void(int process, int fd)> watch = [](int, int) {};

    // Told of each payload a socket writes (the `u` text header of a whole
    // tofu frame), and of each reset: what a reset destroys was written on
    // one of its two sockets.
    std::function<void(int socket_id, std::uint64_t uid)> wrote = [](int, std::uint64_t) {};
    std::function<void(int socket_id, int peer_id)> was_reset = [](int, int) {};
    // Told of what happened on the wire (resets, FINs, closes), for traces.
    std::function<void(const std::string&)> log = [](const std::string&) {};

    // Counters for coverage and progress.
    struct Counters {
        std::uint64_t reads = 0, short_writes = 0, full_writes = 0, peeks = 0, emfile = 0, resets = 0, fins = 0,
                      refused = 0, backlog_full = 0, accepts = 0, effects = 0, aborted_in_backlog = 0,
                      full_reads_with_more = 0, early_connect_results = 0;
    };
    const Counters& counters() const noexcept { return counters_; }
    std::uint64_t effects(int process) const noexcept { return effects_[static_cast<std::size_t>(process)]; }

private:
    struct Process {
        std::vector<int> fds; // socket id per descriptor, -1 free
        std::size_t limit = 1024;
        std::size_t open = 0;
    };
    int allocate_fd(int process, int socket_id, int& error);
    int new_socket(int process, Socket::Kind kind, int& error);
    void free_fd(int process, int fd);
    void notify(const Socket& s);
    void send_segment(Socket& from, Bytes bytes, bool fin);
    void parse_frames(int id);
    void syn_arrives(int client_id);
    void establish(int client_id, int listener_id);
    void effect(int process) { ++effects_[static_cast<std::size_t>(process)]; }

    Time now_;
    std::vector<Process> processes_;
    std::vector<std::uint64_t> effects_;
    std::vector<Socket> sockets_;          // by id, never reused (ids are not descriptors)
    std::map<std::string, int> listeners_; // address -> listener id
    std::uint16_t next_port_ = 40000;
    Counters counters_;
};

// The kernel the engine's socket layer (sim_socket.cpp) talks to, and the
// process on whose behalf it is called: set by the world before it steps an
// engine or runs that engine's application.
Kernel& current_kernel();
void set_current(Kernel* kernel, int process);
int current_process();

} // namespace tofu::sim
