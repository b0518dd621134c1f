#pragma once
// The application's log hook (Options::log), as the I/O thread calls it:
// one line formatted on the stack, so logging allocates nothing, and a hook
// that throws cannot take the I/O thread down.
#include <tofu/engine.hpp>

#include "net/os_error.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>

namespace tofu::detail {

class Log {
public:
    explicit Log(const Options& options) : sink_(options.log), level_(options.log_level) {}

    bool enabled(LogLevel level) const noexcept { return sink_ && level <= level_; }

    // printf-style; `%.*s` with (int) size and data takes a string_view.
    template <class... Args>
    void operator()(LogLevel level, const char* format, Args... args) const noexcept {
        if (!enabled(level)) return;
        char line[line_capacity];
        const int length = std::snprintf(line, sizeof(line), format, args...);
        if (length < 0) return;
        emit(level, {line, std::min(static_cast<std::size_t>(length), sizeof(line) - 1)});
    }

    // "<code> <text>" of what the OS said, or an empty string.
    struct OsWords {
        char text[96] = {};
        explicit OsWords(int code) noexcept {
            if (code != 0) net::describe_os_error(code, text);
        }
    };

private:
    static constexpr std::size_t line_capacity = 512;
    void emit(LogLevel level, std::string_view line) const noexcept {
        try {
            sink_(level, line);
        } catch (...) { // the hook's own failure; the engine goes on
        }
    }

    std::function<void(LogLevel, std::string_view)> sink_;
    LogLevel level_;
};

} // namespace tofu::detail
