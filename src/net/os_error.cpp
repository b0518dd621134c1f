#include "net/os_error.hpp"

#include <tofu/result.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <system_error>

namespace tofu {
namespace net {

std::size_t describe_os_error(int code, std::span<char> into) noexcept {
    if (into.empty()) return 0;
    char text[256] = {};
    os_error_text(code, text);
    const int written = std::snprintf(into.data(), into.size(), "%d %s", code, text);
    if (written < 0) return 0;
    return std::min(static_cast<std::size_t>(written), into.size() - 1);
}

} // namespace net

namespace {

class OsCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "tofu.os"; }
    std::string message(int code) const override {
        char text[256] = {};
        return std::string(text, net::os_error_text(code, text));
    }
#ifndef _WIN32
    // errno values are the generic category's: `error == std::errc::...` works.
    std::error_condition default_error_condition(int code) const noexcept override {
        return std::generic_category().default_error_condition(code);
    }
#endif
};

} // namespace

const std::error_category& os_category() noexcept {
    static const OsCategory category;
    return category;
}

} // namespace tofu
