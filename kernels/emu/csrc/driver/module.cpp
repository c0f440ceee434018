// module.cpp: cuModuleLoadData (PTX text), cuModuleGetFunction and cuLaunchKernel.
//
// The double cannot JIT PTX; it runs the same kernels' C++ build through the emulator instead.
// So loading a module parses just what the driver would check at load and launch time: every
// `.entry NAME(` with its `.param` list (sizes, in bytes) and its `.maxntid` / `.reqntid`. Each
// entry must be one the emulator was built with (NOT_FOUND otherwise), with the same argument
// count and a first param exactly sizeof its params struct (INVALID_PTX otherwise): that is
// the check that catches PTX and the C++ build disagreeing.
//
// A launch is validated synchronously the way the driver does (dimensions, launch bounds, no
// dynamic shared memory, kernelParams given), copies every argument's bytes right away (the
// caller may reuse them at once), and is queued. When it runs on the stream's worker, every
// non-null pointer argument must lie inside a live allocation of the launch's device (else a
// sticky CUDA_ERROR_ILLEGAL_ADDRESS), and an emulator failure is a sticky
// CUDA_ERROR_LAUNCH_FAILED.
#include <cctype>
#include <cstdio>
#include <cstring>

#include "../table.h"
#include "state.h"

extern "C" int tp_emu_launch_entry(const char* entry, const unsigned grid[3], const unsigned block[3],
                                   void* const* args, size_t nargs, char* err, size_t err_len);

struct CUmod_st;

struct CUfunc_st {
    CUmod_st* mod = nullptr;
    const TpEmuKernel* kernel = nullptr;
    std::string name;
    std::vector<size_t> sizes;  // bytes of each .param
    unsigned maxntid[3] = {0, 0, 0};  // 0: not declared
    unsigned reqntid[3] = {0, 0, 0};
};

struct CUmod_st {
    CUctx_st* ctx = nullptr;
    std::vector<CUfunc_st*> funcs;
};

namespace {

std::set<CUmod_st*> g_modules;  // guarded by G().mu
std::set<CUfunc_st*> g_funcs;

std::string strip_comments(const char* s) {
    std::string out;
    for (const char* p = s; *p;) {
        if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n') ++p;
        } else if (p[0] == '/' && p[1] == '*') {
            p += 2;
            while (*p && !(p[0] == '*' && p[1] == '/')) ++p;
            if (*p) p += 2;
        } else {
            out += *p++;
        }
    }
    return out;
}

bool ident_char(char c) { return std::isalnum((unsigned char)c) || c == '_' || c == '$'; }

// Bytes of a PTX scalar type (".u64", ".b8", ".f32", ...); 0 if not one.
size_t type_size(const std::string& t) {
    if (t.size() < 3 || t[0] != '.' || std::strchr("ubsf", t[1]) == nullptr) return 0;
    const std::string bits = t.substr(2);
    if (bits == "8") return 1;
    if (bits == "16") return 2;
    if (bits == "32") return 4;
    if (bits == "64") return 8;
    return 0;
}

// One `.param ...` declaration: its size in bytes, 0 if malformed.
size_t param_size(const std::string& decl) {
    size_t elem = 0, count = 1;
    size_t i = 0;
    while (i < decl.size()) {
        while (i < decl.size() && std::isspace((unsigned char)decl[i])) ++i;
        size_t j = i;
        while (j < decl.size() && !std::isspace((unsigned char)decl[j])) ++j;
        const std::string tok = decl.substr(i, j - i);
        if (size_t sz = type_size(tok)) elem = sz;
        const size_t lb = tok.find('[');
        if (lb != std::string::npos) count = std::strtoull(tok.c_str() + lb + 1, nullptr, 10);
        i = j;
    }
    return elem * count;
}

// `.maxntid 256, 1, 1` after position `from` (before the body's '{'); missing dims are 1.
void read_ntid(const std::string& t, size_t from, size_t to, const char* key, unsigned out[3]) {
    const size_t k = t.find(key, from);
    if (k == std::string::npos || k >= to) return;
    const char* p = t.c_str() + k + std::strlen(key);
    for (int d = 0; d < 3; ++d) {
        char* end = nullptr;
        const unsigned long v = std::strtoul(p, &end, 10);
        out[d] = (end == p) ? 1u : (unsigned)v;
        if (end == p) continue;
        p = end;
        while (std::isspace((unsigned char)*p)) ++p;
        if (*p != ',') {
            for (int r = d + 1; r < 3; ++r) out[r] = 1;
            return;
        }
        ++p;
    }
}

const TpEmuKernel* registry(const std::string& name) {
    for (size_t i = 0; i < tp_emu_kernel_count; ++i)
        if (name == tp_emu_kernels[i].entry) return &tp_emu_kernels[i];
    return nullptr;
}

// Parses every entry of `text` into `out`; a CUresult on failure.
CUresult parse(const std::string& t, std::vector<CUfunc_st*>& out) {
    if (t.find(".version") == std::string::npos) return CUDA_ERROR_INVALID_PTX;
    size_t pos = 0;
    while ((pos = t.find(".entry", pos)) != std::string::npos) {
        pos += 6;
        if (pos >= t.size() || !std::isspace((unsigned char)t[pos])) continue;
        while (pos < t.size() && std::isspace((unsigned char)t[pos])) ++pos;
        const size_t name_start = pos;
        while (pos < t.size() && ident_char(t[pos])) ++pos;
        const std::string name = t.substr(name_start, pos - name_start);
        while (pos < t.size() && std::isspace((unsigned char)t[pos])) ++pos;
        if (name.empty() || pos >= t.size() || t[pos] != '(') return CUDA_ERROR_INVALID_PTX;
        const size_t close = t.find(')', pos);
        const size_t body = t.find('{', pos);
        if (close == std::string::npos || body == std::string::npos || body < close)
            return CUDA_ERROR_INVALID_PTX;
        auto f = std::make_unique<CUfunc_st>();
        f->name = name;
        const std::string params = t.substr(pos + 1, close - pos - 1);
        size_t start = 0;
        while (start < params.size()) {
            size_t comma = params.find(',', start);
            if (comma == std::string::npos) comma = params.size();
            const std::string decl = params.substr(start, comma - start);
            if (decl.find(".param") != std::string::npos) {
                const size_t sz = param_size(decl);
                if (sz == 0) return CUDA_ERROR_INVALID_PTX;
                f->sizes.push_back(sz);
            }
            start = comma + 1;
        }
        read_ntid(t, close, body, ".maxntid", f->maxntid);
        read_ntid(t, close, body, ".reqntid", f->reqntid);
        const TpEmuKernel* k = registry(name);
        if (k == nullptr) return CUDA_ERROR_NOT_FOUND;
        if (f->sizes.size() != k->nargs || f->sizes[0] != k->params_size) return CUDA_ERROR_INVALID_PTX;
        for (size_t i = 1; i < f->sizes.size(); ++i)
            if (f->sizes[i] != 8) return CUDA_ERROR_INVALID_PTX;  // operands are device pointers
        f->kernel = k;
        out.push_back(f.release());
        pos = body;
    }
    return CUDA_SUCCESS;
}

}  // namespace

TP_API CUresult cuModuleLoadData(CUmod_st** mod, const void* image) {
    return api(E_cuModuleLoadData, [&]() -> CUresult {
        if (mod == nullptr || image == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        CUctx_st* c = valid_ctx(tl_current);
        if (c == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
        if (int e = c->sticky.load()) return e;
        const char* text = static_cast<const char*>(image);
        if (std::memcmp(text, "\x7f" "ELF", 4) == 0) return CUDA_ERROR_INVALID_IMAGE;  // cubin: not modelled
        std::vector<CUfunc_st*> funcs;
        const CUresult e = parse(strip_comments(text), funcs);
        if (e != CUDA_SUCCESS) {
            for (CUfunc_st* f : funcs) delete f;
            return e;
        }
        auto* m = new CUmod_st;
        m->ctx = c;
        m->funcs = std::move(funcs);
        for (CUfunc_st* f : m->funcs) {
            f->mod = m;
            g_funcs.insert(f);
        }
        g_modules.insert(m);
        *mod = m;
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuModuleUnload(CUmod_st* m) {
    return api(E_cuModuleUnload, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        if (g_modules.erase(m) == 0) return CUDA_ERROR_INVALID_HANDLE;
        // Queued launches hold their own copies; the handles stay allocated (never reused).
        for (CUfunc_st* f : m->funcs) g_funcs.erase(f);
        return CUDA_SUCCESS;
    });
}

TP_API CUresult cuModuleGetFunction(CUfunc_st** out, CUmod_st* m, const char* name) {
    return api(E_cuModuleGetFunction, [&]() -> CUresult {
        if (out == nullptr || name == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> l(G().mu);
        if (g_modules.count(m) == 0) return CUDA_ERROR_INVALID_HANDLE;
        if (int e = m->ctx->sticky.load()) return e;
        for (CUfunc_st* f : m->funcs) {
            if (f->name == name) {
                *out = f;
                return CUDA_SUCCESS;
            }
        }
        return CUDA_ERROR_NOT_FOUND;
    });
}

namespace {

// The driver's synchronous launch checks; CUDA_SUCCESS if the configuration is acceptable.
CUresult check_config(const CUfunc_st* f, const unsigned g[3], const unsigned b[3]) {
    if (g[0] == 0 || g[1] == 0 || g[2] == 0) return CUDA_ERROR_INVALID_VALUE;
    if (g[0] > 0x7fffffffu || g[1] > 65535u || g[2] > 65535u) return CUDA_ERROR_INVALID_VALUE;
    if (b[0] == 0 || b[1] == 0 || b[2] == 0) return CUDA_ERROR_INVALID_VALUE;
    if (b[0] > 1024u || b[1] > 1024u || b[2] > 64u) return CUDA_ERROR_INVALID_VALUE;
    const unsigned long long threads = (unsigned long long)b[0] * b[1] * b[2];
    if (threads > 1024u) return CUDA_ERROR_INVALID_VALUE;
    if (f->maxntid[0] != 0 &&
        threads > (unsigned long long)f->maxntid[0] * f->maxntid[1] * f->maxntid[2])
        return CUDA_ERROR_INVALID_VALUE;
    for (int d = 0; d < 3; ++d)
        if (f->reqntid[0] != 0 && b[d] > f->reqntid[d]) return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

// Runs on the stream's worker: the pointer checks, then the emulator.
void run_launch(CUctx_st* c, const TpEmuKernel* k, std::vector<size_t> offsets,
                std::vector<unsigned char>& bytes, const std::vector<size_t>& sizes,
                const unsigned grid[3], const unsigned block[3], bool fault) {
    {
        std::lock_guard<std::mutex> l(G().mu);
        for (size_t i = 1; i < sizes.size(); ++i) {
            uint64_t p = 0;
            std::memcpy(&p, bytes.data() + offsets[i], sizeof p);
            if (p == 0) continue;
            const Alloc* a = find_alloc((uintptr_t)p, 0);
            if (a == nullptr || a->device != c->device) {
                char buf[200];
                std::snprintf(buf, sizeof buf,
                              "%s: argument %zu (0x%llx) is not inside a live allocation of cuda:%d",
                              k->entry, i, (unsigned long long)p, c->device);
                set_sticky(c, CUDA_ERROR_ILLEGAL_ADDRESS, buf);
                return;
            }
        }
        if (fault) {
            set_sticky(c, CUDA_ERROR_ILLEGAL_ADDRESS,
                       std::string(k->entry) + ": fault injected by TP_FAKE_CUDA_FAULT_LAUNCH");
            return;
        }
    }
    std::vector<void*> argv(sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) argv[i] = bytes.data() + offsets[i];
    char err[512] = {};
    if (tp_emu_launch_entry(k->entry, grid, block, argv.data(), argv.size(), err, sizeof err) != 0) {
        std::lock_guard<std::mutex> l(G().mu);
        set_sticky(c, CUDA_ERROR_LAUNCH_FAILED, std::string(k->entry) + ": " + err);
    }
}

}  // namespace

TP_API CUresult cuLaunchKernel(CUfunc_st* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                               unsigned by, unsigned bz, unsigned shared, CUstream_st* h,
                               void** params, void** extra) {
    return api(E_cuLaunchKernel, [&]() -> CUresult {
        std::lock_guard<std::mutex> l(G().mu);
        if (g_funcs.count(f) == 0) return CUDA_ERROR_INVALID_HANDLE;
        CUstream_st* s = nullptr;
        if (CUresult e = resolve_launch_stream(h, &s)) return e;
        if (f->mod->ctx != s->ctx) return CUDA_ERROR_INVALID_HANDLE;  // function of another context
        const unsigned grid[3] = {gx, gy, gz};
        const unsigned block[3] = {bx, by, bz};
        if (CUresult e = check_config(f, grid, block)) return e;
        // Only static __shared__ is emulated; `extra` packing is not modelled.
        if (shared != 0 || extra != nullptr || params == nullptr) return CUDA_ERROR_INVALID_VALUE;
        std::vector<size_t> offsets;
        size_t total = 0;
        for (size_t i = 0; i < f->sizes.size(); ++i) {
            if (params[i] == nullptr) return CUDA_ERROR_INVALID_VALUE;
            offsets.push_back(total);
            total += (f->sizes[i] + 15) / 16 * 16;  // keep every argument 16-byte aligned
        }
        const int dev = s->ctx->device;
        if (take_countdown(G().knobs.fail_launch[dev])) return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
        const bool fault = take_countdown(G().knobs.fault_launch[dev]);
        // 16-byte aligned storage (vector<max_align_t>-sized) so a params struct copy is aligned.
        auto bytes = std::make_shared<std::vector<unsigned char>>(total + 16);
        unsigned char* base = bytes->data();
        const size_t shift = (16 - reinterpret_cast<uintptr_t>(base) % 16) % 16;
        for (size_t i = 0; i < f->sizes.size(); ++i) {
            offsets[i] += shift;
            std::memcpy(base + offsets[i], params[i], f->sizes[i]);
        }
        CUctx_st* c = s->ctx;
        const TpEmuKernel* k = f->kernel;
        const std::vector<size_t> sizes = f->sizes;
        auto run = [=] {
            const unsigned g3[3] = {gx, gy, gz};
            const unsigned b3[3] = {bx, by, bz};
            run_launch(c, k, offsets, *bytes, sizes, g3, b3, fault);
        };
        // Captured: the arguments were copied above, so each replay runs this very launch.
        if (s->capturing) {
            s->captured.push_back(run);
        } else {
            enqueue(s, run);
        }
        return CUDA_SUCCESS;
    });
}
