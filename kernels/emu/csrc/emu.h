// emu.h: the launcher emu.cpp exports to glue.cpp (which calls the generated shims through it).
#pragma once

#include <cstddef>
#include <memory>

#include "shim.h"

// Runs body(ctx) once per CUDA thread of a grid x block launch. 0 on success; otherwise non-zero
// with a NUL-terminated message in err[0..err_len).
int tp_emu_launch(const unsigned grid[3], const unsigned block[3], void (*body)(void*), void* ctx,
                  char* err, size_t err_len);
