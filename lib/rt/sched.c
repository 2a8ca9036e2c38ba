/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The per-thread scheduler: FIFO run queue, TSC timer heap, poll hooks, parking,
 * wait groups and the coroutine life cycle.
 *
 * Coroutines switch directly to one another: a coroutine that yields or parks
 * hands the CPU to the head of the run queue with a single rt_switch. Every
 * `batch` switches (and whenever the run queue empties) control returns to the
 * scheduler's own stack, which fires timers, runs poll hooks, notices cross-thread cancellations and applies
 * the idle policy. Nothing here takes a lock or makes a
 * system call, except the CO_IDLE_SLEEP policy when there is nothing to do.
 */
#include "rt_internal.h"

#include <assert.h>
#include <cpuid.h>
#include <errno.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef __SANITIZE_THREAD__
#include <sanitizer/tsan_interface.h>
#endif

RT_TLS co_sched_t *rt_tls_sched;

static void wg_reached_zero(co_wg_t *wg);

static _Atomic uint64_t id_blocks; /* process-wide id allocator, 64Ki ids a block */
#define ID_BLOCK 65536u

/* ---- switching -------------------------------------------------------------- */

/*
 * Switch with the sanitizers told about it. The scheduler stack and dying
 * coroutines always switch this way; ASan builds switch this way everywhere.
 */
static inline void cx_switch(rt_cx_t *from, rt_cx_t *to, bool from_dies, int value)
{
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_start_switch_fiber(from_dies ? NULL : &from->asan_fake, to->stack_lo,
                                   to->stack_len);
#endif
#ifdef __SANITIZE_THREAD__
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void)from_dies;
    rt_switch(&from->sp, to->sp, value);
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_finish_switch_fiber(from->asan_fake, NULL, NULL);
#endif
}

/*
 * Switch from a running coroutine that stays alive, as the last act of co_yield()
 * and co_park(). Outside ASan builds the compiler turns this into a tail jump, so
 * rt_switch saves the *caller's* return address and the target later resumes
 * straight in its own caller with @p value (its co_park() result) in %eax: no
 * return is executed that the return-stack predictor could get wrong.
 */
static inline int switch_from_co(co_t *self, rt_cx_t *to, int value)
{
#ifdef __SANITIZE_ADDRESS__
    cx_switch(&self->cx, to, false, value);
    return self->wake;
#else
#ifdef __SANITIZE_THREAD__
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    return rt_switch(&self->cx.sp, to->sp, value);
#endif
}

static void reap(co_sched_t *s)
{
    co_t *co = s->zombie;
    s->zombie = NULL;
#ifdef __SANITIZE_THREAD__
    __tsan_destroy_fiber(co->cx.tsan_fiber);
#endif
    rt_stack_put(s, co);
}

/* not static: switch_x86_64.S's co_yield calls it */
__attribute__((noinline, noreturn, cold)) void rt_canary_broken(const co_t *co)
{
    rt_die("coroutine '%s' overflowed its %zu KiB stack (canary smashed)", co->name,
           rt_stack_kib(rt_tls_sched, co));
}

static inline __attribute__((always_inline)) void check_canary(const co_t *co)
{
    if (co->stack_class == CO_STK_SMALL && *rt_canary_slot(co) != rt_canary_value(co))
        rt_canary_broken(co);
}

/* FIFO run queue. The tail's ->next is stale: rq_pop() stops at rq_tail instead. */
static inline __attribute__((always_inline)) void rq_push(co_sched_t *s, co_t *co)
{
    if (s->rq_head)
        s->rq_tail->next = co;
    else
        s->rq_head = co;
    s->rq_tail = co;
}

static inline co_t *rq_pop(co_sched_t *s)
{
    co_t *co = s->rq_head;
    if (co)
        s->rq_head = co == s->rq_tail ? NULL : co->next;
    return co;
}

/*
 * Choose what runs after @p self, which has just been queued or parked: the head
 * of the run queue while the batch budget lasts, else the scheduler stack. Returns
 * NULL when that is @p self again (a yield with nobody else ready). *value is what
 * the target's co_park() returns.
 */
/* Out of budget: a scheduler pass is due only if it has something to look at. */
static inline bool pass_due(const co_sched_t *s)
{
    return s->heap_len || s->polls || s->ncw || s->stop;
}

static inline __attribute__((always_inline)) rt_cx_t *next_cx(co_sched_t *s, co_t *self, int *value)
{
    check_canary(self);
    if (RT_UNLIKELY(!s->budget) && !pass_due(s))
        s->budget = s->batch;
    co_t *next = s->budget ? rq_pop(s) : NULL;
    if (!next) {
        s->cur = NULL;
        *value = 0;
        return &s->cx;
    }
    s->budget--;
    s->cur = next;
    *value = next->wake;
    co_t *after = s->rq_head;
    if (after && after != self) { /* a yield with one other ready queues self next */
        /* Warm the one after next while next runs: its header and the frame just
         * below it (where a fresh or shallow coroutine's saved registers are),
         * without loading from it, which would stall on the very miss we hide. */
        __builtin_prefetch((char *)after - RT_CACHE_LINE);
        __builtin_prefetch(after);
        __builtin_prefetch((char *)after + 2 * RT_CACHE_LINE);
    }
    return next == self ? NULL : &next->cx;
}

/* Run @p fn(@p arg) on the scheduler's stack: for work too deep for a small stack. */
void rt_call_on_sched_stack(void (*fn)(void *), void *arg)
{
    co_sched_t *s = rt_tls_sched;
    co_t *self = s->cur;
    s->call_fn = fn;
    s->call_arg = arg;
    s->call_co = self;
    cx_switch(&self->cx, &s->cx, false, 0);
}

/*
 * Scheduler stack: run the head of the run queue and whatever it chains to, then
 * keep dispatching while the budget lasts. Finished coroutines always come back
 * here, so this is where their stacks are reaped.
 */
static void dispatch(co_sched_t *s)
{
    co_t *co = rq_pop(s);
    s->budget = s->batch;
    for (;;) {
        s->cur = co;
        cx_switch(&s->cx, &co->cx, false, co->wake);
        if (s->zombie)
            reap(s);
        if (RT_UNLIKELY(s->call_fn != NULL)) {
            void (*fn)(void *) = s->call_fn;
            s->call_fn = NULL;
            fn(s->call_arg);
            co = s->call_co;
            continue;
        }
        if (!s->budget || !(co = rq_pop(s)))
            break;
        s->budget--;
        if (s->rq_head) /* its saved frame is the first thing the next switch reads */
            __builtin_prefetch(s->rq_head->cx.sp);
    }
    s->cur = NULL;
}

/*
 * ---- timers: binary min-heap on co->timer_at --------------------------------------
 *
 * Lazy: a coroutine woken before its deadline keeps its entry (its deadline becomes
 * UINT64_MAX), and its next park with a deadline reuses it: in place when the new
 * deadline is later (the entry fires early and timers_fire() moves it to the real one,
 * one sift instead of a removal and a push per park), sifted up when earlier. A feed
 * handler parks with its gap or line-silence deadline after nearly every packet and is
 * woken by the next one long before: that was a removal and a push (~600 instructions
 * with 50 feeds in the heap) per packet. An entry whose coroutine no longer waits with
 * a deadline is dropped when it comes due; a finishing coroutine drops its own.
 */

static void heap_set(co_sched_t *s, uint32_t i, co_t *co)
{
    s->heap[i] = co;
    co->heap_idx = i + 1;
}

static void heap_up(co_sched_t *s, uint32_t i)
{
    co_t *co = s->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (s->heap[parent]->timer_at <= co->timer_at)
            break;
        heap_set(s, i, s->heap[parent]);
        i = parent;
    }
    heap_set(s, i, co);
}

static void heap_down(co_sched_t *s, uint32_t i)
{
    co_t *co = s->heap[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= s->heap_len)
            break;
        if (child + 1 < s->heap_len && s->heap[child + 1]->timer_at < s->heap[child]->timer_at)
            child++;
        if (co->timer_at <= s->heap[child]->timer_at)
            break;
        heap_set(s, i, s->heap[child]);
        i = child;
    }
    heap_set(s, i, co);
}

static __attribute__((noinline)) int heap_push(co_sched_t *s, co_t *co)
{
    if (s->heap_len == s->heap_cap) {
        uint32_t cap = s->heap_cap ? s->heap_cap * 2 : 256;
        co_t **heap = rt_realloc(s->heap, cap * sizeof(*heap));
        if (!heap)
            return ENOMEM;
        s->heap = heap;
        s->heap_cap = cap;
    }
    s->heap[s->heap_len] = co;
    heap_up(s, s->heap_len++);
    return 0;
}

static __attribute__((noinline)) void heap_remove(co_sched_t *s, co_t *co)
{
    uint32_t i = co->heap_idx - 1;
    co->heap_idx = 0;
    co_t *last = s->heap[--s->heap_len];
    if (i == s->heap_len)
        return;
    s->heap[i] = last;
    if (i > 0 && last->timer_at < s->heap[(i - 1) / 2]->timer_at)
        heap_up(s, i);
    else
        heap_down(s, i);
}

/* ---- parking ------------------------------------------------------------------ */

static __attribute__((noinline)) void cw_add(co_sched_t *s, co_t *co)
{
    co->cw_prev = NULL;
    co->cw_next = s->cw_head;
    if (s->cw_head)
        s->cw_head->cw_prev = co;
    s->cw_head = co;
    s->ncw++;
    co->flags |= CO_F_CTXWAIT;
}

static __attribute__((noinline)) void cw_remove(co_sched_t *s, co_t *co)
{
    if (co->cw_prev)
        co->cw_prev->cw_next = co->cw_next;
    else
        s->cw_head = co->cw_next;
    if (co->cw_next)
        co->cw_next->cw_prev = co->cw_prev;
    s->ncw--;
    co->flags &= (uint8_t)~CO_F_CTXWAIT;
}

/* Timer and context-list membership of a parked coroutine, kept out of the way. The
   timer entry stays (lazy, see the heap above): the coroutine no longer has a deadline. */
static __attribute__((noinline)) void unpark_slow(co_sched_t *s, co_t *co)
{
    co->deadline = UINT64_MAX;
    if (co->flags & CO_F_CTXWAIT)
        cw_remove(s, co);
}

/* A parked coroutine made runnable, not yet queued. The wait fields are left as they
   are: they mean something only while parked. */
static inline void unpark_only(co_sched_t *s, co_t *co, int result)
{
    if (RT_UNLIKELY(co->heap_idx | (co->flags & CO_F_CTXWAIT)))
        unpark_slow(s, co);
    co->wake = (int16_t)result;
    co->state = CO_ST_RUNNABLE;
}

static inline void unpark(co_sched_t *s, co_t *co, int result)
{
    unpark_only(s, co, result);
    rq_push(s, co);
}

/* A context or a deadline ends a wait: let a hooked park withdraw it first. */
static void unpark_abort(co_sched_t *s, co_t *co, int result)
{
    co_abort_fn_t fn = co->on_abort;
    if (fn)
        fn(co);
    unpark(s, co, result);
}

/* Deadline, context and list membership of a park: none of it on the common path. */
static __attribute__((noinline)) int park_setup(co_sched_t *s, co_t *self, co_ctx_t *ctx,
                                                uint64_t deadline_tsc)
{
    self->wait_ctx = ctx;
    if (ctx) {
        int err = co_ctx_err(ctx);
        if (err)
            return err;
        uint64_t ctx_deadline = rt_ctx_deadline_tsc(ctx);
        if (ctx_deadline < deadline_tsc)
            deadline_tsc = ctx_deadline;
    }
    if (deadline_tsc != UINT64_MAX) {
        self->deadline = deadline_tsc;
        if (self->heap_idx == 0) {
            self->timer_at = deadline_tsc;
            if (heap_push(s, self) != 0)
                return ENOMEM;
        } else if (deadline_tsc < self->timer_at) { /* a lazy entry, due too late */
            self->timer_at = deadline_tsc;
            heap_up(s, self->heap_idx - 1);
        } /* else: a lazy entry due earlier; timers_fire() moves it on */
    }
    if (rt_ctx_cancellable(ctx))
        cw_add(s, self);
    return 0;
}

/*
 * The general park: a context, a deadline or no coroutine. The common park (none
 * of these) is a leaf that jumps straight to the switch; this keeps the callee-saved
 * registers and the calls out of it.
 */
static __attribute__((noinline, cold)) int park_slow(co_ctx_t *ctx, uint64_t deadline_tsc,
                                                     const char *reason, const void *obj,
                                                     co_abort_fn_t on_abort)
{
    co_sched_t *s = rt_tls_sched;
    co_t *self = s ? s->cur : NULL;
    if (!self)
        return EPERM;
    int err = park_setup(s, self, ctx, deadline_tsc);
    if (err) {
        if (on_abort)
            on_abort(self); /* never parked: withdraw the wait all the same */
        return err;
    }
    self->wait = reason;
    self->wait_obj = obj;
    self->on_abort = on_abort;
    self->state = CO_ST_PARKED;
    int value;
    rt_cx_t *to = next_cx(s, self, &value);
    return switch_from_co(self, to, value); /* never NULL: self is not queued */
}

static inline __attribute__((always_inline)) int park(co_ctx_t *ctx, uint64_t deadline_tsc,
                                                      const char *reason, const void *obj,
                                                      co_abort_fn_t on_abort)
{
    if (RT_UNLIKELY(ctx || deadline_tsc != UINT64_MAX))
        return park_slow(ctx, deadline_tsc, reason, obj, on_abort);
    co_sched_t *s = rt_tls_sched;
    co_t *self = s ? s->cur : NULL;
    if (RT_UNLIKELY(!self))
        return EPERM;
    self->wait = reason;
    self->wait_obj = obj;
    self->on_abort = on_abort;
    self->state = CO_ST_PARKED;
    int value;
    rt_cx_t *to = next_cx(s, self, &value);
    return switch_from_co(self, to, value); /* never NULL: self is not queued */
}

__attribute__((hot)) int co_park_hooked(co_ctx_t *ctx, uint64_t deadline_tsc, const char *reason,
                                        const void *obj, co_abort_fn_t on_abort)
{
    return park(ctx, deadline_tsc, reason, obj, on_abort);
}

__attribute__((hot)) int co_park(co_ctx_t *ctx, uint64_t deadline_tsc, const char *reason,
                                 const void *obj)
{
    return park(ctx, deadline_tsc, reason, obj, NULL);
}

/* A wake-up of a coroutine with a timer or on the cancellable list. */
static __attribute__((noinline, cold)) int wake_slow(co_t *co, int result)
{
    unpark(rt_tls_sched, co, result);
    return 0;
}

/* The common wake-up is a leaf: no timer, no cancellable context. */
static inline __attribute__((always_inline)) int wake(co_t *co, int result)
{
    if (RT_UNLIKELY(co->heap_idx | (co->flags & CO_F_CTXWAIT)))
        return wake_slow(co, result);
    co->wake = (int16_t)result;
    co->state = CO_ST_RUNNABLE;
    rq_push(rt_tls_sched, co);
    return 0;
}

/* What co_ready() may end: a park, but not a hooked one (only co_wake(), its context
   or its deadline completes that). */
static inline bool readiable(const co_t *co)
{
    return co && co->state == CO_ST_PARKED && !co->on_abort;
}

/* rq_push() at the head. */
static void rq_push_head(co_sched_t *s, co_t *co)
{
    if (s->rq_head)
        co->next = s->rq_head;
    else
        s->rq_tail = co;
    s->rq_head = co;
}

bool co_ready_next(co_t *co)
{
    co_sched_t *s = rt_tls_sched;
    co_t *self = s ? s->cur : NULL;
    /* Identity only: a hand-off target that ran, parked and was readied plainly since
       still matches until the next hand-off, and then just readies FIFO. */
    if (self == NULL || self == s->handoff)
        return co_ready(co);
    if (!readiable(co))
        return false;
    unpark_only(s, co, 0);
    rq_push_head(s, co);
    s->handoff = co;
    return true;
}

__attribute__((hot)) bool co_ready(co_t *co)
{
    if (!readiable(co))
        return false;
    wake(co, 0);
    return true;
}

__attribute__((hot)) int co_wake(co_t *co, int result)
{
    if (RT_UNLIKELY(!co || co->state != CO_ST_PARKED))
        return ESRCH;
    return wake(co, result);
}

bool co_is_parked(const co_t *co)
{
    return co && co->state == CO_ST_PARKED;
}

/* ---- scheduler passes ------------------------------------------------------------ */

static unsigned timers_fire(co_sched_t *s)
{
    unsigned n = 0;
    while (s->heap_len && s->heap[0]->timer_at <= s->now_tsc) {
        co_t *co = s->heap[0];
        bool waits = co->state == CO_ST_PARKED && co->deadline != UINT64_MAX;
        /* Lazy, keyed early: re-key it even when its real deadline has passed too.
           After a long pass several timers come due at once, and they must wake in
           deadline order, not in the order of their stale keys. */
        if (waits && co->deadline > co->timer_at) {
            co->timer_at = co->deadline;
            heap_down(s, 0);
            continue;
        }
        heap_remove(s, co);
        if (!waits)
            continue; /* woken meanwhile, and parked since without a deadline (if at all) */
        int err = co_ctx_err(co->wait_ctx);
        unpark_abort(s, co, err ? err : ETIMEDOUT);
        n++;
    }
    return n;
}

static unsigned polls_run(co_sched_t *s)
{
    unsigned n = 0;
    for (co_poll_t *p = s->polls; p; p = s->poll_next) {
        s->poll_next = p->next;
        n += p->fn(p);
    }
    s->poll_next = NULL;
    return n;
}

static unsigned cancels_scan(co_sched_t *s)
{
    uint64_t epoch = atomic_load_explicit(&rt_cancel_epoch, memory_order_acquire);
    if (epoch == s->epoch_seen)
        return 0;
    s->epoch_seen = epoch;
    unsigned n = 0;
    co_t *next;
    for (co_t *co = s->cw_head; co; co = next) {
        next = co->cw_next;
        int err = co_ctx_err(co->wait_ctx);
        if (err) {
            unpark_abort(s, co, err);
            n++;
        }
    }
    return n;
}

static void idle_sleep(co_sched_t *s)
{
    uint64_t ns = 50000;
    if (s->heap_len) {
        uint64_t now = co_tsc(), deadline = s->heap[0]->timer_at; /* a lazy one: early */
        uint64_t until = deadline > now ? co_tsc_to_ns(deadline - now) : 0;
        if (until < ns)
            ns = until;
    }
    if (ns > 0) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ns};
        nanosleep(&ts, NULL);
    }
}

static void idle(co_sched_t *s)
{
    if (s->idle == CO_IDLE_BUSY)
        return;
    if (s->idle_spins < 1024) {
        s->idle_spins = s->idle_spins ? s->idle_spins * 2 : 1;
        for (unsigned i = 0; i < s->idle_spins; i++)
            __builtin_ia32_pause();
        return;
    }
    if (s->idle == CO_IDLE_SLEEP)
        idle_sleep(s);
    else
        for (unsigned i = 0; i < s->idle_spins; i++)
            __builtin_ia32_pause();
}

/* Usage: the interval since the last pass goes to run time, and to busy time if that
   pass found work; this pass is presumed busy until it finds nothing. Single writer:
   relaxed stores so that co_sched_usage() may read from another thread. */
static inline void usage_pass(co_sched_t *s, uint64_t now)
{
    co_sched_usage_t *u = &s->usage;
    if (s->pass_tsc != 0) {
        uint64_t d = now - s->pass_tsc;
        __atomic_store_n(&u->run_tsc, u->run_tsc + d, __ATOMIC_RELAXED);
        if (s->pass_busy)
            __atomic_store_n(&u->busy_tsc, u->busy_tsc + d, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&u->passes, u->passes + 1, __ATOMIC_RELAXED);
    s->pass_tsc = now;
    s->pass_busy = true;
}

/* co_sched_run()'s return: the last pass ends here, not at the next run. */
static int usage_end(co_sched_t *s, int rc)
{
    s->pass_tsc = 0;
    return rc;
}

void co_sched_usage(const co_sched_t *s, co_sched_usage_t *out)
{
    const co_sched_usage_t *u = &s->usage;
    out->busy_tsc = __atomic_load_n(&u->busy_tsc, __ATOMIC_RELAXED);
    out->run_tsc = __atomic_load_n(&u->run_tsc, __ATOMIC_RELAXED);
    out->passes = __atomic_load_n(&u->passes, __ATOMIC_RELAXED);
    out->idle_passes = __atomic_load_n(&u->idle_passes, __ATOMIC_RELAXED);
}

/* co_yield_pass()'s coroutine back on the run queue, behind what the pass woke. */
static inline void requeue_after_pass(co_sched_t *s)
{
    if (s->after_pass != NULL) {
        rq_push(s, s->after_pass);
        s->after_pass = NULL;
    }
}

int co_sched_run(co_sched_t *s)
{
    if (s != rt_tls_sched || s->cur)
        rt_die("co_sched_run: scheduler '%s' run from a coroutine or a foreign thread", s->name);
    s->stop = false;
    s->pass_tsc = 0;
    for (;;) {
        s->now_tsc = co_tsc();
        usage_pass(s, s->now_tsc);
        if (!s->live)
            return usage_end(s, 0);
        if (s->stop) {
            s->stop = false;
            requeue_after_pass(s);
            return usage_end(s, 1);
        }
        unsigned progress = 0;
        if (s->heap_len)
            progress += timers_fire(s);
        if (s->polls)
            progress += polls_run(s);
        if (s->ncw)
            progress += cancels_scan(s);
        requeue_after_pass(s);
        if (s->rq_head) {
            s->idle_spins = 0;
            dispatch(s);
            continue;
        }
        if (progress)
            continue;
        s->pass_busy = false;
        __atomic_store_n(&s->usage.idle_passes, s->usage.idle_passes + 1, __ATOMIC_RELAXED);
        if (!s->heap_len && !s->polls && !s->ncw)
            return usage_end(s, CO_EDEADLOCK);
        idle(s);
    }
}

void co_sched_stop(co_sched_t *s)
{
    s->stop = true;
    s->budget = 0; /* the next switch goes back to the scheduler stack */
}

size_t co_sched_live(const co_sched_t *s)
{
    return s->live;
}

co_sched_t *co_sched_self(void)
{
    return rt_tls_sched;
}

void co_poll_add(co_poll_t *p)
{
    co_sched_t *s = rt_tls_sched;
    p->prev = NULL;
    p->next = s->polls;
    if (s->polls)
        s->polls->prev = p;
    s->polls = p;
}

void co_poll_del(co_poll_t *p)
{
    co_sched_t *s = rt_tls_sched;
    if (s->poll_next == p)
        s->poll_next = p->next;
    if (p->prev)
        p->prev->next = p->next;
    else
        s->polls = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
}

/* ---- coroutine life cycle ----------------------------------------------------------- */

static void copy_name_exact(char *dst, const char *src)
{
    size_t n = strnlen(src, CO_NAME_MAX); /* vectorised in libc: a byte loop cost 8 ns */
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/*
 * Whether copy_name_blind() may copy @p src: its 24 bytes stay inside the name's
 * (at least 4 KiB) page, so reading past a short name's end cannot fault. Sanitizer
 * builds always copy exactly, which is what they can check.
 */
static inline bool name_blind_ok(const char *src)
{
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    return ((uintptr_t)src & 4095) <= 4096 - (CO_NAME_MAX + 1);
#else
    (void)src;
    return false;
#endif
}

/*
 * Copy a coroutine name (CO_NAME_MAX + 1 bytes of co->name): move 24 bytes blindly
 * and clear the last. A shorter name's terminator is among the bytes moved, a longer
 * one is cut at CO_NAME_MAX, and no length is ever computed: two vector moves
 * instead of a strnlen() call and a variable-length copy. The bytes after the
 * terminator are never read back. Only when name_blind_ok(@p src).
 */
static inline void copy_name_blind(char *dst, const char *src)
{
    __asm__("" : "+r"(src)); /* the compiler must not size the read by the string */
    memcpy(dst, src, CO_NAME_MAX + 1);
    dst[CO_NAME_MAX] = '\0';
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/*
 * Sanitizer builds enter a coroutine through here (rt_trampoline calls it as the
 * entry, with the coroutine as the argument): ASan must be told the switch onto the
 * new stack has finished. The real entry and argument wait in the wait area.
 */
static void rt_co_start(void *arg)
{
    co_t *co = arg;
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    void **entry = (void **)co_wait_area(co);
    co_fn_t fn = (co_fn_t)entry[0];
    fn(entry[1]);
}
#endif

/*
 * Lay out the frame rt_switch pops, so the first switch "returns" into rt_trampoline
 * with the coroutine in r12, its entry in r13 and the argument in r14. r15, rbx and
 * rbp start as whatever the slots hold: nothing reads them before the coroutine's own
 * code sets them (rt_trampoline clears rbp). Keeping the entry in the frame, not the
 * header, saves a header store and a load per spawn.
 */
static inline void init_frame(co_sched_t *s, co_t *co, co_fn_t fn, void *arg)
{
    uint64_t *sp = (uint64_t *)co - 8;
    uint64_t fp;
    memcpy(&fp, s->mxcsr_fpucw, sizeof(fp));
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    void **entry = (void **)co_wait_area(co);
    entry[0] = (void *)fn;
    entry[1] = arg;
    fn = rt_co_start;
    arg = co;
#endif
    sp[0] = fp;
    sp[2] = (uint64_t)(uintptr_t)arg;           /* r14 */
    sp[3] = (uint64_t)(uintptr_t)fn;            /* r13 */
    sp[4] = (uint64_t)(uintptr_t)co;            /* r12 */
    sp[7] = (uint64_t)(uintptr_t)rt_trampoline; /* return address */
    co->cx.sp = sp;
}

/* Everything a spawn sets once it has a block, a kind and an id. */
static inline __attribute__((always_inline)) co_t *spawn_init(co_sched_t *s, co_t *co, co_fn_t fn,
                                                              void *arg, const co_opts_t *opts,
                                                              const char *name, bool blind)
{
    /* A block is zero when mapped, and a finished coroutine leaves flags, defers,
     * wait-group link and timer slot clear: only what differs per coroutine is set. */
    assert(!co->flags && !co->defers && !co->wnext && !co->heap_idx);
    co_wg_t *wg = opts->wg;
    co->state = CO_ST_RUNNABLE;
    co->kind = s->last_kind;
    co->id = s->id_next++;
    co->born = (uint32_t)((s->now_tsc - s->birth_tsc) >> RT_AGE_SHIFT);
    co->wg = wg;
    co->ctx = opts->ctx;
    if (blind)
        copy_name_blind(co->name, name);
    else
        copy_name_exact(co->name, name);
    init_frame(s, co, fn, arg);
#ifdef __SANITIZE_ADDRESS__
    co->cx.asan_fake = NULL;
#endif
#ifdef __SANITIZE_THREAD__
    co->cx.tsan_fiber = __tsan_create_fiber(0);
#endif
    s->live++;
    rt_bump(&s->kinds[co->kind].created);
    if (wg)
        wg->count++;
    rq_push(s, co);
    return co;
}

static inline const char *spawn_name(const co_opts_t *opts)
{
    return opts->name ? opts->name : opts->kind ? opts->kind : "co";
}

/* A spawn the fast path cannot take: a new kind, a new id block, an empty cache. */
static __attribute__((noinline)) co_t *spawn_slow(co_fn_t fn, void *arg, const co_opts_t *opts)
{
    co_sched_t *s = rt_tls_sched;
    if (!s || !fn) {
        errno = EINVAL;
        return NULL;
    }
    if (opts->kind != s->last_kind_name) {
        s->last_kind = rt_kind_lookup(s, opts->kind ? opts->kind : "co");
        s->last_kind_name = opts->kind;
    }
    if (s->id_next == s->id_end) {
        uint64_t block = atomic_fetch_add_explicit(&id_blocks, 1, memory_order_relaxed);
        s->id_next = block * ID_BLOCK + 1;
        s->id_end = s->id_next + ID_BLOCK;
    }
    size_t size = opts->stack_size;
    co_t *co = rt_stack_get(s, size ? size : CO_STACK_DEFAULT);
    if (!co)
        return NULL;
    if (co->stack_class == CO_STK_GUARDED && co->cache_slot != RT_NO_CACHE) {
        /* The next spawn of this size pops its cache directly. */
        s->hint_size = size;
        s->hint_slot = co->cache_slot;
    }
    return spawn_init(s, co, fn, arg, opts, spawn_name(opts), false);
}

/*
 * The common spawn is a leaf with no call: same kind as the last spawn, an id left
 * in the block, a cached stack of the last size (or a small one), a name that may
 * be copied blindly.
 */
co_t *co_spawn(co_fn_t fn, void *arg, const co_opts_t *opts)
{
    static const co_opts_t defaults;
    co_sched_t *s = rt_tls_sched;
    if (!opts)
        opts = &defaults;
    const char *name = spawn_name(opts);
    if (RT_UNLIKELY(!s || !fn || opts->kind != s->last_kind_name || s->id_next == s->id_end ||
                    !name_blind_ok(name)))
        return spawn_slow(fn, arg, opts);
    size_t size = opts->stack_size;
    co_t *co;
    if (RT_LIKELY(size == s->hint_size)) { /* SIZE_MAX when there is no hint */
        struct rt_stack_cache *c = &s->stacks[s->hint_slot];
        if (RT_UNLIKELY(!c->n))
            return spawn_slow(fn, arg, opts);
        co = c->items[--c->n];
        rt_warm_next(c->items, c->n);
        s->cache_bytes -= c->map_len;
    } else if (size == CO_STACK_SMALL && s->small_n) {
        co = s->small_items[--s->small_n];
        rt_warm_next(s->small_items, s->small_n);
        *rt_canary_slot(co) = rt_canary_value(co);
    } else {
        return spawn_slow(fn, arg, opts);
    }
    return spawn_init(s, co, fn, arg, opts, name, true);
}

static void run_defers(co_sched_t *s, co_t *self)
{
    struct rt_defer *d;
    while ((d = self->defers) != NULL) {
        void (*fn)(void *) = d->fn;
        void *arg = d->arg;
        self->defers = d->next;
        d->next = s->defer_free;
        s->defer_free = d;
        fn(arg); /* may panic: rt_finish re-enters and carries on with the rest */
    }
}

/* Sanitizer builds, or a block that must be unmapped: die on the scheduler stack. */
static __attribute__((noinline, noreturn)) void finish_zombie(co_sched_t *s, co_t *self)
{
    check_canary(self);
    s->zombie = self; /* reaped by dispatch(), off this stack */
    s->cur = NULL;
    cx_switch(&self->cx, &s->cx, true, 0);
    __builtin_unreachable();
}

/* Leave a finished coroutine (accounted for, state free) for whatever runs next. */
static inline __attribute__((always_inline, noreturn)) void finish_switch(co_sched_t *s, co_t *self)
{
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    /*
     * Recycle our own block and go straight to the next coroutine. Safe because
     * nothing can reuse the block before the switch completes (this thread is
     * busy with it) and the switch saves nothing on it.
     */
    if (RT_LIKELY(rt_stack_recycle(s, self))) {
        check_canary(self);
        co_t *next = s->rq_head;
        if (RT_LIKELY(s->budget && next)) {
            /* next_cx() without its out-parameter, which costs this leaf a frame */
            s->rq_head = next == s->rq_tail ? NULL : next->next;
            s->budget--;
            s->cur = next;
            co_t *after = s->rq_head;
            if (after) {
                rt_prefetch((char *)after - RT_CACHE_LINE);
                rt_prefetch(after);
            }
            rt_resume(next->cx.sp, next->wake);
        }
        int value;
        rt_cx_t *to = next_cx(s, self, &value); /* never NULL: self is not queued */
        rt_resume(to->sp, value);
    }
#endif
    finish_zombie(s, self);
}

/* Defers, a panic, or the last member of a wait group: the general finish. */
/* A finishing coroutine's lazy timer entry (see the heap above). */
static void drop_timer(co_sched_t *s, co_t *self)
{
    heap_remove(s, self);
    self->deadline = UINT64_MAX;
}

static __attribute__((noinline, noreturn)) void finish_slow(co_sched_t *s, co_t *self,
                                                            bool panicked)
{
    if (self->heap_idx)
        drop_timer(s, self);
    if (panicked)
        self->flags |= CO_F_PANICKED;
    run_defers(s, self);
    panicked = (self->flags & CO_F_PANICKED) != 0;
    self->flags = 0;
    s->live--;
    rt_bump(&s->kinds[self->kind].finished);
    if (panicked)
        rt_bump(&s->kinds[self->kind].panicked);
    co_wg_t *wg = self->wg;
    if (wg) {
        wg->panicked += panicked;
        if (--wg->count <= 0)
            wg_reached_zero(wg);
    }
    self->state = CO_ST_FREE;
    finish_switch(s, self);
}

void rt_finish_panicked(co_t *self)
{
    finish_slow(rt_tls_sched, self, true);
}

/*
 * The common finish has no call before its final jump: no defers, no timer entry,
 * and a wait group (if any) that others still hold, so nobody is woken.
 */
void rt_finish(co_t *self)
{
    co_sched_t *s = rt_tls_sched;
    co_wg_t *wg = self->wg;
    /* a lazy timer entry takes the slow path too: one test for the three */
    if (RT_UNLIKELY(self->defers || (wg && wg->count <= 1) || self->heap_idx))
        finish_slow(s, self, false);
    s->live--;
    rt_bump(&s->kinds[self->kind].finished);
    if (wg)
        wg->count--;
    self->state = CO_ST_FREE;
    finish_switch(s, self);
}

/* co_yield() when the fast path does not apply: nobody else ready, or a pass due.
 * Not static: outside sanitizer builds, co_yield is in switch_x86_64.S. */
__attribute__((noinline)) void rt_yield_slow(co_sched_t *s, co_t *self)
{
    rq_push(s, self);
    int value;
    rt_cx_t *to = next_cx(s, self, &value);
    if (to)
        switch_from_co(self, to, value);
}

/*
 * The C original of switch_x86_64.S's co_yield, which replaces it outside sanitizer
 * builds (these must tell the sanitizers about every switch): the two must agree.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* hot (also co_park, co_ready, co_wake): .text.hot, beside rt_switch, so where
 * the switching paths land relative to one another does not depend on the rest of
 * this file (docs/architecture.md: placement moved co.switch by up to 60 % on Zen) */
__attribute__((hot)) void co_yield(void)
{
    co_sched_t *s = rt_tls_sched;
    co_t *self = s ? s->cur : NULL;
    if (!self)
        return;
    co_t *next = s->rq_head;
    if (RT_UNLIKELY(!next || !s->budget)) {
        rt_yield_slow(s, self);
        return;
    }
    /*
     * rq_push(self) + next_cx() folded. With one other coroutine ready (a
     * ping-pong) the queue just becomes [self]: no link is stored into a header
     * and loaded back from it on the way to the switch, which would put two
     * store-to-load forwards on the chain every switch waits for.
     */
    check_canary(self);
    if (RT_LIKELY(next == s->rq_tail)) {
        s->rq_head = self;
    } else {
        s->rq_tail->next = self;
        co_t *after = next->next; /* not self: the queue held two or more */
        s->rq_head = after;
        __builtin_prefetch((char *)after - RT_CACHE_LINE); /* see next_cx() */
        __builtin_prefetch(after);
        __builtin_prefetch((char *)after + 2 * RT_CACHE_LINE);
    }
    /* volatile: gcc would otherwise merge this store and the rq_head one into a
     * 16-byte vector store assembled through two GPR-to-XMM moves */
    *(co_t *volatile *)&s->rq_tail = self;
    s->budget--;
    s->cur = next;
    switch_from_co(self, &next->cx, next->wake);
}
#endif

/*
 * Off the run queue until the pass has run: the pass queues what its hooks wake first
 * and @p self after them, so the coroutines it woke run before the yielder runs again.
 */
void co_yield_pass(void)
{
    co_sched_t *s = rt_tls_sched;
    co_t *self = s ? s->cur : NULL;
    if (!self)
        return;
    if (!pass_due(s) || s->after_pass != NULL) {
        co_yield();
        return;
    }
    check_canary(self);
    s->after_pass = self;
    s->budget = 0; /* dispatch() returns to co_sched_run() instead of running the next */
    s->cur = NULL;
    switch_from_co(self, &s->cx, 0);
}

int co_sleep(uint64_t ns, co_ctx_t *ctx)
{
    co_sched_t *s = rt_tls_sched;
    if (!s || !s->cur)
        return EPERM;
    uint64_t now = co_tsc(), ticks = co_ns_to_tsc(ns);
    uint64_t deadline = ticks > UINT64_MAX - now ? UINT64_MAX : now + ticks;
    int r;
    do {
        r = co_park(ctx, deadline, "sleep", NULL);
    } while (r == 0 && co_tsc() < deadline); /* a stray co_ready() does not cut it short */
    /* Our own timer fired (the context's deadline, if any, is later): a full sleep,
     * even if the context was cancelled between that and our resumption. */
    if (r == ETIMEDOUT && rt_ctx_deadline_tsc(ctx) > deadline)
        return 0;
    return r;
}

void co_exit(void)
{
    co_sched_t *s = rt_tls_sched;
    if (!s || !s->cur)
        rt_die("co_exit called outside a coroutine");
    rt_finish(s->cur);
}

co_t *co_self(void)
{
    co_sched_t *s = rt_tls_sched;
    return s ? s->cur : NULL;
}

static const co_t *self_or(const co_t *co)
{
    return co ? co : co_self();
}

const char *co_name(const co_t *co)
{
    co = self_or(co);
    return co ? co->name : "(scheduler)";
}

const char *co_kind(const co_t *co)
{
    co = self_or(co);
    return co ? rt_tls_sched->kinds[co->kind].name : "(scheduler)";
}

uint64_t co_id(const co_t *co)
{
    co = self_or(co);
    return co ? co->id : 0;
}

co_ctx_t *co_context(const co_t *co)
{
    co = self_or(co);
    return co ? co->ctx : CO_BACKGROUND;
}

size_t co_stack_size(const co_t *co)
{
    co = self_or(co);
    return co ? co->cx.stack_len : 0;
}

/* ---- wait groups ----------------------------------------------------------------- */

void co_wg_init(co_wg_t *wg)
{
    wg->count = 0;
    wg->panicked = 0;
    wg->waiters = NULL;
}

void co_wg_add(co_wg_t *wg, long n)
{
    wg->count += n;
    if (wg->count <= 0)
        wg_reached_zero(wg);
}

static void wg_reached_zero(co_wg_t *wg)
{
    if (wg->count < 0)
        rt_die("co_wg_add: wait group %p went negative (%ld)", (void *)wg, wg->count);
    co_t *w = wg->waiters;
    wg->waiters = NULL;
    while (w) {
        co_t *next = w->wnext;
        w->wnext = NULL;
        co_ready(w);
        w = next;
    }
}

void co_wg_done(co_wg_t *wg)
{
    co_wg_add(wg, -1);
}

int co_wg_wait(co_wg_t *wg, co_ctx_t *ctx)
{
    co_t *self = co_self();
    if (!self)
        return EPERM;
    if (wg->count == 0)
        return 0;
    self->wnext = wg->waiters;
    wg->waiters = self;
    int r = co_park(ctx, UINT64_MAX, "wait group", wg);
    if (r != 0) {
        for (co_t **pp = &wg->waiters; *pp; pp = &(*pp)->wnext) {
            if (*pp == self) {
                *pp = self->wnext;
                break;
            }
        }
        self->wnext = NULL;
    }
    return r;
}

/* ---- defer -------------------------------------------------------------------------- */

#define DEFER_CHUNK 64

int co_defer(void (*fn)(void *), void *arg)
{
    co_sched_t *s = rt_tls_sched;
    co_t *self = s ? s->cur : NULL;
    if (!self)
        return EPERM;
    if (!s->defer_free) {
        struct rt_chunk *chunk =
            rt_malloc(sizeof(struct rt_chunk) + DEFER_CHUNK * sizeof(struct rt_defer));
        if (!chunk)
            return ENOMEM;
        chunk->next = s->defer_chunks;
        s->defer_chunks = chunk;
        struct rt_defer *d = (struct rt_defer *)(chunk + 1);
        for (int i = 0; i < DEFER_CHUNK; i++) {
            d[i].next = s->defer_free;
            s->defer_free = &d[i];
        }
    }
    struct rt_defer *d = s->defer_free;
    s->defer_free = d->next;
    d->fn = fn;
    d->arg = arg;
    d->next = self->defers;
    self->defers = d;
    return 0;
}

void rt_defer_release_all(co_sched_t *s)
{
    struct rt_chunk *chunk = s->defer_chunks;
    while (chunk) {
        struct rt_chunk *next = chunk->next;
        rt_free(chunk);
        chunk = next;
    }
    s->defer_chunks = NULL;
    s->defer_free = NULL;
}

/* ---- scheduler creation and teardown ------------------------------------------------ */

static pthread_once_t canary_once = PTHREAD_ONCE_INIT;

uint8_t rt_fp_eager;

/* AMD Zen (and Hygon's): STMXCSR stores late, so rt_switch's compare of the
 * MXCSR it has just stored costs more than an unconditional LDMXCSR (see
 * switch_x86_64.S and docs/architecture.md). Either way is correct. */
static void fp_probe(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return;
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = '\0';
    rt_fp_eager = !strcmp(vendor, "AuthenticAMD") || !strcmp(vendor, "HygonGenuine");
}

static void canary_seed(void)
{
    fp_probe();
    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
        seed = co_tsc() * 0x9e3779b97f4a7c15ull;
    rt_canary_seed ^= seed;
}

static int pick_numa_node(int requested)
{
    if (numa_available() < 0)
        return -1;
    if (requested > 0)
        return requested - 1;
    if (numa_max_node() < 1)
        return -1; /* one node: binding would only cost */
    int cpu = sched_getcpu();
    return cpu < 0 ? -1 : numa_node_of_cpu(cpu);
}

static void thread_stack_bounds(rt_cx_t *cx)
{
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &cx->stack_lo, &cx->stack_len);
        pthread_attr_destroy(&attr);
    }
}

co_sched_t *co_sched_new(const co_sched_opts_t *opts)
{
    static const co_sched_opts_t defaults;
    if (rt_tls_sched) {
        errno = EBUSY;
        return NULL;
    }
    if (!opts)
        opts = &defaults;
    co_sched_t *s = rt_calloc(1, sizeof(*s));
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    pthread_once(&canary_once, canary_seed);
    co_tsc_hz(); /* calibrate now rather than in the middle of a run */
    copy_name_exact(s->name, opts->name ? opts->name : "sched");
    s->last_kind_name = (const char *)&s->last_kind; /* matches no co_opts_t.kind */
    s->hint_size = SIZE_MAX;                         /* matches no stack size */
    s->idle = opts->idle;
    s->batch = opts->batch ? opts->batch : 64;
    s->cache_max = opts->stack_cache_bytes ? opts->stack_cache_bytes : (256u << 20);
    s->page = (size_t)sysconf(_SC_PAGESIZE);
    s->numa_node = pick_numa_node(opts->numa_node);
    uint32_t mxcsr;
    uint16_t fpucw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    s->mxcsr_fpucw[0] = mxcsr;
    s->mxcsr_fpucw[1] = fpucw;
    thread_stack_bounds(&s->cx);
#ifdef __SANITIZE_THREAD__
    s->cx.tsan_fiber = __tsan_get_current_fiber();
#endif
    s->now_tsc = s->birth_tsc = co_tsc();
    rt_signals_attach(s);
    rt_registry_attach(s);
    rt_tls_sched = s;
    return s;
}

size_t co_sched_free(co_sched_t *s, FILE *report)
{
    if (s != rt_tls_sched || s->cur)
        rt_die("co_sched_free: scheduler '%s' freed from a coroutine or a foreign thread", s->name);
    s->now_tsc = co_tsc();
    size_t leaked = rt_registry_report(s, report);
#ifdef __SANITIZE_THREAD__
    size_t n;
    co_t **live = rt_registry_live(s, &n);
    for (size_t i = 0; live && i < n; i++)
        __tsan_destroy_fiber(live[i]->cx.tsan_fiber);
    rt_free(live);
#endif
    /* Leaked guarded blocks are in the block table with the cached ones. */
    rt_stack_release_all(s);
    rt_defer_release_all(s);
    rt_free(s->heap);
    rt_signals_detach(s);
    rt_registry_detach(s);
    rt_tls_sched = NULL;
    rt_free(s);
    return leaked;
}
