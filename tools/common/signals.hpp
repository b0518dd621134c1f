#pragma once
// SIGINT/SIGTERM are blocked in every thread and taken by sigwait() in one
// dedicated thread, so nothing runs in signal context: the callback may lock,
// allocate, remove files and wake engines.
#include <atomic>
#include <csignal>
#include <functional>
#include <pthread.h>
#include <thread>
#include <utility>

namespace tofu::cli {

class SignalWatcher {
public:
    // Call before any other thread exists, so all of them inherit the mask.
    static void block_signals() {
        const sigset_t set = stop_set();
        pthread_sigmask(SIG_BLOCK, &set, nullptr);
    }

    // The default disposition again, then the signal itself: the process ends
    // the way a shell expects of an interrupted program (status 128 + n).
    [[noreturn]] static void die_of(int number) {
        std::signal(number, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, number);
        pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
        std::raise(number);
        std::_Exit(128 + number); // not reached: the signal is fatal now
    }

    // `on_signal` runs on the watcher thread, once per signal.
    explicit SignalWatcher(std::function<void(int)> on_signal)
        : on_signal_(std::move(on_signal)), thread_([this] { watch(); }) {}

    SignalWatcher(const SignalWatcher&) = delete;
    SignalWatcher& operator=(const SignalWatcher&) = delete;

    ~SignalWatcher() {
        // Make the watcher return from sigwait() if no signal came.
        finished_.store(true);
        pthread_kill(thread_.native_handle(), SIGTERM);
        thread_.join();
    }

private:
    static sigset_t stop_set() {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        return set;
    }

    void watch() {
        const sigset_t set = stop_set();
        for (;;) {
            int number = 0;
            if (sigwait(&set, &number) != 0) continue;
            if (finished_.load()) return;
            on_signal_(number);
        }
    }

    std::function<void(int)> on_signal_;
    std::atomic<bool> finished_{false};
    std::thread thread_;
};

} // namespace tofu::cli
