#pragma once
// The fixture every scenario is written against, instantiated once per
// backend; the time limits and work scale all scenarios share; waiting for
// what the I/O thread does to show.
//
// Waits are bounded only as a safety net (kWait); no sleep synchronises
// anything.
#include <tofu/tofu.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>

// ---- sanitizers -------------------------------------------------------------
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TOFU_CONFORMANCE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define TOFU_CONFORMANCE_SANITIZED 1
#endif
#endif
#ifndef TOFU_CONFORMANCE_SANITIZED
#define TOFU_CONFORMANCE_SANITIZED 0
#endif

namespace tofu {
// GoogleTest prints a test's backend by name ("GetParam() = epoll").
void PrintTo(Backend backend, std::ostream* out);
} // namespace tofu

namespace tofu::conformance {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Safety net for every wait: never reached when the engine is right.
inline constexpr std::chrono::seconds kWait{10};
// How long "nothing else arrives" is watched at the end of a scenario.
inline constexpr std::chrono::milliseconds kQuiet{300};

inline constexpr bool kSanitized = TOFU_CONFORMANCE_SANITIZED != 0;

// Work multiplier for the heavy scenarios: TOFU_TEST_SCALE when set (e.g.
// 0.01 for a quick run, 2 for a long one), else 1 (0.1 in sanitized builds).
double scale();

// `full` scaled, never below `minimum`; says so when it differs.
std::size_t scaled(std::size_t full, std::size_t minimum, std::string_view what);

// ---- the fixture ------------------------------------------------------------

class BackendTest : public ::testing::TestWithParam<Backend> {
protected:
    void SetUp() override {
        if (!backend_available(GetParam())) {
            GTEST_SKIP() << "backend " << to_string(GetParam()) << " is not compiled into this build";
        }
    }
    // Options for an engine under test: the backend of this instantiation.
    Options options(Options base = {}) const {
        base.backend = GetParam();
        return base;
    }
    // Options where one channel may hold the whole pool: for scenarios about
    // the pool itself running dry (the per-channel share has its own cases).
    Options whole_pool(Options base) const {
        base = options(base);
        base.channel_share_messages = base.max_messages;
        base.channel_share_bytes = base.memory_limit;
        return base;
    }
};

struct BackendName {
    std::string operator()(const ::testing::TestParamInfo<Backend>& info) const {
        return std::string(to_string(info.param));
    }
};

#define TOFU_CONFORMANCE_INSTANTIATE(suite)                                                                            \
    INSTANTIATE_TEST_SUITE_P(, suite,                                                                                  \
                             ::testing::Values(::tofu::Backend::poll, ::tofu::Backend::epoll, ::tofu::Backend::afd,    \
                                               ::tofu::Backend::kqueue),                                               \
                             ::tofu::conformance::BackendName{})

// A helper thread, told to stop and joined when its scope ends: also when an
// assertion returns early (a joinable std::thread would terminate the test
// program). The body gets the stop flag.
class Worker {
public:
    template <class Body>
    explicit Worker(Body body) : thread_([this, body = std::move(body)]() mutable { body(stop_); }) {}
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker() { stop(); }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }

private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// What the I/O thread does shows in counters (engine stats, the pool) a
// moment later: waits, with a short back-off, until `ready()` holds; false
// after `patience`, the safety net.
template <class Predicate>
bool eventually(Predicate ready, std::chrono::milliseconds patience = kWait) {
    const Clock::time_point deadline = Clock::now() + patience;
    for (unsigned attempt = 0;; ++attempt) {
        if (ready()) return true;
        if (Clock::now() > deadline) return false;
        if (attempt < 64) std::this_thread::yield();
        else std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

template <class Predicate>
bool wait_for_stats(const Engine& engine, Predicate ready, std::chrono::milliseconds patience = kWait) {
    return eventually([&] { return ready(engine.stats()); }, patience);
}

} // namespace tofu::conformance
