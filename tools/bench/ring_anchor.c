/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ring_anchor: the rte_ring anchor of chan.spsc.* (DPDK 22.11, Debian's libdpdk-dev).
 *
 * The ring lives in aligned_alloc()ed memory sized by rte_ring_get_memsize() and is
 * set up by rte_ring_init() with RING_F_SP_ENQ | RING_F_SC_DEQ: no EAL, no memzone,
 * no hugepages. It runs in the same harness (xcore.h) as lib/chan's SPSC channel:
 *
 *   burst > 1:  rte_ring_enqueue_burst() / rte_ring_dequeue_burst() (SP/SC by the flags)
 *   burst == 1: rte_ring_sp_enqueue() / rte_ring_sc_dequeue()
 *
 * This file alone is compiled with DPDK's flags (meson: a static library linked into
 * bench_chan), so they do not change how the rest of the benchmark is built.
 */
#include "xcore.h"

#include <rte_ring.h>

static inline unsigned ring_send(void *ring, uintptr_t *objs, unsigned n)
{
    struct rte_ring *r = ring;
    if (n == 1)
        return rte_ring_sp_enqueue(r, (void *)objs[0]) == 0;
    return rte_ring_enqueue_burst(r, (void *const *)objs, n, NULL);
}

static inline unsigned ring_recv(void *ring, uintptr_t *objs, unsigned n)
{
    struct rte_ring *r = ring;
    if (n == 1)
        return rte_ring_sc_dequeue(r, (void **)objs) == 0;
    return rte_ring_dequeue_burst(r, (void **)objs, n, NULL);
}

#define XCORE_NAME                ring
#define XCORE_SEND(ring, objs, n) ring_send(ring, objs, n)
#define XCORE_RECV(ring, objs, n) ring_recv(ring, objs, n)
#include "xcore.h"

void *bench_ring_new(unsigned count)
{
    ssize_t size = rte_ring_get_memsize(count);
    if (size < 0)
        bench_die("rte_ring_get_memsize(%u): %s", count, strerror((int)-size));
    size_t bytes = ((size_t)size + 127) & ~(size_t)127;
    struct rte_ring *r = aligned_alloc(128, bytes);
    if (!r)
        bench_die("aligned_alloc(%zu): %s", bytes, strerror(errno));
    memset(r, 0, bytes);
    int rc = rte_ring_init(r, "bench_spsc", count, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (rc != 0)
        bench_die("rte_ring_init(%u): %s", count, strerror(-rc));
    return r;
}

void bench_ring_free(void *ring)
{
    free(ring);
}

void bench_ring_xcore(struct xcore *x)
{
    ring_xcore(x);
}
