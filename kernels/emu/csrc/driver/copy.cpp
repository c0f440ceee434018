// copy.cpp: cuMemcpy* and cuMemsetD8*, with the driver's pageable/pinned rules.
//
// What the driver documents, and what this models:
// - host to device from pageable memory: the source is staged (copied) before the call returns;
//   the device write happens in stream order. From pinned memory (inside a live cuMemHostAlloc
//   or cuMemAllocHost block) the host memory is read when the copy executes.
// - device to host into pageable memory: returns only once the copy is done (it waits for the
//   stream up to the copy). Into pinned memory: fully asynchronous.
// - the non-Async variants run on the current context's legacy stream and wait.
// - device to device (within or across devices, UVA) and cuMemcpyPeerAsync run in the order of
//   the stream they are given; stream 0 is the *current* context's legacy stream.
// Every device range must lie inside one live allocation: checked when queued (else
// CUDA_ERROR_INVALID_VALUE) and again when executed (else a sticky CUDA_ERROR_ILLEGAL_ADDRESS on
// the stream's context). TP_FAKE_CUDA_DMA_GBPS makes every copy take bytes / bandwidth.
#include <cstdio>
#include <cstring>

#include "state.h"

namespace {

using Bytes = std::shared_ptr<std::vector<unsigned char>>;

// At execution, with G().mu held: is [p, p + n) still a live allocation? Else the fault.
bool live_at_run(CUctx_st* c, uintptr_t p, size_t n, const char* what) {
    if (find_alloc(p, n) != nullptr) return true;
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s [0x%llx, +%zu) is not inside a live allocation", what,
                  (unsigned long long)p, n);
    set_sticky(c, CUDA_ERROR_ILLEGAL_ADDRESS, buf);
    return false;
}

// The stream a copy runs on: `h` for the Async variants, the current legacy stream otherwise.
CUresult copy_stream(void* h, bool sync, CUstream_st** s) {
    return resolve_stream(sync ? nullptr : h, s);
}

CUresult finish(std::unique_lock<std::mutex>& l, CUstream_st* s, uint64_t seq, bool wait) {
    if (!wait) return CUDA_SUCCESS;
    wait_for(l, s, seq);
    return s->ctx->sticky.load();
}

CUresult htod(CUdeviceptr dst, const void* src, size_t n, void* h, bool sync) {
    std::unique_lock<std::mutex> l(G().mu);
    CUstream_st* s = nullptr;
    if (CUresult e = copy_stream(h, sync, &s)) return e;
    if (n == 0) return CUDA_SUCCESS;
    if (src == nullptr || find_alloc(dst, n) == nullptr) return CUDA_ERROR_INVALID_VALUE;
    Bytes staged;
    if (!in_pinned(src, n)) {
        const auto* b = static_cast<const unsigned char*>(src);
        staged = std::make_shared<std::vector<unsigned char>>(b, b + n);
    }
    CUctx_st* c = s->ctx;
    const uint64_t seq = enqueue(s, [=] {
        dma_sleep(n);
        std::lock_guard<std::mutex> k(G().mu);
        if (!live_at_run(c, dst, n, "host-to-device destination")) return;
        if (!staged && !in_pinned(src, n)) {
            set_sticky(c, CUDA_ERROR_ILLEGAL_ADDRESS, "pinned source freed before its copy ran");
            return;
        }
        std::memcpy(reinterpret_cast<void*>(dst), staged ? staged->data() : src, n);
    });
    return finish(l, s, seq, sync);
}

CUresult dtoh(void* dst, CUdeviceptr src, size_t n, void* h, bool sync) {
    std::unique_lock<std::mutex> l(G().mu);
    CUstream_st* s = nullptr;
    if (CUresult e = copy_stream(h, sync, &s)) return e;
    if (n == 0) return CUDA_SUCCESS;
    if (dst == nullptr || find_alloc(src, n) == nullptr) return CUDA_ERROR_INVALID_VALUE;
    const bool pinned = in_pinned(dst, n);
    CUctx_st* c = s->ctx;
    const uint64_t seq = enqueue(s, [=] {
        dma_sleep(n);
        std::lock_guard<std::mutex> k(G().mu);
        if (!live_at_run(c, src, n, "device-to-host source")) return;
        if (pinned && !in_pinned(dst, n)) {
            set_sticky(c, CUDA_ERROR_ILLEGAL_ADDRESS, "pinned destination freed before its copy ran");
            return;
        }
        std::memcpy(dst, reinterpret_cast<const void*>(src), n);
    });
    return finish(l, s, seq, sync || !pinned);
}

CUresult dtod(CUdeviceptr dst, CUdeviceptr src, size_t n, void* h, bool sync) {
    std::unique_lock<std::mutex> l(G().mu);
    CUstream_st* s = nullptr;
    if (CUresult e = copy_stream(h, sync, &s)) return e;
    if (n == 0) return CUDA_SUCCESS;
    if (find_alloc(dst, n) == nullptr || find_alloc(src, n) == nullptr) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* c = s->ctx;
    const uint64_t seq = enqueue(s, [=] {
        dma_sleep(n);
        std::lock_guard<std::mutex> k(G().mu);
        if (!live_at_run(c, src, n, "device-to-device source")) return;
        if (!live_at_run(c, dst, n, "device-to-device destination")) return;
        std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n);
    });
    return finish(l, s, seq, sync);
}

CUresult memset8(CUdeviceptr dst, unsigned char v, size_t n, void* h, bool sync) {
    std::unique_lock<std::mutex> l(G().mu);
    CUstream_st* s = nullptr;
    if (CUresult e = copy_stream(h, sync, &s)) return e;
    if (n == 0) return CUDA_SUCCESS;
    if (find_alloc(dst, n) == nullptr) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* c = s->ctx;
    const uint64_t seq = enqueue(s, [=] {
        std::lock_guard<std::mutex> k(G().mu);
        if (!live_at_run(c, dst, n, "memset destination")) return;
        std::memset(reinterpret_cast<void*>(dst), v, n);
    });
    return finish(l, s, seq, sync);
}

}  // namespace

TP_API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, CUstream_st* h) {
    return api(E_cuMemcpyHtoDAsync_v2, [&] { return htod(dst, src, n, h, false); });
}
TP_API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
    return api(E_cuMemcpyHtoD_v2, [&] { return htod(dst, src, n, nullptr, true); });
}
TP_API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, CUstream_st* h) {
    return api(E_cuMemcpyDtoHAsync_v2, [&] { return dtoh(dst, src, n, h, false); });
}
TP_API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
    return api(E_cuMemcpyDtoH_v2, [&] { return dtoh(dst, src, n, nullptr, true); });
}
TP_API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream_st* h) {
    return api(E_cuMemcpyDtoDAsync_v2, [&] { return dtod(dst, src, n, h, false); });
}
TP_API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    return api(E_cuMemcpyDtoD_v2, [&] { return dtod(dst, src, n, nullptr, true); });
}
TP_API CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream_st* h) {
    return api(E_cuMemsetD8Async, [&] { return memset8(dst, v, n, h, false); });
}
TP_API CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n) {
    return api(E_cuMemsetD8_v2, [&] { return memset8(dst, v, n, nullptr, true); });
}

TP_API CUresult cuMemcpyPeerAsync(CUdeviceptr dst, CUctx_st* dst_ctx, CUdeviceptr src,
                                  CUctx_st* src_ctx, size_t n, CUstream_st* h) {
    return api(E_cuMemcpyPeerAsync, [&]() -> CUresult {
        {
            std::lock_guard<std::mutex> l(G().mu);
            if (valid_ctx(dst_ctx) == nullptr || valid_ctx(src_ctx) == nullptr)
                return CUDA_ERROR_INVALID_CONTEXT;
            if (int e = dst_ctx->sticky.load()) return e;
            if (int e = src_ctx->sticky.load()) return e;
            if (n != 0) {
                const Alloc* d = find_alloc(dst, n);
                const Alloc* s = find_alloc(src, n);
                if (d == nullptr || s == nullptr || d->device != dst_ctx->device ||
                    s->device != src_ctx->device)
                    return CUDA_ERROR_INVALID_VALUE;
            }
        }
        // In the order of `h`, exactly like a device-to-device copy.
        return dtod(dst, src, n, h, false);
    });
}
