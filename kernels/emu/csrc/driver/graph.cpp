// graph.cpp: stream capture and CUDA graphs, as much of them as a captured forward needs.
//
// cuStreamBeginCapture_v2 puts an explicit stream into capture: from then on cuLaunchKernel on
// it records the launch (arguments already copied) instead of queueing it, and any other
// operation on it is refused with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and voids the capture
// (stream.cpp resolve_stream). The real driver records copies, memsets, event records and
// stream-ordered allocations as graph nodes; the double does not, so a capture that needs them
// fails here loudly rather than replaying something else. The capture modes (global,
// thread-local, relaxed) are accepted and not told apart. cuStreamEndCapture makes a graph of
// the recorded launches, in order; cuGraphInstantiateWithFlags an executable copy of it; and
// cuGraphLaunch queues that copy's launches on a stream as one operation, in capture order.
#include "state.h"

struct CUgraph_st {
    CUctx_st* ctx = nullptr;
    std::vector<std::function<void()>> ops;
};

struct CUgraphExec_st {
    CUctx_st* ctx = nullptr;
    std::vector<std::function<void()>> ops;
};

namespace {
std::set<CUgraph_st*> g_graphs;
std::set<CUgraphExec_st*> g_execs;

// An explicit stream (capture never applies to the legacy stream), under G().mu.
CUresult explicit_stream(CUstream_st* h, CUstream_st** out) {
    if (h == nullptr || G().streams.count(h) == 0 || h->legacy) {
        return h == nullptr ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_ERROR_INVALID_HANDLE;
    }
    *out = h;
    return CUDA_SUCCESS;
}
}  // namespace

TP_API CUresult cuStreamBeginCapture_v2(CUstream_st* h, int mode) {
    return api(E_cuStreamBeginCapture_v2, [&]() -> CUresult {
        if (mode < 0 || mode > 2) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUstream_st* s = nullptr;
        if (CUresult e = explicit_stream(h, &s)) return e;
        if (int e = s->ctx->sticky.load()) return e;
        if (s->capturing) return CUDA_ERROR_ILLEGAL_STATE;
        s->capturing = true;
        s->capture_invalid = false;
        s->captured.clear();
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuStreamEndCapture(CUstream_st* h, CUgraph_st** out) {
    return api(E_cuStreamEndCapture, [&]() -> CUresult {
        if (out == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUstream_st* s = nullptr;
        if (CUresult e = explicit_stream(h, &s)) return e;
        if (!s->capturing) return CUDA_ERROR_ILLEGAL_STATE;
        s->capturing = false;
        std::vector<std::function<void()>> ops;
        ops.swap(s->captured);
        *out = nullptr;
        if (s->capture_invalid) return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
        auto* g = new CUgraph_st;
        g->ctx = s->ctx;
        g->ops = std::move(ops);
        g_graphs.insert(g);
        *out = g;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuStreamIsCapturing(CUstream_st* h, int* status) {
    return api(E_cuStreamIsCapturing, [&]() -> CUresult {
        if (status == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUstream_st* s = nullptr;
        if (h == nullptr) {  // the legacy stream never captures
            *status = 0;
            return CUDA_SUCCESS;
        }
        if (CUresult e = explicit_stream(h, &s)) return e;
        // CU_STREAM_CAPTURE_STATUS_NONE 0, ACTIVE 1, INVALIDATED 2.
        *status = !s->capturing ? 0 : s->capture_invalid ? 2 : 1;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuGraphInstantiateWithFlags(CUgraphExec_st** out, CUgraph_st* g,
                                            unsigned long long flags) {
    return api(E_cuGraphInstantiateWithFlags, [&]() -> CUresult {
        if (out == nullptr || flags != 0) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        if (g_graphs.count(g) == 0) return CUDA_ERROR_INVALID_HANDLE;
        auto* x = new CUgraphExec_st;
        x->ctx = g->ctx;
        x->ops = g->ops;
        g_execs.insert(x);
        *out = x;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuGraphLaunch(CUgraphExec_st* x, CUstream_st* h) {
    return api(E_cuGraphLaunch, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        if (g_execs.count(x) == 0) return CUDA_ERROR_INVALID_HANDLE;
        CUstream_st* s = nullptr;
        if (CUresult e = resolve_stream(h, &s)) return e;
        if (s->ctx != x->ctx) return CUDA_ERROR_INVALID_HANDLE;  // a graph of another context
        // A copy of the launches: destroying the exec while this is queued is allowed.
        std::vector<std::function<void()>> ops = x->ops;
        enqueue(s, [ops] {
            for (const auto& op : ops) op();
        });
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuGraphExecDestroy(CUgraphExec_st* x) {
    return api(E_cuGraphExecDestroy, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        if (g_execs.erase(x) == 0) return CUDA_ERROR_INVALID_HANDLE;
        delete x;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuGraphDestroy(CUgraph_st* g) {
    return api(E_cuGraphDestroy, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        if (g_graphs.erase(g) == 0) return CUDA_ERROR_INVALID_HANDLE;
        delete g;
        return CUDA_SUCCESS;
    });
}
