// tofu_bench_backends: what a message costs with the poll and the epoll
// backend when the engine also holds 1, 100 or 10,000 connections of which
// only one is busy.
//
// Set-up per (backend, connections): one engine under test with a TCP
// listener; the busy pair is a client channel and its server channel, both
// in that engine; the idle connections are accepted by that engine from a
// helper process (this binary, re-run with --helper), which keeps their
// other ends open and silent. The helper holds half of the descriptors, so
// 10,000 connections need about 10,050 descriptors per process, not 20,000.
//
//   pingpong: one Request / Response round trip per iteration (2 messages);
//             every message waits for the poller, so per-wait costs show.
//   stream:   64 Signals posted, then 64 received, per iteration.
// Counters: items_per_second = messages per second; time_per_msg.
#include <tofu/tofu.hpp>

#include <benchmark/benchmark.h>

#include "../tools/common/line_reader.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::size_t connect_batch = 256; // below the listen backlog, so no SYN is ever dropped
constexpr std::size_t descriptor_margin = 64;
constexpr int stream_batch = 64;

tofu::Options engine_options(tofu::Backend backend) {
    tofu::Options options;
    options.backend = backend;
    options.max_messages = 1024;
    options.memory_limit = std::size_t{16} << 20;
    return options;
}

// Raises the soft descriptor limit to the hard one; returns the limit now in force.
rlim_t raise_descriptor_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    return limit.rlim_cur;
}

// The next application message, skipping engine notifications; empty on
// timeout or when the group reports an error.
tofu::Message::Ptr receive(tofu::ChannelGroup& group, std::string& error, std::chrono::milliseconds timeout = 10s) {
    const Clock::time_point deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        tofu::Result<tofu::Message::Ptr> received = group.wait_receive(100ms);
        if (!received) {
            error = "receive: " + std::string(tofu::to_string(received.status()));
            return {};
        }
        tofu::Message::Ptr msg = std::move(received.value());
        if (!msg) continue;
        if (!msg->from_engine()) return msg;
        if (msg->status() == tofu::Status::pool_empty || msg->status() == tofu::Status::receiver_update) continue;
        if (msg->opcode() == tofu::OpCode::WelcomeResponse && msg->status() == tofu::Status::success) return msg;
        error = "engine: " + std::string(tofu::to_string(msg->opcode())) + " " +
                std::string(tofu::to_string(msg->status()));
        return {};
    }
    error = "timeout";
    return {};
}

// ---- the helper process: N idle client connections --------------------------

int helper_main(const char* address_text, const char* count_text) {
    raise_descriptor_limit();
    tofu::Result<tofu::Address> address = tofu::parse_address(address_text);
    const long count = std::strtol(count_text, nullptr, 10);
    if (!address || count <= 0) return 2;
    // The idle ends only wait; epoll keeps setting up 10,000 of them quick.
    tofu::Engine engine(
        engine_options(tofu::backend_available(tofu::Backend::epoll) ? tofu::Backend::epoll : tofu::Backend::poll));
    tofu::ChannelGroup group = engine.create_group().value();
    std::string error;
    for (long done = 0; done < count;) {
        const long batch = std::min<long>(static_cast<long>(connect_batch), count - done);
        for (long i = 0; i < batch; ++i) {
            tofu::Message::Ptr hello = engine.get(tofu::Alloc::Always);
            while (!hello) {
                (void)group.wait_receive(1ms); // only notifications can be here yet
                hello = engine.get(tofu::Alloc::Always);
            }
            tofu::connect_to(*hello, address.value());
            if (!group.post(hello)) {
                std::cout << "error post HelloRequest" << std::endl;
                return 1;
            }
        }
        for (long i = 0; i < batch; ++i) {
            tofu::Message::Ptr answer = receive(group, error, 30s);
            if (!answer || answer->opcode() != tofu::OpCode::HelloResponse) {
                std::cout << "error after " << done + i << " connections: " << (answer ? "unexpected message" : error)
                          << std::endl;
                return 1;
            }
        }
        done += batch;
    }
    std::cout << "ready " << count << std::endl;
    // Idle until the benchmark closes our stdin (or dies).
    char sink[64];
    while (::read(STDIN_FILENO, sink, sizeof(sink)) > 0) {}
    return 0;
}

class Helper {
public:
    Helper() = default;
    Helper(const Helper&) = delete;
    Helper& operator=(const Helper&) = delete;
    ~Helper() { stop(); }

    bool start(const std::string& address, std::size_t count, std::string& error) {
        int out[2];
        int in[2];
        if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) {
            error = std::string("pipe: ") + std::strerror(errno);
            return false;
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
        std::error_code ignored;
        const std::string self = std::filesystem::read_symlink("/proc/self/exe", ignored).string();
        const std::string count_text = std::to_string(count);
        std::vector<char*> argv{const_cast<char*>(self.c_str()), const_cast<char*>("--helper"),
                                const_cast<char*>(address.c_str()), const_cast<char*>(count_text.c_str()), nullptr};
        const int rc = posix_spawn(&pid_, self.c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(out[1]);
        ::close(in[0]);
        out_ = out[0];
        lines_.reset(out_);
        in_ = in[1];
        if (rc != 0) {
            pid_ = -1;
            error = std::string("spawn helper: ") + std::strerror(rc);
            return false;
        }
        return true;
    }

    // The helper's next line (non-blocking check when timeout is zero).
    std::optional<std::string> line(std::chrono::milliseconds timeout) { return lines_.read_line(timeout); }

    void stop() {
        if (in_ >= 0) ::close(in_); // EOF: the helper returns and its engine closes everything
        in_ = -1;
        if (out_ >= 0) ::close(out_);
        out_ = -1;
        if (pid_ > 0) {
            int status = 0;
            for (int i = 0; i < 500 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) ::usleep(10'000);
            if (::waitpid(pid_, &status, WNOHANG) == 0) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
            }
        }
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    int in_ = -1;
    tofu::cli::LineReader lines_;
};

// ---- the environment under test ---------------------------------------------

struct Environment {
    tofu::Backend backend;
    std::size_t connections;
    std::unique_ptr<tofu::Engine> engine;
    std::unique_ptr<tofu::ChannelGroup> server;
    std::unique_ptr<tofu::ChannelGroup> client;
    tofu::ChannelNumber client_channel = 0;
    Helper helper;
    tofu::Message::Ptr spare; // the round-trip message, reused

    ~Environment() {
        // Our side closes first, so TIME_WAIT stays on this side's listener
        // port and never holds the helper's ephemeral ports.
        spare.reset();
        client.reset();
        server.reset();
        engine.reset();
        helper.stop();
    }
};

std::unique_ptr<Environment> build(tofu::Backend backend, std::size_t connections, std::string& error) {
    auto env = std::make_unique<Environment>();
    env->backend = backend;
    env->connections = connections;
    tofu::Result<tofu::Engine> engine = tofu::Engine::create(engine_options(backend));
    if (!engine) {
        error = "engine: " + std::string(tofu::to_string(engine.status()));
        return nullptr;
    }
    env->engine = std::make_unique<tofu::Engine>(std::move(engine.value()));
    env->server = std::make_unique<tofu::ChannelGroup>(env->engine->create_group().value());
    env->client = std::make_unique<tofu::ChannelGroup>(env->engine->create_group().value());

    tofu::Message::Ptr welcome = env->engine->get(tofu::Alloc::Always);
    tofu::listen_on(*welcome, tofu::tcp("127.0.0.1", 0));
    env->server->post(welcome).value();
    tofu::Message::Ptr ready = receive(*env->server, error);
    if (!ready) return nullptr;
    const std::string address = tofu::address_of(*ready).value().to_string();
    ready.reset();

    // Idle connections from the helper: answer every HelloRequest.
    const std::size_t idle = connections - 1;
    if (idle > 0) {
        if (!env->helper.start(address, idle, error)) return nullptr;
        for (std::size_t accepted = 0; accepted < idle; ++accepted) {
            tofu::Message::Ptr hello = receive(*env->server, error, 60s);
            if (!hello || hello->opcode() != tofu::OpCode::HelloRequest) {
                if (std::optional<std::string> said = env->helper.line(0ms)) error += "; helper: " + *said;
                error = "idle connection " + std::to_string(accepted) + ": " + error;
                return nullptr;
            }
            hello->reply(tofu::OpCode::HelloResponse);
            env->server->post(hello).value();
        }
        std::optional<std::string> said = env->helper.line(60s);
        if (!said || said->rfind("ready", 0) != 0) {
            error = "helper: " + said.value_or("no answer");
            return nullptr;
        }
    }

    // The busy pair, both ends in this engine.
    tofu::Message::Ptr hello = env->engine->get(tofu::Alloc::Always);
    tofu::connect_to(*hello, tofu::parse_address(address).value());
    env->client_channel = env->client->post(hello).value().channel;
    tofu::Message::Ptr request = receive(*env->server, error);
    if (!request || request->opcode() != tofu::OpCode::HelloRequest) return nullptr;
    request->reply(tofu::OpCode::HelloResponse);
    env->server->post(request).value();
    tofu::Message::Ptr answer = receive(*env->client, error);
    if (!answer || answer->opcode() != tofu::OpCode::HelloResponse) return nullptr;
    answer->reset();
    if (answer->resize_body(64) != tofu::Status::success) return nullptr;
    std::memset(answer->body().data(), 'x', 64);
    env->spare = std::move(answer);
    return env;
}

// One environment at a time: building 10,000 connections is the slow part,
// so consecutive benchmarks with the same (backend, connections) share it.
std::unique_ptr<Environment> current;

Environment* environment_for(benchmark::State& state, tofu::Backend backend, std::size_t connections) {
    if (current && current->backend == backend && current->connections == connections) return current.get();
    current.reset();
    const rlim_t limit = raise_descriptor_limit();
    if (limit < connections + descriptor_margin) {
        state.SkipWithError(("skipped: " + std::to_string(connections) + " connections need " +
                             std::to_string(connections + descriptor_margin) +
                             " descriptors per process, RLIMIT_NOFILE hard limit is " + std::to_string(limit))
                                .c_str());
        return nullptr;
    }
    std::string error;
    current = build(backend, connections, error);
    if (!current) state.SkipWithError(("set-up failed: " + error).c_str());
    return current.get();
}

void set_counters(benchmark::State& state, std::int64_t messages) {
    state.SetItemsProcessed(messages);
    state.counters["time_per_msg"] =
        benchmark::Counter(static_cast<double>(messages), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void pingpong(benchmark::State& state, tofu::Backend backend, std::size_t connections) {
    Environment* env = environment_for(state, backend, connections);
    if (env == nullptr) return;
    std::string error;
    for (auto _ : state) {
        tofu::Message::Ptr request = std::move(env->spare);
        request->set_opcode(tofu::OpCode::Request);
        request->set_channel(env->client_channel);
        request->set_message_id(0);
        env->client->post(request).value();
        tofu::Message::Ptr at_server = receive(*env->server, error);
        if (at_server) {
            at_server->reply(tofu::OpCode::Response);
            env->server->post(at_server).value();
            env->spare = receive(*env->client, error);
        }
        if (!env->spare) {
            state.SkipWithError(("round trip failed: " + error).c_str());
            break;
        }
    }
    if (!env->spare) {
        current.reset();
        return;
    }
    set_counters(state, static_cast<std::int64_t>(state.iterations()) * 2);
}

void stream(benchmark::State& state, tofu::Backend backend, std::size_t connections) {
    Environment* env = environment_for(state, backend, connections);
    if (env == nullptr) return;
    std::string error;
    bool failed = false;
    for (auto _ : state) {
        for (int i = 0; i < stream_batch && !failed; ++i) {
            tofu::Message::Ptr signal = env->engine->get(tofu::Alloc::Always);
            if (!signal || signal->resize_body(64) != tofu::Status::success) {
                error = "pool empty";
                failed = true;
                break;
            }
            signal->set_opcode(tofu::OpCode::Signal);
            signal->set_channel(env->client_channel);
            env->client->post(signal).value();
        }
        for (int i = 0; i < stream_batch && !failed; ++i) failed = !receive(*env->server, error);
        if (failed) {
            state.SkipWithError(("stream failed: " + error).c_str());
            break;
        }
    }
    if (failed) {
        current.reset();
        return;
    }
    set_counters(state, static_cast<std::int64_t>(state.iterations()) * stream_batch);
}

void register_all() {
    for (tofu::Backend backend : {tofu::Backend::poll, tofu::Backend::epoll}) {
        if (!tofu::backend_available(backend)) continue;
        for (std::size_t connections : {std::size_t{1}, std::size_t{100}, std::size_t{10'000}}) {
            const std::string suffix =
                std::string(tofu::to_string(backend)) + "/connections:" + std::to_string(connections);
            benchmark::RegisterBenchmark(("pingpong/" + suffix).c_str(), pingpong, backend, connections)
                ->UseRealTime()
                ->MinTime(0.5);
            benchmark::RegisterBenchmark(("stream/" + suffix).c_str(), stream, backend, connections)
                ->UseRealTime()
                ->MinTime(0.5);
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "--helper") == 0) return helper_main(argv[2], argv[3]);
    ::signal(SIGPIPE, SIG_IGN);
    raise_descriptor_limit();
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    current.reset();
    return 0;
}
