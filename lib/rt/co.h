/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file co.h
 * mdmux runtime: stackful coroutines ("goroutines in C") on per-thread schedulers.
 *
 * Model
 * -----
 * Every pthread that calls co_sched_new() owns one scheduler. A scheduler runs the
 * coroutines spawned on its thread and only those: there is no work stealing and no
 * lock anywhere on the switch, spawn, park or wake paths. Coroutines on different
 * threads talk through lock-free channels (lib/chan) whose readiness is discovered by
 * poll hooks (co_poll_add()), never by a system call.
 *
 * A coroutine is parked (blocked) only through a runtime call that takes a
 * cancellation context (co_ctx_t): co_sleep(), co_wg_wait(), co_park(). Each returns
 * 0, ECANCELED (context cancelled) or ETIMEDOUT (context deadline passed).
 *
 * Panics (co_panic()) abandon the coroutine's stack after running its co_defer()
 * cleanups in LIFO order; they are recorded in the registry and reported to whoever
 * waits for the coroutine (a wait group or a supervisor). A panic nobody observes is
 * fatal, as in Go.
 *
 * Thread-safety: unless a function says otherwise, it must be called on the thread
 * that owns the scheduler of the objects it touches.
 */
#ifndef MDMUX_CO_H
#define MDMUX_CO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** 1 when built with AddressSanitizer or ThreadSanitizer (gcc or clang). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CO_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CO_SANITIZED 1
#endif
#endif
#ifndef CO_SANITIZED
#define CO_SANITIZED 0
#endif

/** Default stack size of a guarded coroutine stack (virtual; committed lazily). */
#if CO_SANITIZED
#define CO_STACK_DEFAULT (256u * 1024u) /* sanitizers need roughly 4x the frame space */
#else
#define CO_STACK_DEFAULT (64u * 1024u)
#endif
/**
 * Usable bytes of a small-class stack: packed, no guard page, canary-checked.
 * Sanitizer builds use 16 KiB: their instrumented frames and fiber hooks are ~8x larger.
 */
#if CO_SANITIZED
#define CO_STACK_SMALL_SIZE (16u * 1024u)
#else
#define CO_STACK_SMALL_SIZE 2048u
#endif
/** Pass as co_opts_t.stack_size to select the small-stack class. */
#define CO_STACK_SMALL ((size_t)1)
/** Longest coroutine name kept (longer names are truncated). */
#define CO_NAME_MAX 23
/** Most distinct coroutine kinds one scheduler's registry tracks. */
#define CO_KINDS_MAX 32

typedef struct co co_t;             /**< A coroutine. */
typedef struct co_sched co_sched_t; /**< A per-thread scheduler. */
typedef struct co_ctx co_ctx_t;     /**< A cancellation context. */

/** Entry point of a coroutine. */
typedef void (*co_fn_t)(void *arg);

/* ------------------------------------------------------------------------------ */
/* Clock                                                                          */
/* ------------------------------------------------------------------------------ */

/** Read the time-stamp counter (no serialisation: cheap, for intervals). */
static inline uint64_t co_tsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/**
 * TSC frequency in Hz, calibrated against CLOCK_MONOTONIC_RAW on first use
 * (about 20 ms, once per process). Thread-safe.
 */
uint64_t co_tsc_hz(void);

/* Internal to lib/rt: the factor of co_tsc_to_ns() (ns per tick = whole + frac / 2^64),
   written once by the calibration before co_clock_ready_ is set (release). In the
   header so that the conversion inlines: the handler lcore converts a few times per
   packet, and a call with its calibration check cost ~28 instructions against ~12. */
struct co_clock_ratio_ {
    uint64_t whole;
    uint64_t frac;
};
extern struct co_clock_ratio_ co_clock_to_ns_;
extern bool co_clock_ready_;
/** Internal: co_tsc_to_ns() before the calibration (calibrates, then converts). */
uint64_t co_tsc_to_ns_slow_(uint64_t ticks);

/** Convert TSC ticks to nanoseconds, rounded down (exact to the calibration). */
static inline uint64_t co_tsc_to_ns(uint64_t ticks)
{
    if (__builtin_expect(!__atomic_load_n(&co_clock_ready_, __ATOMIC_ACQUIRE), 0))
        return co_tsc_to_ns_slow_(ticks); /* calibrates first */
    uint64_t part = (uint64_t)(((unsigned __int128)ticks * co_clock_to_ns_.frac) >> 64);
    if (__builtin_expect(co_clock_to_ns_.whole == 0, 1))
        return part; /* a TSC of 1 GHz or more: one multiply, and part < ticks */
    unsigned __int128 v = (unsigned __int128)ticks * co_clock_to_ns_.whole + part;
    return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

/* Internal to lib/rt: the factor of co_ns_to_tsc() (ticks per ns), as co_clock_to_ns_. */
extern struct co_clock_ratio_ co_clock_to_tsc_;
/** Internal: co_ns_to_tsc() before the calibration (calibrates, then converts). */
uint64_t co_ns_to_tsc_slow_(uint64_t ns);

/**
 * Convert nanoseconds to TSC ticks, rounded up (plus one tick), so a deadline
 * converted to ticks is never reached before its time in co_now_ns().
 */
static inline uint64_t co_ns_to_tsc(uint64_t ns)
{
    if (__builtin_expect(!__atomic_load_n(&co_clock_ready_, __ATOMIC_ACQUIRE), 0))
        return co_ns_to_tsc_slow_(ns); /* calibrates first */
    unsigned __int128 part = (unsigned __int128)ns * co_clock_to_tsc_.frac;
    unsigned __int128 v = (unsigned __int128)ns * co_clock_to_tsc_.whole + (uint64_t)(part >> 64) +
                          1 + ((uint64_t)part != 0);
    return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

/** Monotonic nanoseconds derived from the TSC; the clock of deadlines. */
uint64_t co_now_ns(void);

/* ------------------------------------------------------------------------------ */
/* Control-path memory                                                            */
/* ------------------------------------------------------------------------------ */

/**
 * Allocate @p size bytes aligned to @p align (a power of two) from the process's
 * allocator for everything that is not pooled: mimalloc, or libc in sanitizer
 * builds so the sanitizers see every block. Zeroed. Thread-safe. Never call it on
 * a data path. Returns NULL with errno=ENOMEM.
 */
void *co_mem_alloc(size_t size, size_t align);

/** Free a co_mem_alloc() block (NULL is ignored). Thread-safe. */
void co_mem_free(void *p);

/* ------------------------------------------------------------------------------ */
/* Cancellation contexts                                                          */
/* ------------------------------------------------------------------------------ */

/** A context that is never cancelled and has no deadline. */
#define CO_BACKGROUND ((co_ctx_t *)0)

/**
 * Create a context derived from @p parent that can be cancelled with co_ctx_cancel().
 * Cancelling @p parent (or any ancestor) cancels it too. @p parent may be
 * CO_BACKGROUND. Returns NULL with errno=ENOMEM on allocation failure.
 */
co_ctx_t *co_ctx_with_cancel(co_ctx_t *parent);

/**
 * Create a cancellable context that also expires at @p deadline_ns (co_now_ns() clock).
 * Its effective deadline is the earlier of its own and its parent's.
 */
co_ctx_t *co_ctx_with_deadline(co_ctx_t *parent, uint64_t deadline_ns);

/** co_ctx_with_deadline(parent, co_now_ns() + timeout_ns). */
co_ctx_t *co_ctx_with_timeout(co_ctx_t *parent, uint64_t timeout_ns);

/**
 * Cancel @p ctx and, through it, every context derived from it. Idempotent.
 * Thread-safe: may be called from any thread; parked coroutines on every scheduler
 * observe it on that scheduler's next poll, with no system call.
 */
void co_ctx_cancel(co_ctx_t *ctx);

/**
 * Why @p ctx is done: 0 if it is live, ECANCELED if it or an ancestor was cancelled,
 * ETIMEDOUT if its effective deadline has passed. The first reason observed sticks.
 * Thread-safe.
 */
int co_ctx_err(co_ctx_t *ctx);

/** Effective deadline of @p ctx in co_now_ns() time; UINT64_MAX when none. */
uint64_t co_ctx_deadline(const co_ctx_t *ctx);

/**
 * Release @p ctx. Every context derived from it must have been freed first (the
 * process aborts with a message otherwise) and no coroutine may still use it.
 * Freeing does not cancel; cancel first if children may be parked on it.
 */
void co_ctx_free(co_ctx_t *ctx);

/* ------------------------------------------------------------------------------ */
/* Schedulers                                                                     */
/* ------------------------------------------------------------------------------ */

/** What a scheduler does when nothing is runnable. */
typedef enum co_idle {
    CO_IDLE_BUSY = 0, /**< spin on timers and poll hooks: lowest latency, isolated cores */
    CO_IDLE_PAUSE,    /**< spin with exponential back-off of PAUSE instructions */
    CO_IDLE_SLEEP,    /**< back off, then nanosleep() <= 50 us or to the next timer */
} co_idle_t;

/** Scheduler options; a zeroed struct gives the defaults. */
typedef struct co_sched_opts {
    const char *name;         /**< for reports; default "sched" */
    co_idle_t idle;           /**< default CO_IDLE_BUSY */
    int numa_node;            /**< stack node: 0 = auto (bind when >1 node), n+1 = force node n */
    size_t stack_cache_bytes; /**< guarded stacks kept for reuse, virtual; default 256 MiB */
    unsigned batch;           /**< coroutines run back to back before timers/polls; default 64 */
} co_sched_opts_t;

/**
 * Create a scheduler and attach it to the calling thread. Installs the thread's
 * alternate signal stack and the process's stack-overflow handler. Returns NULL with
 * errno=EBUSY if the thread already has one, or ENOMEM.
 */
co_sched_t *co_sched_new(const co_sched_opts_t *opts);

/** The calling thread's scheduler, or NULL. */
co_sched_t *co_sched_self(void);

/** Result of co_sched_run() when live coroutines remain but nothing can ever wake them. */
#define CO_EDEADLOCK (-1)

/**
 * Run coroutines on the calling thread until none is left alive (returns 0), until
 * co_sched_stop() is called (returns 1), or until every live coroutine is parked
 * with no timer, poll hook or cancellable context that could wake it (returns
 * CO_EDEADLOCK). May be called again after it returns.
 */
int co_sched_run(co_sched_t *s);

/** Make co_sched_run() return after the running coroutine next parks or yields. */
void co_sched_stop(co_sched_t *s);

/** Number of live (spawned and not yet finished) coroutines of @p s. */
size_t co_sched_live(const co_sched_t *s);

/**
 * Where a scheduler's thread spent its time inside co_sched_run(), in TSC ticks
 * (co_tsc_to_ns() converts). A pass of the scheduler (timers, poll hooks,
 * cancellations) that finds a coroutine to run counts as busy until the next pass
 * begins, so busy time is the coroutines' own work plus the passes that found it;
 * passes that find nothing, and the idle policy's pauses or sleeps, are idle. A
 * thread whose coroutine never parks (a poll loop that only yields) reads as busy
 * throughout. Like DPDK's lcore busy cycles, but per scheduler.
 */
typedef struct co_sched_usage {
    uint64_t busy_tsc;    /**< passes that found work, and that work */
    uint64_t run_tsc;     /**< all of the time inside co_sched_run() */
    uint64_t passes;      /**< scheduler passes */
    uint64_t idle_passes; /**< ... that found nothing to run */
} co_sched_usage_t;

/**
 * Copy @p s's usage so far into @p out. Any thread may call it, also while @p s
 * runs: each field is read with a relaxed atomic load (each is exact; together
 * they may be a pass apart).
 */
void co_sched_usage(const co_sched_t *s, co_sched_usage_t *out);

/** One scheduler's name and usage, as co_sched_usage_snapshot() gives them. */
typedef struct co_sched_usage_of {
    char name[CO_NAME_MAX + 1]; /**< co_sched_opts_t.name */
    co_sched_usage_t usage;
} co_sched_usage_of_t;

/**
 * The usage of every scheduler of the process, newest first: up to @p n into
 * @p out. Thread-safe (the registry's lock, never taken on a data path). Returns how
 * many schedulers there are (may exceed @p n).
 */
size_t co_sched_usage_snapshot(co_sched_usage_of_t *out, size_t n);

/**
 * Destroy @p s and detach it from the thread. Coroutines still alive are leaks:
 * each is listed on @p report (name, kind, age, state and what it is parked on) if
 * @p report is not NULL, then discarded without running its cleanups.
 * Returns the number of leaked coroutines.
 */
size_t co_sched_free(co_sched_t *s, FILE *report);

/* ------------------------------------------------------------------------------ */
/* Coroutines                                                                     */
/* ------------------------------------------------------------------------------ */

struct co_wg;

/** Spawn options; NULL or a zeroed struct gives the defaults. */
typedef struct co_opts {
    const char *name;  /**< copied (CO_NAME_MAX chars); default: the kind */
    const char *kind;  /**< registry kind; must outlive the scheduler; default "co" */
    size_t stack_size; /**< 0: CO_STACK_DEFAULT; CO_STACK_SMALL: small class; else rounded up to
                          pages, header included (see co_stack_size()) */
    co_ctx_t *ctx;     /**< the coroutine's context (co_context()); default CO_BACKGROUND */
    struct co_wg *wg;  /**< if set: co_wg_add(wg, 1) now, co_wg_done() when it finishes */
} co_opts_t;

/**
 * Create a coroutine running @p fn(@p arg) on the calling thread's scheduler. It is
 * queued at the tail of the run queue; the caller keeps running. Callable from a
 * coroutine or from the thread itself (before co_sched_run()).
 * Returns NULL with errno set: ENOMEM, EINVAL (no scheduler on this thread).
 * The returned pointer is valid until the coroutine finishes.
 */
co_t *co_spawn(co_fn_t fn, void *arg, const co_opts_t *opts);

/** Put the running coroutine at the tail of the run queue and run the next one. */
void co_yield(void);

/**
 * co_yield(), then a scheduler pass (timers, poll hooks, cancellations) before the
 * next coroutine runs, where the lcore has any of them; a plain co_yield() runs up
 * to `batch` coroutines back to back first. For a poller that has just made work for
 * coroutines of its own lcore that a poll hook wakes: an RX poller sharing its lcore
 * with the feed handlers it feeds, which would otherwise poll up to `batch` times
 * (microseconds) before the handlers' doorbell is read.
 */
void co_yield_pass(void);

/**
 * Park the running coroutine for @p ns nanoseconds. Returns 0 after the full time,
 * or early with ECANCELED / ETIMEDOUT when @p ctx is cancelled / expires.
 */
int co_sleep(uint64_t ns, co_ctx_t *ctx);

/** Finish the running coroutine now: its co_defer() cleanups run, LIFO. */
_Noreturn void co_exit(void);

/** The running coroutine, or NULL on a scheduler's own stack. */
co_t *co_self(void);

/** The calling thread's scheduler (internal: for co_self_inline()). */
extern __thread co_sched_t *rt_tls_sched __attribute__((tls_model("initial-exec")));

/**
 * co_self() without a call, for blocking primitives on hot paths (a call there
 * makes the caller save registers around it). Reads the scheduler's current
 * coroutine, which lib/rt keeps first in its scheduler (checked there).
 */
static inline co_t *co_self_inline(void)
{
    co_sched_t *s = rt_tls_sched;
    return s ? *(co_t **)s : NULL;
}

/** Name of @p co (co_self() when NULL). */
const char *co_name(const co_t *co);

/** Kind of @p co (co_self() when NULL). */
const char *co_kind(const co_t *co);

/** Unique (per process) id of @p co, starting at 1. */
uint64_t co_id(const co_t *co);

/** The context @p co was spawned with (co_self() when NULL); may be CO_BACKGROUND. */
co_ctx_t *co_context(const co_t *co);

/**
 * Usable stack of @p co in bytes: for guarded stacks, the requested size rounded up
 * to pages less the coroutine's own header and cache colouring (at most 2.3 KiB at
 * the top of its block); for the small class, CO_STACK_SMALL_SIZE.
 */
size_t co_stack_size(const co_t *co);

/* ------------------------------------------------------------------------------ */
/* Wait groups                                                                    */
/* ------------------------------------------------------------------------------ */

/** A set of coroutines to wait for (Go's sync.WaitGroup, one scheduler). */
typedef struct co_wg {
    long count;        /**< outstanding members */
    unsigned panicked; /**< members that finished by panicking since init */
    co_t *waiters;     /**< parked co_wg_wait() callers (internal) */
} co_wg_t;

/** Initialise @p wg empty. */
void co_wg_init(co_wg_t *wg);

/** Add @p n (may be negative) to the count; reaching zero wakes the waiters. */
void co_wg_add(co_wg_t *wg, long n);

/** co_wg_add(wg, -1). */
void co_wg_done(co_wg_t *wg);

/**
 * Park until the count of @p wg is zero. Returns 0, or ECANCELED / ETIMEDOUT from @p ctx.
 * Callable only from a coroutine; use co_sched_run() to wait from the thread itself.
 */
int co_wg_wait(co_wg_t *wg, co_ctx_t *ctx);

/* ------------------------------------------------------------------------------ */
/* Parking and poll hooks: the building blocks of channels and packet I/O          */
/* ------------------------------------------------------------------------------ */

/**
 * Park the running coroutine until co_ready() is called on it, @p ctx is done, or
 * the TSC reaches @p deadline_tsc (UINT64_MAX: never). @p reason and @p obj describe
 * what it waits for in leak reports ("chan recv", channel address).
 * Returns 0 when readied, ECANCELED/ETIMEDOUT when the context is done, ETIMEDOUT
 * when @p deadline_tsc passed.
 */
int co_park(co_ctx_t *ctx, uint64_t deadline_tsc, const char *reason, const void *obj);

/**
 * Make a coroutine parked by co_park() runnable; co_park() then returns 0.
 * Returns false (and does nothing) if @p co is not parked, or is parked by
 * co_park_hooked() (only co_wake() ends that). Same scheduler only.
 */
bool co_ready(co_t *co);

/**
 * co_ready() as a hand-off: @p co goes to the head of the run queue instead of its
 * tail, so it runs as soon as the caller parks or yields, ahead of what was already
 * runnable (Go's `runnext`). For a consumer that the caller has just given work:
 * lib/chan's channel sets ready their owner this way, so that a mux publishes each
 * producer's records right after that producer's turn rather than after every other
 * ready producer's. The run queue is FIFO otherwise.
 *
 * A coroutine that was itself run through a hand-off cannot pass one on: its
 * co_ready_next() is a plain co_ready(). So two coroutines that keep readying each
 * other cannot keep the rest of the queue waiting. From a poll hook or the
 * scheduler (no coroutine running), it is co_ready(). Same return as co_ready().
 */
bool co_ready_next(co_t *co);

/** True if @p co is parked in co_park() (or a call built on it). */
bool co_is_parked(const co_t *co);

/**
 * Undo a co_park_hooked() wait (for example, unlink the coroutine from a channel's
 * queue) just before the coroutine is woken by its context or deadline.
 */
typedef void (*co_abort_fn_t)(co_t *co);

/**
 * co_park() for a blocking primitive that completes the wait on the parked
 * coroutine's behalf (a channel peer copies the element and calls co_wake()), so
 * that the park can be the primitive's last act: the caller may tail-call it, and
 * the coroutine then resumes straight in its own caller with no frame to return
 * out of. Only co_wake(), @p ctx and @p deadline_tsc end the wait: co_ready() on
 * such a coroutine does nothing and returns false. Before the context or deadline
 * wakes it, @p on_abort(co) runs on the waking side (the scheduler), so nothing
 * still refers to the wait when the coroutine resumes; the hook finds its state in
 * co_wait_area(co).
 * If @p ctx is already done (or the timer cannot be armed) it does not park: it
 * calls @p on_abort(self) and returns the error, so a caller may link its wait
 * first and tail-call this unconditionally.
 * Returns the co_wake() result, or ECANCELED / ETIMEDOUT / ENOMEM; EPERM outside a
 * coroutine (on_abort is not called then).
 */
int co_park_hooked(co_ctx_t *ctx, uint64_t deadline_tsc, const char *reason, const void *obj,
                   co_abort_fn_t on_abort);

/**
 * Make @p co, parked by co_park_hooked() or co_park(), runnable with @p result
 * (0 or an errno value) as the result of its park; its on_abort hook does not run.
 * Returns 0, or ESRCH (doing nothing) if @p co is not parked. Same scheduler only.
 * (An int, not a bool, so a primitive whose own result is 0 can tail-call it.)
 */
int co_wake(co_t *co, int result);

/** Bytes of a coroutine's wait area (co_wait_area()). */
#define CO_WAIT_AREA 64
/** Where the wait area sits in the coroutine (internal; checked by lib/rt). */
#define CO_WAIT_AREA_OFFSET 192

/**
 * CO_WAIT_AREA bytes in @p co's header, 8-byte aligned, owned by whatever @p co is
 * parked in: a blocking primitive keeps its per-wait record there instead of in a
 * stack frame that a tail-called co_park_hooked() would already have left.
 */
static inline void *co_wait_area(co_t *co)
{
    return (char *)co + CO_WAIT_AREA_OFFSET;
}

/**
 * A readiness check run by the scheduler on every pass: it looks at a ring index or
 * a NIC queue, calls co_ready() on whatever can now proceed, and returns how many
 * coroutines it readied. Embed it in the object it watches; no allocation.
 */
typedef struct co_poll {
    unsigned (*fn)(struct co_poll *self); /**< the check */
    struct co_poll *prev, *next;          /**< internal */
} co_poll_t;

/** Register @p p on the calling thread's scheduler (a hook may add or remove hooks). */
void co_poll_add(co_poll_t *p);

/** Unregister @p p; safe from inside any hook, including @p p itself. */
void co_poll_del(co_poll_t *p);

/* ------------------------------------------------------------------------------ */
/* Panic, defer, supervisors                                                      */
/* ------------------------------------------------------------------------------ */

/**
 * Register @p fn(@p arg) to run when the running coroutine finishes: on return, on
 * co_exit() or on co_panic(), last registered first. Returns 0 or ENOMEM.
 */
int co_defer(void (*fn)(void *), void *arg);

/**
 * Panic: record the formatted message and the coroutine's name in the registry, log
 * them to stderr, run the coroutine's co_defer() cleanups (LIFO), wake its wait group
 * or supervisor and abandon its stack. Other coroutines are not disturbed.
 * If nothing observes the coroutine (no wait group, no supervisor) or when called
 * outside a coroutine, the process aborts with the message, as an unrecovered Go panic.
 */
_Noreturn void co_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Most recent panic messages kept by a scheduler's registry. */
#define CO_PANIC_LOG 16

/** A recorded panic. */
typedef struct co_panic_rec {
    uint64_t co_id;
    uint64_t tsc;
    char name[CO_NAME_MAX + 1];
    char msg[120];
} co_panic_rec_t;

/** Copy up to @p n most recent panics of @p s, newest first; returns how many. */
size_t co_panics_recent(const co_sched_t *s, co_panic_rec_t *out, size_t n);

/** When a supervisor restarts its child. */
typedef enum co_restart {
    CO_RESTART_ON_PANIC = 0, /**< restart after a panic; a clean finish ends supervision */
    CO_RESTART_ALWAYS,       /**< restart after any finish */
} co_restart_t;

/** Supervisor options. Zeroed numeric fields take the documented defaults. */
typedef struct co_supervisor_opts {
    co_fn_t fn;              /**< the child's entry */
    void *arg;               /**< its argument */
    co_opts_t child;         /**< the child's spawn options (child.wg must be NULL) */
    co_restart_t policy;     /**< default CO_RESTART_ON_PANIC */
    uint64_t backoff_min_ns; /**< first restart delay; default 1 ms */
    uint64_t backoff_max_ns; /**< delay doubles up to this; default 1 s */
    unsigned budget;         /**< at most this many restarts ... default 5 */
    uint64_t window_ns;      /**< ... within this window, else give up; default 10 s */
} co_supervisor_opts_t;

/** Supervisor state. */
typedef enum co_sv_state {
    CO_SV_RUNNING = 0, /**< child running or backing off */
    CO_SV_DONE,        /**< child finished and policy says stop, or context done */
    CO_SV_GAVE_UP,     /**< restart budget exhausted */
} co_sv_state_t;

/** A supervisor; the caller owns the storage, which must outlive it. */
typedef struct co_supervisor {
    co_supervisor_opts_t opts; /**< copy of the options */
    co_sv_state_t state;       /**< see co_sv_state_t */
    unsigned restarts;         /**< restarts so far */
    unsigned panics;           /**< child panics so far */
    co_t *child;               /**< running child, or NULL while backing off */
    char last_panic[120];      /**< message of the child's last panic */
    uint64_t backoff_ns;       /**< delay slept before the latest restart (0 before one) */
    uint64_t backoff_total_ns; /**< ... summed over every restart */
    co_wg_t child_wg;          /**< internal */
    uint64_t restart_tsc[32];  /**< internal: ring of restart times */
} co_supervisor_t;

/**
 * Start a supervisor coroutine (kind "supervisor") that runs @p opts->fn as its child
 * and restarts it under the policy with exponential backoff and a restart budget.
 * It stops when the child's context (opts->child.ctx) is done, when the policy says
 * so, or when the budget is exhausted (CO_SV_GAVE_UP, logged). If @p wg is not NULL
 * it is a member of @p wg until it stops. Returns 0, EINVAL or ENOMEM.
 */
int co_supervise(co_supervisor_t *sv, const co_supervisor_opts_t *opts, co_wg_t *wg);

/* ------------------------------------------------------------------------------ */
/* Registry                                                                       */
/* ------------------------------------------------------------------------------ */

/** Counters of one coroutine kind. */
typedef struct co_kind_stats {
    const char *kind;
    uint64_t created;
    uint64_t finished; /**< includes panicked */
    uint64_t panicked;
    uint64_t live;
} co_kind_stats_t;

/** Copy @p s's per-kind counters into @p out (up to @p n); returns the number of kinds. */
size_t co_registry_kinds(const co_sched_t *s, co_kind_stats_t *out, size_t n);

/**
 * Per-kind counters summed over every scheduler of the process (kinds matched by
 * name). Thread-safe: counters are read with relaxed atomics while the owners run.
 * Returns the number of kinds.
 */
size_t co_registry_snapshot(co_kind_stats_t *out, size_t n);

/** One live coroutine, as seen by co_registry_foreach(). */
typedef struct co_info {
    uint64_t id;
    const char *name;
    const char *kind;
    const char *state;    /**< "runnable", "running", "parked" */
    const char *wait;     /**< what it is parked on, or NULL */
    const void *wait_obj; /**< the object, or NULL */
    uint64_t age_ns;
    size_t stack_size;
} co_info_t;

/** Call @p fn for every live coroutine of @p s, oldest first. Owner thread only. */
void co_registry_foreach(const co_sched_t *s, void (*fn)(const co_info_t *, void *), void *arg);

#ifdef __cplusplus
}
#endif
#endif /* MDMUX_CO_H */
