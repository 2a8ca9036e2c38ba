/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/io helpers: NUMA-placed control-path memory, error formatting. */
#include <errno.h>
#include <numa.h>
#include <stdio.h>

#include "io_internal.h"

/* Every block starts with this header so io_free() knows how it was obtained. */
typedef struct io_blk {
    size_t bytes;    /* numa_alloc_onnode size, 0 for co_mem_alloc */
    uint64_t pad[7]; /* keep the payload cache-line aligned */
} io_blk_t;

void *io_alloc(size_t size, int node)
{
    size_t bytes = size + sizeof(io_blk_t);
    io_blk_t *b;
    if (node >= 0 && numa_available() >= 0) {
        b = numa_alloc_onnode(bytes, node); /* zeroed pages */
        if (b == NULL)
            return NULL;
        b->bytes = bytes;
    } else {
        b = co_mem_alloc(bytes, 64);
        if (b == NULL)
            return NULL;
        b->bytes = 0;
    }
    return b + 1;
}

void io_free(void *p)
{
    if (p == NULL)
        return;
    io_blk_t *b = (io_blk_t *)p - 1;
    if (b->bytes)
        numa_free(b, b->bytes);
    else
        co_mem_free(b);
}

int io_err(char *err, size_t errlen, int e, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -e;
}
