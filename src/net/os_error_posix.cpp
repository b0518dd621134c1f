#include "net/os_error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tofu::net {
namespace {

// strerror_r is the XSI one (int) on macOS and the BSDs and the GNU one
// (char*) with glibc: overloads take either.
[[maybe_unused]] const char* text_of(int rc, const char* buffer) noexcept { return rc == 0 ? buffer : "unknown error"; }
[[maybe_unused]] const char* text_of(const char* text, const char*) noexcept { return text; }

} // namespace

std::size_t os_error_text(int code, std::span<char> into) noexcept {
    if (into.empty()) return 0;
    char buffer[128] = {};
    const char* text = text_of(::strerror_r(code, buffer, sizeof(buffer)), buffer);
    const int written = std::snprintf(into.data(), into.size(), "%s", text);
    if (written < 0) return 0;
    return std::min(static_cast<std::size_t>(written), into.size() - 1);
}

int last_os_error() noexcept { return errno; }

} // namespace tofu::net
