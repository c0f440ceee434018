// emu.cpp: runs a CUDA kernel compiled as C++ (see shim.h) on the CPU.
//
// Design
// - Every CUDA thread of a block is a fiber with its own 64 KiB stack (plus a PROT_NONE guard
//   page below it, so an overflow faults instead of corrupting a neighbour). A fiber is created
//   once per worker with makecontext and entered the first time with setcontext; every later
//   switch is _setjmp/_longjmp, which (unlike swapcontext) makes no system call.
// - A fiber runs the kernel body as one thread, then parks; the next block re-uses it, so the
//   context set-up is paid once per launch and worker, not once per block.
// - A block runs in rounds: the scheduler resumes each live fiber in thread order; a fiber runs
//   until it calls __syncthreads() (parks "at barrier") or returns (parks "done"). After a round
//   either every thread is done (the block is finished), or every thread waits at the same
//   __syncthreads() call site (release them all: next round), or the barrier is divergent: some
//   threads exited or wait at another call site. That is reported as an error, not a hang.
// - Blocks run in parallel: one worker thread per core (at most one per block) takes block
//   indices from an atomic counter. __shared__ is thread_local (shim.h), i.e. per worker, i.e.
//   per running block. The first error stops every worker.
// Limits: no dynamic shared memory, warp intrinsics, atomics or race detection; at most 1024
// threads per block; blocks of one launch share nothing but global memory.
#include "emu.h"

#include <setjmp.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace {

constexpr size_t kStackBytes = 64 * 1024;
constexpr size_t kGuardBytes = 4096;
constexpr unsigned kMaxThreads = 1024;

enum class State { Ready, AtBarrier, Done };

struct Fiber {
    jmp_buf jb;          // where the fiber is parked
    ucontext_t uc;       // its initial context (used once)
    bool started;        // entered at least once
    State state;
    void* barrier_site;  // return address of the __syncthreads() it waits in
};

struct Launch {
    void (*body)(void*);
    void* ctx;
    dim3 grid;
    dim3 block;
    unsigned long long blocks;
    std::atomic<unsigned long long> next{0};
    std::atomic<bool> failed{false};
    std::mutex mu;
    std::string message;

    void fail(const std::string& m) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.exchange(true)) message = m;
    }
};

struct Worker {
    Launch* launch;
    std::vector<Fiber> fibers;
    unsigned current;  // index of the running fiber
    jmp_buf sched;     // the scheduler, parked while a fiber runs
};

thread_local Worker* tl_worker = nullptr;

// Entry of every fiber: run the kernel as thread `me`, park as done, repeat for the next block.
void fiber_main() {
    Worker* w = tl_worker;
    const unsigned me = w->current;
    for (;;) {
        w->launch->body(w->launch->ctx);
        Fiber& f = w->fibers[me];
        f.state = State::Done;
        if (_setjmp(f.jb) == 0) _longjmp(w->sched, 1);
        // Resumed by the scheduler for the next block: loop.
    }
}

uint3 thread_index(unsigned i, dim3 b) {
    return uint3{i % b.x, (i / b.x) % b.y, i / (b.x * b.y)};
}

// Switches to fiber i and returns when it has parked again (at a barrier or done). A separate
// function so that no local of the caller lives across the _setjmp.
__attribute__((noinline)) void resume(Worker& w, unsigned i, char* stacks) {
    Fiber& f = w.fibers[i];
    w.current = i;
    threadIdx = thread_index(i, w.launch->block);
    if (_setjmp(w.sched) != 0) return;  // fiber i parked and jumped back here
    if (f.started) _longjmp(f.jb, 1);
    // First entry: build the context on this fiber's stack slot (above its guard page).
    f.started = true;
    getcontext(&f.uc);
    f.uc.uc_stack.ss_sp = stacks + (size_t)i * (kStackBytes + kGuardBytes) + kGuardBytes;
    f.uc.uc_stack.ss_size = kStackBytes;
    f.uc.uc_link = nullptr;
    makecontext(&f.uc, fiber_main, 0);
    setcontext(&f.uc);
}

// Runs one block; false (with the launch marked failed) on a divergent barrier.
bool run_block(Worker& w, unsigned long long bid, char* stacks) {
    const Launch& L = *w.launch;
    const unsigned n = L.block.x * L.block.y * L.block.z;
    blockIdx = uint3{(unsigned)(bid % L.grid.x), (unsigned)((bid / L.grid.x) % L.grid.y),
                     (unsigned)(bid / ((unsigned long long)L.grid.x * L.grid.y))};
    for (unsigned i = 0; i < n; ++i) w.fibers[i].state = State::Ready;
    for (;;) {
        for (unsigned i = 0; i < n; ++i) resume(w, i, stacks);
        unsigned done = 0;
        void* site = nullptr;
        bool same_site = true;
        for (unsigned i = 0; i < n; ++i) {
            const Fiber& f = w.fibers[i];
            if (f.state == State::Done) {
                ++done;
            } else if (site == nullptr) {
                site = f.barrier_site;
            } else if (f.barrier_site != site) {
                same_site = false;
            }
        }
        if (done == n) return true;
        if (done != 0 || !same_site) {
            char buf[256];
            snprintf(buf, sizeof buf,
                     "divergent __syncthreads in block (%u,%u,%u): %u of %u threads exited, the "
                     "others wait at %s call site",
                     blockIdx.x, blockIdx.y, blockIdx.z, done, n,
                     same_site ? "one" : "more than one");
            w.launch->fail(buf);
            return false;
        }
        for (unsigned i = 0; i < n; ++i) w.fibers[i].state = State::Ready;
    }
}

void worker_main(Launch* L) {
    const unsigned n = L->block.x * L->block.y * L->block.z;
    const size_t bytes = (size_t)n * (kStackBytes + kGuardBytes);
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        L->fail("mmap of fiber stacks failed");
        return;
    }
    char* stacks = static_cast<char*>(mem);
    for (unsigned i = 0; i < n; ++i) {
        if (mprotect(stacks + (size_t)i * (kStackBytes + kGuardBytes), kGuardBytes, PROT_NONE) != 0) {
            L->fail("mprotect of a fiber guard page failed");
            munmap(mem, bytes);
            return;
        }
    }
    Worker w;
    w.launch = L;
    w.fibers.assign(n, Fiber{});
    w.current = 0;
    tl_worker = &w;
    blockDim = L->block;
    gridDim = L->grid;
    while (!L->failed.load(std::memory_order_relaxed)) {
        const unsigned long long bid = L->next.fetch_add(1);
        if (bid >= L->blocks) break;
        if (!run_block(w, bid, stacks)) break;
    }
    // Fibers left parked after an error are simply dropped: kernel code owns no resources.
    tl_worker = nullptr;
    munmap(mem, bytes);
}

}  // namespace

extern "C" void __syncthreads(void) {
    Worker* w = tl_worker;
    Fiber& f = w->fibers[w->current];
    f.state = State::AtBarrier;
    f.barrier_site = __builtin_return_address(0);
    if (_setjmp(f.jb) == 0) _longjmp(w->sched, 1);
    // Released: the scheduler has set threadIdx back to this fiber's.
}

int tp_emu_launch(const unsigned grid[3], const unsigned block[3], void (*body)(void*), void* ctx,
                  char* err, size_t err_len) {
    auto report = [&](const char* m) {
        if (err_len > 0) snprintf(err, err_len, "%s", m);
        return 1;
    };
    const unsigned long long threads = (unsigned long long)block[0] * block[1] * block[2];
    if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0) return report("grid dimension 0");
    if (block[0] == 0 || block[1] == 0 || block[2] == 0) return report("block dimension 0");
    if (threads > kMaxThreads) return report("more than 1024 threads per block");
    // CUDA's limits (compute capability 7.0+): grid.x < 2^31, grid.y and grid.z <= 65535,
    // block.x and block.y <= 1024, block.z <= 64.
    if (grid[0] > 0x7fffffffu || grid[1] > 65535u || grid[2] > 65535u)
        return report("grid exceeds CUDA's limits (2^31-1, 65535, 65535)");
    if (block[2] > 64) return report("block.z exceeds 64");
    std::unique_ptr<Launch> L;
    std::vector<std::thread> workers;
    // No C++ exception may unwind into Rust: a failed allocation or thread start becomes an
    // error, after joining whatever workers did start.
    try {
        L = std::make_unique<Launch>();
        L->body = body;
        L->ctx = ctx;
        L->grid = dim3{grid[0], grid[1], grid[2]};
        L->block = dim3{block[0], block[1], block[2]};
        L->blocks = (unsigned long long)grid[0] * grid[1] * grid[2];
        unsigned cores = std::thread::hardware_concurrency();
        if (cores == 0) cores = 1;
        const unsigned long long nworkers = std::min<unsigned long long>(cores, L->blocks);
        workers.reserve(nworkers);
        for (unsigned long long i = 0; i < nworkers; ++i) workers.emplace_back(worker_main, L.get());
    } catch (...) {
        if (!L) return report("out of memory");
        L->fail("could not start the emulator's worker threads");
    }
    for (auto& t : workers) t.join();
    if (L->failed.load()) return report(L->message.c_str());
    return 0;
}
