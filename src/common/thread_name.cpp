#include "common/thread_name.hpp"

#ifdef _WIN32
#include <windows.h>

#include <cstdlib>
#else
#include <pthread.h>
#endif

namespace tofu::detail {

void name_this_thread(const char* name) noexcept {
#if defined(_WIN32)
    // SetThreadDescription exists from Windows 10 1607 on and is missing
    // from older MinGW headers: look it up rather than require either.
    using SetDescription = HRESULT(WINAPI*)(HANDLE, PCWSTR);
    const HMODULE kernel = ::GetModuleHandleW(L"kernel32.dll");
    if (kernel == nullptr) return;
    const auto set =
        reinterpret_cast<SetDescription>(reinterpret_cast<void*>(::GetProcAddress(kernel, "SetThreadDescription")));
    if (set == nullptr) return;
    wchar_t wide[16] = {};
    std::mbstowcs(wide, name, 15);
    set(::GetCurrentThread(), wide);
#elif defined(__APPLE__)
    ::pthread_setname_np(name); // only the calling thread can be named there
#else
    ::pthread_setname_np(::pthread_self(), name);
#endif
}

} // namespace tofu::detail
