#pragma once
// Names the calling thread where the OS keeps thread names (ps, top, gdb,
// perf, the Windows debugger), so the engine's I/O thread can be told apart.

namespace tofu::detail {

// At most 15 characters: Linux's limit.
void name_this_thread(const char* name) noexcept;

} // namespace tofu::detail
