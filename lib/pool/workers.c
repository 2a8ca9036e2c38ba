/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Elastic worker pools and pipeline helpers.
 *
 * Workers are coroutines on one scheduler consuming one local channel of
 * {enqueue TSC, item} records. A controller coroutine wakes every sample_ns and
 * reads the queue delay as the age of the oldest record (ch_peek): the signal
 * Caladan uses, because it rises as soon as work waits, whatever the arrival rate.
 * Workers are added while the delay stays above up_delay_ns for up_samples samples
 * in a row; after down_samples idle samples in a row one worker is retired by a
 * token it takes from the queue like any item, so it finishes its current item first.
 */
#include "pool.h"

#include <errno.h>
#include <stdio.h>

struct wp_item {
    uint64_t tsc;
    void *item;
};

/* The retirement token: an item pointer no caller can produce. */
static char retire_token;
#define RETIRE ((void *)&retire_token)

struct pool_workers {
    pool_workers_opts_t o;
    ch_t *q;
    co_ctx_t *ctx;
    co_wg_t wg;
    unsigned count, peak;
    uint64_t delay_ns;
    bool closed;
    char name[CO_NAME_MAX + 1];
};

static void worker(void *arg)
{
    pool_workers_t *w = arg;
    struct wp_item it;
    while (ch_recv(w->q, &it, w->ctx) == 0) {
        if (it.item == RETIRE)
            break;
        w->o.fn(it.item, w->o.arg);
    }
    w->count--;
}

static int add_worker(pool_workers_t *w)
{
    co_opts_t o = {.name = w->name,
                   .kind = "worker",
                   .stack_size = w->o.stack_size,
                   .ctx = w->ctx,
                   .wg = &w->wg};
    if (!co_spawn(worker, w, &o))
        return ENOMEM;
    if (++w->count > w->peak)
        w->peak = w->count;
    return 0;
}

static uint64_t sample_delay(pool_workers_t *w)
{
    struct wp_item oldest;
    if (ch_peek(w->q, &oldest) != 0)
        return 0;
    uint64_t now = co_tsc();
    return now > oldest.tsc ? co_tsc_to_ns(now - oldest.tsc) : 0;
}

static void controller(void *arg)
{
    pool_workers_t *w = arg;
    unsigned above = 0, idle = 0;
    while (!w->closed && co_sleep(w->o.sample_ns, w->ctx) == 0 && !w->closed) {
        w->delay_ns = sample_delay(w);
        above = w->delay_ns > w->o.up_delay_ns ? above + 1 : 0;
        idle = ch_len(w->q) == 0 ? idle + 1 : 0;
        if (above >= w->o.up_samples && w->count < w->o.max) {
            add_worker(w);
            above = 0;
        }
        if (idle >= w->o.down_samples && w->count > w->o.min) {
            struct wp_item token = {.tsc = co_tsc(), .item = RETIRE};
            if (ch_trysend(w->q, &token) == 0)
                idle = 0;
        }
    }
}

static void defaults(pool_workers_opts_t *o)
{
    if (!o->max)
        o->max = o->min > 16 ? o->min : 16;
    if (!o->min)
        o->min = 1;
    if (!o->queue)
        o->queue = 1024;
    if (!o->sample_ns)
        o->sample_ns = 5000;
    if (!o->up_delay_ns)
        o->up_delay_ns = 50000;
    if (!o->up_samples)
        o->up_samples = 2;
    if (!o->down_samples)
        o->down_samples = 200;
}

pool_workers_t *pool_workers_new(const pool_workers_opts_t *opts)
{
    if (!opts || !opts->fn || (opts->max && opts->min > opts->max) || !co_sched_self()) {
        errno = EINVAL;
        return NULL;
    }
    pool_workers_t *w = co_mem_alloc(sizeof(*w), 64);
    if (!w)
        return NULL;
    w->o = *opts;
    defaults(&w->o);
    snprintf(w->name, sizeof(w->name), "%s", opts->name ? opts->name : "worker");
    w->q = ch_new(sizeof(struct wp_item), w->o.queue);
    w->ctx = co_ctx_with_cancel(opts->ctx);
    co_wg_init(&w->wg);
    if (!w->q || !w->ctx)
        goto fail;
    for (unsigned i = 0; i < w->o.min; i++)
        if (add_worker(w) != 0)
            goto fail;
    co_opts_t c = {.name = "wp-controller", .kind = "controller", .ctx = w->ctx, .wg = &w->wg};
    if (!co_spawn(controller, w, &c))
        goto fail;
    return w;
fail:
    w->closed = true;
    if (w->count == 0) { /* nothing spawned: undo everything */
        ch_free(w->q);
        co_ctx_free(w->ctx);
        co_mem_free(w);
    } else {
        /* Spawned workers hold w: cancel them and leave w to them (out of memory). */
        co_ctx_cancel(w->ctx);
    }
    errno = ENOMEM;
    return NULL;
}

int pool_workers_submit(pool_workers_t *w, void *item, co_ctx_t *ctx)
{
    struct wp_item it = {.tsc = co_tsc(), .item = item};
    return ch_send(w->q, &it, ctx);
}

int pool_workers_trysubmit(pool_workers_t *w, void *item)
{
    struct wp_item it = {.tsc = co_tsc(), .item = item};
    return ch_trysend(w->q, &it);
}

unsigned pool_workers_count(const pool_workers_t *w)
{
    return w->count;
}

unsigned pool_workers_peak(const pool_workers_t *w)
{
    return w->peak;
}

uint64_t pool_workers_delay_ns(const pool_workers_t *w)
{
    return w->delay_ns;
}

size_t pool_workers_queued(const pool_workers_t *w)
{
    return ch_len(w->q);
}

int pool_workers_close(pool_workers_t *w, co_ctx_t *ctx)
{
    w->closed = true;
    ch_close(w->q); /* workers drain what is queued, then see EPIPE */
    int r = co_wg_wait(&w->wg, ctx);
    if (r)
        return r;
    ch_free(w->q);
    co_ctx_free(w->ctx);
    co_mem_free(w);
    return 0;
}

/* ---- pipeline helpers ------------------------------------------------------------- */

struct fanout {
    ch_t *in;
    pool_work_fn fn;
    void *arg;
    co_ctx_t *ctx;
};

static void fanout_worker(void *arg)
{
    struct fanout *f = arg;
    void *item;
    while (ch_recv_ptr(f->in, &item, f->ctx) == 0)
        f->fn(item, f->arg);
}

static void fanout_release(void *arg)
{
    unsigned *refs = (unsigned *)((struct fanout *)arg + 1);
    if (--*refs == 0)
        co_mem_free(arg);
}

static void fanout_entry(void *arg)
{
    co_defer(fanout_release, arg);
    fanout_worker(arg);
}

int pool_fanout(ch_t *in, unsigned n, pool_work_fn fn, void *arg, co_ctx_t *ctx, co_wg_t *wg)
{
    if (!in || !fn || ch_elem_size(in) != sizeof(void *))
        return EINVAL;
    /* One shared, reference-counted block: the last worker out frees it. */
    struct fanout *f = co_mem_alloc(sizeof(*f) + sizeof(unsigned), 64);
    if (!f)
        return ENOMEM;
    *f = (struct fanout){.in = in, .fn = fn, .arg = arg, .ctx = ctx};
    unsigned *refs = (unsigned *)(f + 1);
    for (unsigned i = 0; i < n; i++) {
        co_opts_t o = {.name = "fanout", .kind = "fanout", .ctx = ctx, .wg = wg};
        ++*refs;
        if (!co_spawn(fanout_entry, f, &o)) {
            if (--*refs == 0)
                co_mem_free(f);
            return ENOMEM;
        }
    }
    if (*refs == 0)
        co_mem_free(f);
    return 0;
}

struct fanin {
    ch_t *out;
    co_ctx_t *ctx;
    unsigned n;
    ch_case_t *cases;
    unsigned char *elems;
};

static void fanin_worker(void *arg)
{
    struct fanin *f = arg;
    int open = (int)f->n;
    while (open > 0) {
        int k = ch_select(f->cases, open, 0, UINT64_MAX, f->ctx);
        if (k < 0)
            break;                         /* the context is done */
        if (f->cases[k].result == EPIPE) { /* closed and drained: drop the case */
            ch_case_t last = f->cases[--open];
            f->cases[k].local = last.local; /* keep each case's own element buffer */
            continue;
        }
        if (ch_send(f->out, f->cases[k].elem, f->ctx) != 0)
            break;
    }
    ch_close(f->out);
    co_mem_free(f);
}

int pool_fanin(ch_t *const *ins, unsigned n, ch_t *out, co_ctx_t *ctx, co_wg_t *wg)
{
    if (!ins || !out || n == 0 || n > CH_SELECT_MAX)
        return EINVAL;
    size_t esz = ch_elem_size(out);
    for (unsigned i = 0; i < n; i++)
        if (!ins[i] || ch_elem_size(ins[i]) != esz)
            return EINVAL;
    struct fanin *f = co_mem_alloc(sizeof(*f) + n * sizeof(ch_case_t) + n * esz, 64);
    if (!f)
        return ENOMEM;
    f->out = out;
    f->ctx = ctx;
    f->n = n;
    f->cases = (ch_case_t *)(f + 1);
    f->elems = (unsigned char *)(f->cases + n);
    for (unsigned i = 0; i < n; i++)
        f->cases[i] = (ch_case_t){.op = CH_RECV, .local = ins[i], .elem = f->elems + i * esz};
    co_opts_t o = {.name = "fanin", .kind = "fanin", .ctx = ctx, .wg = wg};
    if (!co_spawn(fanin_worker, f, &o)) {
        co_mem_free(f);
        return ENOMEM;
    }
    return 0;
}
