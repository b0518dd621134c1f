#pragma once
// Small command-line helpers shared by tofu-echo and tofu-perf: strict
// number parsing, backend names, comma-separated lists. Header-only.
#include <tofu/engine.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tofu::cli {

// Non-negative integer with an optional binary suffix: 64, 1K, 64KiB, 32M.
inline std::optional<std::uint64_t> parse_size(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end == text.data()) return std::nullopt;
    std::string_view suffix(end, static_cast<std::size_t>(text.data() + text.size() - end));
    std::uint64_t scale = 1;
    if (suffix.empty()) scale = 1;
    else if (suffix == "K" || suffix == "k" || suffix == "KiB") scale = std::uint64_t{1} << 10;
    else if (suffix == "M" || suffix == "MiB") scale = std::uint64_t{1} << 20;
    else if (suffix == "G" || suffix == "GiB") scale = std::uint64_t{1} << 30;
    else return std::nullopt;
    if (value > UINT64_MAX / scale) return std::nullopt;
    return value * scale;
}

// A backend name this build can run: poll, epoll (Linux), kqueue (macOS, BSD), automatic.
inline std::optional<Backend> parse_backend(std::string_view text) {
    const std::optional<Backend> backend = backend_from_string(text);
    if (!backend || !backend_available(*backend)) return std::nullopt;
    return backend;
}

inline std::vector<std::string> split(std::string_view text, char separator = ',') {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (;;) {
        const std::size_t at = text.find(separator, start);
        parts.emplace_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
        if (at == std::string_view::npos) break;
        start = at + 1;
    }
    return parts;
}

// Walks argv: positional arguments and `--name value` / `--name=value` options.
class Args {
public:
    Args(int argc, char** argv) : args_(argv + 1, argv + argc) {}

    bool done() const noexcept { return next_ >= args_.size(); }
    std::string_view peek() const { return args_[next_]; }
    std::string take() { return args_[next_++]; }

    // For an option token: its name (without "--") and, when the token is
    // `--name=value`, the inline value.
    static bool is_option(std::string_view token) { return token.size() > 2 && token.substr(0, 2) == "--"; }

    // The value of the option just taken: inline, else the next token.
    std::optional<std::string> value_of(std::string_view token) {
        if (const std::size_t eq = token.find('='); eq != std::string_view::npos) {
            return std::string(token.substr(eq + 1));
        }
        if (done()) return std::nullopt;
        return take();
    }
    static std::string_view name_of(std::string_view token) {
        token.remove_prefix(2);
        return token.substr(0, token.find('='));
    }

private:
    std::vector<std::string> args_;
    std::size_t next_ = 0;
};

} // namespace tofu::cli
