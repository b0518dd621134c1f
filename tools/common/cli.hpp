#pragma once
// Command-line pieces shared by tofu-echo and tofu-perf, on top of CLI11:
// the exit codes, the parse call, and validators that judge values in tofu's
// own words (its address parser, its backend names). Header-only.
#include <tofu/address.hpp>
#include <tofu/engine.hpp>
#include <tofu/version.hpp>

#include <CLI/CLI.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tofu::cli {

inline constexpr int exit_failure = 1;
// CLI11 numbers its errors 100 and up; scripts expect the one usage code
// every Unix tool uses.
inline constexpr int exit_usage = 2;

// Adds -V/--version: the version of the tofu library the tool runs with.
inline void set_version(CLI::App& app, std::string_view tool) {
    app.set_version_flag("-V,--version", std::string(tool) + " " + std::string(tofu::version().text));
}

// Parses argv into `app`, then runs `check`, which may throw a CLI11 error
// of its own. Nothing: go on; else the exit code (0 after --help or
// --version, exit_usage after a usage error, which CLI11 has printed).
// Required positionals are checked by `check`, not by CLI11: CLI11 looks at
// them first, and would answer `--bogus` with "ADDRESS is required".
inline std::optional<int> parse(CLI::App& app, int argc, char** argv, const std::function<void()>& check) {
    try {
        app.parse(argc, argv);
        check();
        return std::nullopt;
    } catch (const CLI::ParseError& error) {
        return app.exit(error) == 0 ? 0 : exit_usage;
    }
}

inline void require(const CLI::Option& option) {
    if (option.count() == 0) throw CLI::RequiredError(option.get_name());
}

// Non-negative integer with an optional binary suffix: 64, 1K, 64KiB, 32M.
inline std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end == text.data()) return std::nullopt;
    const std::string_view suffix(end, static_cast<std::size_t>(text.data() + text.size() - end));
    std::uint64_t scale = 1;
    if (suffix.empty()) scale = 1;
    else if (suffix == "K" || suffix == "k" || suffix == "KiB") scale = std::uint64_t{1} << 10;
    else if (suffix == "M" || suffix == "MiB") scale = std::uint64_t{1} << 20;
    else if (suffix == "G" || suffix == "GiB") scale = std::uint64_t{1} << 30;
    else return std::nullopt;
    if (value > UINT64_MAX / scale) return std::nullopt;
    return value * scale;
}

// Rewrites "64K" to "65536" before CLI11 converts the value to its number type.
inline const CLI::Validator size_value(
    [](std::string& text) -> std::string {
        const std::optional<std::uint64_t> size = parse_size(text);
        if (!size) return "'" + text + "' is not a size (a number, optionally with K, M or G: 64, 1K, 32M)";
        text = std::to_string(*size);
        return {};
    },
    "SIZE");

// For counts after size_value: 0 is not one.
inline const CLI::Validator
    positive([](std::string& text) -> std::string { return text == "0" ? "must be at least 1" : ""; }, "POSITIVE");

inline const CLI::Validator address_value(
    [](std::string& text) -> std::string {
        const Result<Address> address = parse_address(text);
        if (address) return {};
        return "bad address '" + text + "': " + std::string(to_string(address.status())) +
               " (tcp|HOST|PORT or uds|PATH)";
    },
    "ADDRESS");

// The backends this build can run: poll, epoll (Linux), kqueue (macOS, BSD),
// automatic; a value outside them is refused with this list.
inline CLI::IsMember backend_value() {
    std::vector<std::string> names;
    for (Backend backend : {Backend::automatic, Backend::poll, Backend::epoll, Backend::afd, Backend::kqueue}) {
        if (backend_available(backend)) names.emplace_back(to_string(backend));
    }
    return CLI::IsMember(names);
}

} // namespace tofu::cli
