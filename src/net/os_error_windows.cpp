#include "net/os_error.hpp"

#include <windows.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace tofu::net {

std::size_t describe_os_error(int code, std::span<char> into) noexcept {
    if (into.empty()) return 0;
    char text[256] = {};
    const DWORD length = ::FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                                          static_cast<DWORD>(code), 0, text, sizeof(text), nullptr);
    if (length == 0) std::snprintf(text, sizeof(text), "unknown error");
    // FormatMessage ends its sentences with ".\r\n"; a header value is one line.
    std::replace_if(
        text, text + sizeof(text), [](char c) { return c == '\r' || c == '\n'; }, ' ');
    std::size_t end = std::strlen(text);
    while (end != 0 && (text[end - 1] == ' ' || text[end - 1] == '.')) text[--end] = '\0';
    const int written = std::snprintf(into.data(), into.size(), "%d %s", code, text);
    if (written < 0) return 0;
    return std::min(static_cast<std::size_t>(written), into.size() - 1);
}

} // namespace tofu::net
