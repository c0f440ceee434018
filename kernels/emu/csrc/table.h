// table.h: the rows of the tables that kernels/gen.rs generates into emu_table.cpp.
#pragma once

#include <cstddef>

// One kernel: its `extern "C"` entry name, the shim that unpacks a cuLaunchKernel-style argument
// array into a call, how many arguments it takes (the params struct, then the operands), and
// sizeof its params struct (what the PTX entry's `.param .b8 NAME[N]` must declare; the driver
// double checks it when a module is loaded).
struct TpEmuKernel {
    const char* entry;
    void (*call)(void* const* args);
    unsigned nargs;
    size_t params_size;
};

// The offset of a params field, or (field "") the size of the struct, as g++ lays it out.
struct TpEmuLayoutRow {
    const char* st;
    const char* field;
    size_t value;
};

extern "C" const TpEmuKernel tp_emu_kernels[];
extern "C" const size_t tp_emu_kernel_count;
extern "C" const TpEmuLayoutRow tp_emu_layout[];
extern "C" const size_t tp_emu_layout_len;
