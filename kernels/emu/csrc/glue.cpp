// glue.cpp: what Rust calls (see src/lib.rs): launch a kernel by its entry name with a
// cuLaunchKernel-style argument array, and read the generated tables (emu_table.cpp).
#include <cstdio>
#include <cstring>

#include "emu.h"
#include "table.h"

namespace {
struct Call {
    void (*call)(void* const*);
    void* const* args;
};
}  // namespace

extern "C" int tp_emu_launch_entry(const char* entry, const unsigned grid[3], const unsigned block[3],
                                   void* const* args, size_t nargs, char* err, size_t err_len) {
    for (size_t i = 0; i < tp_emu_kernel_count; ++i) {
        const TpEmuKernel& k = tp_emu_kernels[i];
        if (std::strcmp(k.entry, entry) != 0) continue;
        if (nargs != k.nargs) {
            if (err_len > 0)
                snprintf(err, err_len, "%s takes %u arguments, %zu were passed", entry, k.nargs, nargs);
            return 1;
        }
        Call c{k.call, args};
        return tp_emu_launch(grid, block, [](void* v) {
            auto* c = static_cast<Call*>(v);
            c->call(c->args);
        }, &c, err, err_len);
    }
    if (err_len > 0) snprintf(err, err_len, "no kernel named %s", entry);
    return 1;
}

extern "C" size_t tp_emu_kernels_len(void) { return tp_emu_kernel_count; }

// Entry i's name (static) and argument count; 0 if i is out of range.
extern "C" int tp_emu_kernel_row(size_t i, const char** entry, unsigned* nargs) {
    if (i >= tp_emu_kernel_count) return 0;
    *entry = tp_emu_kernels[i].entry;
    *nargs = tp_emu_kernels[i].nargs;
    return 1;
}

extern "C" size_t tp_emu_layout_rows(void) { return tp_emu_layout_len; }

// Row i: struct and field names (NUL-terminated, static) and the offset or size. 0 if i is out
// of range.
extern "C" int tp_emu_layout_row(size_t i, const char** st, const char** field, size_t* value) {
    if (i >= tp_emu_layout_len) return 0;
    *st = tp_emu_layout[i].st;
    *field = tp_emu_layout[i].field;
    *value = tp_emu_layout[i].value;
    return 1;
}
