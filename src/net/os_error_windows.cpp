#include "net/os_error.hpp"

#include <windows.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace tofu::net {

std::size_t os_error_text(int code, std::span<char> into) noexcept {
    if (into.empty()) return 0;
    const DWORD length =
        ::FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr, static_cast<DWORD>(code),
                         0, into.data(), static_cast<DWORD>(into.size()), nullptr);
    if (length == 0) std::snprintf(into.data(), into.size(), "unknown error");
    into.back() = '\0';
    // FormatMessage ends its sentences with ".\r\n"; a header value is one line.
    std::size_t end = std::strlen(into.data());
    std::replace_if(
        into.data(), into.data() + end, [](char c) { return c == '\r' || c == '\n'; }, ' ');
    while (end != 0 && (into[end - 1] == ' ' || into[end - 1] == '.')) into[--end] = '\0';
    return end;
}

int last_os_error() noexcept { return static_cast<int>(::GetLastError()); }

} // namespace tofu::net
