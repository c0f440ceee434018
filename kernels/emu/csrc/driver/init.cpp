// init.cpp: cuInit and its knobs, devices and their attributes, primary contexts and the
// calling thread's current context, and the error strings.
//
// Models the parts of the driver every other call leans on: nothing works before cuInit (and
// nothing at all under TP_FAKE_CUDA_STUB, like the toolkit's stub libcuda.so), the device count
// and capacity come from knobs, each device has exactly one primary context (the same handle on
// every retain), and "current" is per host thread.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "state.h"

State& G() {
    static State* s = new State;
    return *s;
}

thread_local CUctx_st* tl_current = nullptr;

const char* const kEntryNames[E_COUNT] = {
#define TP_NAME(n) #n,
    TP_ENTRIES(TP_NAME)
#undef TP_NAME
};

CUresult api_checked(Entry e, bool need_init, CUresult (*thunk)(void*), void* f) {
    State& g = G();
    g.calls[e].fetch_add(1, std::memory_order_relaxed);
    if (need_init) {
        std::lock_guard<std::mutex> l(g.mu);
        if (g.knobs.stub) return CUDA_ERROR_STUB_LIBRARY;
        if (!g.inited) return CUDA_ERROR_NOT_INITIALIZED;
    }
    try {
        return thunk(f);
    } catch (const std::bad_alloc&) {
        return CUDA_ERROR_OUT_OF_MEMORY;
    } catch (...) {
        return CUDA_ERROR_UNKNOWN;
    }
}

bool valid_device(int d) { return d >= 0 && d < G().knobs.devices; }

CUctx_st* valid_ctx(CUctx_st* c) {
    if (c == nullptr) return nullptr;
    for (auto& d : G().dev)
        if (d.ctx == c) return c;
    return nullptr;
}

void set_sticky(CUctx_st* c, int code, const std::string& why) {
    int zero = 0;
    if (c->sticky.compare_exchange_strong(zero, code)) c->last_error = why;
}

bool take_countdown(long long& counter) {
    if (counter <= 0) return false;
    return --counter == 0;
}

namespace {

// "dev:N" -> counter[dev] = N.
void parse_fault(const char* name, long long* counter) {
    const char* v = std::getenv(name);
    if (v == nullptr) return;
    int dev = 0;
    long long n = 0;
    if (std::sscanf(v, "%d:%lld", &dev, &n) == 2 && dev >= 0 && dev < kMaxDevices) counter[dev] = n;
}

void read_env(Knobs& k) {
    if (const char* v = std::getenv("TP_FAKE_CUDA_DEVICES")) {
        int n = std::atoi(v);
        k.devices = n < 0 ? 0 : (n > kMaxDevices ? kMaxDevices : n);
    }
    if (const char* v = std::getenv("TP_FAKE_CUDA_POOLS"))
        for (auto& p : k.pools) p = std::strcmp(v, "0") != 0;
    if (const char* v = std::getenv("TP_FAKE_CUDA_MEM_MB")) {
        long long mb = std::atoll(v);
        for (auto& m : k.mem_bytes) m = mb > 0 ? (uint64_t)mb << 20 : 0;
    }
    if (const char* v = std::getenv("TP_FAKE_CUDA_DMA_GBPS")) k.dma_gbps = std::atof(v);
    if (const char* v = std::getenv("TP_FAKE_CUDA_OP_DELAY_US")) k.op_delay_us = std::atoll(v);
    if (const char* v = std::getenv("TP_FAKE_CUDA_STUB")) k.stub = std::strcmp(v, "1") == 0;
    parse_fault("TP_FAKE_CUDA_FAIL_ALLOC", k.fail_alloc);
    parse_fault("TP_FAKE_CUDA_FAIL_LAUNCH", k.fail_launch);
    parse_fault("TP_FAKE_CUDA_FAULT_LAUNCH", k.fault_launch);
}

// The current context, or null when none is current (INVALID_CONTEXT for the caller).
CUctx_st* current() { return valid_ctx(tl_current); }

}  // namespace

TP_API CUresult cuInit(unsigned flags) {
    return api_noinit(E_cuInit, [&]() -> CUresult {
        State& g = G();
        std::lock_guard<std::mutex> l(g.mu);
        if (!g.inited) {
            read_env(g.knobs);
            for (int i = 0; i < kMaxDevices; ++i) g.dev[i].pool.device = i;
        }
        if (g.knobs.stub) return CUDA_ERROR_STUB_LIBRARY;
        if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
        g.inited = true;
        return g.knobs.devices == 0 ? CUDA_ERROR_NO_DEVICE : CUDA_SUCCESS;
    });
}

TP_API CUresult cuDriverGetVersion(int* v) {
    // Like the real driver, this works before cuInit.
    return api_noinit(E_cuDriverGetVersion, [&]() -> CUresult {
        if (v == nullptr) return CUDA_ERROR_INVALID_VALUE;
        *v = 12040;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuDeviceGetCount(int* count) {
    return api(E_cuDeviceGetCount, [&]() -> CUresult {
        if (count == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        *count = G().knobs.devices;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuDeviceGet(CUdevice* dev, int ordinal) {
    return api(E_cuDeviceGet, [&]() -> CUresult {
        if (dev == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        if (!valid_device(ordinal)) return CUDA_ERROR_INVALID_DEVICE;
        *dev = ordinal;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
    return api(E_cuDeviceGetName, [&]() -> CUresult {
        if (name == nullptr || len <= 0) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
        std::snprintf(name, (size_t)len, "tensorport driver double (cuda:%d)", dev);
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuDeviceGetAttribute(int* pi, int attrib, CUdevice dev) {
    return api(E_cuDeviceGetAttribute, [&]() -> CUresult {
        if (pi == nullptr || attrib < 1 || attrib >= kAttributeMax) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
        int v = 0;
        switch (attrib) {
            case 1: v = 1024; break;         // MAX_THREADS_PER_BLOCK
            case 2: case 3: v = 1024; break;  // MAX_BLOCK_DIM_X, _Y
            case 4: v = 64; break;            // MAX_BLOCK_DIM_Z
            case 5: v = 0x7fffffff; break;    // MAX_GRID_DIM_X
            case 6: case 7: v = 65535; break;  // MAX_GRID_DIM_Y, _Z
            case 10: v = 32; break;           // WARP_SIZE
            case 16: v = 132; break;          // MULTIPROCESSOR_COUNT
            case 19: v = 1; break;            // CAN_MAP_HOST_MEMORY
            case 41: v = 1; break;            // UNIFIED_ADDRESSING
            case 75: v = 9; break;            // COMPUTE_CAPABILITY_MAJOR
            case 76: v = 0; break;            // COMPUTE_CAPABILITY_MINOR
            case 115: v = G().knobs.pools[dev] ? 1 : 0; break;  // MEMORY_POOLS_SUPPORTED
            default: v = 0;
        }
        *pi = v;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev) {
    return api(E_cuDeviceTotalMem_v2, [&]() -> CUresult {
        if (bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
        *bytes = (size_t)G().knobs.mem_bytes[dev];
        return CUDA_SUCCESS;
    });
}

namespace {
CUresult uuid(Entry e, char* out, CUdevice dev) {
    return api(e, [&]() -> CUresult {
        if (out == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
        // A fixed, per-device UUID: "tpfake-uuid-" then the ordinal.
        char buf[17] = {};
        std::snprintf(buf, sizeof buf, "tpfake-uuid-%04d", dev);
        std::memcpy(out, buf, 16);
        return CUDA_SUCCESS;
    });
}
}  // namespace

TP_API CUresult cuDeviceGetUuid(char* u, CUdevice dev) { return uuid(E_cuDeviceGetUuid, u, dev); }
TP_API CUresult cuDeviceGetUuid_v2(char* u, CUdevice dev) { return uuid(E_cuDeviceGetUuid_v2, u, dev); }

TP_API CUresult cuDeviceCanAccessPeer(int* can, CUdevice dev, CUdevice peer) {
    return api(E_cuDeviceCanAccessPeer, [&]() -> CUresult {
        if (can == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        if (!valid_device(dev) || !valid_device(peer)) return CUDA_ERROR_INVALID_DEVICE;
        *can = dev != peer ? 1 : 0;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuDevicePrimaryCtxRetain(CUctx_st** pctx, CUdevice dev) {
    return api(E_cuDevicePrimaryCtxRetain, [&]() -> CUresult {
        if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
        Device& d = G().dev[dev];
        if (d.ctx == nullptr) {
            auto* c = new CUctx_st;
            c->device = dev;
            c->legacy = new CUstream_st;
            c->legacy->ctx = c;
            c->legacy->legacy = true;
            start_worker(c->legacy);
            d.ctx = c;
        }
        d.ctx->refcount++;
        *pctx = d.ctx;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
    return api(E_cuDevicePrimaryCtxRelease_v2, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
        CUctx_st* c = G().dev[dev].ctx;
        if (c == nullptr || c->refcount == 0) return CUDA_ERROR_INVALID_CONTEXT;
        // At refcount 0 the real driver destroys the context's resources; the double keeps the
        // context (and its allocations) so a later retain finds the same handle.
        c->refcount--;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuCtxSetCurrent(CUctx_st* ctx) {
    return api(E_cuCtxSetCurrent, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        if (ctx != nullptr && valid_ctx(ctx) == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
        tl_current = ctx;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuCtxGetCurrent(CUctx_st** pctx) {
    return api(E_cuCtxGetCurrent, [&]() -> CUresult {
        if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        *pctx = current();
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuCtxGetDevice(CUdevice* dev) {
    return api(E_cuCtxGetDevice, [&]() -> CUresult {
        if (dev == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUctx_st* c = current();
        if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
        if (int e = c->sticky.load()) return e;
        *dev = c->device;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuCtxSynchronize(void) {
    return api(E_cuCtxSynchronize, [&]() -> CUresult {
        std::unique_lock<std::mutex> l(G().mu);
        CUctx_st* c = current();
        if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
        wait_ctx(l, c);
        pool_check(c->device);
        return c->sticky.load();
    });
}

TP_API CUresult cuCtxEnablePeerAccess(CUctx_st* peer, unsigned flags) {
    return api(E_cuCtxEnablePeerAccess, [&]() -> CUresult {
        if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUctx_st* c = current();
        if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
        if (int e = c->sticky.load()) return e;
        if (valid_ctx(peer) == nullptr) return CUDA_ERROR_INVALID_HANDLE;
        if (peer->device == c->device) return CUDA_ERROR_INVALID_DEVICE;
        if (!c->peers.insert(peer).second) return CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED;
        return CUDA_SUCCESS;
    });
}

namespace {
struct ErrorText {
    int code;
    const char* name;
    const char* text;
};
const ErrorText kErrors[] = {
    {CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
    {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {CUDA_ERROR_STUB_LIBRARY, "CUDA_ERROR_STUB_LIBRARY", "CUDA driver is a stub library"},
    {CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {CUDA_ERROR_INVALID_PTX, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {CUDA_ERROR_NOT_READY, "CUDA_ERROR_NOT_READY", "device not ready"},
    {CUDA_ERROR_ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS",
     "an illegal memory access was encountered"},
    {CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
     "too many resources requested for launch"},
    {CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED, "CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED",
     "peer access is already enabled"},
    {CUDA_ERROR_LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {CUDA_ERROR_NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {CUDA_ERROR_ILLEGAL_STATE, "CUDA_ERROR_ILLEGAL_STATE",
     "the operation cannot be performed in the present state"},
    {CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
     "operation not permitted when stream is capturing"},
    {CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED",
     "operation failed due to a previous error during capture"},
    {CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD",
     "attempt to terminate a thread-local capture sequence from another thread"},
    {CUDA_ERROR_UNKNOWN, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

CUresult error_text(Entry e, int code, const char** out, bool name) {
    // Like the real driver, these work before cuInit.
    return api_noinit(e, [&]() -> CUresult {
        if (out == nullptr) return CUDA_ERROR_INVALID_VALUE;
        for (const auto& t : kErrors) {
            if (t.code == code) {
                *out = name ? t.name : t.text;
                return CUDA_SUCCESS;
            }
        }
        *out = nullptr;
        return CUDA_ERROR_INVALID_VALUE;
    });
}
}  // namespace

TP_API CUresult cuGetErrorString(int code, const char** s) { return error_text(E_cuGetErrorString, code, s, false); }
TP_API CUresult cuGetErrorName(int code, const char** s) { return error_text(E_cuGetErrorName, code, s, true); }
