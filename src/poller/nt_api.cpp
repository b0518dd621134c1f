#include "poller/nt_api.hpp"

namespace tofu::poller::nt {
namespace {

struct Loaded {
    Api api;
    const char* missing = "";
    bool ok = false;
};

template <class Fn>
bool resolve(HMODULE module, const char* name, Fn& out, const char*& missing) {
    // GetProcAddress returns a generic FARPROC; the cast to the real
    // signature goes through void* to keep -Wcast-function-type quiet.
    FARPROC address = module == nullptr ? nullptr : ::GetProcAddress(module, name);
    if (address == nullptr) {
        if (*missing == '\0') missing = name;
        return false;
    }
    out = reinterpret_cast<Fn>(reinterpret_cast<void*>(address));
    return true;
}

Loaded load() noexcept {
    Loaded loaded;
    // ntdll is mapped into every process; no LoadLibrary / FreeLibrary needed.
    HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
    if (ntdll == nullptr) {
        loaded.missing = "ntdll.dll";
        return loaded;
    }
    bool ok = true;
    ok &= resolve(ntdll, "NtDeviceIoControlFile", loaded.api.NtDeviceIoControlFile, loaded.missing);
    ok &= resolve(ntdll, "NtCancelIoFileEx", loaded.api.NtCancelIoFileEx, loaded.missing);
    ok &= resolve(ntdll, "RtlNtStatusToDosError", loaded.api.RtlNtStatusToDosError, loaded.missing);
    loaded.ok = ok;
    return loaded;
}

const Loaded& loaded() noexcept {
    static const Loaded instance = load(); // thread-safe once
    return instance;
}

} // namespace

Result<const Api*> api() noexcept {
    const Loaded& l = loaded();
    if (!l.ok) return Status::not_implemented_yet;
    return &l.api;
}

const char* missing_function() noexcept {
    return loaded().missing;
}

} // namespace tofu::poller::nt
