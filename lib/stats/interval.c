/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interval snapshots: a writer records into one of two histograms, a reader swaps them
 * at the writer's batch boundaries. The writer never does a read-modify-write: it
 * loads `request` (acquire: a plain mov on x86) once per batch and, only when it
 * changed, stores `ack` (release: a plain mov too). See stats.h for the protocol.
 */
#include "stats.h"

#include <errno.h>
#include <time.h>

int stats_interval_init(stats_interval_t *iv, stats_hist_t *a, stats_hist_t *b)
{
    if (!iv || !a || !b || a == b || !stats_hist_same_geometry(a, b))
        return -EINVAL;
    atomic_init(&iv->request, 0);
    atomic_init(&iv->ack, 0);
    iv->seen = 0;
    iv->pending = false;
    iv->h[0] = a;
    iv->h[1] = b;
    stats_hist_reset(a);
    stats_hist_reset(b);
    return 0;
}

int stats_interval_request(stats_interval_t *iv)
{
    if (iv->pending)
        return -EBUSY;
    /* Only the reader writes `request`, so a relaxed load of it is exact. */
    uint32_t next = atomic_load_explicit(&iv->request, memory_order_relaxed) + 1;
    /* The histogram the writer moves to is the one handed out last time (or the
     * still-empty second one): empty it before the writer can see the request. */
    stats_hist_reset(iv->h[next & 1u]);
    iv->pending = true;
    atomic_store_explicit(&iv->request, next, memory_order_release);
    return 0;
}

stats_hist_t *stats_interval_poll(stats_interval_t *iv)
{
    uint32_t req = atomic_load_explicit(&iv->request, memory_order_relaxed);
    if (!iv->pending)
        return NULL;
    if (atomic_load_explicit(&iv->ack, memory_order_acquire) != req)
        return NULL;
    iv->pending = false;
    /* The writer now records into h[req & 1]: the other one is ours. */
    return iv->h[(req & 1u) ^ 1u];
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

stats_hist_t *stats_interval_swap(stats_interval_t *iv, stats_hist_t *into, uint64_t timeout_ns)
{
    if (!iv->pending && stats_interval_request(iv) < 0)
        return NULL;
    uint64_t t0 = mono_ns();
    for (;;) {
        stats_hist_t *h = stats_interval_poll(iv);
        if (h) {
            if (into)
                stats_hist_merge(into, h);
            return h;
        }
        if (mono_ns() - t0 >= timeout_ns)
            return NULL;
        nanosleep(&(struct timespec){.tv_nsec = 10000}, NULL);
    }
}
