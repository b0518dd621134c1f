#include "kernel.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tofu::sim {

bool Socket::readable() const noexcept {
    if (!open) return false;
    if (kind == Kind::listener) return !backlog.empty();
    return !inbound.empty() || fin_arrived || failed();
}

bool Socket::writable_state() const noexcept {
    return open && kind == Kind::stream && link == Link::established && !write_shut && peer >= 0;
}

int Kernel::add_process(std::size_t descriptor_limit) {
    processes_.push_back(Process{{}, descriptor_limit, 0});
    effects_.push_back(0);
    return static_cast<int>(processes_.size()) - 1;
}

void Kernel::set_descriptor_limit(int process, std::size_t limit) {
    processes_[static_cast<std::size_t>(process)].limit = limit;
}

void Kernel::count_io(int process, int fd) {
    if (const int id = id_of(process, fd); id >= 0) ++sockets_[static_cast<std::size_t>(id)].io_calls;
}

std::uint64_t Kernel::io_calls(int process, int fd) const {
    const Socket* s = socket(process, fd);
    return s == nullptr ? 0 : s->io_calls;
}

std::size_t Kernel::queued_connections(int process) const {
    std::size_t queued = 0;
    for (const int id : processes_[static_cast<std::size_t>(process)].fds) {
        if (id < 0) continue;
        const Socket& s = sockets_[static_cast<std::size_t>(id)];
        if (s.kind == Socket::Kind::listener) queued += s.backlog.size();
    }
    return queued;
}

int Kernel::allocate_fd(int process, int socket_id, int& error) {
    Process& p = processes_[static_cast<std::size_t>(process)];
    if (p.open >= p.limit) {
        error = EMFILE;
        ++counters_.emfile;
        return -1;
    }
    // POSIX: the lowest free number, so a closed number is reused at once.
    std::size_t fd = 3;
    while (fd < p.fds.size() && p.fds[fd] >= 0) ++fd;
    if (fd >= p.fds.size()) p.fds.resize(fd + 1, -1);
    p.fds[fd] = socket_id;
    ++p.open;
    return static_cast<int>(fd);
}

void Kernel::free_fd(int process, int fd) {
    Process& p = processes_[static_cast<std::size_t>(process)];
    p.fds[static_cast<std::size_t>(fd)] = -1;
    --p.open;
}

int Kernel::new_socket(int process, Socket::Kind kind, int& error) {
    const int id = static_cast<int>(sockets_.size());
    const int fd = allocate_fd(process, id, error);
    if (fd < 0) return -1;
    Socket s;
    s.kind = kind;
    s.process = process;
    s.fd = fd;
    s.buffer = buffer_size();
    sockets_.push_back(std::move(s));
    return id;
}

int Kernel::id_of(int process, int fd) const noexcept {
    if (process < 0 || static_cast<std::size_t>(process) >= processes_.size() || fd < 0) return -1;
    const Process& p = processes_[static_cast<std::size_t>(process)];
    if (static_cast<std::size_t>(fd) >= p.fds.size()) return -1;
    return p.fds[static_cast<std::size_t>(fd)];
}

Socket* Kernel::socket(int process, int fd) noexcept {
    const int id = id_of(process, fd);
    return id < 0 ? nullptr : &sockets_[static_cast<std::size_t>(id)];
}

const Socket* Kernel::socket(int process, int fd) const noexcept {
    const int id = id_of(process, fd);
    return id < 0 ? nullptr : &sockets_[static_cast<std::size_t>(id)];
}

std::size_t Kernel::room(const Socket& s) const noexcept {
    if (s.peer < 0) return 0;
    const Socket& peer = sockets_[static_cast<std::size_t>(s.peer)];
    const std::size_t used = peer.inbound.size() + peer.in_flight_bytes;
    return used >= peer.buffer ? 0 : peer.buffer - used;
}

void Kernel::notify(const Socket& s) {
    if (s.open && s.fd >= 0) watch(s.process, s.fd);
}

// ---- listen and connect ------------------------------------------------------------

int Kernel::listen(int process, const Address& where, Address& bound, int& error) {
    bound = where;
    if (where.kind == Address::Kind::tcp && where.port == 0) bound.port = next_port_++;
    const std::string key = bound.to_string();
    if (listeners_.count(key) != 0) {
        error = EADDRINUSE;
        return -1;
    }
    const int id = new_socket(process, Socket::Kind::listener, error);
    if (id < 0) return -1;
    Socket& s = sockets_[static_cast<std::size_t>(id)];
    s.address = key;
    listeners_[key] = id;
    effect(process);
    return s.fd;
}

int Kernel::connect(int process, const Address& to, int& error) {
    const int id = new_socket(process, Socket::Kind::stream, error);
    if (id < 0) return -1;
    Socket& client = sockets_[static_cast<std::size_t>(id)];
    client.link = Socket::Link::connecting;
    client.target = to.to_string();
    client.connects_at = now_ + delay();
    effect(process);
    return client.fd;
}

int Kernel::connect_result(int process, int fd) const {
    const Socket* s = socket(process, fd);
    if (s == nullptr) return EBADF;
    switch (s->link) {
    case Socket::Link::established: return 0;
    case Socket::Link::connecting: return EINPROGRESS;
    case Socket::Link::refused: return ECONNREFUSED;
    case Socket::Link::reset: return ECONNRESET;
    }
    return EINVAL;
}

// The client's SYN reaches the address: a listener with room takes it into
// its backlog (the handshake completes there, before any accept); a full
// backlog drops it and the client retries when room comes; no listener
// refuses.
void Kernel::syn_arrives(int client_id) {
    Socket& client = sockets_[static_cast<std::size_t>(client_id)];
    client.connects_at = Time::max();
    const auto listener = listeners_.find(client.target);
    if (listener == listeners_.end()) {
        client.link = Socket::Link::refused;
        ++counters_.refused;
        notify(client);
        return;
    }
    Socket& l = sockets_[static_cast<std::size_t>(listener->second)];
    if (l.backlog.size() >= l.backlog_limit) {
        ++counters_.backlog_full; // dropped: retried when the backlog has room
        return;
    }
    establish(client_id, listener->second);
}

void Kernel::establish(int client_id, int listener_id) {
    Socket server;
    server.kind = Socket::Kind::stream;
    server.process = sockets_[static_cast<std::size_t>(listener_id)].process;
    server.link = Socket::Link::established;
    server.peer = client_id;
    server.buffer = buffer_size();
    const int server_id = static_cast<int>(sockets_.size());
    sockets_.push_back(std::move(server));
    Socket& client = sockets_[static_cast<std::size_t>(client_id)];
    client.peer = server_id;
    client.link = Socket::Link::established;
    Socket& l = sockets_[static_cast<std::size_t>(listener_id)];
    l.backlog.push_back(server_id);
    notify(l);
    notify(client);
}

int Kernel::accept(int process, int fd, int& error) {
    Socket* l = socket(process, fd);
    if (l == nullptr || l->kind != Socket::Kind::listener) {
        error = EINVAL;
        return -1;
    }
    if (l->backlog.empty()) {
        error = EAGAIN;
        return -1;
    }
    const int id = l->backlog.front();
    if (sockets_[static_cast<std::size_t>(id)].link == Socket::Link::reset) {
        // Reset before it was accepted: the BSDs and XNU say ECONNABORTED
        // (Linux hands it out and the first read fails; both are modelled).
        if (abort_reset_in_backlog()) {
            l->backlog.pop_front();
            notify(*l);
            ++counters_.aborted_in_backlog;
            error = ECONNABORTED;
            return -1;
        }
    }
    // The connection stays queued when no descriptor is left (EMFILE).
    const int new_fd = allocate_fd(process, id, error);
    if (new_fd < 0) return -1;
    l = socket(process, fd);
    l->backlog.pop_front();
    notify(*l); // maybe nothing queued now
    Socket& s = sockets_[static_cast<std::size_t>(id)];
    s.fd = new_fd;
    ++counters_.accepts;
    effect(process);
    // A SYN dropped on a full backlog gets in now.
    for (std::size_t i = 0; i < sockets_.size(); ++i) {
        Socket& waiting = sockets_[i];
        if (waiting.kind == Socket::Kind::stream && waiting.link == Socket::Link::connecting && waiting.open &&
            waiting.connects_at == Time::max() && waiting.target == l->address) {
            establish(static_cast<int>(i), id_of(process, fd));
            break;
        }
    }
    return new_fd;
}

// ---- data -------------------------------------------------------------------------------

void Kernel::send_segment(Socket& from, Bytes bytes, bool fin) {
    Socket& to = sockets_[static_cast<std::size_t>(from.peer)];
    to.in_flight_bytes += bytes.size();
    to.in_flight.push_back(Socket::Segment{std::move(bytes), fin, now_ + delay()});
}

long Kernel::write(int process, int fd, std::span<const std::span<const std::byte>> parts, int& error) {
    Socket* s = socket(process, fd);
    if (s == nullptr) {
        error = EBADF;
        return -1;
    }
    if (s->link == Socket::Link::reset || s->link == Socket::Link::refused) {
        error = ECONNRESET;
        return -1;
    }
    if (s->write_shut || s->peer < 0) {
        error = EPIPE;
        return -1;
    }
    if (s->link == Socket::Link::connecting) {
        error = EAGAIN;
        return -1;
    }
    if (!sockets_[static_cast<std::size_t>(s->peer)].open) {
        // Writing to a socket whose owner closed it: the peer answers RST.
        reset(id_of(process, fd));
        error = EPIPE;
        return -1;
    }
    std::size_t total = 0;
    for (const auto& part : parts) total += part.size();
    const std::size_t space = room(*s);
    if (space == 0) {
        error = EAGAIN;
        return -1;
    }
    const std::size_t n = std::min(total, space);
    Bytes bytes;
    bytes.reserve(n);
    for (const auto& part : parts) {
        const std::size_t take = std::min(part.size(), n - bytes.size());
        bytes.insert(bytes.end(), part.begin(), part.begin() + static_cast<std::ptrdiff_t>(take));
        if (bytes.size() == n) break;
    }
    ++(n < total ? counters_.short_writes : counters_.full_writes);
    s->written_unparsed.insert(s->written_unparsed.end(), bytes.begin(), bytes.end());
    send_segment(*s, std::move(bytes), false);
    parse_frames(id_of(process, fd));
    effect(process);
    notify(*s); // maybe full
    return static_cast<long>(n);
}

long Kernel::read(int process, int fd, std::span<std::byte> into, bool peek, int& error) {
    Socket* s = socket(process, fd);
    if (s == nullptr) {
        error = EBADF;
        return -1;
    }
    if (s->link == Socket::Link::reset) {
        error = ECONNRESET;
        return -1;
    }
    if (s->link == Socket::Link::refused) {
        error = ECONNREFUSED;
        return -1;
    }
    if (!s->inbound.empty()) {
        const std::size_t n = std::min(into.size(), s->inbound.size());
        std::copy_n(s->inbound.begin(), n, into.begin());
        if (peek) {
            ++counters_.peeks;
        } else {
            s->inbound.erase(s->inbound.begin(), s->inbound.begin() + static_cast<std::ptrdiff_t>(n));
            ++counters_.reads;
            // The reactor reads 64 KiB at a time: a read that fills it with
            // more behind is where "a full read means more" matters.
            if (n == into.size() && n >= 64 * 1024 && !s->inbound.empty()) ++counters_.full_reads_with_more;
            effect(process);
            notify(*s);                                                            // maybe drained
            if (s->peer >= 0) notify(sockets_[static_cast<std::size_t>(s->peer)]); // room again
        }
        return static_cast<long>(n);
    }
    if (s->fin_arrived) return 0;
    error = EAGAIN;
    return -1;
}

void Kernel::shutdown_write(int process, int fd) {
    Socket* s = socket(process, fd);
    if (s == nullptr || s->write_shut || s->peer < 0 || s->failed()) return;
    s->write_shut = true;
    ++counters_.fins;
    send_segment(*s, {}, true);
}

void Kernel::close(int process, int fd) {
    const int id = id_of(process, fd);
    if (id < 0) return;
    Socket& s = sockets_[static_cast<std::size_t>(id)];
    effect(process);
    if (s.kind == Socket::Kind::listener) {
        listeners_.erase(s.address);
        // Connections never accepted are reset.
        const std::deque<int> queued = s.backlog;
        for (int queued_id : queued) reset(queued_id);
        s.backlog.clear();
    } else if (s.peer >= 0 && !s.failed()) {
        // Unread data makes a close abortive (Linux sends RST), else a FIN.
        if (!s.inbound.empty()) {
            log("socket " + std::to_string(id) + " closed with " + std::to_string(s.inbound.size()) +
                " bytes unread: reset");
            reset(id);
        } else if (!s.write_shut) {
            s.write_shut = true;
            ++counters_.fins;
            send_segment(s, {}, true);
        }
    }
    s.open = false;
    free_fd(process, fd);
    s.fd = -1;
}

void Kernel::reset(int id) {
    if (id < 0) return;
    Socket& s = sockets_[static_cast<std::size_t>(id)];
    if (s.kind != Socket::Kind::stream || s.link == Socket::Link::reset) return;
    ++counters_.resets;
    log("socket " + std::to_string(id) + " reset (peer " + std::to_string(s.peer) + ")");
    const auto fail = [this](Socket& end) {
        end.link = Socket::Link::reset;
        end.inbound.clear();
        end.in_flight.clear();
        end.in_flight_bytes = 0;
        notify(end);
    };
    fail(s);
    if (s.peer >= 0) fail(sockets_[static_cast<std::size_t>(s.peer)]);
    was_reset(id, s.peer);
}

// The frames a socket wrote, for the world's ledger: protocol §4 layout, the
// payload's number in its `u:<number>` text header.
void Kernel::parse_frames(int id) {
    Socket& s = sockets_[static_cast<std::size_t>(id)];
    std::size_t at = 0;
    const Bytes& w = s.written_unparsed;
    const auto u16 = [&w](std::size_t i) {
        return (std::to_integer<std::size_t>(w[i]) << 8) | std::to_integer<std::size_t>(w[i + 1]);
    };
    while (w.size() - at >= 16) {
        const std::size_t headers = u16(at + 12);
        const std::size_t body = u16(at + 14);
        if (w.size() - at < 16 + headers + body) break;
        const std::string block(reinterpret_cast<const char*>(w.data() + at + 16), headers);
        for (std::size_t line = 0; line < block.size();) {
            const std::size_t end = block.find("\r\n", line);
            if (end == std::string::npos) break;
            if (block.compare(line, 2, "u:") == 0) wrote(id, std::stoull(block.substr(line + 2, end - line - 2)));
            line = end + 2;
        }
        at += 16 + headers + body;
    }
    s.written_unparsed.erase(s.written_unparsed.begin(), s.written_unparsed.begin() + static_cast<long>(at));
}

// ---- time -------------------------------------------------------------------------------

std::optional<Time> Kernel::next_event() const {
    std::optional<Time> next;
    const auto consider = [&next](Time t) {
        if (!next || t < *next) next = t;
    };
    for (const Socket& s : sockets_) {
        if (s.kind != Socket::Kind::stream) continue;
        if (s.link == Socket::Link::connecting && s.connects_at != Time::max() && s.open) consider(s.connects_at);
        if (!s.in_flight.empty()) consider(s.in_flight.front().arrives);
    }
    return next;
}

bool Kernel::deliver_due() {
    bool any = false;
    for (std::size_t i = 0; i < sockets_.size(); ++i) {
        Socket& s = sockets_[i];
        if (s.kind != Socket::Kind::stream) continue;
        if (s.link == Socket::Link::connecting && s.open && s.connects_at <= now_) {
            syn_arrives(static_cast<int>(i));
            any = true;
        }
        // Data reaching a socket its owner closed is answered with RST.
        if (!sockets_[i].open && !sockets_[i].in_flight.empty() && sockets_[i].in_flight.front().arrives <= now_ &&
            !sockets_[i].in_flight.front().bytes.empty()) {
            log("data for closed socket " + std::to_string(i) + ": reset");
            reset(static_cast<int>(i));
            any = true;
            continue;
        }
        // In order: a segment arrives only after those before it.
        bool arrived = false;
        while (!sockets_[i].in_flight.empty() && sockets_[i].in_flight.front().arrives <= now_) {
            Socket& to = sockets_[i];
            Socket::Segment segment = std::move(to.in_flight.front());
            to.in_flight.pop_front();
            to.in_flight_bytes -= segment.bytes.size();
            to.inbound.insert(to.inbound.end(), segment.bytes.begin(), segment.bytes.end());
            if (segment.fin) to.fin_arrived = true;
            arrived = true;
        }
        if (arrived) {
            notify(sockets_[i]);
            any = true;
        }
    }
    return any;
}

bool Kernel::idle() const {
    for (const Socket& s : sockets_) {
        if (!s.in_flight.empty()) return false;
        if (s.kind == Socket::Kind::stream && s.link == Socket::Link::connecting && s.open &&
            s.connects_at != Time::max()) {
            return false;
        }
    }
    return true;
}

// ---- the socket layer's view ----------------------------------------------------------

namespace {
Kernel* current = nullptr;
int current_process_id = -1;
} // namespace

Kernel& current_kernel() { return *current; }
void set_current(Kernel* kernel, int process) {
    current = kernel;
    current_process_id = process;
}
int current_process() { return current_process_id; }

} // namespace tofu::sim
