/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Panics, supervisors, fatal errors and the stack-overflow handler.
 */
#include "rt_internal.h"

#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- fatal errors -------------------------------------------------------------- */

void rt_die(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "mdmux: fatal: %s\n", msg);
    fflush(stderr);
    abort();
}

/* ---- async-signal-safe formatting ---------------------------------------------- */

size_t rt_fmt_str(char *buf, size_t cap, size_t at, const char *s)
{
    while (*s && at + 1 < cap)
        buf[at++] = *s++;
    buf[at < cap ? at : cap - 1] = '\0';
    return at;
}

size_t rt_fmt_u64(char *buf, size_t cap, size_t at, uint64_t v)
{
    char digits[21];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n > 0 && at + 1 < cap)
        buf[at++] = digits[--n];
    buf[at < cap ? at : cap - 1] = '\0';
    return at;
}

/* ---- stack overflow --------------------------------------------------------------- */

#define ALTSTACK_LEN (64u * 1024u)

static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction old_segv, old_bus;

static void report_overflow(const co_t *co)
{
    char msg[160];
    size_t n = rt_fmt_str(msg, sizeof(msg), 0, "mdmux: coroutine '");
    n = rt_fmt_str(msg, sizeof(msg), n, co->name);
    n = rt_fmt_str(msg, sizeof(msg), n, "' overflowed its ");
    n = rt_fmt_u64(msg, sizeof(msg), n, rt_stack_kib(rt_tls_sched, co));
    n = rt_fmt_str(msg, sizeof(msg), n, " KiB stack\n");
    ssize_t w = write(STDERR_FILENO, msg, n);
    (void)w;
}

/* Did this fault hit the running coroutine's guard page (or run off a small stack)? */
static bool is_overflow(const co_sched_t *s, const co_t *co, uintptr_t addr)
{
    uintptr_t lo = (uintptr_t)co->cx.stack_lo;
    bool below = addr < lo && addr + s->page + RT_CACHE_LINE >= lo;
    if (co->stack_class == CO_STK_GUARDED)
        return below;
    return below || *rt_canary_slot(co) != rt_canary_value(co);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    co_sched_t *s = rt_tls_sched;
    co_t *co = s ? s->cur : NULL;
    if (co && is_overflow(s, co, (uintptr_t)si->si_addr)) {
        report_overflow(co);
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    const struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, si, uc);
    } else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
        /* Returning re-executes the faulting instruction under the default action. */
        signal(sig, SIG_DFL);
    } else {
        old->sa_handler(sig);
    }
}

/* Take SIGSEGV/SIGBUS unless we already hold them (again after a fork that reset
 * them, or after someone else took them: their handler becomes the one we chain to). */
static void install_handler(void)
{
    struct sigaction cur;
    if (sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
        cur.sa_sigaction == on_fault)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
}

void rt_signals_attach(co_sched_t *s)
{
    pthread_mutex_lock(&handler_lock);
    install_handler();
    pthread_mutex_unlock(&handler_lock);
    void *mem =
        mmap(NULL, ALTSTACK_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = mem, .ss_size = ALTSTACK_LEN, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(mem, ALTSTACK_LEN);
        return;
    }
    s->altstack = mem;
    s->altstack_len = ALTSTACK_LEN;
}

void rt_signals_detach(co_sched_t *s)
{
    if (!s->altstack)
        return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == s->altstack) {
        stack_t off = {.ss_flags = SS_DISABLE};
        sigaltstack(&off, NULL);
    }
    munmap(s->altstack, s->altstack_len);
    s->altstack = NULL;
}

/* ---- panic ------------------------------------------------------------------------- */

struct panic_req {
    co_t *co;
    const char *fmt;
    va_list *ap;
};

/* Runs on a stack deep enough for vsnprintf (the scheduler's, for small stacks). */
static void panic_record(void *arg)
{
    struct panic_req *req = arg;
    co_t *co = req->co;
    char msg[sizeof(((co_panic_rec_t *)0)->msg)];
    vsnprintf(msg, sizeof(msg), req->fmt, *req->ap);
    rt_registry_panic(rt_tls_sched, co, msg);
    fprintf(stderr, "mdmux: panic in coroutine '%s' (kind %s, id %llu): %s\n", co->name,
            rt_tls_sched->kinds[co->kind].name, (unsigned long long)co->id, msg);
    if (co->wg == NULL) {
        void *frames[32];
        fprintf(stderr, "mdmux: unrecovered panic (no wait group or supervisor observes '%s')\n",
                co->name);
        backtrace_symbols_fd(frames, backtrace(frames, 32), STDERR_FILENO);
        fflush(stderr);
        abort();
    }
}

void co_panic(const char *fmt, ...)
{
    co_t *self = co_self();
    va_list ap;
    va_start(ap, fmt);
    if (!self) {
        char msg[256];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        rt_die("panic outside a coroutine: %s", msg);
    }
    struct panic_req req = {.co = self, .fmt = fmt, .ap = &ap};
    if (self->stack_class == CO_STK_SMALL)
        rt_call_on_sched_stack(panic_record, &req);
    else
        panic_record(&req);
    va_end(ap);
    rt_finish_panicked(self);
}

/* ---- supervisors ------------------------------------------------------------------- */

static void sv_defaults(co_supervisor_opts_t *o)
{
    if (!o->backoff_min_ns)
        o->backoff_min_ns = 1000000ull;
    if (!o->backoff_max_ns)
        o->backoff_max_ns = 1000000000ull;
    if (o->backoff_max_ns < o->backoff_min_ns)
        o->backoff_max_ns = o->backoff_min_ns;
    if (!o->budget)
        o->budget = 5;
    if (o->budget > 32)
        o->budget = 32;
    if (!o->window_ns)
        o->window_ns = 10000000000ull;
}

/* True if another restart now would exceed the budget within the window. */
static bool sv_over_budget(co_supervisor_t *sv, uint64_t now)
{
    unsigned budget = sv->opts.budget;
    if (sv->restarts < budget)
        return false;
    uint64_t oldest = sv->restart_tsc[(sv->restarts - budget) % 32];
    return now - oldest < co_ns_to_tsc(sv->opts.window_ns);
}

static void sv_copy_last_panic(co_supervisor_t *sv, uint64_t child_id)
{
    co_panic_rec_t recs[CO_PANIC_LOG];
    size_t n = co_panics_recent(co_sched_self(), recs, CO_PANIC_LOG);
    for (size_t i = 0; i < n; i++) {
        if (recs[i].co_id == child_id) {
            snprintf(sv->last_panic, sizeof(sv->last_panic), "%s", recs[i].msg);
            return;
        }
    }
}

static void sv_main(void *arg)
{
    co_supervisor_t *sv = arg;
    co_ctx_t *ctx = sv->opts.child.ctx;
    uint64_t backoff = sv->opts.backoff_min_ns;
    for (;;) {
        co_wg_init(&sv->child_wg);
        co_opts_t child = sv->opts.child;
        child.wg = &sv->child_wg;
        uint64_t started = co_tsc();
        sv->child = co_spawn(sv->opts.fn, sv->opts.arg, &child);
        bool panicked = true; /* a child that could not be spawned counts as failed */
        if (sv->child) {
            uint64_t child_id = co_id(sv->child);
            co_wg_wait(&sv->child_wg, CO_BACKGROUND); /* the child watches ctx itself */
            sv->child = NULL;
            panicked = sv->child_wg.panicked != 0;
            if (panicked) {
                sv->panics++;
                sv_copy_last_panic(sv, child_id);
            }
        }
        if (co_ctx_err(ctx)) {
            sv->state = CO_SV_DONE;
            return;
        }
        if (!panicked && sv->opts.policy == CO_RESTART_ON_PANIC) {
            sv->state = CO_SV_DONE;
            return;
        }
        uint64_t now = co_tsc();
        if (sv_over_budget(sv, now)) {
            sv->state = CO_SV_GAVE_UP;
            fprintf(stderr,
                    "mdmux: supervisor of '%s' gave up: %u restarts within %.3f s (last panic: "
                    "%s)\n",
                    co_name(NULL), sv->opts.budget, (double)sv->opts.window_ns / 1e9,
                    sv->last_panic[0] ? sv->last_panic : "none");
            return;
        }
        /* A child that ran for longer than the longest backoff earns a fresh start. */
        if (co_tsc_to_ns(now - started) > sv->opts.backoff_max_ns)
            backoff = sv->opts.backoff_min_ns;
        sv->backoff_ns = backoff; /* the child reads it when it starts again */
        sv->backoff_total_ns += backoff;
        if (co_sleep(backoff, ctx) != 0) {
            sv->state = CO_SV_DONE;
            return;
        }
        backoff = backoff * 2 > sv->opts.backoff_max_ns ? sv->opts.backoff_max_ns : backoff * 2;
        sv->restart_tsc[sv->restarts % 32] = co_tsc();
        sv->restarts++;
    }
}

int co_supervise(co_supervisor_t *sv, const co_supervisor_opts_t *opts, co_wg_t *wg)
{
    if (!sv || !opts || !opts->fn || opts->child.wg || !co_sched_self())
        return EINVAL;
    memset(sv, 0, sizeof(*sv));
    sv->opts = *opts;
    sv_defaults(&sv->opts);
    char name[CO_NAME_MAX + 1];
    snprintf(name, sizeof(name), "sv:%s",
             opts->child.name ? opts->child.name : (opts->child.kind ? opts->child.kind : "co"));
    co_opts_t o = {.name = name, .kind = "supervisor", .ctx = opts->child.ctx, .wg = wg};
    return co_spawn(sv_main, sv, &o) ? 0 : ENOMEM;
}
