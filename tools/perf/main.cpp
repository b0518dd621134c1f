// tofu-perf: throughput and latency between two processes, tofu side by
// side with libzmq and nng when they are compiled in.
//
//   tofu-perf [run] [options]           each case: server in a child process, client here
//   tofu-perf --all [--repeat R]        the whole matrix, then a table
//   tofu-perf server ADDRESS [options]  the server side alone (prints its address, results)
//   tofu-perf client ADDRESS [options]  the client side alone
//
// See usage_text below for the options and the output format.
#include "perf/perf.hpp"

#include "common/cli.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace perf {

std::string_view to_string(Mode mode) noexcept { return mode == Mode::throughput ? "throughput" : "latency"; }
std::string_view to_string(Transport transport) noexcept { return transport == Transport::tcp ? "tcp" : "uds"; }

namespace {

tofu::Backend resolved_backend(tofu::Backend backend) {
    if (backend != tofu::Backend::automatic) return backend;
    if (const char* env = std::getenv("TOFU_BACKEND"); env != nullptr && *env != '\0') {
        if (std::optional<tofu::Backend> named = tofu::backend_from_string(env)) return *named;
    }
    return tofu::backend_available(tofu::Backend::epoll) ? tofu::Backend::epoll : tofu::Backend::poll;
}

} // namespace

std::string Case::label() const {
    if (impl != "tofu") return impl;
    return "tofu-" + std::string(tofu::to_string(resolved_backend(backend)));
}

const Impl* find_impl(std::string_view name) {
    static const Impl impls[] = {
        {"tofu", &tofu_serve, &tofu_client},
#ifdef TOFU_PERF_HAVE_ZMQ
        {"zmq", &zmq_serve, &zmq_client},
#endif
#ifdef TOFU_PERF_HAVE_NNG
        {"nng", &nng_serve, &nng_client},
#endif
    };
    for (const Impl& impl : impls) {
        if (impl.name == name) return &impl;
    }
    return nullptr;
}

void print_listening(const tofu::Address& address) {
    std::cout << "listening on " << address.to_string() << std::endl;
}

void print_result(std::uint64_t messages, std::chrono::nanoseconds elapsed) {
    std::cout << "result msgs=" << messages << " ns=" << elapsed.count() << std::endl;
}

void print_server_error(const std::string& what) { std::cout << "error " << what << std::endl; }

namespace {

using namespace std::chrono_literals;

const char* const usage_text = R"(usage:
  tofu-perf [run] [options]           each case: server in a child process, client in this one
  tofu-perf --all [--repeat R]        whole matrix (tofu poll, tofu epoll, zmq, nng x tcp, uds x
                                      64 B, 1 KiB, 65535 B throughput + 64 B latency), then a table
  tofu-perf server ADDRESS [options]  the server side alone: prints 'listening on ADDRESS', results
  tofu-perf client ADDRESS [options]  the client side alone, against such a server
options (lists are comma-separated; every combination runs):
  --impl tofu,zmq,nng          implementations (default tofu)
  --peers                      also run zmq and nng, when compiled in
  --backend poll,epoll         tofu poller backends (default automatic: TOFU_BACKEND or epoll)
  --transport tcp,uds          tcp = 127.0.0.1, uds = a socket in a temporary directory (default tcp)
  --mode throughput,latency    (default throughput)
  --size 64,1K,65535           payload bytes, at most 65535 (default 64)
  --count N                    messages (throughput) or timed round trips (latency);
                               default: 64 B 3M, 1 KiB 1M, 65535 B 50K; latency 20K
  --warmup N                   untimed round trips before a latency run (default 1000)
  --max-seconds S              throughput: stop sending after S seconds, whatever the count
                               (default 5; 0 = no limit); the result says how many went
  --repeat R                   run each case R times, report the median (default 1)
  --max-messages N             tofu engine pool: messages (default 4096)
  --memory-limit BYTES         tofu engine pool: bytes (default 64M)
  --verbose                    also print every single run
output, one line per case:
  tofu-epoll tcp throughput size=64 msgs=3000000 msg/s=... MB/s=... s=...
  zmq uds latency size=64 round_trips=20000 median_us=... p99_us=...
  throughput is timed by the receiver, first message to end marker; MB/s counts payload bytes (10^6)
)";

int usage_error(const std::string& what) {
    std::cerr << "tofu-perf: " << what << "\n" << usage_text;
    return 2;
}

std::uint64_t default_count(Mode mode, std::size_t size) {
    if (mode == Mode::latency) return 20'000;
    if (size <= 256) return 3'000'000;
    if (size <= 4096) return 1'000'000;
    return 50'000;
}

struct Options {
    std::string command = "run"; // run, all, server, client
    std::string address;         // server / client
    std::vector<std::string> impls{"tofu"};
    bool peers = false;
    std::vector<tofu::Backend> backends{tofu::Backend::automatic};
    std::vector<Transport> transports{Transport::tcp};
    std::vector<Mode> modes{Mode::throughput};
    std::vector<std::size_t> sizes{64};
    std::optional<std::uint64_t> count;
    std::uint64_t warmup = 1000;
    double max_seconds = 5;
    int repeat = 1;
    std::size_t max_messages = 4096;
    std::size_t memory_limit = std::size_t{64} << 20;
    bool verbose = false;
};

// -1 when `options` is usable, else the exit code.
int parse(int argc, char** argv, Options& options) {
    tofu::cli::Args args(argc, argv);
    bool command_seen = false;
    while (!args.done()) {
        const std::string token = args.take();
        if (token == "-h" || token == "--help") {
            std::cout << usage_text;
            return 0;
        }
        if (!tofu::cli::Args::is_option(token)) {
            if (!command_seen && (token == "run" || token == "server" || token == "client")) {
                options.command = token;
                command_seen = true;
            } else if ((options.command == "server" || options.command == "client") && options.address.empty()) {
                options.address = token;
            } else {
                return usage_error("unexpected argument '" + token + "'");
            }
            continue;
        }
        const std::string_view name = tofu::cli::Args::name_of(token);
        if (name == "all") {
            options.command = "all";
            continue;
        }
        if (name == "peers") {
            options.peers = true;
            continue;
        }
        if (name == "verbose") {
            options.verbose = true;
            continue;
        }
        const std::optional<std::string> value = args.value_of(token);
        if (!value) return usage_error("--" + std::string(name) + " needs a value");
        const std::vector<std::string> list = tofu::cli::split(*value);
        const auto number = [&](std::string_view text) { return tofu::cli::parse_size(text); };
        if (name == "impl") {
            options.impls = list;
        } else if (name == "backend") {
            options.backends.clear();
            for (const std::string& item : list) {
                const std::optional<tofu::Backend> backend = tofu::cli::parse_backend(item);
                if (!backend) return usage_error("unknown or unavailable backend '" + item + "'");
                options.backends.push_back(*backend);
            }
        } else if (name == "transport") {
            options.transports.clear();
            for (const std::string& item : list) {
                if (item == "tcp") options.transports.push_back(Transport::tcp);
                else if (item == "uds") options.transports.push_back(Transport::uds);
                else return usage_error("unknown transport '" + item + "'");
            }
        } else if (name == "mode") {
            options.modes.clear();
            for (const std::string& item : list) {
                if (item == "throughput") options.modes.push_back(Mode::throughput);
                else if (item == "latency") options.modes.push_back(Mode::latency);
                else return usage_error("unknown mode '" + item + "'");
            }
        } else if (name == "size") {
            options.sizes.clear();
            for (const std::string& item : list) {
                const std::optional<std::uint64_t> size = number(item);
                if (!size || *size > tofu::max_body_size) {
                    return usage_error("bad --size '" + item + "': 0..65535 (a tofu body holds at most 65,535 bytes)");
                }
                options.sizes.push_back(static_cast<std::size_t>(*size));
            }
        } else if (name == "max-seconds") {
            char* end = nullptr;
            const double seconds = std::strtod(value->c_str(), &end);
            if (end == value->c_str() || *end != '\0' || !(seconds >= 0)) {
                return usage_error("bad --max-seconds '" + *value + "'");
            }
            options.max_seconds = seconds;
        } else if (name == "count" || name == "warmup" || name == "repeat" || name == "max-messages" ||
                   name == "memory-limit") {
            const std::optional<std::uint64_t> n = number(*value);
            if (!n) return usage_error("bad --" + std::string(name) + " '" + *value + "'");
            if (name == "count") {
                if (*n == 0) return usage_error("--count must be at least 1");
                options.count = *n;
            } else if (name == "warmup") {
                options.warmup = *n;
            } else if (name == "repeat") {
                if (*n == 0 || *n > 100) return usage_error("--repeat must be 1..100");
                options.repeat = static_cast<int>(*n);
            } else if (name == "max-messages") {
                options.max_messages = static_cast<std::size_t>(*n);
            } else {
                options.memory_limit = static_cast<std::size_t>(*n);
            }
        } else {
            return usage_error("unknown option '" + token + "'");
        }
    }
    if ((options.command == "server" || options.command == "client") && options.address.empty()) {
        return usage_error(options.command + " needs an ADDRESS (tcp|host|port or uds|path)");
    }
    for (const std::string& impl : options.impls) {
        if (impl != "tofu" && impl != "zmq" && impl != "nng") return usage_error("unknown --impl '" + impl + "'");
    }
    return -1;
}

// ---- the server process -----------------------------------------------------

std::string self_path() {
    std::error_code error;
    std::filesystem::path path = std::filesystem::read_symlink("/proc/self/exe", error);
    return error ? std::string("tofu-perf") : path.string();
}

class ServerProcess {
public:
    ServerProcess() = default;
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;
    ~ServerProcess() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0) ::close(fd_);
    }

    bool start(const std::vector<std::string>& args, std::string& error) {
        int fds[2];
        // Close-on-exec on both ends (the child gets the write end as its
        // stdout only), set by fcntl: macOS has no pipe2.
        if (::pipe(fds) != 0) {
            error = std::string("pipe: ") + std::strerror(errno);
            return false;
        }
        for (int fd : fds) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
        std::vector<char*> argv;
        for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
        argv.push_back(nullptr);
        const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        fd_ = fds[0];
        if (rc != 0) {
            pid_ = -1;
            error = std::string("spawn ") + argv[0] + ": " + std::strerror(rc);
            return false;
        }
        return true;
    }

    // The next line the server prints, or nothing on timeout / end of output.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
        const Clock::time_point deadline = Clock::now() + timeout;
        for (;;) {
            if (const std::size_t at = buffer_.find('\n'); at != std::string::npos) {
                std::string line = buffer_.substr(0, at);
                buffer_.erase(0, at + 1);
                return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd pfd{fd_, POLLIN, 0};
            const int ready = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
            if (ready < 0 && errno != EINTR) return std::nullopt;
            if (ready <= 0) continue;
            char chunk[512];
            const ssize_t n = ::read(fd_, chunk, sizeof(chunk));
            if (n <= 0) return std::nullopt;
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    // Waits for the exit; kills it after `timeout`. The exit code, or -1.
    int wait(std::chrono::milliseconds timeout) {
        if (pid_ <= 0) return -1;
        const Clock::time_point deadline = Clock::now() + timeout;
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (Clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                pid_ = -1;
                return -1;
            }
            std::this_thread::sleep_for(2ms);
        }
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    pid_t pid_ = -1;
    int fd_ = -1;
    std::string buffer_;
};

// ---- one case ---------------------------------------------------------------

struct Outcome {
    bool ok = false;
    std::string error;
    // throughput
    std::uint64_t messages = 0;
    double seconds = 0;
    double msgs_per_s = 0;
    double mb_per_s = 0;
    // latency
    std::size_t round_trips = 0;
    double median_us = 0;
    double p99_us = 0;
};

double percentile(std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    const std::size_t index =
        std::min(sorted.size() - 1, static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size()))) - 1);
    return sorted[index];
}

std::vector<std::string> case_args(const Case& c) {
    return {"--impl",    c.impl,
            "--backend", std::string(tofu::to_string(c.backend)),
            "--mode",    std::string(to_string(c.mode)),
            "--size",    std::to_string(c.size),
            "--count",   std::to_string(c.count),
            "--warmup",  std::to_string(c.warmup),
            "--max-seconds", std::to_string(c.max_seconds),
            "--max-messages", std::to_string(c.max_messages),
            "--memory-limit", std::to_string(c.memory_limit)};
}

Outcome run_case(const Case& c, const std::filesystem::path& temp_dir, int serial) {
    Outcome outcome;
    const Impl* impl = find_impl(c.impl);
    if (impl == nullptr) {
        outcome.error = c.impl + " not compiled in";
        return outcome;
    }
    const tofu::Address listen_at =
        c.transport == Transport::tcp
            ? tofu::tcp("127.0.0.1", 0)
            : tofu::uds((temp_dir / (c.impl + "-" + std::to_string(serial) + ".sock")).string());

    std::vector<std::string> args{self_path(), "server", listen_at.to_string()};
    for (std::string& arg : case_args(c)) args.push_back(std::move(arg));
    ServerProcess server;
    if (!server.start(args, outcome.error)) return outcome;

    std::optional<std::string> line = server.read_line(15s);
    if (!line || line->rfind("listening on ", 0) != 0) {
        outcome.error = line ? "server: " + *line : "server did not start listening";
        return outcome;
    }
    tofu::Result<tofu::Address> address = tofu::parse_address(line->substr(13));
    if (!address) {
        outcome.error = "server printed a bad address: " + *line;
        return outcome;
    }

    std::optional<std::string> result_line;
    const std::function<bool()> server_done = [&] {
        // Long enough for a slow case; a stuck one fails rather than hangs.
        result_line = server.read_line(300s);
        return result_line && result_line->rfind("result ", 0) == 0;
    };
    ClientResult client = impl->client(c, address.value(), server_done);
    const int exit_code = server.wait(client.ok ? 10s : 1s);

    if (!client.ok) {
        outcome.error = client.error;
        if (result_line && result_line->rfind("error ", 0) == 0) outcome.error += "; server: " + result_line->substr(6);
        return outcome;
    }
    if (c.mode == Mode::throughput) {
        unsigned long long messages = 0;
        long long ns = 0;
        if (std::sscanf(result_line->c_str(), "result msgs=%llu ns=%lld", &messages, &ns) != 2 || ns <= 0) {
            outcome.error = "bad server result: " + *result_line;
            return outcome;
        }
        outcome.messages = messages;
        outcome.seconds = static_cast<double>(ns) / 1e9;
        // first message to the end marker: `messages` intervals
        outcome.msgs_per_s = static_cast<double>(messages) / outcome.seconds;
        outcome.mb_per_s = outcome.msgs_per_s * static_cast<double>(c.size) / 1e6;
    } else {
        std::vector<double>& samples = client.round_trip_ns;
        std::sort(samples.begin(), samples.end());
        outcome.round_trips = samples.size();
        outcome.median_us = percentile(samples, 0.50) / 1000.0;
        outcome.p99_us = percentile(samples, 0.99) / 1000.0;
    }
    if (exit_code != 0) {
        outcome.error = "server exited with " + std::to_string(exit_code);
        return outcome;
    }
    outcome.ok = true;
    return outcome;
}

std::string format_line(const Case& c, const Outcome& o, int runs) {
    std::ostringstream out;
    out << c.label() << " " << to_string(c.transport) << " " << to_string(c.mode) << " size=" << c.size;
    if (!o.ok) {
        out << " FAILED: " << o.error;
        return out.str();
    }
    out << std::fixed;
    if (c.mode == Mode::throughput) {
        out << " msgs=" << o.messages << " msg/s=" << std::setprecision(0) << o.msgs_per_s << " MB/s="
            << std::setprecision(1) << o.mb_per_s << " s=" << std::setprecision(2) << o.seconds;
        if (o.messages < c.count) out << " (time limit: " << c.count << " asked)";
    } else {
        out << " round_trips=" << o.round_trips << " median_us=" << std::setprecision(1) << o.median_us
            << " p99_us=" << o.p99_us;
    }
    if (runs > 1) out << " runs=" << runs << " (median)";
    return out.str();
}

// Runs a case `repeat` times; the median run by the case's main figure.
Outcome run_repeated(const Case& c, const std::filesystem::path& temp_dir, int repeat, bool verbose, int& serial) {
    std::vector<Outcome> runs;
    for (int i = 0; i < repeat; ++i) {
        Outcome outcome = run_case(c, temp_dir, ++serial);
        if (verbose && repeat > 1) std::cout << "  run " << (i + 1) << ": " << format_line(c, outcome, 1) << std::endl;
        if (!outcome.ok) return outcome;
        runs.push_back(outcome);
    }
    const auto key = [&c](const Outcome& o) { return c.mode == Mode::throughput ? o.msgs_per_s : o.median_us; };
    std::sort(runs.begin(), runs.end(), [&](const Outcome& a, const Outcome& b) { return key(a) < key(b); });
    Outcome median = runs[runs.size() / 2];
    if (c.mode == Mode::latency) {
        // median of each figure on its own
        std::vector<double> p99;
        for (const Outcome& o : runs) p99.push_back(o.p99_us);
        std::sort(p99.begin(), p99.end());
        median.p99_us = p99[p99.size() / 2];
    }
    return median;
}

class TempDir {
public:
    TempDir() {
        char pattern[] = "/tmp/tofu-perf-XXXXXX";
        if (::mkdtemp(pattern) != nullptr) path_ = pattern;
    }
    ~TempDir() {
        std::error_code error;
        if (!path_.empty()) std::filesystem::remove_all(path_, error);
    }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

std::string table_cell(const Case& c, const Outcome& o) {
    std::ostringstream out;
    out << std::fixed;
    if (!o.ok) return "failed";
    if (c.mode == Mode::throughput) {
        if (o.msgs_per_s >= 1e6) out << std::setprecision(2) << o.msgs_per_s / 1e6 << "M ";
        else out << std::setprecision(1) << o.msgs_per_s / 1e3 << "k ";
        out << std::setprecision(0) << o.mb_per_s << "MB/s";
    } else {
        out << std::setprecision(1) << o.median_us << "/" << o.p99_us << "us";
    }
    return out.str();
}

void print_table(const std::vector<std::string>& columns,
                 const std::vector<std::pair<std::string, std::map<std::string, std::string>>>& rows) {
    constexpr int first_width = 24;
    constexpr int width = 18;
    std::cout << "\n" << std::left << std::setw(first_width) << "case";
    for (const std::string& column : columns) std::cout << std::setw(width) << column;
    std::cout << "\n";
    for (const auto& [name, cells] : rows) {
        std::cout << std::setw(first_width) << name;
        for (const std::string& column : columns) {
            const auto it = cells.find(column);
            std::cout << std::setw(width) << (it == cells.end() ? "-" : it->second);
        }
        std::cout << "\n";
    }
    std::cout << "throughput: msg/s (M = 10^6, k = 10^3) and payload MB/s, timed by the receiver; "
                 "latency: median/p99 round trip\n";
}

int run_matrix(Options& options) {
    std::vector<std::pair<std::string, tofu::Backend>> impls; // (impl, backend)
    std::vector<std::string> wanted = options.impls;
    if (options.command == "all") {
        options.backends = {tofu::Backend::poll};
        if (tofu::backend_available(tofu::Backend::epoll)) options.backends.push_back(tofu::Backend::epoll);
        options.transports = {Transport::tcp, Transport::uds};
        wanted = {"tofu"};
        options.peers = true;
    }
    if (options.peers) {
        for (const char* peer : {"zmq", "nng"}) {
            if (std::find(wanted.begin(), wanted.end(), peer) == wanted.end()) wanted.emplace_back(peer);
        }
    }
    for (const std::string& impl : wanted) {
        if (impl == "tofu") {
            for (tofu::Backend backend : options.backends) impls.emplace_back(impl, backend);
        } else if (find_impl(impl) != nullptr) {
            impls.emplace_back(impl, tofu::Backend::automatic);
        } else {
            std::cout << (impl == "zmq" ? "libzmq" : impl) << " not installed: skipped" << std::endl;
        }
    }

    // (mode, size) pairs in the order they run
    std::vector<std::pair<Mode, std::size_t>> shapes;
    if (options.command == "all") {
        // 65,535 B is "64 KiB" here: the largest body a tofu message holds
        for (std::size_t size : {std::size_t{64}, std::size_t{1024}, tofu::max_body_size}) {
            shapes.emplace_back(Mode::throughput, size);
        }
        shapes.emplace_back(Mode::latency, 64);
    } else {
        for (Mode mode : options.modes) {
            for (std::size_t size : options.sizes) shapes.emplace_back(mode, size);
        }
    }

    TempDir temp_dir;
    if (temp_dir.path().empty()) {
        std::cerr << "tofu-perf: cannot create a temporary directory\n";
        return 1;
    }
    int serial = 0;
    bool all_ok = true;
    std::vector<std::string> columns;
    for (const auto& [impl, backend] : impls) {
        Case c;
        c.impl = impl;
        c.backend = backend;
        columns.push_back(c.label());
    }
    std::vector<std::pair<std::string, std::map<std::string, std::string>>> rows;
    for (const auto& [mode, size] : shapes) {
        for (Transport transport : options.transports) {
            std::ostringstream name;
            name << to_string(mode) << " " << to_string(transport) << " " << size << " B";
            rows.emplace_back(name.str(), std::map<std::string, std::string>{});
            for (const auto& [impl, backend] : impls) {
                Case c;
                c.impl = impl;
                c.backend = backend;
                c.transport = transport;
                c.mode = mode;
                c.size = size;
                c.count = options.count.value_or(default_count(mode, size));
                c.warmup = options.warmup;
                c.max_seconds = options.max_seconds;
                c.max_messages = options.max_messages;
                c.memory_limit = options.memory_limit;
                const Outcome outcome = run_repeated(c, temp_dir.path(), options.repeat, options.verbose, serial);
                std::cout << format_line(c, outcome, options.repeat) << std::endl;
                all_ok = all_ok && outcome.ok;
                rows.back().second[c.label()] = table_cell(c, outcome);
            }
        }
    }
    if (options.command == "all" || rows.size() * columns.size() > 2) print_table(columns, rows);
    return all_ok ? 0 : 1;
}

Case single_case(const Options& options) {
    Case c;
    c.impl = options.impls.front();
    c.backend = options.backends.front();
    c.transport = options.transports.front();
    c.mode = options.modes.front();
    c.size = options.sizes.front();
    c.count = options.count.value_or(default_count(c.mode, c.size));
    c.warmup = options.warmup;
    c.max_seconds = options.max_seconds;
    c.max_messages = options.max_messages;
    c.memory_limit = options.memory_limit;
    return c;
}

int run_server(const Options& options) {
    const Case c = single_case(options);
    const Impl* impl = find_impl(c.impl);
    if (impl == nullptr) return usage_error(c.impl + " is not compiled into this tofu-perf");
    tofu::Result<tofu::Address> where = tofu::parse_address(options.address);
    if (!where) return usage_error("bad ADDRESS '" + options.address + "': " + std::string(tofu::to_string(where.status())));
    return impl->serve(c, where.value());
}

int run_client(const Options& options) {
    const Case c = single_case(options);
    const Impl* impl = find_impl(c.impl);
    if (impl == nullptr) return usage_error(c.impl + " is not compiled into this tofu-perf");
    tofu::Result<tofu::Address> where = tofu::parse_address(options.address);
    if (!where) return usage_error("bad ADDRESS '" + options.address + "': " + std::string(tofu::to_string(where.status())));
    // Alone, the client cannot see the server's result: it lingers a moment
    // so that what it queued is delivered (the server prints the figures).
    const std::function<bool()> linger = [] {
        std::this_thread::sleep_for(1s);
        return true;
    };
    const Clock::time_point start = Clock::now();
    ClientResult result = impl->client(c, where.value(), linger);
    if (!result.ok) {
        std::cerr << "tofu-perf client: " << result.error << "\n";
        return 1;
    }
    Outcome outcome;
    outcome.ok = true;
    if (c.mode == Mode::throughput) {
        std::cout << c.label() << " sent " << c.count << " messages of " << c.size << " B in "
                  << std::chrono::duration<double>(Clock::now() - start - 1s).count()
                  << " s (the server prints the throughput)" << std::endl;
        return 0;
    }
    std::sort(result.round_trip_ns.begin(), result.round_trip_ns.end());
    outcome.round_trips = result.round_trip_ns.size();
    outcome.median_us = percentile(result.round_trip_ns, 0.50) / 1000.0;
    outcome.p99_us = percentile(result.round_trip_ns, 0.99) / 1000.0;
    std::cout << format_line(c, outcome, 1) << std::endl;
    return 0;
}

} // namespace
} // namespace perf

int main(int argc, char** argv) {
    perf::Options options;
    if (const int code = perf::parse(argc, argv, options); code >= 0) return code;
    // A vanished peer must be an error status, never a SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        if (options.command == "server") return perf::run_server(options);
        if (options.command == "client") return perf::run_client(options);
        return perf::run_matrix(options);
    } catch (const std::exception& error) {
        std::cerr << "tofu-perf: " << error.what() << "\n";
        return 1;
    }
}
