// control.cpp: the tpfake_* control API that tests use to look inside the double and to change
// its knobs at run time.
//
// The driver itself has no such calls; they exist so a test can assert what a real GPU would
// only show as a leak or a hang: live allocations per device (a cuMemFreeAsync still queued
// counts as live), live pinned blocks, pool releases, how often each entry point was called,
// and whether a device's context is in a sticky-error state. tpfake_arm sets any knob (the fault
// injections count from the moment they are armed).
#include <cstring>

#include "state.h"

TP_API int tpfake_live(int device, unsigned long long* allocs, unsigned long long* bytes) {
    if (device < 0 || device >= kMaxDevices || allocs == nullptr || bytes == nullptr)
        return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> l(G().mu);
    *allocs = G().dev[device].live_allocs;
    *bytes = G().dev[device].live_bytes;
    return CUDA_SUCCESS;
}

TP_API int tpfake_live_pinned(unsigned long long* allocs, unsigned long long* bytes) {
    if (allocs == nullptr || bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> l(G().mu);
    *allocs = G().pinned_allocs;
    *bytes = G().pinned_bytes;
    return CUDA_SUCCESS;
}

TP_API unsigned long long tpfake_pool_releases(int device) {
    if (device < 0 || device >= kMaxDevices) return 0;
    std::lock_guard<std::mutex> l(G().mu);
    return G().dev[device].pool_releases;
}

TP_API size_t tpfake_calls_len(void) { return E_COUNT; }

// Entry i's name (static) and call count; 0 if i is out of range.
TP_API int tpfake_call(size_t i, const char** name, unsigned long long* count) {
    if (i >= (size_t)E_COUNT || name == nullptr || count == nullptr) return 0;
    *name = kEntryNames[i];
    *count = G().calls[i].load();
    return 1;
}

TP_API void tpfake_reset_calls(void) {
    for (auto& c : G().calls) c.store(0);
}

// The sticky error of `device`'s context (0: healthy, or no context yet).
TP_API int tpfake_sticky(int device) {
    if (device < 0 || device >= kMaxDevices) return CUDA_ERROR_INVALID_DEVICE;
    std::lock_guard<std::mutex> l(G().mu);
    const CUctx_st* c = G().dev[device].ctx;
    return c == nullptr ? 0 : c->sticky.load();
}

// Copies what caused `device`'s sticky error (NUL-terminated, truncated); returns its length.
TP_API size_t tpfake_sticky_reason(int device, char* buf, size_t len) {
    if (device < 0 || device >= kMaxDevices) return 0;
    std::lock_guard<std::mutex> l(G().mu);
    const CUctx_st* c = G().dev[device].ctx;
    if (c == nullptr) return 0;
    const std::string& r = c->last_error;
    if (buf != nullptr && len > 0) {
        const size_t n = r.size() < len - 1 ? r.size() : len - 1;
        std::memcpy(buf, r.data(), n);
        buf[n] = '\0';
    }
    return r.size();
}

// Sets knob `knob` (its environment variable's name) to n. For the per-device knobs (FAIL_ALLOC,
// FAIL_LAUNCH, FAULT_LAUNCH, MEM_MB, POOLS; the last two also take -1: every device) `device` says which;
// the others ignore it. DMA_GBPS takes whole GB/s (0: off). 0 or CUDA_ERROR_INVALID_VALUE.
TP_API int tpfake_arm(const char* knob, int device, long long n) {
    if (knob == nullptr) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> l(G().mu);
    Knobs& k = G().knobs;
    const bool dev_ok = device >= 0 && device < kMaxDevices;
    auto is = [&](const char* name) { return std::strcmp(knob, name) == 0; };
    if (is("TP_FAKE_CUDA_FAIL_ALLOC") || is("TP_FAKE_CUDA_FAIL_LAUNCH") ||
        is("TP_FAKE_CUDA_FAULT_LAUNCH")) {
        if (!dev_ok || n < 0) return CUDA_ERROR_INVALID_VALUE;
        long long* counters = is("TP_FAKE_CUDA_FAIL_ALLOC")    ? k.fail_alloc
                              : is("TP_FAKE_CUDA_FAIL_LAUNCH") ? k.fail_launch
                                                               : k.fault_launch;
        counters[device] = n;
    } else if (is("TP_FAKE_CUDA_MEM_MB")) {
        if (n < 0 || (!dev_ok && device != -1)) return CUDA_ERROR_INVALID_VALUE;
        for (int d = 0; d < kMaxDevices; ++d)
            if (device == -1 || d == device) k.mem_bytes[d] = (uint64_t)n << 20;
    } else if (is("TP_FAKE_CUDA_DEVICES")) {
        // Only growing is safe: contexts of devices already in use must stay valid.
        if (n < k.devices || n > kMaxDevices) return CUDA_ERROR_INVALID_VALUE;
        k.devices = (int)n;
    } else if (is("TP_FAKE_CUDA_POOLS")) {
        if (!dev_ok && device != -1) return CUDA_ERROR_INVALID_VALUE;
        for (int d = 0; d < kMaxDevices; ++d)
            if (device == -1 || d == device) k.pools[d] = n != 0;
    } else if (is("TP_FAKE_CUDA_DMA_GBPS")) {
        if (n < 0) return CUDA_ERROR_INVALID_VALUE;
        k.dma_gbps = (double)n;
    } else if (is("TP_FAKE_CUDA_OP_DELAY_US")) {
        if (n < 0) return CUDA_ERROR_INVALID_VALUE;
        k.op_delay_us = n;
    } else if (is("TP_FAKE_CUDA_STUB")) {
        k.stub = n != 0;
    } else {
        return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}
