#pragma once
// TOFU_INVARIANT(condition): a check of something that must hold whenever
// the code is right, where a broken one would otherwise corrupt state
// silently (poller slot bookkeeping, the I/O thread being the only caller of
// the reactor, a closed channel left in a list). On in every test build (the
// CMake option TOFU_CHECK_INVARIANTS, set by the test presets), compiled out
// otherwise: the condition is then never evaluated.
#include <cstdio>
#include <cstdlib>

namespace tofu::detail {

[[noreturn]] inline void invariant_broken(const char* condition, const char* file, int line) noexcept {
    std::fprintf(stderr, "tofu: invariant broken at %s:%d: %s\n", file, line, condition);
    std::abort();
}

} // namespace tofu::detail

#if defined(TOFU_CHECK_INVARIANTS) && TOFU_CHECK_INVARIANTS
#define TOFU_INVARIANT(condition)                                                                                      \
    ((condition) ? static_cast<void>(0) : ::tofu::detail::invariant_broken(#condition, __FILE__, __LINE__))
#else
// Unevaluated, but still compiled: what the condition names stays used.
#define TOFU_INVARIANT(condition) static_cast<void>(sizeof((condition) ? 1 : 0))
#endif
