/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mbuf dynfield lib/io fills for feed handlers. One 24-byte field rather than
 * three: one registration, one offset load per access, and the fields a handler reads
 * together share a cache line.
 */
#include <errno.h>

#include <rte_errno.h>

#include "io_internal.h"

int io_mbuf_meta_off = -1;

int io_mbuf_register(void)
{
    static const struct rte_mbuf_dynfield desc = {
        .name = "mdmux_io_meta",
        .size = sizeof(io_mbuf_meta_t),
        .align = __alignof__(io_mbuf_meta_t),
    };
    if (io_mbuf_meta_off >= 0)
        return 0;
    int off = rte_mbuf_dynfield_register(&desc);
    if (off < 0)
        return -rte_errno;
    io_mbuf_meta_off = off;
    return 0;
}
