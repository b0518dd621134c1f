// tofu-perf: throughput and latency between two processes, tofu side by
// side with libzmq and nng when they are compiled in, and with raw sockets
// (the limit), with what each message costs in CPU time and system calls.
//
//   tofu-perf [run] [options]           each case: server in a child process, client here
//   tofu-perf --all [--repeat R]        the whole matrix, then tables (--plot: an SVG chart)
//   tofu-perf server ADDRESS [options]  the server side alone (prints its address, results)
//   tofu-perf client ADDRESS [options]  the client side alone
//
// `tofu-perf --help` lists the options; tools/README.md explains the output.
#include "perf/perf.hpp"

#include "perf/cost.hpp"
#include "perf/plot.hpp"

#include "common/cli.hpp"
#include "common/line_reader.hpp"
#include "common/signals.hpp"
#include "common/stats.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include <fcntl.h>
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
        {"raw", &raw_serve, &raw_client},
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

void print_listening(const tofu::Address& address) { std::cout << "listening on " << address.to_string() << std::endl; }

namespace {

// The server process's meter, started before the server side runs.
std::optional<CostMeter>& server_meter() {
    static std::optional<CostMeter> meter;
    return meter;
}

std::string server_cost_fields() {
    if (!server_meter()) return {};
    const Cost cost = server_meter()->elapsed();
    return " cpu_ns=" + std::to_string(cost.cpu.count()) +
           " syscalls=" + (cost.syscalls ? std::to_string(*cost.syscalls) : std::string("n/a"));
}

} // namespace

void print_result(std::uint64_t messages, std::chrono::nanoseconds elapsed) {
    std::cout << "result msgs=" << messages << " ns=" << elapsed.count() << server_cost_fields() << std::endl;
}

void print_round_trips_result(std::uint64_t round_trips) {
    std::cout << "result round_trips=" << round_trips << server_cost_fields() << std::endl;
}

void print_server_error(const std::string& what) { std::cout << "error " << what << std::endl; }

namespace {

using namespace std::chrono_literals;

std::uint64_t default_count(Mode mode, std::size_t size) {
    if (mode == Mode::latency) return 20'000;
    if (size <= 256) return 3'000'000;
    if (size <= 4096) return 1'000'000;
    return 50'000;
}

enum class Command { run, server, client };

struct Options {
    Command command = Command::run;
    bool all = false;
    std::string address; // server / client
    std::vector<std::string> impls{"tofu"};
    std::string plot; // SVG file for the results, empty: none
    bool peers = false;
    std::vector<std::string> backends{"automatic"};
    std::vector<std::string> transports{"tcp"};
    std::vector<std::string> modes{"throughput"};
    std::vector<std::size_t> sizes{64};
    std::uint64_t count = 0; // 0: the default for the case's mode and size
    std::uint64_t warmup = 1000;
    double max_seconds = 5;
    int repeat = 1;
    std::size_t max_messages = 4096;
    std::size_t memory_limit = std::size_t{64} << 20;
    bool verbose = false;
    bool json = false;
    bool quiet = false;
};

// What a user installs to get an implementation.
std::string library_of(std::string_view impl) { return impl == "zmq" ? "libzmq" : std::string(impl); }

// An implementation asked for by name must be compiled in: saying "skipped"
// and exiting 0 would let a script believe it measured libzmq.
const CLI::Validator compiled_impl(
    [](std::string& name) -> std::string {
        if (find_impl(name) != nullptr) return {};
        return name + " is not compiled into this tofu-perf (" + library_of(name) + " was not found when it was built)";
    },
    "IMPL");

// Nothing when `options` is usable, else the exit code.
std::optional<int> parse(int argc, char** argv, Options& options) {
    CLI::App app("tofu-perf: throughput and latency between two processes, tofu side by side with libzmq and nng "
                 "when they are compiled in.\nLists are comma-separated; every combination runs.",
                 "tofu-perf");
    tofu::cli::set_version(app, "tofu-perf");
    app.fallthrough(); // the case options also after `server ADDRESS` and `client ADDRESS`
    app.require_subcommand(0, 1);
    app.add_subcommand("run", "each case: a server in a child process, the client in this one (the default)");
    CLI::App* server = app.add_subcommand("server", "the server side alone: prints 'listening on ADDRESS', results");
    CLI::App* client = app.add_subcommand("client", "the client side alone, against such a server");
    std::vector<std::pair<const CLI::App*, const CLI::Option*>> addresses;
    for (CLI::App* command : {server, client}) {
        addresses.emplace_back(command, command->add_option("ADDRESS", options.address, "tcp|HOST|PORT or uds|PATH")
                                            ->check(tofu::cli::address_value));
    }
    const auto list = [&app](const std::string& name, auto& values, const std::string& help) {
        return app.add_option(name, values, help)->delimiter(',')->allow_extra_args(false);
    };
    app.add_flag("--all", options.all,
                 "the whole matrix: tofu poll and epoll, zmq, nng, raw x tcp, uds x 64 B, 1 KiB, 65535 B "
                 "throughput and 64 B latency, then tables with cost per message and ratios");
    list("--impl", options.impls, "implementations: tofu, zmq, nng, raw (plain sockets: the limit) (default tofu)")
        ->check(CLI::IsMember({"tofu", "zmq", "nng", "raw"}) & compiled_impl);
    app.add_flag("--peers", options.peers, "also run zmq and nng, those compiled in");
    list("--backend", options.backends, "tofu poller backends (default automatic: TOFU_BACKEND or epoll)")
        ->check(tofu::cli::backend_value());
    list("--transport", options.transports, "tcp (127.0.0.1) or uds (a socket in a temporary directory)")
        ->check(CLI::IsMember({"tcp", "uds"}));
    list("--mode", options.modes, "throughput or latency")->check(CLI::IsMember({"throughput", "latency"}));
    list("--size", options.sizes, "payload bytes, at most 65535: a tofu body's limit (default 64)")
        ->transform(tofu::cli::size_value)
        ->check(CLI::Range(std::size_t{0}, tofu::max_body_size));
    app.add_option("--count", options.count,
                   "messages (throughput) or timed round trips (latency); default: 64 B 3M, 1 KiB 1M, 65535 B 50K; "
                   "latency 20K")
        ->transform(tofu::cli::size_value)
        ->check(tofu::cli::positive);
    app.add_option("--warmup", options.warmup, "untimed round trips before a latency run")
        ->capture_default_str()
        ->transform(tofu::cli::size_value);
    app.add_option("--max-seconds", options.max_seconds,
                   "throughput: stop sending after S seconds, whatever the count (0: no limit)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--repeat", options.repeat, "run each case R times, report the median")
        ->capture_default_str()
        ->check(CLI::Range(1, 100));
    app.add_option("--max-messages", options.max_messages, "tofu engine pool: messages")
        ->capture_default_str()
        ->transform(tofu::cli::size_value)
        ->check(tofu::cli::positive);
    app.add_option("--memory-limit", options.memory_limit, "tofu engine pool: bytes (64K, 32M, ...)")
        ->capture_default_str()
        ->transform(tofu::cli::size_value);
    app.add_flag("--verbose", options.verbose, "also print every single run of a repeated case");
    app.add_flag("--json", options.json, "results as a JSON array on stdout, one object per case, instead of lines");
    app.add_option("--plot", options.plot, "also write the results as an SVG chart to FILE")->type_name("FILE.svg");
    app.add_flag("-q,--quiet", options.quiet, "no progress lines and no engine counters on stderr");
    const auto check = [&addresses] {
        for (const auto& [command, address] : addresses) {
            if (command->parsed()) tofu::cli::require(*address);
        }
    };
    if (const std::optional<int> code = tofu::cli::parse(app, argc, argv, check)) return code;
    if (server->parsed()) options.command = Command::server;
    if (client->parsed()) options.command = Command::client;
    return std::nullopt;
}

// ---- the server process -----------------------------------------------------

std::string self_path() {
    std::error_code error;
    std::filesystem::path path = std::filesystem::read_symlink("/proc/self/exe", error);
    return error ? std::string("tofu-perf") : path.string();
}

// The server process running now, for the signal watcher: a SIGINT or
// SIGTERM must not leave it behind.
std::atomic<pid_t> running_server{-1};

class ServerProcess {
public:
    ServerProcess() = default;
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;
    ~ServerProcess() {
        if (pid_ > 0) {
            running_server.store(-1);
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
        // This process blocks SIGINT and SIGTERM for its watcher thread; the
        // server must not inherit that, or a Ctrl-C would leave it running.
        posix_spawnattr_t attributes;
        posix_spawnattr_init(&attributes);
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attributes, &none);
        posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
        std::vector<char*> argv;
        for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
        argv.push_back(nullptr);
        const int rc = posix_spawn(&pid_, argv[0], &actions, &attributes, argv.data(), environ);
        posix_spawnattr_destroy(&attributes);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        fd_ = fds[0];
        lines_.reset(fd_);
        if (rc != 0) {
            pid_ = -1;
            error = std::string("spawn ") + argv[0] + ": " + std::strerror(rc);
            return false;
        }
        running_server.store(pid_);
        return true;
    }

    // The next line the server prints, or nothing on timeout / end of output.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout) { return lines_.read_line(timeout); }

    // Waits for the exit; kills it after `timeout`. The exit code, or -1.
    int wait(std::chrono::milliseconds timeout) {
        if (pid_ <= 0) return -1;
        const Clock::time_point deadline = Clock::now() + timeout;
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (Clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(2ms);
        }
        running_server.store(-1);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    pid_t pid_ = -1;
    int fd_ = -1;
    tofu::cli::LineReader lines_;
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
    // Cost per message (throughput) or per round trip (latency), each process;
    // unknown to a client run alone, which never sees the server's figures.
    bool cost_known = false;
    double client_cpu_ns = 0;
    double server_cpu_ns = 0;
    std::optional<double> client_syscalls;
    std::optional<double> server_syscalls;

    double cpu_ns() const { return client_cpu_ns + server_cpu_ns; }
    std::optional<double> syscalls() const {
        if (!client_syscalls || !server_syscalls) return std::nullopt;
        return *client_syscalls + *server_syscalls;
    }
};

// The cost figures of a server's result line: " cpu_ns=<C> syscalls=<S|n/a>".
bool parse_server_cost(const std::string& line, std::chrono::nanoseconds& cpu, std::optional<std::uint64_t>& syscalls) {
    const std::size_t at = line.find(" cpu_ns=");
    long long cpu_ns = 0;
    char count[32] = {};
    if (at == std::string::npos || std::sscanf(line.c_str() + at, " cpu_ns=%lld syscalls=%31s", &cpu_ns, count) != 2)
        return false;
    cpu = std::chrono::nanoseconds(cpu_ns);
    if (std::strcmp(count, "n/a") == 0) syscalls.reset();
    else syscalls = std::strtoull(count, nullptr, 10);
    return true;
}

// Both processes' cost, shared out over `messages`.
void set_cost(Outcome& outcome, const Cost& client, std::chrono::nanoseconds server_cpu,
              std::optional<std::uint64_t> server_syscalls, std::uint64_t messages) {
    const double per = messages == 0 ? 0 : 1.0 / static_cast<double>(messages);
    outcome.cost_known = true;
    outcome.client_cpu_ns = static_cast<double>(client.cpu.count()) * per;
    outcome.server_cpu_ns = static_cast<double>(server_cpu.count()) * per;
    if (client.syscalls) outcome.client_syscalls = static_cast<double>(*client.syscalls) * per;
    if (server_syscalls) outcome.server_syscalls = static_cast<double>(*server_syscalls) * per;
}

double percentile(std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    const std::size_t index =
        std::min(sorted.size() - 1, static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size()))) - 1);
    return sorted[index];
}

std::vector<std::string> case_args(const Case& c) {
    return {"--impl",         c.impl,
            "--backend",      std::string(tofu::to_string(c.backend)),
            "--mode",         std::string(to_string(c.mode)),
            "--size",         std::to_string(c.size),
            "--count",        std::to_string(c.count),
            "--warmup",       std::to_string(c.warmup),
            "--max-seconds",  std::to_string(c.max_seconds),
            "--max-messages", std::to_string(c.max_messages),
            "--memory-limit", std::to_string(c.memory_limit),
            "--quiet"};
}

std::string progress_name(const Case& c) {
    std::ostringstream out;
    out << c.label() << " " << to_string(c.transport) << " " << c.size << " B " << to_string(c.mode);
    return out.str();
}

// Everything one `run` shares between its cases.
struct Run {
    std::filesystem::path temp_dir;
    int repeat = 1;
    bool verbose = false;
    bool progress = true;
    int serial = 0; // runs started, for unique socket names
    int case_number = 0;
    int case_total = 0;
    int repetition = 0;
    std::string syscalls_unavailable; // why the client could not count them, once known
    tofu::EngineStats client_stats;   // summed over the tofu client engines
    bool tofu_ran = false;
};

Outcome run_case(const Case& c, Run& run) {
    Outcome outcome;
    const Impl* impl = find_impl(c.impl);
    const std::filesystem::path& temp_dir = run.temp_dir;
    const int serial = ++run.serial;
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
    // A whole matrix takes minutes: say what is going on, where results do
    // not go. Only now, when the server is up: a script can rely on that.
    if (run.progress) {
        std::cerr << "case " << run.case_number << "/" << run.case_total << ": " << progress_name(c);
        if (run.repeat > 1) std::cerr << " (run " << run.repetition << "/" << run.repeat << ")";
        std::cerr << "..." << std::endl;
    }

    std::optional<std::string> result_line;
    const std::function<bool()> server_done = [&] {
        // Long enough for a slow case; a stuck one fails rather than hangs.
        result_line = server.read_line(300s);
        return result_line && result_line->rfind("result ", 0) == 0;
    };
    std::optional<Cost> client_cost;
    ClientResult client = [&] {
        const CostMeter meter;
        run.syscalls_unavailable = meter.syscalls_unavailable();
        ClientResult result = impl->client(c, address.value(), server_done);
        client_cost = meter.elapsed();
        return result;
    }();
    if (client.ok && c.mode == Mode::latency) {
        // The server reports its cost after the last answer.
        result_line = server.read_line(10s);
    }
    if (client.engine_stats) {
        tofu::cli::add_stats(run.client_stats, *client.engine_stats);
        run.tofu_ran = true;
    }
    const int exit_code = server.wait(client.ok ? 10s : 1s);

    if (!client.ok) {
        outcome.error = client.error;
        if (result_line && result_line->rfind("error ", 0) == 0) outcome.error += "; server: " + result_line->substr(6);
        return outcome;
    }
    std::chrono::nanoseconds server_cpu{0};
    std::optional<std::uint64_t> server_syscalls;
    if (!result_line || result_line->rfind("result ", 0) != 0 ||
        !parse_server_cost(*result_line, server_cpu, server_syscalls)) {
        outcome.error = "bad server result: " + result_line.value_or("(none)");
        return outcome;
    }
    if (c.mode == Mode::throughput) {
        unsigned long long messages = 0;
        long long ns = 0;
        if (std::sscanf(result_line->c_str(), "result msgs=%llu ns=%lld", &messages, &ns) != 2 || ns <= 0) {
            outcome.error = "bad server result: " + *result_line;
            return outcome;
        }
        set_cost(outcome, *client_cost, server_cpu, server_syscalls, messages);
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
        unsigned long long answered = 0;
        if (std::sscanf(result_line->c_str(), "result round_trips=%llu", &answered) != 1 ||
            answered != c.warmup + c.count) {
            outcome.error = "bad server result: " + *result_line;
            return outcome;
        }
        // Warmup round trips are in both processes' cost: shared over all.
        set_cost(outcome, *client_cost, server_cpu, server_syscalls, answered);
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
        out << " msgs=" << o.messages << " msg/s=" << std::setprecision(0) << o.msgs_per_s
            << " MB/s=" << std::setprecision(1) << o.mb_per_s << " s=" << std::setprecision(2) << o.seconds;
        if (o.messages < c.count) out << " (time limit: " << c.count << " asked)";
    } else {
        out << " round_trips=" << o.round_trips << " median_us=" << std::setprecision(1) << o.median_us
            << " p99_us=" << o.p99_us;
    }
    if (o.cost_known) {
        out << " cpu_ns/msg=" << std::setprecision(0) << o.cpu_ns() << " syscalls/msg=";
        if (const std::optional<double> syscalls = o.syscalls()) out << std::setprecision(3) << *syscalls;
        else out << "n/a";
    }
    if (runs > 1) out << " runs=" << runs << " (median)";
    return out.str();
}

// Runs a case `repeat` times; the median run by the case's main figure.
Outcome run_repeated(const Case& c, Run& run) {
    ++run.case_number;
    std::vector<Outcome> runs;
    for (int i = 0; i < run.repeat; ++i) {
        run.repetition = i + 1;
        Outcome outcome = run_case(c, run);
        if (run.verbose && run.repeat > 1) {
            std::cout << "  run " << (i + 1) << ": " << format_line(c, outcome, 1) << std::endl;
        }
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

// Under $TMPDIR (else /tmp), for the Unix sockets of the uds cases.
class TempDir {
public:
    TempDir() {
        std::error_code error;
        std::filesystem::path base = std::filesystem::temp_directory_path(error);
        if (error) base = "/tmp";
        std::string pattern = (base / "tofu-perf-XXXXXX").string();
        if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() { remove(); }

    void remove() {
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

std::string cpu_cell(const Outcome& o) {
    if (!o.ok) return "failed";
    std::ostringstream out;
    out << std::fixed << std::setprecision(0) << o.cpu_ns() << " (" << o.client_cpu_ns << "+" << o.server_cpu_ns << ")";
    return out.str();
}

std::string syscalls_cell(const Outcome& o) {
    if (!o.ok) return "failed";
    if (!o.syscalls()) return "n/a";
    std::ostringstream out;
    out << std::fixed << std::setprecision(o.syscalls() < 10 ? 3 : 1) << *o.syscalls();
    return out.str();
}

// tofu against another column of one row: throughput msg/s ÷ msg/s (above 1:
// tofu is faster), latency median ÷ median (above 1: tofu is slower).
std::string ratio_cell(Mode mode, const Outcome* tofu, const Outcome* other) {
    if (tofu == nullptr || other == nullptr || !tofu->ok || !other->ok) return "-";
    const double ratio =
        mode == Mode::throughput ? tofu->msgs_per_s / other->msgs_per_s : tofu->median_us / other->median_us;
    std::ostringstream out;
    out << std::fixed << std::setprecision(2) << ratio << "x";
    return out.str();
}

// One row of the side-by-side tables: a (mode, transport, size) and each column's outcome.
struct Row {
    std::string name;
    Mode mode = Mode::throughput;
    std::map<std::string, Outcome> outcomes; // by column label
    std::map<std::string, Case> cases;

    const Outcome* find(const std::string& column) const {
        const auto it = outcomes.find(column);
        return it == outcomes.end() ? nullptr : &it->second;
    }
};

void print_table(const std::string& title, const std::vector<std::string>& columns, const std::vector<Row>& rows,
                 const std::function<std::string(const Row&, const std::string&)>& cell) {
    constexpr std::size_t column_gap = 2;
    std::vector<std::size_t> widths{std::string_view("case").size()};
    for (const Row& row : rows) widths[0] = std::max(widths[0], row.name.size());
    for (const std::string& column : columns) {
        std::size_t width = column.size();
        for (const Row& row : rows) width = std::max(width, cell(row, column).size());
        widths.push_back(width);
    }
    for (std::size_t& width : widths) width += column_gap;
    const auto field = [&widths](std::size_t index) { return std::setw(static_cast<int>(widths[index])); };
    std::cout << "\n" << title << "\n" << std::left << field(0) << "case";
    for (std::size_t i = 0; i < columns.size(); ++i) std::cout << field(i + 1) << columns[i];
    std::cout << "\n";
    for (const Row& row : rows) {
        std::cout << field(0) << row.name;
        for (std::size_t i = 0; i < columns.size(); ++i) std::cout << field(i + 1) << cell(row, columns[i]);
        std::cout << "\n";
    }
}

// The results with tofu's ratios to libzmq and to the raw-socket limit
// (`tofu_column`'s), then what a message costs.
void print_tables(const std::vector<std::string>& columns, const std::vector<Row>& rows,
                  const std::string& tofu_column) {
    const auto outcome_cell = [](const Row& row, const std::string& column) {
        const Outcome* o = row.find(column);
        return o == nullptr ? std::string("-") : table_cell(row.cases.at(column), *o);
    };
    const auto cost_cell = [](auto format) {
        return [format](const Row& row, const std::string& column) {
            const Outcome* o = row.find(column);
            return o == nullptr ? std::string("-") : format(*o);
        };
    };
    std::vector<std::string> ratio_columns;
    for (const char* other : {"zmq", "raw"}) {
        if (!tofu_column.empty() && std::find(columns.begin(), columns.end(), other) != columns.end())
            ratio_columns.emplace_back(other);
    }
    std::vector<std::string> result_columns = columns;
    for (const std::string& other : ratio_columns) result_columns.push_back(tofu_column + "/" + other);
    print_table("results", result_columns, rows, [&](const Row& row, const std::string& column) {
        const std::size_t slash = column.find('/');
        if (slash == std::string::npos) return outcome_cell(row, column);
        return ratio_cell(row.mode, row.find(tofu_column), row.find(column.substr(slash + 1)));
    });
    std::cout << "throughput: msg/s (M = 10^6, k = 10^3) and payload MB/s, timed by the receiver; "
                 "latency: median/p99 round trip\n";
    if (!ratio_columns.empty()) {
        std::cout << "ratios: throughput msg/s " << tofu_column << " / other (above 1: " << tofu_column
                  << " faster); latency median " << tofu_column << " / other (above 1: " << tofu_column << " slower)\n";
    }
    print_table("CPU ns per message: both processes, total (client+server)", columns, rows, cost_cell(cpu_cell));
    print_table("system calls per message: both processes", columns, rows, cost_cell(syscalls_cell));
    std::cout << "cost per message: user + system CPU time and system calls, all threads, of the client (connect "
                 "to close) and the server (its whole process up to its result), divided by the messages "
                 "(latency: by the round trips, warmup included)\n";
}

std::string json_string(std::string_view text) {
    std::string quoted = "\"";
    for (char ch : text) {
        if (ch == '"' || ch == '\\') quoted += '\\';
        if (static_cast<unsigned char>(ch) < 0x20) {
            quoted += ' '; // only error texts could hold one, and a space reads as well there
            continue;
        }
        quoted += ch;
    }
    return quoted + "\"";
}

std::string json_number(std::optional<double> value) {
    if (!value) return "null";
    std::ostringstream out;
    out << std::setprecision(17) << *value;
    return out.str();
}

// One object per case, with the figures of its result line. `syscalls_unavailable`:
// why the syscall figures are null, or empty.
std::string json_object(const Case& c, const Outcome& o, int runs, const std::string& syscalls_unavailable) {
    std::ostringstream out;
    out << std::setprecision(17) << "{\"impl\": " << json_string(c.label())
        << ", \"transport\": " << json_string(to_string(c.transport))
        << ", \"mode\": " << json_string(to_string(c.mode)) << ", \"size\": " << c.size << ", \"runs\": " << runs
        << ", \"ok\": " << (o.ok ? "true" : "false");
    if (!o.ok) {
        out << ", \"error\": " << json_string(o.error) << "}";
        return out.str();
    }
    if (c.mode == Mode::throughput) {
        out << ", \"count\": " << c.count << ", \"messages\": " << o.messages << ", \"seconds\": " << o.seconds
            << ", \"msgs_per_s\": " << o.msgs_per_s << ", \"mb_per_s\": " << o.mb_per_s;
    } else {
        out << ", \"round_trips\": " << o.round_trips << ", \"median_us\": " << o.median_us
            << ", \"p99_us\": " << o.p99_us;
    }
    out << ", \"cpu_ns_per_msg\": " << o.cpu_ns() << ", \"client_cpu_ns_per_msg\": " << o.client_cpu_ns
        << ", \"server_cpu_ns_per_msg\": " << o.server_cpu_ns << ", \"syscalls_per_msg\": " << json_number(o.syscalls())
        << ", \"client_syscalls_per_msg\": " << json_number(o.client_syscalls)
        << ", \"server_syscalls_per_msg\": " << json_number(o.server_syscalls);
    if (!o.syscalls() && !syscalls_unavailable.empty())
        out << ", \"syscalls_unavailable\": " << json_string(syscalls_unavailable);
    return out.str() + "}";
}

std::vector<tofu::Backend> backends_of(const std::vector<std::string>& names) {
    std::vector<tofu::Backend> backends;
    for (const std::string& name : names) backends.push_back(*tofu::backend_from_string(name));
    return backends;
}

Transport transport_of(std::string_view name) { return name == "uds" ? Transport::uds : Transport::tcp; }
Mode mode_of(std::string_view name) { return name == "latency" ? Mode::latency : Mode::throughput; }

Case case_of(const Options& options, const std::string& impl, tofu::Backend backend, Transport transport, Mode mode,
             std::size_t size) {
    Case c;
    c.impl = impl;
    c.backend = backend;
    c.transport = transport;
    c.mode = mode;
    c.size = size;
    c.count = options.count != 0 ? options.count : default_count(mode, size);
    c.warmup = options.warmup;
    c.max_seconds = options.max_seconds;
    c.max_messages = options.max_messages;
    c.memory_limit = options.memory_limit;
    c.print_stats = !options.quiet;
    return c;
}

int run_matrix(const Options& options) {
    std::vector<std::pair<std::string, tofu::Backend>> impls; // (impl, backend)
    std::vector<std::string> wanted = options.impls;
    std::vector<tofu::Backend> backends = backends_of(options.backends);
    std::vector<Transport> transports;
    for (const std::string& name : options.transports) transports.push_back(transport_of(name));
    bool peers = options.peers;
    if (options.all) {
        backends = {tofu::Backend::poll};
        if (tofu::backend_available(tofu::Backend::epoll)) backends.push_back(tofu::Backend::epoll);
        transports = {Transport::tcp, Transport::uds};
        wanted = {"tofu"};
        peers = true;
    }
    if (peers) {
        for (const char* peer : {"zmq", "nng"}) {
            if (find_impl(peer) == nullptr) {
                std::cerr << "tofu-perf: " << library_of(peer) << " not compiled in: skipped" << std::endl;
            } else if (std::find(wanted.begin(), wanted.end(), peer) == wanted.end()) {
                wanted.emplace_back(peer);
            }
        }
    }
    // The limit comes last, after the libraries measured against it.
    if (options.all) wanted.emplace_back("raw");
    for (const std::string& impl : wanted) {
        if (impl == "tofu") {
            for (tofu::Backend backend : backends) impls.emplace_back(impl, backend);
        } else {
            impls.emplace_back(impl, tofu::Backend::automatic);
        }
    }

    // (mode, size) pairs in the order they run
    std::vector<std::pair<Mode, std::size_t>> shapes;
    if (options.all) {
        // 65,535 B is "64 KiB" here: the largest body a tofu message holds
        for (std::size_t size : {std::size_t{64}, std::size_t{1024}, tofu::max_body_size}) {
            shapes.emplace_back(Mode::throughput, size);
        }
        shapes.emplace_back(Mode::latency, 64);
    } else {
        for (const std::string& mode : options.modes) {
            for (std::size_t size : options.sizes) shapes.emplace_back(mode_of(mode), size);
        }
    }

    // Before the watcher thread and the engines' threads exist, so all inherit the mask.
    tofu::cli::SignalWatcher::block_signals();
    TempDir temp_dir;
    if (temp_dir.path().empty()) {
        std::cerr << "tofu-perf: cannot create a temporary directory\n";
        return 1;
    }
    // Interrupted: no server process and no temporary directory may outlive
    // us; then the signal ends the process as it would have without us.
    tofu::cli::SignalWatcher interrupted([&temp_dir](int number) {
        if (const pid_t server = running_server.exchange(-1); server > 0) {
            ::kill(server, SIGKILL);
            ::waitpid(server, nullptr, 0);
        }
        temp_dir.remove();
        tofu::cli::SignalWatcher::die_of(number);
    });

    Run run;
    run.temp_dir = temp_dir.path();
    run.repeat = options.repeat;
    run.verbose = options.verbose;
    run.progress = !options.quiet;
    run.case_total = static_cast<int>(shapes.size() * transports.size() * impls.size());
    bool all_ok = true;
    std::vector<std::string> columns;
    for (const auto& [impl, backend] : impls) {
        columns.push_back(case_of(options, impl, backend, Transport::tcp, Mode::throughput, 0).label());
    }
    // Ratios come from the default backend's column when it ran, else from the first tofu column.
    const std::string default_tofu =
        case_of(options, "tofu", tofu::Backend::automatic, Transport::tcp, Mode::throughput, 0).label();
    std::string tofu_column;
    for (const std::string& column : columns) {
        if (column.rfind("tofu-", 0) == 0 && (tofu_column.empty() || column == default_tofu)) tofu_column = column;
    }
    std::vector<Row> rows;
    std::vector<PlotResult> plotted;
    std::vector<std::string> json_objects;
    bool syscalls_note_given = false;
    for (const auto& [mode, size] : shapes) {
        for (Transport transport : transports) {
            std::ostringstream name;
            name << to_string(mode) << " " << to_string(transport) << " " << size << " B";
            rows.push_back(Row{name.str(), mode, {}, {}});
            for (const auto& [impl, backend] : impls) {
                const Case c = case_of(options, impl, backend, transport, mode, size);
                const Outcome outcome = run_repeated(c, run);
                if (!run.syscalls_unavailable.empty() && !syscalls_note_given && !options.quiet) {
                    std::cerr << "tofu-perf: system calls per message: n/a: " << run.syscalls_unavailable << std::endl;
                    syscalls_note_given = true;
                }
                if (options.json) {
                    json_objects.push_back(json_object(c, outcome, options.repeat, run.syscalls_unavailable));
                } else {
                    std::cout << format_line(c, outcome, options.repeat) << std::endl;
                }
                all_ok = all_ok && outcome.ok;
                rows.back().outcomes[c.label()] = outcome;
                rows.back().cases.emplace(c.label(), c);
                if (outcome.ok) {
                    plotted.push_back(PlotResult{c.label(), std::string(to_string(transport)), mode, size,
                                                 outcome.msgs_per_s, outcome.mb_per_s, outcome.median_us,
                                                 outcome.p99_us});
                }
            }
        }
    }
    if (options.json) {
        std::cout << "[";
        for (std::size_t i = 0; i < json_objects.size(); ++i) {
            std::cout << (i == 0 ? "\n  " : ",\n  ") << json_objects[i];
        }
        std::cout << "\n]" << std::endl;
    } else if (options.all || rows.size() * columns.size() > 2) {
        print_tables(columns, rows, tofu_column);
    }
    if (!options.plot.empty()) {
        std::ofstream file(options.plot);
        file << plot_svg(plotted, columns);
        file.close();
        if (!file) {
            std::cerr << "tofu-perf: cannot write " << options.plot << "\n";
            return 1;
        }
    }
    if (run.tofu_ran && !options.quiet) tofu::cli::print_stats(std::cerr, "tofu-perf client", run.client_stats);
    return all_ok ? 0 : 1;
}

Case single_case(const Options& options) {
    return case_of(options, options.impls.front(), backends_of(options.backends).front(),
                   transport_of(options.transports.front()), mode_of(options.modes.front()), options.sizes.front());
}

int run_server(const Options& options) {
    const Case c = single_case(options);
    server_meter().emplace();
    if (!server_meter()->syscalls_unavailable().empty() && !options.quiet) {
        std::cerr << "tofu-perf server: system calls: n/a: " << server_meter()->syscalls_unavailable() << "\n";
    }
    return find_impl(c.impl)->serve(c, tofu::parse_address(options.address).value());
}

int run_client(const Options& options) {
    const Case c = single_case(options);
    // Alone, the client cannot see the server's result: it lingers a moment
    // so that what it queued is delivered (the server prints the figures).
    const std::function<bool()> linger = [] {
        std::this_thread::sleep_for(1s);
        return true;
    };
    const Clock::time_point start = Clock::now();
    ClientResult result = find_impl(c.impl)->client(c, tofu::parse_address(options.address).value(), linger);
    if (result.engine_stats && !options.quiet) {
        tofu::cli::print_stats(std::cerr, "tofu-perf client", *result.engine_stats);
    }
    if (!result.ok) {
        std::cerr << "tofu-perf client: " << result.error << "\n";
        return 1;
    }
    if (c.mode == Mode::throughput) {
        std::cout << c.label() << " sent " << c.count << " messages of " << c.size << " B in "
                  << std::chrono::duration<double>(Clock::now() - start - 1s).count()
                  << " s (the server prints the throughput)" << std::endl;
        return 0;
    }
    Outcome outcome;
    outcome.ok = true;
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
    if (const std::optional<int> code = perf::parse(argc, argv, options)) return *code;
    // A vanished peer must be an error status, never a SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        switch (options.command) {
        case perf::Command::server: return perf::run_server(options);
        case perf::Command::client: return perf::run_client(options);
        case perf::Command::run: return perf::run_matrix(options);
        }
    } catch (const std::exception& error) {
        std::cerr << "tofu-perf: " << error.what() << "\n";
    }
    return tofu::cli::exit_failure;
}
