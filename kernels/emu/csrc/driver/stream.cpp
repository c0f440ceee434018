// stream.cpp: streams, their worker threads, and events.
//
// Models the driver's asynchrony: every stream (and every context's legacy stream) has a worker
// thread that runs its queued operations in order, later than and concurrently with the host
// thread that queued them. An operation may first wait for positions of other streams: that is
// how cuStreamWaitEvent works, and how the legacy stream's implicit synchronisation with the
// *blocking* (flags 0) streams of its context is kept (a legacy-stream operation waits for all
// work queued so far on them, and an operation on a blocking stream waits for the legacy
// stream's work queued so far). CU_STREAM_NON_BLOCKING streams wait for nothing implicit.
//
// An event is a captured (stream, position): complete once the stream's worker has passed that
// position. Recording queues a marker that stamps the time, for cuEventElapsedTime.
#include <algorithm>
#include <thread>

#include "state.h"

namespace {

void worker_main(CUstream_st* s) {
    State& g = G();
    std::unique_lock<std::mutex> l(g.mu);
    for (;;) {
        g.cv.wait(l, [&] { return !s->q.empty() || s->destroyed; });
        if (s->q.empty()) return;  // destroyed and drained
        Op op = std::move(s->q.front());
        s->q.pop_front();
        for (const auto& d : op.deps) {
            CUstream_st* other = d.first;
            const uint64_t seq = d.second;
            g.cv.wait(l, [&] { return other->completed >= seq; });
        }
        const long long delay = g.knobs.op_delay_us;
        l.unlock();
        if (delay > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay));
        // After a sticky error the context does no more work, but its streams still drain so
        // that every synchronisation returns (with the error).
        if (s->ctx->sticky.load() == 0 && op.run) {
            try {
                op.run();
            } catch (...) {
                std::lock_guard<std::mutex> k(g.mu);
                set_sticky(s->ctx, CUDA_ERROR_UNKNOWN, "exception in a queued operation");
            }
        }
        op = Op{};  // drop captured buffers before taking the lock again
        l.lock();
        s->completed++;
        g.cv.notify_all();
    }
}

bool is_legacy_handle(void* h) {
    const uintptr_t v = reinterpret_cast<uintptr_t>(h);
    return v == 0 || v == 1 || v == 2;  // NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD
}

}  // namespace

void start_worker(CUstream_st* s) { std::thread(worker_main, s).detach(); }

CUresult resolve_stream(void* h, CUstream_st** out) {
    CUstream_st* s = nullptr;
    if (is_legacy_handle(h)) {
        CUctx_st* c = valid_ctx(tl_current);
        if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
        s = c->legacy;
    } else {
        s = static_cast<CUstream_st*>(h);
        if (G().streams.count(s) == 0) return CUDA_ERROR_INVALID_HANDLE;
    }
    // Only kernel launches are captured (resolve_launch_stream); anything else on a capturing
    // stream (a copy, an allocation, a record, a wait, a query) is what the real driver refuses
    // or records as a node the double does not model: refused, and the capture is void.
    if (s->capturing) {
        s->capture_invalid = true;
        return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    }
    *out = s;
    return s->ctx->sticky.load();
}

CUresult resolve_launch_stream(void* h, CUstream_st** out) {
    if (!is_legacy_handle(h)) {
        auto* s = static_cast<CUstream_st*>(h);
        if (G().streams.count(s) != 0 && s->capturing) {
            *out = s;
            return s->ctx->sticky.load();
        }
    }
    return resolve_stream(h, out);
}

uint64_t enqueue(CUstream_st* s, std::function<void()> run,
                 std::vector<std::pair<CUstream_st*, uint64_t>> deps) {
    CUctx_st* c = s->ctx;
    if (s->legacy) {
        for (CUstream_st* b : c->streams)
            if (!b->non_blocking && b->submitted > b->completed) deps.push_back({b, b->submitted});
    } else if (!s->non_blocking) {
        CUstream_st* legacy = c->legacy;
        if (legacy->submitted > legacy->completed) deps.push_back({legacy, legacy->submitted});
    }
    s->q.push_back(Op{std::move(run), std::move(deps)});
    s->submitted++;
    G().cv.notify_all();
    return s->submitted;
}

void wait_for(std::unique_lock<std::mutex>& l, CUstream_st* s, uint64_t seq) {
    G().cv.wait(l, [&] { return s->completed >= seq; });
}

void wait_ctx(std::unique_lock<std::mutex>& l, CUctx_st* c) {
    wait_for(l, c->legacy, c->legacy->submitted);
    // A copy of the list: a destroyed stream still has to drain.
    std::vector<CUstream_st*> streams = c->streams;
    for (CUstream_st* s : streams) wait_for(l, s, s->submitted);
}

void dma_sleep(size_t bytes) {
    double gbps;
    {
        std::lock_guard<std::mutex> l(G().mu);
        gbps = G().knobs.dma_gbps;
    }
    if (gbps <= 0 || bytes == 0) return;
    std::this_thread::sleep_for(std::chrono::duration<double>((double)bytes / (gbps * 1e9)));
}

TP_API CUresult cuStreamCreate(CUstream_st** ph, unsigned flags) {
    return api(E_cuStreamCreate, [&]() -> CUresult {
        if (ph == nullptr || (flags & ~1u) != 0) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUctx_st* c = valid_ctx(tl_current);
        if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
        if (int e = c->sticky.load()) return e;
        // Forget destroyed streams that have drained (their handles stay allocated).
        auto& list = c->streams;
        list.erase(std::remove_if(list.begin(), list.end(),
                                  [](CUstream_st* o) { return o->destroyed && o->completed >= o->submitted; }),
                   list.end());
        auto* s = new CUstream_st;
        s->ctx = c;
        s->non_blocking = (flags & 1u) != 0;
        c->streams.push_back(s);
        G().streams.insert(s);
        start_worker(s);
        *ph = s;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuStreamDestroy_v2(CUstream_st* h) {
    return api(E_cuStreamDestroy_v2, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        if (G().streams.erase(h) == 0) return CUDA_ERROR_INVALID_HANDLE;
        // Returns at once; the worker finishes what was queued, then exits.
        h->destroyed = true;
        G().cv.notify_all();
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuStreamSynchronize(CUstream_st* h) {
    return api(E_cuStreamSynchronize, [&]() -> CUresult {
        std::unique_lock<std::mutex> l(G().mu);
        CUstream_st* s = nullptr;
        CUresult e = resolve_stream(h, &s);
        if (s == nullptr) return e;
        wait_for(l, s, s->submitted);
        pool_check(s->ctx->device);
        return s->ctx->sticky.load();
    });
}

TP_API CUresult cuStreamQuery(CUstream_st* h) {
    return api(E_cuStreamQuery, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        CUstream_st* s = nullptr;
        if (CUresult e = resolve_stream(h, &s)) return e;
        return s->completed >= s->submitted ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
    });
}

TP_API CUresult cuStreamWaitEvent(CUstream_st* h, CUevent_st* ev, unsigned flags) {
    return api(E_cuStreamWaitEvent, [&]() -> CUresult {
        if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUstream_st* s = nullptr;
        if (CUresult e = resolve_stream(h, &s)) return e;
        if (G().events.count(ev) == 0) return CUDA_ERROR_INVALID_HANDLE;
        // The most recent record at the time of this call; never recorded: nothing to wait for.
        if (!ev->rec) return CUDA_SUCCESS;
        enqueue(s, nullptr, {{ev->rec->stream, ev->rec->seq}});
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuEventCreate(CUevent_st** ph, unsigned flags) {
    return api(E_cuEventCreate, [&]() -> CUresult {
        // CU_EVENT_DEFAULT 0, BLOCKING_SYNC 1, DISABLE_TIMING 2, INTERPROCESS 4 (not modelled).
        if (ph == nullptr || (flags & ~3u) != 0) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUctx_st* c = valid_ctx(tl_current);
        if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
        if (int e = c->sticky.load()) return e;
        auto* ev = new CUevent_st;
        ev->ctx = c;
        ev->flags = flags;
        G().events.insert(ev);
        *ph = ev;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuEventRecord(CUevent_st* ev, CUstream_st* h) {
    return api(E_cuEventRecord, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        if (G().events.count(ev) == 0) return CUDA_ERROR_INVALID_HANDLE;
        CUstream_st* s = nullptr;
        if (CUresult e = resolve_stream(h, &s)) return e;
        auto rec = std::make_shared<Record>();
        rec->stream = s;
        Record* r = rec.get();
        rec->seq = enqueue(s, [r] {
            std::lock_guard<std::mutex> k(G().mu);
            r->at = std::chrono::steady_clock::now();
            r->stamped = true;
        });
        ev->rec = std::move(rec);
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuEventSynchronize(CUevent_st* ev) {
    return api(E_cuEventSynchronize, [&]() -> CUresult {
        std::unique_lock<std::mutex> l(G().mu);
        if (G().events.count(ev) == 0) return CUDA_ERROR_INVALID_HANDLE;
        if (int e = ev->ctx->sticky.load()) return e;
        std::shared_ptr<Record> rec = ev->rec;
        if (!rec) return CUDA_SUCCESS;
        wait_for(l, rec->stream, rec->seq);
        pool_check(rec->stream->ctx->device);
        return rec->stream->ctx->sticky.load();
    });
}

TP_API CUresult cuEventQuery(CUevent_st* ev) {
    return api(E_cuEventQuery, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        if (G().events.count(ev) == 0) return CUDA_ERROR_INVALID_HANDLE;
        if (int e = ev->ctx->sticky.load()) return e;
        if (!ev->rec) return CUDA_SUCCESS;
        if (int e = ev->rec->stream->ctx->sticky.load()) return e;
        return ev->rec->stream->completed >= ev->rec->seq ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
    });
}

TP_API CUresult cuEventDestroy_v2(CUevent_st* ev) {
    return api(E_cuEventDestroy_v2, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        // Queued waits hold their own copy of the record, so they are unaffected.
        if (G().events.erase(ev) == 0) return CUDA_ERROR_INVALID_HANDLE;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuEventElapsedTime(float* ms, CUevent_st* start, CUevent_st* end) {
    return api(E_cuEventElapsedTime, [&]() -> CUresult {
        if (ms == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        if (G().events.count(start) == 0 || G().events.count(end) == 0) return CUDA_ERROR_INVALID_HANDLE;
        if ((start->flags & 2u) || (end->flags & 2u)) return CUDA_ERROR_INVALID_HANDLE;
        if (!start->rec || !end->rec) return CUDA_ERROR_INVALID_HANDLE;
        if (int e = start->ctx->sticky.load()) return e;
        if (start->rec->stream->completed < start->rec->seq || end->rec->stream->completed < end->rec->seq)
            return CUDA_ERROR_NOT_READY;
        if (!start->rec->stamped || !end->rec->stamped) return CUDA_ERROR_INVALID_HANDLE;
        *ms = std::chrono::duration<float, std::milli>(end->rec->at - start->rec->at).count();
        return CUDA_SUCCESS;
    });
}
