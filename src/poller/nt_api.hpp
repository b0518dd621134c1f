#pragma once
// The few NT native entry points and AFD structures the `afd` backend needs.
//
// Nothing here is declared by the Windows SDK headers in a usable form (the
// AFD ioctl is undocumented), so the types are spelled out here from their
// documented layouts: IO_STATUS_BLOCK (wdm.h), and the AFD poll request that
// afd.sys takes as METHOD_BUFFERED input and output. The ntdll functions are
// looked up with GetProcAddress once per process; if one is missing the
// backend reports not_implemented_yet and names the function in
// nt::missing_function().
#ifndef _WIN32
#error "nt_api.hpp is Windows only"
#endif

#include <tofu/result.hpp>

#include <winsock2.h>
#include <windows.h>

#include <cstdint>

namespace tofu::poller::nt {

using NtStatus = LONG; // NTSTATUS: a signed 32-bit value, negative = error

inline constexpr NtStatus status_success = 0x00000000;
inline constexpr NtStatus status_pending = 0x00000103;
inline constexpr NtStatus status_cancelled = static_cast<NtStatus>(0xC0000120);
inline constexpr NtStatus status_not_found = static_cast<NtStatus>(0xC0000225);
inline constexpr NtStatus status_invalid_handle = static_cast<NtStatus>(0xC0000008);

inline constexpr bool failed(NtStatus status) noexcept { return status < 0; }

// IO_STATUS_BLOCK. The kernel writes it when the request completes, so it
// must stay at the same address until the completion packet is dequeued.
struct IoStatusBlock {
    union {
        NtStatus status;
        void* pointer;
    };
    ULONG_PTR information;
};
static_assert(sizeof(IoStatusBlock) == 2 * sizeof(void*));

using IoApcRoutine = void(NTAPI*)(void* context, IoStatusBlock* iosb, ULONG reserved);

// AFD poll event bits (afd.sys). Only the ones the backend uses or must avoid.
enum : ULONG {
    afd_poll_receive = 0x0001,           // data can be read
    afd_poll_receive_expedited = 0x0002, // out-of-band data: never requested
    afd_poll_send = 0x0004,              // a send would not block
    afd_poll_disconnect = 0x0008,        // the peer sent FIN (stays set)
    afd_poll_abort = 0x0010,             // reset / abortive close (stays set)
    afd_poll_local_close = 0x0020,       // this handle was closed
    afd_poll_connect = 0x0040,           // connected (stays set): never requested
    afd_poll_accept = 0x0080,            // a connection is waiting to be accepted
    afd_poll_connect_fail = 0x0100,      // the outgoing connect failed (stays set)
};

// One socket inside an AFD poll request.
struct AfdPollHandleInfo {
    HANDLE handle;   // the socket's base (provider) handle
    ULONG events;    // in: the mask asked for; out: the events that fired
    NtStatus status; // out: per-handle status (e.g. the connect failure)
};

// The AFD poll request (input and output buffer). Only one handle per
// request is ever used here, so the array has exactly one element.
struct AfdPollInfo {
    LARGE_INTEGER timeout;   // absolute/relative 100 ns units; INT64_MAX = none
    ULONG number_of_handles; // in: 1; out: how many entries have events
    ULONG exclusive;         // always FALSE: an exclusive poll cancels others
    AfdPollHandleInfo handles[1];
};
static_assert(sizeof(AfdPollInfo) == 32, "layout the AFD driver expects on x64");

// CTL_CODE-style control code of the AFD driver: device type FILE_DEVICE_NETWORK
// (0x12) in bits 12+, function number AFD_POLL (9) in bits 2+, METHOD_BUFFERED
// (0) in bits 0-1. Spelled out from its parts rather than as a magic number.
inline constexpr ULONG afd_device_type = 0x12;
inline constexpr ULONG afd_function_poll = 9;
inline constexpr ULONG method_buffered = 0;
inline constexpr ULONG ioctl_afd_poll = (afd_device_type << 12) | (afd_function_poll << 2) | method_buffered;
static_assert(ioctl_afd_poll == 0x00012024);

using NtDeviceIoControlFileFn = NtStatus(NTAPI*)(HANDLE file, HANDLE event, IoApcRoutine apc, void* apc_context,
                                                 IoStatusBlock* iosb, ULONG control_code, void* input,
                                                 ULONG input_length, void* output, ULONG output_length);
using NtCancelIoFileExFn = NtStatus(NTAPI*)(HANDLE file, IoStatusBlock* request, IoStatusBlock* iosb);
using RtlNtStatusToDosErrorFn = ULONG(NTAPI*)(NtStatus status);

struct Api {
    NtDeviceIoControlFileFn NtDeviceIoControlFile = nullptr;
    NtCancelIoFileExFn NtCancelIoFileEx = nullptr;
    RtlNtStatusToDosErrorFn RtlNtStatusToDosError = nullptr;
};

// What became of a poll request when it was issued.
enum class PollStart {
    queued,        // its completion packet will be queued, even when it succeeded at once
    handle_closed, // refused: the socket was closed; no packet
    refused,       // refused for another reason (e.g. no kernel memory); no packet
};

// Issues IOCTL_AFD_POLL on `base` (a socket's base handle, associated with a
// completion port) for `events`, writing the request into `info`.
// Lifetime: when the answer is `queued`, the kernel owns `info` and `iosb`
// (it writes both when the poll completes) and `context` comes back as the
// lpOverlapped of the completion packet, until that packet is dequeued. All
// three must stay alive and in place until then, and must not serve another
// poll. The handle has no FILE_SKIP_COMPLETION_PORT_ON_SUCCESS, so a poll that
// succeeds at once still queues its packet: the packet is the only result.
PollStart afd_poll(const Api& api, HANDLE base, ULONG events, AfdPollInfo& info, IoStatusBlock& iosb,
                   void* context) noexcept;

// Asks the kernel to complete the outstanding poll whose IO_STATUS_BLOCK is
// `iosb` early (with STATUS_CANCELLED).
// Lifetime: cancelling ends nothing by itself. Whether the cancel catches the
// poll or the poll had completed just before (STATUS_NOT_FOUND), exactly one
// completion packet is still to come, and `info`, `iosb` and the context stay
// the kernel's until it is dequeued. Call it at most once per poll.
void cancel_afd_poll(const Api& api, HANDLE base, IoStatusBlock& iosb) noexcept;

// The resolved entry points (resolved on first use, thread-safe), or
// not_implemented_yet when ntdll lacks one of them.
Result<const Api*> api() noexcept;
// The name of the first entry point that could not be found, or "".
const char* missing_function() noexcept;

} // namespace tofu::poller::nt
