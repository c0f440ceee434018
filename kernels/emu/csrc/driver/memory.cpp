// memory.cpp: device memory (cuMemAlloc/cuMemFree and the stream-ordered cuMemAllocAsync/
// cuMemFreeAsync), the default memory pool per device and its release threshold, and pinned
// host memory.
//
// Device memory is host memory the kernel emulator reads through the very same pointers, laid
// out to make the bugs a GPU would hide visible on a CPU:
// - each allocation is its own mapping, its 256-byte-rounded size ending exactly at a PROT_NONE
//   guard page, so running off the end faults instead of reading a neighbour;
// - new memory is filled with 0xFF bytes (NaN in every float type), so reading what was never
//   written shows up in results;
// - freed memory is made PROT_NONE and its address never reused, so use after free faults (and
//   the copy and launch checks report it as an error where the driver itself checks).
// The pool keeps freed bytes "reserved" (still counted against the device's capacity) until a
// synchronisation finds more reserved than the release threshold, like the driver's allocator.
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "state.h"

namespace {

constexpr size_t kPage = 4096;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

CUmemPoolHandle_st* valid_pool(CUmemPoolHandle_st* p) {
    for (int i = 0; i < G().knobs.devices; ++i)
        if (&G().dev[i].pool == p) return p;
    return nullptr;
}

// Gives up to `bytes` of the pool's idle memory back to the OS.
void release_idle(Device& d, uint64_t bytes) {
    const uint64_t rel = std::min(bytes, d.pool.idle);
    if (rel == 0) return;
    d.pool.idle -= rel;
    d.pool_releases++;
}

CUresult device_alloc(int dev, size_t n, bool pooled, CUdeviceptr* out) {
    State& g = G();
    Device& d = g.dev[dev];
    if (n == 0 || n > ((size_t)1 << 48)) return CUDA_ERROR_INVALID_VALUE;
    if (take_countdown(g.knobs.fail_alloc[dev])) return CUDA_ERROR_OUT_OF_MEMORY;
    const size_t rounded = round_up(n, 256);
    const uint64_t cap = g.knobs.mem_bytes[dev];
    // Like the driver, memory a pool keeps in reserve is returned before an allocation fails.
    if (d.committed + d.pool.idle + rounded > cap) release_idle(d, d.pool.idle);
    if (d.committed + rounded > cap) return CUDA_ERROR_OUT_OF_MEMORY;
    const size_t body = round_up(rounded, kPage);
    void* map = mmap(nullptr, body + kPage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    char* m = static_cast<char*>(map);
    if (mprotect(m + body, kPage, PROT_NONE) != 0) {
        munmap(map, body + kPage);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    char* base = m + body - rounded;
    std::memset(base, 0xFF, rounded);
    Alloc a;
    a.base = reinterpret_cast<uintptr_t>(base);
    a.size = n;
    a.rounded = rounded;
    a.device = dev;
    a.pooled = pooled;
    g.allocs[a.base] = a;
    d.committed += rounded;
    d.live_allocs++;
    d.live_bytes += n;
    if (pooled) {
        d.pool.used += rounded;
        d.pool.used_high = std::max(d.pool.used_high, d.pool.used);
        d.pool.reserved_high = std::max(d.pool.reserved_high, d.pool.used + d.pool.idle);
    }
    *out = a.base;
    return CUDA_SUCCESS;
}

// Executes a free: the pages go (PROT_NONE, never reused), the bytes go to the OS or the pool.
void release_alloc(Alloc& a) {
    const size_t body = round_up(a.rounded, kPage);
    char* map = reinterpret_cast<char*>(a.base) + a.rounded - body;
    madvise(map, body, MADV_DONTNEED);
    mprotect(map, body + kPage, PROT_NONE);
    a.live = false;
    Device& d = G().dev[a.device];
    d.committed -= a.rounded;
    d.live_allocs--;
    d.live_bytes -= a.size;
    if (a.pooled) {
        d.pool.used -= a.rounded;
        d.pool.idle += a.rounded;
    }
}

// The live allocation starting exactly at p, not already queued for freeing.
Alloc* freeable(CUdeviceptr p) {
    auto it = G().allocs.find((uintptr_t)p);
    if (it == G().allocs.end() || !it->second.live || it->second.free_queued) return nullptr;
    return &it->second;
}

}  // namespace

const Alloc* find_alloc(uintptr_t p, size_t n) {
    auto& allocs = G().allocs;
    auto it = allocs.upper_bound(p);
    if (it == allocs.begin()) return nullptr;
    --it;
    const Alloc& a = it->second;
    if (!a.live) return nullptr;
    const uintptr_t off = p - a.base;
    if (n == 0) return off < a.size ? &a : nullptr;
    return (off <= a.size && n <= a.size - off) ? &a : nullptr;
}

bool in_pinned(const void* ptr, size_t n) {
    const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
    auto it = G().pinned.upper_bound(p);
    if (it == G().pinned.begin()) return false;
    --it;
    const uintptr_t off = p - it->first;
    return off <= it->second.size && n <= it->second.size - off;
}

void pool_check(int device) {
    Device& d = G().dev[device];
    const uint64_t reserved = d.pool.used + d.pool.idle;
    if (reserved > d.pool.threshold) release_idle(d, reserved - d.pool.threshold);
}

TP_API CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t n) {
    return api(E_cuMemAlloc_v2, [&]() -> CUresult {
        if (dptr == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUctx_st* c = valid_ctx(tl_current);
        if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
        if (int e = c->sticky.load()) return e;
        return device_alloc(c->device, n, false, dptr);
    });
}

TP_API CUresult cuMemFree_v2(CUdeviceptr p) {
    return api(E_cuMemFree_v2, [&]() -> CUresult {
        std::unique_lock<std::mutex> l(G().mu);
        CUctx_st* c = valid_ctx(tl_current);
        if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
        if (int e = c->sticky.load()) return e;
        Alloc* a = freeable(p);
        if (a == nullptr) return CUDA_ERROR_INVALID_VALUE;
        // cuMemFree synchronises implicitly: work already queued on the owning device still
        // sees the memory.
        if (CUctx_st* owner = G().dev[a->device].ctx) wait_ctx(l, owner);
        a = freeable(p);  // another thread may have freed it meanwhile
        if (a == nullptr) return CUDA_ERROR_INVALID_VALUE;
        release_alloc(*a);
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuMemAllocAsync(CUdeviceptr* dptr, size_t n, CUstream_st* h) {
    return api(E_cuMemAllocAsync, [&]() -> CUresult {
        if (dptr == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUstream_st* s = nullptr;
        if (CUresult e = resolve_stream(h, &s)) return e;
        if (!G().knobs.pools[s->ctx->device]) return CUDA_ERROR_NOT_SUPPORTED;
        // Allocated at once: stream order allows handing out memory early.
        return device_alloc(s->ctx->device, n, true, dptr);
    });
}

TP_API CUresult cuMemFreeAsync(CUdeviceptr p, CUstream_st* h) {
    return api(E_cuMemFreeAsync, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        CUstream_st* s = nullptr;
        if (CUresult e = resolve_stream(h, &s)) return e;
        if (!G().knobs.pools[s->ctx->device]) return CUDA_ERROR_NOT_SUPPORTED;
        Alloc* a = freeable(p);
        if (a == nullptr) return CUDA_ERROR_INVALID_VALUE;
        a->free_queued = true;  // still live (and counted) until the free executes
        const uintptr_t base = a->base;
        enqueue(s, [base] {
            std::lock_guard<std::mutex> k(G().mu);
            auto it = G().allocs.find(base);
            if (it != G().allocs.end() && it->second.live) release_alloc(it->second);
        });
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
    return api(E_cuMemGetInfo_v2, [&]() -> CUresult {
        if (free_bytes == nullptr || total == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUctx_st* c = valid_ctx(tl_current);
        if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
        if (int e = c->sticky.load()) return e;
        const Device& d = G().dev[c->device];
        const uint64_t cap = G().knobs.mem_bytes[c->device];
        const uint64_t held = d.committed + d.pool.idle;
        *total = (size_t)cap;
        *free_bytes = (size_t)(held >= cap ? 0 : cap - held);
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuDeviceGetDefaultMemPool(CUmemPoolHandle_st** out, CUdevice dev) {
    return api(E_cuDeviceGetDefaultMemPool, [&]() -> CUresult {
        if (out == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        if (!valid_device(dev)) return CUDA_ERROR_INVALID_DEVICE;
        if (!G().knobs.pools[dev]) return CUDA_ERROR_NOT_SUPPORTED;
        *out = &G().dev[dev].pool;
        return CUDA_SUCCESS;
    });
}

// Attributes (CUmemPool_attribute): 1-3 REUSE_* (int), 4 RELEASE_THRESHOLD (u64),
// 5 RESERVED_MEM_CURRENT, 6 RESERVED_MEM_HIGH, 7 USED_MEM_CURRENT, 8 USED_MEM_HIGH (u64).
TP_API CUresult cuMemPoolSetAttribute(CUmemPoolHandle_st* pool, int attr, void* value) {
    return api(E_cuMemPoolSetAttribute, [&]() -> CUresult {
        if (value == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUmemPoolHandle_st* p = valid_pool(pool);
        if (p == nullptr) return CUDA_ERROR_INVALID_HANDLE;
        uint64_t v = 0;
        switch (attr) {
            case 1: case 2: case 3:
                p->reuse[attr - 1] = *static_cast<int*>(value);
                return CUDA_SUCCESS;
            case 4:
                p->threshold = *static_cast<uint64_t*>(value);
                return CUDA_SUCCESS;
            case 6: case 8:  // high watermarks may only be reset (to the current value)
                std::memcpy(&v, value, sizeof v);
                if (v != 0) return CUDA_ERROR_INVALID_VALUE;
                if (attr == 6) p->reserved_high = p->used + p->idle;
                else p->used_high = p->used;
                return CUDA_SUCCESS;
            default:
                return CUDA_ERROR_INVALID_VALUE;
        }
    });
}

TP_API CUresult cuMemPoolGetAttribute(CUmemPoolHandle_st* pool, int attr, void* value) {
    return api(E_cuMemPoolGetAttribute, [&]() -> CUresult {
        if (value == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUmemPoolHandle_st* p = valid_pool(pool);
        if (p == nullptr) return CUDA_ERROR_INVALID_HANDLE;
        uint64_t v = 0;
        switch (attr) {
            case 1: case 2: case 3:
                *static_cast<int*>(value) = p->reuse[attr - 1];
                return CUDA_SUCCESS;
            case 4: v = p->threshold; break;
            case 5: v = p->used + p->idle; break;
            case 6: v = p->reserved_high; break;
            case 7: v = p->used; break;
            case 8: v = p->used_high; break;
            default: return CUDA_ERROR_INVALID_VALUE;
        }
        std::memcpy(value, &v, sizeof v);
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuMemPoolTrimTo(CUmemPoolHandle_st* pool, size_t keep) {
    return api(E_cuMemPoolTrimTo, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        CUmemPoolHandle_st* p = valid_pool(pool);
        if (p == nullptr) return CUDA_ERROR_INVALID_HANDLE;
        const uint64_t reserved = p->used + p->idle;
        if (reserved > keep) release_idle(G().dev[p->device], reserved - keep);
        return CUDA_SUCCESS;
    });
}

namespace {
CUresult host_alloc(void** pp, size_t n) {
    if (pp == nullptr || n == 0) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> l(G().mu);
    CUctx_st* c = valid_ctx(tl_current);
    if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
    if (int e = c->sticky.load()) return e;
    const size_t len = round_up(n, kPage);
    void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    G().pinned[reinterpret_cast<uintptr_t>(m)] = PinnedBlock{n, len};
    G().pinned_allocs++;
    G().pinned_bytes += n;
    *pp = m;
    return CUDA_SUCCESS;
}
}  // namespace

TP_API CUresult cuMemHostAlloc(void** pp, size_t n, unsigned flags) {
    return api(E_cuMemHostAlloc, [&]() -> CUresult {
        // PORTABLE 1, DEVICEMAP 2, WRITECOMBINED 4: accepted, nothing to model.
        if ((flags & ~7u) != 0) return CUDA_ERROR_INVALID_VALUE;
        return host_alloc(pp, n);
    });
}

TP_API CUresult cuMemAllocHost_v2(void** pp, size_t n) {
    return api(E_cuMemAllocHost_v2, [&]() -> CUresult { return host_alloc(pp, n); });
}

TP_API CUresult cuMemFreeHost(void* p) {
    return api(E_cuMemFreeHost, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        auto it = G().pinned.find(reinterpret_cast<uintptr_t>(p));
        if (it == G().pinned.end()) return CUDA_ERROR_INVALID_VALUE;
        munmap(p, it->second.map_len);
        G().pinned_allocs--;
        G().pinned_bytes -= it->second.size;
        G().pinned.erase(it);
        return CUDA_SUCCESS;
    });
}
