#include "poller/nt_api.hpp"

#include <limits>

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

PollStart afd_poll(const Api& api, HANDLE base, ULONG events, AfdPollInfo& info, IoStatusBlock& iosb,
                   void* context) noexcept {
    info.timeout.QuadPart = std::numeric_limits<LONGLONG>::max();
    info.number_of_handles = 1;
    info.exclusive = FALSE;
    info.handles[0].handle = base;
    info.handles[0].events = events;
    info.handles[0].status = 0;
    iosb.status = status_pending;
    iosb.information = 0;
    const NtStatus status = api.NtDeviceIoControlFile(base, nullptr, nullptr, context, &iosb, ioctl_afd_poll, &info,
                                                      sizeof(info), &info, sizeof(info));
    if (status == status_pending || status == status_success) return PollStart::queued;
    const ULONG error = api.RtlNtStatusToDosError(status);
    if (status == status_invalid_handle || error == ERROR_INVALID_HANDLE || error == ERROR_NOT_FOUND) {
        return PollStart::handle_closed;
    }
    return PollStart::refused;
}

void cancel_afd_poll(const Api& api, HANDLE base, IoStatusBlock& iosb) noexcept {
    IoStatusBlock cancel_iosb{};
    // STATUS_NOT_FOUND (the poll completed first) changes nothing for the
    // caller: one packet is still to be dequeued either way.
    (void)api.NtCancelIoFileEx(base, &iosb, &cancel_iosb);
}

Result<const Api*> api() noexcept {
    const Loaded& l = loaded();
    if (!l.ok) return Status::not_implemented_yet;
    return &l.api;
}

const char* missing_function() noexcept { return loaded().missing; }

} // namespace tofu::poller::nt
