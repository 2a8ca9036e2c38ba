/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Registry: per-kind counters, a ring of recent panics and the list of live
 * coroutines, per scheduler. Counters have a single writer (the owner thread) and
 * are read by other threads with relaxed atomics, so the owner's updates are plain
 * loads and stores.
 *
 * The live coroutines are not kept on a list: every block a coroutine can live in
 * is already known to the stack allocator (a table of guarded blocks, the carved
 * part of each small-stack chunk), and a block is live exactly when its header's
 * state is not CO_ST_FREE. Enumerating (leak reports, co_registry_foreach) walks
 * those and sorts by id, which is birth order on one scheduler. That makes the
 * rare operation pay, instead of every spawn and finish linking and unlinking.
 */
#include "rt_internal.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static co_sched_t *all_head;

#define KIND_OTHER "(other)"

static inline uint64_t get(const _Atomic uint64_t *counter)
{
    return atomic_load_explicit((_Atomic uint64_t *)counter, memory_order_relaxed);
}

uint8_t rt_kind_lookup(co_sched_t *s, const char *kind)
{
    unsigned i;
    for (i = 0; i < s->nkinds; i++)
        if (s->kinds[i].name == kind || strcmp(s->kinds[i].name, kind) == 0)
            break;
    if (i == s->nkinds) {
        if (s->nkinds == CO_KINDS_MAX - 1) {
            /* Table full: the last slot collects every further kind. */
            i = CO_KINDS_MAX - 1;
            s->kinds[i].name = KIND_OTHER;
            __atomic_store_n(&s->nkinds, CO_KINDS_MAX, __ATOMIC_RELEASE);
        } else if (s->nkinds == CO_KINDS_MAX) {
            i = CO_KINDS_MAX - 1;
        } else {
            s->kinds[i].name = kind;
            __atomic_store_n(&s->nkinds, s->nkinds + 1, __ATOMIC_RELEASE);
        }
    }
    return (uint8_t)i;
}

void rt_registry_panic(co_sched_t *s, co_t *co, const char *msg)
{
    co_panic_rec_t *rec = &s->panics[s->npanics % CO_PANIC_LOG];
    rec->co_id = co->id;
    rec->tsc = co_tsc();
    snprintf(rec->name, sizeof(rec->name), "%s", co->name);
    snprintf(rec->msg, sizeof(rec->msg), "%s", msg);
    s->npanics++;
}

size_t co_panics_recent(const co_sched_t *s, co_panic_rec_t *out, size_t n)
{
    size_t have = s->npanics < CO_PANIC_LOG ? s->npanics : CO_PANIC_LOG;
    if (n > have)
        n = have;
    for (size_t i = 0; i < n; i++)
        out[i] = s->panics[(s->npanics - 1 - i) % CO_PANIC_LOG];
    return n;
}

static void kind_stats(const struct rt_kind *k, co_kind_stats_t *out)
{
    out->kind = k->name;
    out->created = get(&k->created);
    out->finished = get(&k->finished);
    out->panicked = get(&k->panicked);
    out->live = out->created - out->finished;
}

size_t co_registry_kinds(const co_sched_t *s, co_kind_stats_t *out, size_t n)
{
    for (size_t i = 0; i < s->nkinds && i < n; i++)
        kind_stats(&s->kinds[i], &out[i]);
    return s->nkinds;
}

void rt_registry_attach(co_sched_t *s)
{
    pthread_mutex_lock(&all_lock);
    s->all_prev = NULL;
    s->all_next = all_head;
    if (all_head)
        all_head->all_prev = s;
    all_head = s;
    pthread_mutex_unlock(&all_lock);
}

void rt_registry_detach(co_sched_t *s)
{
    pthread_mutex_lock(&all_lock);
    if (s->all_prev)
        s->all_prev->all_next = s->all_next;
    else
        all_head = s->all_next;
    if (s->all_next)
        s->all_next->all_prev = s->all_prev;
    pthread_mutex_unlock(&all_lock);
}

static void merge_kind(co_kind_stats_t *out, size_t n, size_t *used, const co_kind_stats_t *k)
{
    for (size_t i = 0; i < *used && i < n; i++) {
        if (strcmp(out[i].kind, k->kind) == 0) {
            out[i].created += k->created;
            out[i].finished += k->finished;
            out[i].panicked += k->panicked;
            out[i].live += k->live;
            return;
        }
    }
    if (*used < n)
        out[*used] = *k;
    (*used)++;
}

size_t co_registry_snapshot(co_kind_stats_t *out, size_t n)
{
    size_t used = 0;
    pthread_mutex_lock(&all_lock);
    for (co_sched_t *s = all_head; s; s = s->all_next) {
        /* nkinds only grows and each slot's name is set before nkinds covers it. */
        unsigned nkinds = __atomic_load_n(&s->nkinds, __ATOMIC_ACQUIRE);
        for (unsigned i = 0; i < nkinds; i++) {
            co_kind_stats_t k;
            kind_stats(&s->kinds[i], &k);
            merge_kind(out, n, &used, &k);
        }
    }
    pthread_mutex_unlock(&all_lock);
    return used;
}

size_t co_sched_usage_snapshot(co_sched_usage_of_t *out, size_t n)
{
    size_t k = 0;
    pthread_mutex_lock(&all_lock);
    for (co_sched_t *s = all_head; s; s = s->all_next, k++) {
        if (k >= n)
            continue;
        snprintf(out[k].name, sizeof(out[k].name), "%s", s->name);
        co_sched_usage(s, &out[k].usage);
    }
    pthread_mutex_unlock(&all_lock);
    return k;
}

static const char *state_name(const co_sched_t *s, const co_t *co)
{
    switch (co->state) {
    case CO_ST_RUNNABLE:
        return s->cur == co ? "running" : "runnable";
    case CO_ST_PARKED:
        return "parked";
    default:
        return "dead";
    }
}

static void info_of(const co_sched_t *s, const co_t *co, co_info_t *info)
{
    bool parked = co->state == CO_ST_PARKED; /* wait fields are stale otherwise */
    info->id = co->id;
    info->name = co->name;
    info->kind = s->kinds[co->kind].name;
    info->state = state_name(s, co);
    info->wait = parked ? co->wait : NULL;
    info->wait_obj = parked ? co->wait_obj : NULL;
    uint64_t born = s->birth_tsc + ((uint64_t)co->born << RT_AGE_SHIFT);
    info->age_ns = s->now_tsc > born ? co_tsc_to_ns(s->now_tsc - born) : 0;
    info->stack_size = co->cx.stack_len;
}

struct live_list {
    co_t **items;
    size_t n, cap;
};

static void collect(co_t *co, void *arg)
{
    struct live_list *l = arg;
    if (co->state != CO_ST_FREE && l->n < l->cap)
        l->items[l->n++] = co;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = (*(co_t *const *)a)->id, y = (*(co_t *const *)b)->id;
    return x < y ? -1 : x > y;
}

/*
 * The live coroutines of @p s, oldest first, in an array the caller frees; *n is
 * their number. NULL (with *n = s->live) only if the array cannot be allocated.
 */
co_t **rt_registry_live(co_sched_t *s, size_t *n)
{
    struct live_list l = {.cap = s->live};
    *n = s->live;
    if (!s->live)
        return NULL;
    l.items = rt_malloc(s->live * sizeof(co_t *));
    if (!l.items)
        return NULL;
    rt_blocks_foreach(s, collect, &l);
    qsort(l.items, l.n, sizeof(co_t *), by_id);
    *n = l.n;
    return l.items;
}

struct foreach_arg {
    const co_sched_t *s;
    void (*fn)(const co_info_t *, void *);
    void *arg;
};

static void foreach_one(co_t *co, void *arg)
{
    struct foreach_arg *f = arg;
    if (co->state == CO_ST_FREE)
        return;
    co_info_t info;
    info_of(f->s, co, &info);
    f->fn(&info, f->arg);
}

void co_registry_foreach(const co_sched_t *s, void (*fn)(const co_info_t *, void *), void *arg)
{
    co_sched_t *ms = (co_sched_t *)s; /* the walk only reads */
    size_t n;
    co_t **live = rt_registry_live(ms, &n);
    if (!live && n) { /* no memory for the sorted list: in block order instead */
        struct foreach_arg f = {.s = s, .fn = fn, .arg = arg};
        rt_blocks_foreach(ms, foreach_one, &f);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        co_info_t info;
        info_of(s, live[i], &info);
        fn(&info, arg);
    }
    rt_free(live);
}

static void report_one(const co_info_t *info, void *arg)
{
    FILE *out = arg;
    fprintf(out, "  #%llu '%s' kind=%s age=%.3f ms state=%s", (unsigned long long)info->id,
            info->name, info->kind, (double)info->age_ns / 1e6, info->state);
    if (info->wait)
        fprintf(out, " on '%s' (%p)", info->wait, info->wait_obj);
    fputc('\n', out);
}

size_t rt_registry_report(co_sched_t *s, FILE *out)
{
    if (!out || !s->live)
        return s->live;
    fprintf(out, "mdmux: scheduler '%s': %zu coroutine(s) leaked:\n", s->name, s->live);
    co_registry_foreach(s, report_one, out);
    return s->live;
}
