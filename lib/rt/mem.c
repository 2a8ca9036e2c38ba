/* SPDX-License-Identifier: BSD-3-Clause */
/* Control-path memory for the modules above the runtime (co_mem_alloc). */
#include "rt_internal.h"

#include <errno.h>
#include <string.h>

void *co_mem_alloc(size_t size, size_t align)
{
    if (align < sizeof(void *))
        align = sizeof(void *);
#ifdef MDMUX_MIMALLOC
    void *p = mi_zalloc_aligned(size, align);
#else
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : 1) != 0)
        p = NULL;
    else
        memset(p, 0, size);
#endif
    if (!p)
        errno = ENOMEM;
    return p;
}

void co_mem_free(void *p)
{
    rt_free(p);
}
