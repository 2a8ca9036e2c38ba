/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/rt internals shared by its translation units. Not installed, not included
 * outside lib/rt.
 */
#ifndef MDMUX_RT_INTERNAL_H
#define MDMUX_RT_INTERNAL_H

#include "co.h"

#include <stdatomic.h>
#include <stdlib.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__SANITIZE_ADDRESS__)
#define __SANITIZE_ADDRESS__ 1
#endif
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#endif

#define RT_LIKELY(x)   __builtin_expect(!!(x), 1)
#define RT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define RT_CACHE_LINE  64

/* ---- allocation of control-path objects ------------------------------------- */
#ifdef MDMUX_MIMALLOC
#include <mimalloc.h>
#define rt_malloc  mi_malloc
#define rt_calloc  mi_calloc
#define rt_realloc mi_realloc
#define rt_free    mi_free
#else
#define rt_malloc  malloc
#define rt_calloc  calloc
#define rt_realloc realloc
#define rt_free    free
#endif

/* ---- execution contexts ---------------------------------------------------- */

/* What rt_switch needs, plus what the sanitizers must be told about each stack. */
typedef struct rt_cx {
    void *sp;         /* saved stack pointer while suspended */
    void *stack_lo;   /* lowest usable byte */
    size_t stack_len; /* usable bytes */
#ifdef __SANITIZE_ADDRESS__
    void *asan_fake;
#endif
#ifdef __SANITIZE_THREAD__
    void *tsan_fiber;
#endif
} rt_cx_t;

/* Suspend into *save_sp, resume load_sp; the resumed side sees @p value returned. */
int rt_switch(void **save_sp, void *load_sp, int value);
/* Non-zero: rt_switch reloads MXCSR on every switch instead of comparing first
 * (AMD: see switch_x86_64.S). Set once, before the first scheduler exists. */
extern uint8_t rt_fp_eager;
void rt_trampoline(void);
/* called from switch_x86_64.S's co_yield fast path */
__attribute__((visibility("hidden"))) void rt_yield_slow(co_sched_t *s, co_t *self);
__attribute__((visibility("hidden"), noreturn)) void rt_canary_broken(const co_t *co);

/*
 * Running is not a state of its own: it is "runnable and sched->cur". FREE is zero
 * because a fresh mapping is zero: the registry finds the live coroutines by
 * walking every block and skipping the free ones, so a block is free from the
 * moment it is mapped until a spawn takes it.
 */
enum co_state { CO_ST_FREE = 0, CO_ST_RUNNABLE, CO_ST_PARKED };
enum co_stack_class { CO_STK_GUARDED = 0, CO_STK_SMALL };
enum co_flags {
    CO_F_PANICKED = 1u << 0,
    CO_F_CTXWAIT = 1u << 1, /* on the scheduler's list of cancellable waiters */
};

/* co->cache_slot of a guarded block whose size has no stack cache: never recycled. */
#define RT_NO_CACHE 0xffu

struct rt_defer {
    void (*fn)(void *);
    void *arg;
    struct rt_defer *next;
};

/*
 * A coroutine. It lives at the top of its own stack block, so one allocation (a
 * cache pop, usually) gives both. Four cache lines (checked below), and a spawn
 * writes only the first two (plus the first stack frame, the line below): what a
 * spawn and a finish touch comes first, parking state last. Its scheduler is the
 * thread's (rt_tls_sched), its block's extent is derived (rt_block_base/len), and
 * its entry and argument live only in its first frame (rt_trampoline's r13/r14),
 * so none of these is stored. There is no registry list: the registry walks the
 * blocks (see registry.c), so a spawn and a finish link nothing.
 */
struct co {
    rt_cx_t cx;
    co_t *next; /* run queue; stale while at its tail */
    uint8_t state;
    uint8_t stack_class;
    uint8_t kind;
    uint8_t flags;
    int16_t wake;       /* co_park() result: 0 or an errno value */
    uint8_t cache_slot; /* guarded: its size class in sched->stacks[], or RT_NO_CACHE */
    uint8_t spare_;
    uint32_t heap_idx; /* 1-based slot in the timer heap; 0 = none (sched.c: may be lazy) */
    uint32_t born;     /* birth, in RT_AGE_SHIFT TSC units since the scheduler's */
    uint64_t id;
    co_wg_t *wg;
    /* second line: the rest of what a spawn sets, and what a finish reads */
    co_ctx_t *ctx;
    char name[CO_NAME_MAX + 1];
    struct rt_defer *defers;
    /* parking: meaningful only while state == CO_ST_PARKED, so a wake-up clears none
     * of it (the registry reports wait/wait_obj only for parked coroutines) */
    const char *wait;
    const void *wait_obj;
    co_abort_fn_t on_abort; /* co_park_hooked(): undoes the park before a wake-up not
                               made by co_wake(); NULL for co_park() */
    /* third line: rarely used */
    co_ctx_t *wait_ctx;      /* set only when in the timer heap or on cw_head */
    co_t *wnext;             /* wait-group waiter list */
    co_t *cw_prev, *cw_next; /* cancellable waiters */
    uint64_t deadline;       /* TSC: the current park's, UINT64_MAX when it has none */
    uint64_t timer_at;       /* TSC key of its timer-heap entry (heap_idx != 0): at most
                                deadline, earlier when the entry is lazy (sched.c) */
    uint32_t block_idx;      /* guarded: slot in sched->blocks[] */
    /* fourth line: owned by whatever the coroutine is parked in (co_wait_area()) */
    unsigned char wait_area[CO_WAIT_AREA] __attribute__((aligned(RT_CACHE_LINE)));
} __attribute__((aligned(RT_CACHE_LINE)));

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
_Static_assert(sizeof(struct co) == 4 * RT_CACHE_LINE, "struct co grew past 4 cache lines");
_Static_assert(offsetof(struct co, ctx) == RT_CACHE_LINE, "spawn-time fields span two lines");
_Static_assert(offsetof(struct co, wait_ctx) == 2 * RT_CACHE_LINE,
               "spawn-time fields span two lines");
#endif
_Static_assert(offsetof(struct co, wait_area) == CO_WAIT_AREA_OFFSET, "co_wait_area() is wrong");

/* Ages are kept in units of 2^16 TSC ticks (~25 us at 2.6 GHz; 32 bits: ~30 h). */
#define RT_AGE_SHIFT 16

/* ---- per-scheduler state ---------------------------------------------------- */

struct rt_kind {
    const char *name;
    _Atomic uint64_t created;
    _Atomic uint64_t finished;
    _Atomic uint64_t panicked;
};

#define RT_STACK_CLASSES 8

struct rt_stack_cache {
    size_t map_len; /* block size of this class; 0 = slot unused */
    co_t **items;   /* free blocks, LIFO */
    uint32_t n, cap;
};

struct rt_chunk {
    struct rt_chunk *next;
    size_t len;
};

struct co_sched {
    co_t *cur;  /* first: co_self_inline() reads it (co.h) */
    rt_cx_t cx; /* the thread's own stack */
    co_t *rq_head, *rq_tail;
    unsigned budget, batch;
    bool stop;
    co_t *handoff;    /* the last co_ready_next() target, put at the head (identity only) */
    co_t *after_pass; /* co_yield_pass(): queued once the next pass has run its hooks */
    co_t *zombie;
    void *dead_sp;           /* where a finished coroutine's last switch saves nothing useful */
    uint32_t mxcsr_fpucw[2]; /* initial FP control state for new coroutines */
    /* "run this on the scheduler stack" requests from small stacks */
    void (*call_fn)(void *);
    void *call_arg;
    co_t *call_co;
    uint64_t now_tsc;         /* refreshed every scheduler pass; coarse ages */
    uint64_t birth_tsc;       /* the scheduler's creation: origin of co->born */
    uint64_t id_next, id_end; /* block of process-unique ids */
    /* timers: binary min-heap on co->deadline */
    co_t **heap;
    uint32_t heap_len, heap_cap;
    /* poll hooks */
    co_poll_t *polls;
    co_poll_t *poll_next; /* iteration cursor, kept valid by co_poll_del */
    /* cancellable waiters */
    co_t *cw_head;
    size_t ncw;
    uint64_t epoch_seen;
    /* idle */
    co_idle_t idle;
    unsigned idle_spins;
    /* usage (co_sched_usage): written by the owner only, read by anyone (relaxed) */
    co_sched_usage_t usage;
    uint64_t pass_tsc; /* when the last pass began (0: not in co_sched_run) */
    bool pass_busy;    /* ... and whether it found work */
    /* registry: the live coroutines are the blocks not free (registry.c) */
    size_t live;
    struct rt_kind kinds[CO_KINDS_MAX];
    unsigned nkinds;
    const char *last_kind_name; /* co_opts_t.kind as passed (NULL: the default) ... */
    uint8_t last_kind;          /* ... and its index */
    co_panic_rec_t panics[CO_PANIC_LOG];
    unsigned npanics;
    /* memory */
    int numa_node; /* -1: no binding */
    size_t page;
    unsigned colour; /* next guarded stack's cache colour */
    size_t cache_bytes, cache_max;
    size_t hint_size;  /* co_opts_t.stack_size of the last guarded spawn, as passed
                         (SIZE_MAX: none) ... */
    uint8_t hint_slot; /* ... and its class in stacks[] */
    struct rt_stack_cache stacks[RT_STACK_CLASSES];
    co_t **blocks; /* every mapped guarded block, live or cached (co->block_idx) */
    uint32_t nblocks, blocks_cap;
    co_t **small_items; /* free small blocks, LIFO */
    uint32_t small_n, small_cap;
    size_t small_blocks; /* carved so far: small_items can always hold them all */
    struct rt_chunk *chunks;
    char *small_cur, *small_end;
    struct rt_defer *defer_free;
    struct rt_chunk *defer_chunks;
    void *altstack;
    size_t altstack_len;
    /* process-wide list */
    co_sched_t *all_next, *all_prev;
    char name[CO_NAME_MAX + 1];
};

/*
 * initial-exec: the libraries are built position-independent, and the default
 * (general-dynamic) model makes every access a __tls_get_addr() call as far as the
 * compiler knows. The linker relaxes the call away, but the registers were already
 * allocated around it: every hot function saved callee-saved registers for it.
 */
#define RT_TLS __thread __attribute__((tls_model("initial-exec")))

extern RT_TLS co_sched_t *rt_tls_sched;
/* the offsets switch_x86_64.S's co_yield uses (sanitizer builds use the C one) */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
_Static_assert(offsetof(struct co_sched, rq_head) == 0x20, "co_yield (switch_x86_64.S)");
_Static_assert(offsetof(struct co_sched, rq_tail) == 0x28, "co_yield (switch_x86_64.S)");
_Static_assert(offsetof(struct co_sched, budget) == 0x30 && sizeof(unsigned) == 4,
               "co_yield (switch_x86_64.S)");
_Static_assert(offsetof(struct co, cx.sp) == 0 && offsetof(struct co, cx.stack_lo) == 0x08,
               "co_yield (switch_x86_64.S)");
_Static_assert(offsetof(struct co, next) == 0x18 && offsetof(struct co, stack_class) == 0x21 &&
                   CO_STK_SMALL == 1,
               "co_yield (switch_x86_64.S)");
_Static_assert(offsetof(struct co, wake) == 0x24 && sizeof(int16_t) == 2,
               "co_yield (switch_x86_64.S)");
#endif
_Static_assert(offsetof(struct co_sched, cur) == 0, "co_self_inline() reads cur at offset 0");
extern _Atomic uint64_t rt_cancel_epoch;
extern uint64_t rt_canary_seed;

/* ctx.c */
bool rt_ctx_cancellable(const co_ctx_t *ctx);
uint64_t rt_ctx_deadline_tsc(const co_ctx_t *ctx);

/* stack.c */
co_t *rt_stack_get_slow(co_sched_t *s, size_t stack_size);
void rt_stack_put(co_sched_t *s, co_t *co);
bool rt_stack_recycle_slow(co_sched_t *s, co_t *co);
void rt_stack_release_all(co_sched_t *s);
size_t rt_small_block_size(void);
void rt_blocks_foreach(co_sched_t *s, void (*fn)(co_t *, void *), void *arg);

/* Start of @p co's block: its guard page, or its canary for the small class. */
static inline char *rt_block_base(const co_sched_t *s, const co_t *co)
{
    char *lo = co->cx.stack_lo;
    return co->stack_class == CO_STK_SMALL ? lo : lo - s->page;
}

/* Length of @p co's block (a guarded header's colour offset is under a page). */
static inline size_t rt_block_len(const co_sched_t *s, const co_t *co)
{
    size_t used = (size_t)((const char *)(co + 1) - rt_block_base(s, co));
    return co->stack_class == CO_STK_SMALL ? used : (used + s->page - 1) & ~(s->page - 1);
}

/* The stack size a user asked for, in KiB: the guarded block less its guard page. */
static inline size_t rt_stack_kib(const co_sched_t *s, const co_t *co)
{
    if (co->stack_class == CO_STK_SMALL)
        return co->cx.stack_len / 1024;
    return (rt_block_len(s, co) - s->page) / 1024;
}

static inline uint64_t *rt_canary_slot(const co_t *co)
{
    return (uint64_t *)co->cx.stack_lo;
}

static inline uint64_t rt_canary_value(const co_t *co)
{
    return rt_canary_seed ^ (uint64_t)(uintptr_t)co;
}

/*
 * Spawns come in bursts: warm the header and first frame of the block the spawn
 * after next-but-two will take, far enough ahead for the lines to arrive.
 */
#define RT_WARM_AHEAD 4u

/* A prefetch gcc cannot drop: it silently discarded __builtin_prefetch() here. */
static inline __attribute__((always_inline)) void rt_prefetch(const void *p)
{
    __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
}

static inline void rt_warm_next(co_t **items, uint32_t n)
{
    if (n >= RT_WARM_AHEAD) {
        char *next = (char *)items[n - RT_WARM_AHEAD];
        rt_prefetch(next - RT_CACHE_LINE); /* the first frame */
        rt_prefetch(next);                 /* the two header lines a spawn writes */
        rt_prefetch(next + RT_CACHE_LINE);
    }
}

/* A block for a coroutine with @p stack_size: a cache pop on the fast path. */
static inline co_t *rt_stack_get(co_sched_t *s, size_t stack_size)
{
    if (stack_size == CO_STACK_SMALL) {
        if (RT_LIKELY(s->small_n)) {
            co_t *co = s->small_items[--s->small_n];
            rt_warm_next(s->small_items, s->small_n);
            *rt_canary_slot(co) = rt_canary_value(co);
            return co;
        }
    } else if (stack_size == s->hint_size) {
        struct rt_stack_cache *c = &s->stacks[s->hint_slot];
        if (RT_LIKELY(c->n)) {
            co_t *co = c->items[--c->n];
            rt_warm_next(c->items, c->n);
            s->cache_bytes -= c->map_len;
            return co;
        }
    }
    return rt_stack_get_slow(s, stack_size);
}

/*
 * Return @p co's block to its cache. Returns false, doing nothing, if the block
 * would have to be unmapped: the caller may be running on it. A guarded block's
 * cache_slot is always its size's slot (a slot that changes size first points its
 * live blocks elsewhere, see stack.c), so no size check is needed here.
 */
static inline __attribute__((always_inline)) bool rt_stack_recycle(co_sched_t *s, co_t *co)
{
    if (co->stack_class == CO_STK_SMALL) {
        s->small_items[s->small_n++] = co; /* reserved when its chunk was mapped */
        return true;
    }
    if (RT_UNLIKELY(co->cache_slot == RT_NO_CACHE))
        return rt_stack_recycle_slow(s, co); /* a cache for its size may exist now */
    struct rt_stack_cache *c = &s->stacks[co->cache_slot];
    size_t len = c->map_len;
    if (c->n == c->cap || s->cache_bytes + len > s->cache_max)
        return false;
    c->items[c->n++] = co;
    s->cache_bytes += len;
    return true;
}

/* registry.c */
uint8_t rt_kind_lookup(co_sched_t *s, const char *kind);

/* Single-writer counter: a plain load and store, atomic only for remote readers. */
static inline __attribute__((always_inline)) void rt_bump(_Atomic uint64_t *counter)
{
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

void rt_registry_panic(co_sched_t *s, co_t *co, const char *msg);
void rt_registry_attach(co_sched_t *s);
void rt_registry_detach(co_sched_t *s);
size_t rt_registry_report(co_sched_t *s, FILE *out);
co_t **rt_registry_live(co_sched_t *s, size_t *n);

/* sched.c */
void rt_finish(co_t *self) __attribute__((noreturn));
void rt_finish_panicked(co_t *self) __attribute__((noreturn));
/* Resume @p load_sp with @p value, saving nothing: the caller's stack is dead. */
void rt_resume(void *load_sp, int value) __attribute__((noreturn));
void rt_call_on_sched_stack(void (*fn)(void *), void *arg);

/* panic.c */
void rt_signals_attach(co_sched_t *s);
void rt_signals_detach(co_sched_t *s);
void rt_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void rt_defer_release_all(co_sched_t *s);

/* async-signal-safe formatting helpers */
size_t rt_fmt_str(char *buf, size_t cap, size_t at, const char *s);
size_t rt_fmt_u64(char *buf, size_t cap, size_t at, uint64_t v);

#endif /* MDMUX_RT_INTERNAL_H */
