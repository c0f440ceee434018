// state.h: the model behind the CPU-backed CUDA driver double (libcuda.so, built by
// kernels/emu/build.rs): its handle types, the one process-wide state and the helpers every
// entry-point file shares.
//
// Why one global mutex: the double exists to make tensorport's host runtime meet the driver's
// *ordering* rules in tests, not to be fast. One mutex `G().mu` guards every table and queue and
// one condition variable `G().cv` is notified whenever any stream makes progress, so each rule is
// a few lines under that lock and no lock order can deadlock. Long work (kernel runs, sleeps) is
// done outside it.
//
// Handles are pointers to the structs below. They are never freed (a destroyed stream, event or
// module only leaves the live set), so a stale handle is recognised as INVALID_HANDLE instead of
// being read after free, and a queued dependency on a destroyed stream stays valid.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#define TP_API extern "C" __attribute__((visibility("default")))

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;

// The driver's status codes this double returns (values from cuda.h).
enum : int {
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_STUB_LIBRARY = 34,
    CUDA_ERROR_NO_DEVICE = 100,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_INVALID_IMAGE = 200,
    CUDA_ERROR_INVALID_CONTEXT = 201,
    CUDA_ERROR_INVALID_PTX = 218,
    CUDA_ERROR_INVALID_HANDLE = 400,
    CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_NOT_READY = 600,
    CUDA_ERROR_ILLEGAL_ADDRESS = 700,
    CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
    CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED = 704,
    CUDA_ERROR_LAUNCH_FAILED = 719,
    CUDA_ERROR_NOT_SUPPORTED = 801,
    CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
    CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
    CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD = 908,
    CUDA_ERROR_ILLEGAL_STATE = 401,
    CUDA_ERROR_UNKNOWN = 999,
};

// Every exported cu* entry point, in one list: the call counters and their names come from it.
#define TP_ENTRIES(X)                                                                            \
    X(cuInit) X(cuDriverGetVersion) X(cuDeviceGetCount) X(cuDeviceGet) X(cuDeviceGetName)        \
    X(cuDeviceGetAttribute) X(cuDeviceTotalMem_v2) X(cuDeviceGetUuid) X(cuDeviceGetUuid_v2)      \
    X(cuDeviceCanAccessPeer) X(cuDevicePrimaryCtxRetain) X(cuDevicePrimaryCtxRelease_v2)         \
    X(cuCtxSetCurrent) X(cuCtxGetCurrent) X(cuCtxGetDevice) X(cuCtxSynchronize)                  \
    X(cuCtxEnablePeerAccess) X(cuStreamCreate) X(cuStreamDestroy_v2) X(cuStreamSynchronize)      \
    X(cuStreamWaitEvent) X(cuStreamQuery) X(cuEventCreate) X(cuEventRecord)                      \
    X(cuEventSynchronize) X(cuEventQuery) X(cuEventDestroy_v2) X(cuEventElapsedTime)             \
    X(cuMemAlloc_v2) X(cuMemFree_v2) X(cuMemAllocAsync) X(cuMemFreeAsync) X(cuMemGetInfo_v2)     \
    X(cuDeviceGetDefaultMemPool) X(cuMemPoolSetAttribute) X(cuMemPoolGetAttribute)               \
    X(cuMemPoolTrimTo) X(cuMemHostAlloc) X(cuMemAllocHost_v2) X(cuMemFreeHost)                   \
    X(cuMemcpyHtoDAsync_v2) X(cuMemcpyDtoHAsync_v2) X(cuMemcpyDtoDAsync_v2)                      \
    X(cuMemcpyPeerAsync) X(cuMemcpyHtoD_v2) X(cuMemcpyDtoH_v2) X(cuMemcpyDtoD_v2)                \
    X(cuMemsetD8Async) X(cuMemsetD8_v2) X(cuModuleLoadData) X(cuModuleUnload)                    \
    X(cuModuleGetFunction) X(cuLaunchKernel) X(cuGetErrorString) X(cuGetErrorName)             \
    X(cuStreamBeginCapture_v2) X(cuStreamEndCapture) X(cuStreamIsCapturing)                     \
    X(cuGraphInstantiateWithFlags) X(cuGraphLaunch) X(cuGraphExecDestroy) X(cuGraphDestroy)

enum Entry : int {
#define TP_ENUM(n) E_##n,
    TP_ENTRIES(TP_ENUM)
#undef TP_ENUM
    E_COUNT
};

constexpr int kMaxDevices = 16;
constexpr int kAttributeMax = 135;  // CU_DEVICE_ATTRIBUTE_MAX in the CUDA 12.4 headers

struct CUstream_st;

// A primary context: one per device, created on first retain and never destroyed.
struct CUctx_st {
    int device = 0;
    int refcount = 0;
    CUstream_st* legacy = nullptr;     // the context's legacy (NULL) stream
    std::vector<CUstream_st*> streams;  // explicit streams created in this context
    std::set<CUctx_st*> peers;          // cuCtxEnablePeerAccess
    std::atomic<int> sticky{0};         // the sticky error, 0 while healthy
    std::string last_error;             // what the emulator reported for a failed launch
};

// One queued operation and the positions of other streams it must wait for first.
struct Op {
    std::function<void()> run;
    std::vector<std::pair<CUstream_st*, uint64_t>> deps;
};

// A stream: its own worker thread runs `q` in order. `submitted`/`completed` count operations,
// so "position N of stream S is done" is `S->completed >= N` (how events are modelled).
struct CUstream_st {
    CUctx_st* ctx = nullptr;
    bool legacy = false;
    bool non_blocking = false;  // CU_STREAM_NON_BLOCKING: no implicit sync with the legacy one
    bool destroyed = false;
    uint64_t submitted = 0;
    uint64_t completed = 0;
    std::deque<Op> q;
    // Stream capture (graph.cpp): while `capturing`, kernel launches are recorded into
    // `captured` instead of queued, and any other operation on the stream is refused and
    // invalidates the capture, as the real driver refuses what a graph cannot hold.
    bool capturing = false;
    bool capture_invalid = false;
    std::vector<std::function<void()>> captured;
};

// What one cuEventRecord captured: the stream and its position, and when that position ran.
struct Record {
    CUstream_st* stream = nullptr;
    uint64_t seq = 0;
    bool stamped = false;
    std::chrono::steady_clock::time_point at;
};

struct CUevent_st {
    CUctx_st* ctx = nullptr;
    unsigned flags = 0;
    std::shared_ptr<Record> rec;  // the most recent record; null: never recorded
};

// The device's default memory pool. `used` is memory held by live pool allocations, `idle` is
// freed memory the pool still reserves (reserved = used + idle, as the driver reports it).
struct CUmemPoolHandle_st {
    int device = 0;
    uint64_t threshold = 0;
    uint64_t used = 0, idle = 0;
    uint64_t used_high = 0, reserved_high = 0;
    int reuse[3] = {1, 1, 1};
};

// One device allocation. `size` is what was asked for, `rounded` what it holds (256-aligned,
// ending exactly at a PROT_NONE guard page). Freed entries stay in the table (marked dead) so a
// stale pointer is recognised and its address is never handed out again.
struct Alloc {
    uintptr_t base = 0;
    size_t size = 0, rounded = 0;
    int device = 0;
    bool live = true;
    bool pooled = false;        // from cuMemAllocAsync
    bool free_queued = false;   // cuMemFreeAsync queued but not yet executed
};

struct PinnedBlock {
    size_t size = 0, map_len = 0;
};

struct Knobs {
    int devices = 1;
    bool pools[kMaxDevices];  // memory pools (stream-ordered allocation) supported
    uint64_t mem_bytes[kMaxDevices];
    double dma_gbps = 0;  // 0: copies take no time
    long long op_delay_us = 0;
    bool stub = false;
    long long fail_alloc[kMaxDevices] = {};    // countdowns, 0: disarmed
    long long fail_launch[kMaxDevices] = {};
    long long fault_launch[kMaxDevices] = {};
    Knobs() {
        for (auto& m : mem_bytes) m = 4096ull << 20;
        for (auto& p : pools) p = true;
    }
};

struct Device {
    CUctx_st* ctx = nullptr;  // created on first retain
    CUmemPoolHandle_st pool;
    uint64_t committed = 0;  // rounded bytes of live allocations (counted against capacity)
    uint64_t live_allocs = 0, live_bytes = 0;
    uint64_t pool_releases = 0;
};

struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool inited = false;
    Knobs knobs;
    Device dev[kMaxDevices];
    std::set<CUstream_st*> streams;  // live explicit streams
    std::set<CUevent_st*> events;
    std::map<uintptr_t, Alloc> allocs;
    std::map<uintptr_t, PinnedBlock> pinned;
    uint64_t pinned_allocs = 0, pinned_bytes = 0;
    std::atomic<uint64_t> calls[E_COUNT] = {};  // zeroed: the state is heap-allocated
};

// The process-wide state (deliberately leaked: detached worker threads may outlive main).
State& G();
extern const char* const kEntryNames[E_COUNT];
extern thread_local CUctx_st* tl_current;

// Counts the call, then refuses it under the stub knob or before cuInit, then runs `f`; no C++
// exception crosses the C ABI.
CUresult api_checked(Entry e, bool need_init, CUresult (*thunk)(void*), void* f);
template <class F>
CUresult api(Entry e, F&& f) {
    return api_checked(e, true, [](void* p) -> CUresult { return (*static_cast<F*>(p))(); }, &f);
}
template <class F>
CUresult api_noinit(Entry e, F&& f) {
    return api_checked(e, false, [](void* p) -> CUresult { return (*static_cast<F*>(p))(); }, &f);
}

// init.cpp (all with G().mu held)
bool valid_device(int d);
CUctx_st* valid_ctx(CUctx_st* c);  // c if it is one of the primary contexts, else null
void set_sticky(CUctx_st* c, int code, const std::string& why);
bool take_countdown(long long& counter);  // true when an armed countdown reaches its Nth event

// stream.cpp (all with G().mu held; the waits release it while they block)
void start_worker(CUstream_st* s);
// The stream `h` names (0, 1, 2: the current context's legacy stream) or an error.
CUresult resolve_stream(void* h, CUstream_st** out);
// resolve_stream that lets a kernel launch reach a capturing stream (it is recorded there).
CUresult resolve_launch_stream(void* h, CUstream_st** out);
uint64_t enqueue(CUstream_st* s, std::function<void()> run,
                 std::vector<std::pair<CUstream_st*, uint64_t>> deps = {});
void wait_for(std::unique_lock<std::mutex>& l, CUstream_st* s, uint64_t seq);
void wait_ctx(std::unique_lock<std::mutex>& l, CUctx_st* c);
void dma_sleep(size_t bytes);  // without the lock

// memory.cpp (with G().mu held)
// The live allocation holding [p, p + n), or null. n == 0 asks only for p itself.
const Alloc* find_alloc(uintptr_t p, size_t n);
bool in_pinned(const void* p, size_t n);
void pool_check(int device);  // the release-threshold rule, at every synchronisation
