// Starting an engine: a backend that cannot be had is refused with a reason
// that tells an unknown name from one not compiled in, a system call that
// fails says what the OS said, and the I/O thread carries a name the OS
// shows.
#include <tofu/address.hpp>
#include <tofu/engine.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#ifndef _WIN32
#include <sys/resource.h>
#include <unistd.h>
#endif
#ifdef __linux__
#include <dirent.h>

#include <fstream>
#endif

namespace tofu {
namespace {

// TOFU_BACKEND for the life of one test; then what it was.
class BackendVariable {
public:
    explicit BackendVariable(const char* value) {
        if (const char* old = std::getenv("TOFU_BACKEND"); old != nullptr) saved_ = old;
        set(value);
    }
    ~BackendVariable() { set(saved_ ? saved_->c_str() : nullptr); }
    BackendVariable(const BackendVariable&) = delete;
    BackendVariable& operator=(const BackendVariable&) = delete;

private:
    static void set(const char* value) {
#ifdef _WIN32
        ::_putenv_s("TOFU_BACKEND", value != nullptr ? value : "");
#else
        if (value != nullptr) ::setenv("TOFU_BACKEND", value, 1);
        else ::unsetenv("TOFU_BACKEND");
#endif
    }
    std::optional<std::string> saved_;
};

std::string refusal(const Options& options) {
    try {
        Engine engine(options);
    } catch (const Error& error) {
        EXPECT_EQ(error.status(), Status::not_implemented_yet);
        return error.what();
    }
    return "(started)";
}

TEST(EngineStart, AnUnknownBackendNameIsSaidToBeUnknown) {
    BackendVariable variable("bogus");
    const std::string why = refusal({});
    EXPECT_NE(why.find("TOFU_BACKEND='bogus' names no backend"), std::string::npos) << why;
    EXPECT_EQ(Engine::create({}).status(), Status::not_implemented_yet);
}

TEST(EngineStart, ABackendNotCompiledInIsSaidToBeMissing) {
    for (const Backend backend : {Backend::poll, Backend::epoll, Backend::afd, Backend::kqueue}) {
        if (backend_available(backend)) continue;
        const std::string why = refusal({.backend = backend});
        EXPECT_NE(why.find("the " + std::string(to_string(backend)) + " backend is not compiled into this build"),
                  std::string::npos)
            << why;
    }
}

#ifndef _WIN32
// The descriptor limit lowered to the descriptors already open, for the life
// of one test: the next one a system call wants fails with EMFILE.
class NoDescriptorsLeft {
public:
    NoDescriptorsLeft() {
        ::getrlimit(RLIMIT_NOFILE, &saved_);
        const int next = ::dup(0); // the lowest free number
        ::close(next);
        rlimit lowered = saved_;
        lowered.rlim_cur = static_cast<rlim_t>(next);
        ::setrlimit(RLIMIT_NOFILE, &lowered);
    }
    ~NoDescriptorsLeft() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
    NoDescriptorsLeft(const NoDescriptorsLeft&) = delete;
    NoDescriptorsLeft& operator=(const NoDescriptorsLeft&) = delete;

private:
    rlimit saved_{};
};

TEST(EngineStart, OutOfDescriptorsSaysWhatTheOsSaid) {
    Options options;
    options.backend = Backend::poll; // every POSIX build has it
    // The poller and the exception once before the descriptors run out:
    // UBSan's dynamic type checks then find both types in their cache. A
    // cache miss probes memory through a pipe, which needs descriptors, and
    // without them it reports a valid object as a bad one.
    { Engine warm(options); }
    try {
        throw Error(Status::communication_failed, std::make_error_code(std::errc::too_many_files_open));
    } catch (const Error& error) {
        EXPECT_EQ(error.os_error(), std::errc::too_many_files_open);
    }
    std::optional<Result<Engine>> created;
    {
        NoDescriptorsLeft limit;
        created.emplace(Engine::create(options));
    }
    ASSERT_FALSE(created->has_value()) << "an engine started without a descriptor for its waker";
    EXPECT_EQ(created->status(), Status::communication_failed);
    EXPECT_EQ(created->os_error(), std::errc::too_many_files_open) << created->os_error().message();
    EXPECT_EQ(&created->os_error().category(), &os_category());
    EXPECT_EQ(created->os_error().message(), std::generic_category().message(EMFILE));

    std::string what;
    {
        NoDescriptorsLeft limit;
        try {
            Engine engine(options);
        } catch (const Error& error) {
            what = error.what();
            EXPECT_EQ(error.os_error(), std::errc::too_many_files_open);
        }
    }
    EXPECT_NE(what.find(std::generic_category().message(EMFILE)), std::string::npos)
        << "the exception's text carries the OS's words: " << what;
}
#endif

#ifdef __linux__
// The names of this process's threads, from /proc.
std::vector<std::string> thread_names() {
    std::vector<std::string> names;
    DIR* tasks = ::opendir("/proc/self/task");
    if (tasks == nullptr) return names;
    while (const dirent* entry = ::readdir(tasks)) {
        if (entry->d_name[0] == '.') continue;
        std::ifstream comm(std::string("/proc/self/task/") + entry->d_name + "/comm");
        std::string name;
        if (std::getline(comm, name)) names.push_back(name);
    }
    ::closedir(tasks);
    return names;
}

TEST(EngineStart, TheIoThreadIsNamed) {
    const auto named = [] {
        const std::vector<std::string> names = thread_names();
        return std::count(names.begin(), names.end(), "tofu-io");
    };
    const auto before = named();
    {
        Engine engine;
        // The thread names itself first thing; a WelcomeResponse, which only
        // the I/O thread sends, proves it has run that far.
        ChannelGroup group = engine.create_group().value();
        Message::Ptr welcome = engine.get(Alloc::Always);
        ASSERT_EQ(listen_on(*welcome, tcp("127.0.0.1", 0)), Status::success);
        ASSERT_TRUE(group.post(welcome));
        Message::Ptr response = group.wait_receive(std::chrono::seconds(30)).value();
        ASSERT_TRUE(response);
        ASSERT_EQ(response->opcode(), OpCode::WelcomeResponse);
        EXPECT_EQ(named(), before + 1);
    }
    EXPECT_EQ(named(), before) << "the thread ends with its engine";
}
#endif

} // namespace
} // namespace tofu
