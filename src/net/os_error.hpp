#pragma once
// The operating system's words for an error code the socket layer kept
// (IoResult::os_error): errno on POSIX, a WSA/Win32 code on Windows.
#include <cstddef>
#include <span>

namespace tofu::net {

// Writes "<code> <text>" into `into` (truncated to fit, no line breaks) and
// returns the length written. Allocates nothing: the reactor calls it while
// closing a channel, when memory may be exhausted.
std::size_t describe_os_error(int code, std::span<char> into) noexcept;

// Per platform: the bare text for `code`, one line, NUL-terminated within
// `into` (strerror_r, FormatMessage); its length.
std::size_t os_error_text(int code, std::span<char> into) noexcept;

// Per platform: the code the last failed system call of this thread left
// (errno, GetLastError).
int last_os_error() noexcept;

} // namespace tofu::net
