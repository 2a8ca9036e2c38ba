/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer driver: FZ_ENTRY (fz_classify, fz_proto, fz_config or fz_capture, set by
 * tests/fuzz/meson.build) on each input. A broken invariant prints its message and
 * aborts, which libFuzzer reports as a crash and saves the input.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: fuzz invariant '%s' broken: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return FZ_ENTRY(data, size);
}
