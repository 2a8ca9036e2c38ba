/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file pool.h
 * mdmux object pools, elastic worker pools and pipeline helpers.
 *
 * - A **pool** (pool_t) holds a fixed number of fixed-size objects, allocated once,
 *   on one NUMA node. Each thread gets and puts through its own cache (like DPDK's
 *   per-lcore mempool caches); caches refill from and flush to a shared lock-free
 *   store in bursts. The data path never allocates, locks or makes a system call.
 *   Exhaustion is reported (a short count, and a counter), never fatal.
 *
 * - A **worker pool** (pool_workers_t) runs between min and max coroutines that
 *   consume one shared local channel. A controller samples the queue delay — the age
 *   of the oldest queued item — every few microseconds, as Caladan does: while it
 *   stays above a threshold, workers are added; when the queue stays idle, workers
 *   retire one at a time (hysteresis), down to min.
 *
 * - **Pipeline helpers** fan a channel out to N workers and fan N channels in to one.
 */
#ifndef MDMUX_POOL_H
#define MDMUX_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "co.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------ */
/* Object pools                                                                   */
/* ------------------------------------------------------------------------------ */

typedef struct pool pool_t;

/** Most threads that may use one pool (each gets a cache). */
#define POOL_MAX_THREADS 64

/** Pool options. */
typedef struct pool_opts {
    const char *name;    /**< for reports; copied */
    size_t elem_size;    /**< bytes per object (rounded up to 8) */
    size_t count;        /**< objects in the pool */
    unsigned cache_size; /**< objects per thread cache; 0: 64; at most 512 */
    int numa_node;       /**< memory node; -1: the calling thread's (no binding) */
} pool_opts_t;

/** Pool counters, summed over threads. */
typedef struct pool_stats {
    uint64_t gets;      /**< objects handed out */
    uint64_t puts;      /**< objects returned */
    uint64_t get_fails; /**< objects asked for and not available (exhaustion) */
    size_t avail;       /**< objects in the shared store and every cache now */
} pool_stats_t;

/**
 * Create a pool of opts->count objects of opts->elem_size bytes. All memory is
 * allocated here (on opts->numa_node); nothing is allocated afterwards.
 * Returns NULL with errno EINVAL or ENOMEM.
 */
pool_t *pool_new(const pool_opts_t *opts);

/** Free @p p; every object must be back (the process aborts otherwise). */
void pool_free(pool_t *p);

/**
 * Get up to @p n objects into @p objs from the calling thread's cache, refilling it
 * from the shared store in a burst when it runs dry. Returns how many were got:
 * fewer than @p n only when the pool is exhausted (counted in get_fails).
 * Thread-safe; lock-free; never allocates.
 */
unsigned pool_get_burst(pool_t *p, void **objs, unsigned n);

/**
 * Return @p n objects to the calling thread's cache, flushing half of it to the
 * shared store when it fills. Any thread may return any object of the pool.
 */
void pool_put_burst(pool_t *p, void *const *objs, unsigned n);

/** One object, or NULL when the pool is exhausted. */
void *pool_get(pool_t *p);

/** Return one object. */
void pool_put(pool_t *p, void *obj);

/** Counters and availability (approximate while other threads run). */
void pool_stats(const pool_t *p, pool_stats_t *out);

/** Object size (after rounding). */
size_t pool_elem_size(const pool_t *p);

/** True if @p obj is one of @p p's objects. */
bool pool_owns(const pool_t *p, const void *obj);

/* ------------------------------------------------------------------------------ */
/* Elastic worker pools                                                           */
/* ------------------------------------------------------------------------------ */

typedef struct pool_workers pool_workers_t;

/** Handles one item; runs in a worker coroutine and may block. */
typedef void (*pool_work_fn)(void *item, void *arg);

/** Worker-pool options; zeroed numeric fields take the documented defaults. */
typedef struct pool_workers_opts {
    const char *name;      /**< worker coroutine names; default "worker" */
    pool_work_fn fn;       /**< the handler */
    void *arg;             /**< its argument */
    unsigned min, max;     /**< worker bounds; defaults 1 and 16 */
    size_t queue;          /**< queue capacity in items; default 1024 */
    uint64_t sample_ns;    /**< delay sampling period; default 5 us */
    uint64_t up_delay_ns;  /**< scale up while the oldest item is older; default 50 us */
    unsigned up_samples;   /**< ... for this many samples in a row; default 2 */
    unsigned down_samples; /**< retire one worker after this many idle samples; default 200 */
    size_t stack_size;     /**< worker stack (co_opts_t.stack_size) */
    co_ctx_t *ctx;         /**< cancelling it stops the pool (as pool_workers_close) */
} pool_workers_opts_t;

/**
 * Start a worker pool on the calling thread's scheduler: min workers and a
 * controller coroutine. Returns NULL with errno EINVAL or ENOMEM.
 */
pool_workers_t *pool_workers_new(const pool_workers_opts_t *opts);

/**
 * Queue @p item (a pointer, stamped with the TSC for the delay measurement), parking
 * while the queue is full. Returns 0, EPIPE after close, ECANCELED or ETIMEDOUT.
 */
int pool_workers_submit(pool_workers_t *w, void *item, co_ctx_t *ctx);

/** Non-blocking submit: 0, EAGAIN (queue full) or EPIPE. Callable from the thread. */
int pool_workers_trysubmit(pool_workers_t *w, void *item);

/** Workers running now. */
unsigned pool_workers_count(const pool_workers_t *w);

/** Largest worker count so far. */
unsigned pool_workers_peak(const pool_workers_t *w);

/** Age of the oldest queued item in ns, as last sampled (0 when empty). */
uint64_t pool_workers_delay_ns(const pool_workers_t *w);

/** Items queued now. */
size_t pool_workers_queued(const pool_workers_t *w);

/**
 * Stop accepting items; workers finish what is queued and exit, then the controller
 * exits. Park until all are gone (from a coroutine), then free the pool.
 * Returns 0, or ECANCELED/ETIMEDOUT from @p ctx (the pool is then still running).
 */
int pool_workers_close(pool_workers_t *w, co_ctx_t *ctx);

/* ------------------------------------------------------------------------------ */
/* Pipeline helpers                                                               */
/* ------------------------------------------------------------------------------ */

/**
 * Fan-out: spawn @p n coroutines that each receive pointers from the local channel
 * @p in (elem_size sizeof(void *)) and call @p fn(item, @p arg), until @p in is
 * closed and drained or @p ctx is done. Each joins @p wg (may be NULL).
 * Returns 0 or ENOMEM.
 */
int pool_fanout(ch_t *in, unsigned n, pool_work_fn fn, void *arg, co_ctx_t *ctx, co_wg_t *wg);

/**
 * Fan-in: spawn one coroutine that selects fairly across the @p n local channels
 * @p ins (all of the element size of @p out) and forwards every element to @p out,
 * closing @p out once every input is closed and drained (or @p ctx is done). It
 * joins @p wg (may be NULL). @p ins must stay valid until then. Returns 0, EINVAL
 * or ENOMEM.
 */
int pool_fanin(ch_t *const *ins, unsigned n, ch_t *out, co_ctx_t *ctx, co_wg_t *wg);

#ifdef __cplusplus
}
#endif
#endif /* MDMUX_POOL_H */
