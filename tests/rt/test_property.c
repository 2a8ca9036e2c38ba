/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Property test of lib/rt: seeded random programs of spawn, yield, sleep, cancel,
 * panic and wait, checked against a model.
 *
 * Every seed generates one program (tests/rt/model.h): up to MAX_CO coroutines, each
 * a straight-line list of ops ending in return, co_exit() or co_panic(), a forest of
 * up to MAX_CTX cancellation contexts and a wait group per coroutine (its children
 * join it). An interpreter coroutine runs the ops and appends every step to a trace:
 * (coroutine, step) when an op starts, when a blocking op returns, when a co_defer()
 * callback runs, with a co_now_ns() time stamp.
 *
 * Two families of programs:
 *
 *  sync  - no timers: spawn, yield, defer, cancel, co_ctx_err, registry snapshots,
 *          wait-group waits, and sleeps on contexts that are already done. The run
 *          queue is FIFO, so the whole interleaving is determined; the model
 *          (model_sync) predicts the exact trace, which must match event for event.
 *          Small-stack coroutines (CO_STACK_SMALL) are common here.
 *  timed - real sleeps (0..3 ms tiers and 1 s sleeps that only a cancel or a
 *          deadline ends), deadline contexts (2..12 ms, one hour, already expired),
 *          cancels from other coroutines, waits with contexts. Real time makes the
 *          interleaving vary, so each observed result is checked against what the
 *          trace proves: e.g. 0 from co_sleep needs the full time to have passed and
 *          no cancel before the call; ECANCELED needs a cancel of the context or an
 *          ancestor before the return; ETIMEDOUT needs the deadline to have passed;
 *          a 1 s sleep whose context was cancelled (or expired) long before must end
 *          early; every sleep and wait returns within PROP_LATE_MS of what ends it;
 *          sleeps whose deadlines are >= PROP_ORDER_MARGIN_US apart wake in
 *          deadline order.
 *
 * Both families also check: defers run LIFO after the end op on return, co_exit and
 * co_panic, and nothing of the coroutine runs after them; spawned coroutines start in
 * spawn order and co_spawn/defer/cancel never switch; co_self/name/kind/context/
 * stack_size/id; wait groups end at count 0 with the right panicked counts; registry
 * counters (per kind created/finished/panicked/live, mid-run and at the end) and
 * co_sched_live() at every event;
 * co_panics_recent (newest first, names, messages, ids); co_ctx_err stickiness and
 * final values; co_sched_run() == 0 and co_sched_free() reports no leak.
 *
 * Isolation: programs run in forked child processes, a batch per child, so a crash,
 * an abort from the runtime (broken canary, stack overflow, unobserved panic), a
 * sanitizer report, a leak (LeakSanitizer is run in each child) or a hang (watchdog)
 * still names its seed: the driver reads the running seed from shared memory and the
 * runtime's captured stderr from a memfd. The first failing seed is then shrunk
 * (coroutines and ops dropped, ends and stacks simplified, each candidate in a child)
 * and the minimal program printed. Timing checks widen their margins by the time the
 * thread waited for a CPU (/proc/thread-self/schedstat), so a loaded machine does not
 * make them fail.
 *
 * Environment:
 *   PROP_SEEDS=n         timed seeds (default 1000)
 *   PROP_SYNC_SEEDS=n    sync seeds (default 5 x PROP_SEEDS; they take ~0.1 ms each)
 *   PROP_SEED=s          run only seed s (in both families) - the reproducer
 *   PROP_SEED_BASE=b     first seed (default 1)
 *   PROP_MODE=sync|timed run one family only
 *   PROP_KEEP_GOING=1    do not stop at the first failing seed
 *   PROP_SHRINK=0        do not shrink the first failing program
 *   PROP_VERBOSE=1       print every program; do not capture the runtime's stderr
 *   PROP_NO_FORK=1       run programs in the test process (for gdb)
 *   PROP_TIMEOUT_S=n     watchdog per program (default 30, 120 under sanitizers)
 *   PROP_ORDER_MARGIN_US wake-order margin for plain sleeps (default 1000, 2000 under
 *                        sanitizers; 0: off)
 *   PROP_LATE_MS=n       a sleep or wait must return within n ms of what ends it (its
 *                        time, deadline, cancel or the count reaching 0; default 250,
 *                        500 under sanitizers)
 *
 * A failing seed is printed as "seed N (family): ..." followed by the failed checks;
 * rerun it alone with PROP_SEED=N PROP_MODE=family.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "co.h"
#include "model.h"
#include "testutil.h"

/* Sanitizer hooks, when a sanitizer runtime is linked (weak: NULL otherwise). */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));
extern void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

#define US        ((uint64_t)1000)
#define MS        ((uint64_t)1000000)
#define LONG_NS   (1000 * MS) /* a sleep only a cancel or deadline ends in time */
#define SLACK_NS  (2 * US)    /* clock conversion slack for time comparisons */
#define MUST_NS   (100 * MS)  /* "long before": margin for must-wake-early rules */
#define MAX_REG   64
#define MAX_FAILS 12

static const char *const kinds[NKINDS] = {"prop.a", "prop.b", "prop.c", "prop.d"};

/* ---- configuration ------------------------------------------------------------ */

static struct {
    uint64_t seeds, sync_seeds, base, one_seed;
    bool have_one, keep_going, shrink, verbose, no_fork;
    unsigned timeout_s;
    uint64_t order_margin_ns;
    uint64_t late_ns; /* a blocking op must return this soon after what ends it */
    int mode;         /* -1 both, 0 sync, 1 timed */
} cfg;

/* ---- random numbers (splitmix64) ---------------------------------------------- */

static uint64_t rng_s;

static uint64_t rnd64(void)
{
    uint64_t z = (rng_s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static unsigned rnd(unsigned n)
{
    return (unsigned)(rnd64() % n);
}

/* ---- failure messages ----------------------------------------------------------- */

typedef struct errbuf {
    char buf[8192];
    size_t len;
    int n;
} errbuf_t;

static void fail_add(errbuf_t *eb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_add(errbuf_t *eb, const char *fmt, ...)
{
    eb->n++;
    if (eb->n > MAX_FAILS || eb->len + 2 >= sizeof eb->buf)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(eb->buf + eb->len, sizeof eb->buf - eb->len - 1, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    eb->len += (size_t)w;
    if (eb->len > sizeof eb->buf - 2)
        eb->len = sizeof eb->buf - 2;
    eb->buf[eb->len++] = '\n';
    eb->buf[eb->len] = 0;
}

/* ---- generator ------------------------------------------------------------------ */

static int pick_ctx(const prog_t *p, bool background_ok)
{
    if (p->nctx == 0)
        return -1;
    if (background_ok)
        return (int)rnd((unsigned)p->nctx + 1) - 1;
    return (int)rnd((unsigned)p->nctx);
}

/* A context whose deadline passes during the program, or -1. */
static int pick_expiring_ctx(const prog_t *p)
{
    int cand[MAX_CTX], n = 0;
    for (int k = 0; k < p->nctx; k++)
        if (prog_ctx_expires(p, k))
            cand[n++] = k;
    return n ? cand[rnd((unsigned)n)] : -1;
}

static const uint64_t short_tiers[] = {0, 50 * US, 1 * MS, 2 * MS, 3 * MS};

static void gen_short_sleep(const prog_t *p, op_t *o)
{
    o->kind = OP_SLEEP;
    o->a = (int8_t)pick_ctx(p, true);
    op_set_ns(o, short_tiers[rnd(5)]);
}

/*
 * One random op of coroutine c. In timed programs, coroutine 0 before its teardown
 * (root_pre) must not block beyond a deadline: everything that might park until a
 * cancel is given an expiring context.
 */
static int gen_op(const prog_t *p, op_t *out, bool root_pre)
{
    op_t o = {.kind = OP_YIELD, .a = -1};
    unsigned r = rnd(100);
    int k = pick_ctx(p, false);

    if (!p->timed) {
        if (r < 18) {
            o.kind = OP_YIELD;
        } else if (r < 30) {
            o.kind = OP_DEFER;
        } else if (r < 40 && k >= 0) {
            o.kind = OP_CANCEL, o.a = (int8_t)k;
        } else if (r < 50 && k >= 0) {
            o.kind = OP_CTXERR, o.a = (int8_t)k;
        } else if (r < 64 && k >= 0) {
            /* a sleep on a done context: cancel it first half of the time */
            static const uint64_t ns[] = {0, 1 * MS, LONG_NS};
            int n = 0;
            if (rnd(2)) {
                out[n].kind = OP_CANCEL;
                out[n].a = (int8_t)(rnd(2) ? k : (p->ctx[k].parent >= 0 ? p->ctx[k].parent : k));
                out[n].end = 0;
                op_set_ns(&out[n], 0);
                n++;
            }
            o.kind = OP_SLEEP, o.a = (int8_t)k;
            op_set_ns(&o, ns[rnd(3)]);
            out[n++] = o;
            return n;
        } else if (r < 82) {
            o.kind = OP_WAIT, o.a = (int8_t)(rnd(2) ? -1 : pick_ctx(p, true));
        } else if (r < 92) {
            o.kind = OP_REG;
        }
        out[0] = o;
        return 1;
    }

    if (r < 12) {
        o.kind = OP_YIELD;
    } else if (r < 22) {
        o.kind = OP_DEFER;
    } else if (r < 50) {
        gen_short_sleep(p, &o);
    } else if (r < 58) {
        int kk = root_pre ? pick_expiring_ctx(p) : k;
        if (kk < 0) {
            gen_short_sleep(p, &o);
        } else {
            o.kind = OP_SLEEP, o.a = (int8_t)kk;
            op_set_ns(&o, LONG_NS);
        }
    } else if (r < 66 && k >= 0) {
        o.kind = OP_CANCEL, o.a = (int8_t)k;
    } else if (r < 74 && k >= 0) {
        o.kind = OP_CTXERR, o.a = (int8_t)k;
    } else if (r < 88) {
        int kk = root_pre ? pick_expiring_ctx(p) : pick_ctx(p, true);
        if (root_pre && kk < 0)
            gen_short_sleep(p, &o);
        else
            o.kind = OP_WAIT, o.a = (int8_t)kk;
    } else if (r < 95) {
        o.kind = OP_REG;
    } else {
        gen_short_sleep(p, &o);
    }
    out[0] = o;
    return 1;
}

static void gen(prog_t *p, uint64_t seed, bool timed)
{
    memset(p, 0, sizeof *p);
    rng_s = seed * 0x2545F4914F6CDD1Dull + (timed ? 0x5851F42D4C957F2Dull : 0x14057B7EF767814Full);
    p->seed = seed;
    p->timed = timed;
    p->nco = 1 + (int)rnd(MAX_CO);
    p->ntop = 1 + (int)rnd(p->nco < 3 ? (unsigned)p->nco : 2u);
    p->nctx = timed ? 1 + (int)rnd(MAX_CTX) : (int)rnd(MAX_CTX + 1);

    for (int k = 0; k < p->nctx; k++) {
        cdef_t *d = &p->ctx[k];
        d->parent = (k == 0 || rnd(3) == 0) ? -1 : (int)rnd((unsigned)k);
        unsigned r = rnd(100);
        if (!timed)
            d->type = r < 60 ? CTX_CANCEL : r < 80 ? CTX_FAR : CTX_EXPIRED;
        else
            d->type = r < 45 ? CTX_CANCEL : r < 75 ? CTX_TIMEOUT : r < 85 ? CTX_FAR : CTX_EXPIRED;
        static const uint32_t tiers[] = {2, 4, 6, 9, 12};
        d->ms = tiers[rnd(5)];
    }

    for (int c = 0; c < p->nco; c++) {
        cprog_t *cp = &p->co[c];
        cp->present = true;
        cp->parent = c < p->ntop ? -1 : (int)rnd((unsigned)c);
        cp->wg = c < p->ntop ? TOP_WG : (rnd(10) < 8 ? cp->parent : -1);
        cp->ctx = pick_ctx(p, true);
        cp->kind = (int)rnd(NKINDS);
        unsigned r = rnd(100);
        unsigned small = timed ? 20 : 35;
        cp->stack = r < small ? STK_SMALL : r < small + 10 ? STK_CUSTOM : STK_DEFAULT;
        cp->stack_bytes = CO_STACK_DEFAULT / 2 + rnd(3) * 4096u + rnd(4000) + 1;
    }

    for (int c = 0; c < p->nco; c++) {
        cprog_t *cp = &p->co[c];
        bool root = timed && c == 0;
        int n = 0, want = (int)rnd(MAX_RAND_OPS + 1);
        while (n < want && n < MAX_RAND_OPS - 1)
            n += gen_op(p, &cp->ops[n], root);
        for (int j = c + 1; j < p->nco; j++) {
            if (p->co[j].parent != c)
                continue;
            int at = (int)rnd((unsigned)n + 1);
            memmove(&cp->ops[at + 1], &cp->ops[at], (size_t)(n - at) * sizeof(op_t));
            cp->ops[at] = (op_t){.kind = OP_SPAWN, .a = (int8_t)j};
            n++;
        }
        if (root) {
            cp->ops[n++] = (op_t){.kind = OP_TEARDOWN, .a = -1};
            if (rnd(10) < 7)
                cp->ops[n++] = (op_t){.kind = OP_WAIT, .a = -1};
        }
        unsigned r = rnd(100);
        int end = r < 40 ? END_RETURN : r < 65 ? END_EXIT : END_PANIC;
        if (end == END_PANIC && cp->wg < 0)
            end = END_RETURN;
        cp->ops[n++] = (op_t){.kind = OP_END, .end = (uint8_t)end, .a = -1};
        cp->nops = n;
    }
}

/* ---- printing --------------------------------------------------------------------- */

static const char *ctx_type_name[] = {"cancel", "timeout", "far", "expired"};
static const char *end_name[] = {"return", "exit", "panic"};
static const char *errname(int r)
{
    static char buf[4][16];
    static unsigned i;
    switch (r) {
    case 0:
        return "0";
    case ECANCELED:
        return "ECANCELED";
    case ETIMEDOUT:
        return "ETIMEDOUT";
    default:
        i = (i + 1) % 4;
        snprintf(buf[i], sizeof buf[i], "%d", r);
        return buf[i];
    }
}

static void ctx_str(char *b, size_t n, int k)
{
    if (k < 0)
        snprintf(b, n, "bg");
    else
        snprintf(b, n, "k%d", k);
}

static size_t op_str(char *b, size_t n, const op_t *o)
{
    char k[16];
    ctx_str(k, sizeof k, o->a);
    uint64_t ns = op_ns(o);
    switch (o->kind) {
    case OP_YIELD:
        return (size_t)snprintf(b, n, "yield");
    case OP_SPAWN:
        return (size_t)snprintf(b, n, "spawn c%d", o->a);
    case OP_DEFER:
        return (size_t)snprintf(b, n, "defer");
    case OP_SLEEP:
        if (ns >= MS)
            return (size_t)snprintf(b, n, "sleep(%" PRIu64 "ms,%s)", ns / MS, k);
        return (size_t)snprintf(b, n, "sleep(%" PRIu64 "us,%s)", ns / US, k);
    case OP_CANCEL:
        return (size_t)snprintf(b, n, "cancel %s", k);
    case OP_CTXERR:
        return (size_t)snprintf(b, n, "err %s", k);
    case OP_WAIT:
        return (size_t)snprintf(b, n, "wait(%s)", k);
    case OP_REG:
        return (size_t)snprintf(b, n, "reg");
    case OP_TEARDOWN:
        return (size_t)snprintf(b, n, "teardown");
    case OP_END:
        return (size_t)snprintf(b, n, "%s", end_name[o->end]);
    default:
        return (size_t)snprintf(b, n, "?%d", o->kind);
    }
}

static void prog_print(const prog_t *p, FILE *f)
{
    int n = 0, ntop = 0;
    for (int c = 0; c < p->nco; c++)
        n += p->co[c].present, ntop += p->co[c].present && c < p->ntop;
    fprintf(f, "  program: seed %" PRIu64 " (%s), %d coroutine(s), %d top-level\n", p->seed,
            p->timed ? "timed" : "sync", n, ntop);
    for (int k = 0; k < p->nctx; k++) {
        char par[16];
        ctx_str(par, sizeof par, p->ctx[k].parent);
        fprintf(f, "    k%d = %s(%s", k, ctx_type_name[p->ctx[k].type], par);
        if (p->ctx[k].type == CTX_TIMEOUT)
            fprintf(f, ", %ums", p->ctx[k].ms);
        fprintf(f, ")\n");
    }
    for (int c = 0; c < p->nco; c++) {
        const cprog_t *cp = &p->co[c];
        if (!cp->present)
            continue;
        char wg[16], kc[16];
        if (cp->wg == TOP_WG)
            snprintf(wg, sizeof wg, "top");
        else if (cp->wg < 0)
            snprintf(wg, sizeof wg, "none");
        else
            snprintf(wg, sizeof wg, "c%d", cp->wg);
        ctx_str(kc, sizeof kc, cp->ctx);
        fprintf(f, "    c%d [%s, wg=%s, ctx=%s, %s, stack=%s]:", c,
                cp->parent < 0 ? "top" : "child", wg, kc, kinds[cp->kind],
                cp->stack == STK_SMALL    ? "small"
                : cp->stack == STK_CUSTOM ? "custom"
                                          : "default");
        for (int i = 0; i < cp->nops; i++) {
            char b[40];
            op_str(b, sizeof b, &cp->ops[i]);
            fprintf(f, " %d:%s%s", i, b, i + 1 < cp->nops ? ";" : "\n");
        }
    }
}

/* ---- stderr capture and crash reporting ------------------------------------------ */

static int g_real_err = -1, g_cap_fd = -1;
static volatile sig_atomic_t g_active; /* a program is running */
static volatile uint64_t g_cur_seed;
static volatile int g_cur_timed;

static void cap_begin(void)
{
    if (g_cap_fd < 0)
        return;
    fflush(stderr);
    if (ftruncate(g_cap_fd, 0) == 0 && lseek(g_cap_fd, 0, SEEK_SET) == 0)
        dup2(g_cap_fd, 2);
}

static void cap_end(void)
{
    if (g_cap_fd < 0)
        return;
    fflush(stderr);
    dup2(g_real_err, 2);
}

/* Copy the tail of the captured stderr to fd (async-signal-safe). */
static void cap_dump_fd(int fd)
{
    if (g_cap_fd < 0)
        return;
    off_t end = lseek(g_cap_fd, 0, SEEK_END);
    if (end <= 0)
        return;
    off_t from = end > 6000 ? end - 6000 : 0;
    static const char hdr[] = "  --- runtime stderr (tail) ---\n";
    static const char ftr[] = "  --- end of runtime stderr ---\n";
    if (write(fd, hdr, sizeof hdr - 1) < 0)
        return;
    char buf[1024];
    while (from < end) {
        ssize_t n = pread(g_cap_fd, buf, sizeof buf, from);
        if (n <= 0)
            break;
        if (write(fd, buf, (size_t)n) < 0)
            break;
        from += n;
    }
    if (write(fd, ftr, sizeof ftr - 1) < 0)
        return;
}

static void write_str(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) < 0)
        return;
}

static void write_u64(int fd, uint64_t v)
{
    char b[24];
    int i = (int)sizeof b;
    b[--i] = 0;
    do
        b[--i] = (char)('0' + v % 10);
    while ((v /= 10) && i > 0);
    write_str(fd, b + i);
}

static void report_crash(const char *what)
{
    int fd = g_real_err >= 0 ? g_real_err : 2;
    if (!g_active)
        return;
    write_str(fd, "\nrt_property: ");
    write_str(fd, what);
    write_str(fd, " while running seed ");
    write_u64(fd, g_cur_seed);
    write_str(fd, g_cur_timed ? " (timed)" : " (sync)");
    write_str(fd, "; reproduce with PROP_SEED=");
    write_u64(fd, g_cur_seed);
    write_str(fd, g_cur_timed ? " PROP_MODE=timed\n" : " PROP_MODE=sync\n");
    cap_dump_fd(fd);
}

static void on_fatal_signal(int sig)
{
    report_crash(sig == SIGALRM ? "watchdog expired (hang?)" : "abort");
    g_active = 0;
    signal(SIGABRT, SIG_DFL);
    if (sig == SIGALRM)
        abort();
    raise(sig);
}

static void on_sanitizer_death(void)
{
    report_crash("sanitizer error");
    g_active = 0;
}

/* ---- the interpreter -------------------------------------------------------------- */

typedef struct ev {
    uint64_t t;
    uint32_t live; /* co_sched_live() when the event was logged */
    uint16_t code;
    uint8_t co;
} ev_t;

typedef struct regsnap {
    int ev;
    bool found[NKINDS];
    co_kind_stats_t k[NKINDS];
    size_t live;
} regsnap_t;

static struct run {
    const prog_t *p;
    co_sched_t *s;
    co_ctx_t *ctx[MAX_CTX];
    uint64_t ctx_dl[MAX_CTX];
    co_wg_t wg[MAX_CO + 1];
    co_opts_t opts[MAX_CO];
    char names[MAX_CO][16];
    co_t *handle[MAX_CO];
    int spawn_errno[MAX_CO];
    /* what each coroutine saw of itself at its start */
    struct {
        co_t *self;
        uint64_t id;
        bool name_ok, kind_ok, name_h_ok;
        co_ctx_t *ctx;
        size_t stack;
    } st[MAX_CO];
    int defer_errs;
    ev_t ev[MAX_EV];
    int nev;
    bool ev_overflow;
    int op_ev[MAX_CO][MAX_OPS];  /* event of the op's start, -1: not run */
    int ret_ev[MAX_CO][MAX_OPS]; /* event of its return */
    int res[MAX_CO][MAX_OPS];
    regsnap_t reg[MAX_REG];
    int nreg;
    co_kind_stats_t kbuf[CO_KINDS_MAX];
    uint64_t t_start, t_end;
    uint64_t stall_ns; /* time the thread waited for a CPU during the run (schedstat) */
} R;

/*
 * Nanoseconds this thread has spent runnable but waiting for a CPU
 * (/proc/thread-self/schedstat, second field); 0 if unavailable. Timing checks widen
 * their margins by what the OS took during a program, so a loaded machine cannot
 * make them fail.
 */
static uint64_t run_delay_ns(void)
{
    char buf[128];
    int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    unsigned long long run = 0, wait = 0;
    if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
        return 0;
    return wait;
}

static inline int ev_log(int c, int code)
{
    int i = R.nev;
    if (i >= MAX_EV) {
        R.ev_overflow = true;
        return MAX_EV - 1;
    }
    R.ev[i].t = co_now_ns();
    R.ev[i].live = (uint32_t)co_sched_live(R.s);
    R.ev[i].co = (uint8_t)c;
    R.ev[i].code = (uint16_t)code;
    R.nev = i + 1;
    return i;
}

static inline co_ctx_t *ctx_of(int k)
{
    return k < 0 ? CO_BACKGROUND : R.ctx[k];
}

static void defer_cb(void *arg)
{
    int v = (int)(intptr_t)arg;
    ev_log(v >> 8, EV_DEFER | (v & 0xff));
}

static void reg_snap(int e)
{
    if (R.nreg >= MAX_REG)
        return;
    regsnap_t *r = &R.reg[R.nreg++];
    r->ev = e;
    size_t n = co_registry_kinds(R.s, R.kbuf, CO_KINDS_MAX);
    if (n > CO_KINDS_MAX)
        n = CO_KINDS_MAX;
    for (size_t i = 0; i < n; i++)
        for (int q = 0; q < NKINDS; q++)
            if (R.kbuf[i].kind && strcmp(R.kbuf[i].kind, kinds[q]) == 0) {
                r->found[q] = true;
                r->k[q] = R.kbuf[i];
            }
    r->live = co_sched_live(R.s);
}

static void start_checks(int c)
{
    const cprog_t *cp = &R.p->co[c];
    R.st[c].self = co_self();
    R.st[c].id = co_id(NULL);
    R.st[c].name_ok = strcmp(co_name(NULL), R.names[c]) == 0;
    R.st[c].name_h_ok = strcmp(co_name(R.handle[c]), R.names[c]) == 0;
    R.st[c].kind_ok = strcmp(co_kind(NULL), kinds[cp->kind]) == 0;
    R.st[c].ctx = co_context(NULL);
    R.st[c].stack = co_stack_size(NULL);
}

/*
 * The body of every coroutine. Keep the frame tiny: small-stack coroutines run it
 * on 2 KiB. All state lives in R.
 */
static void co_main(void *arg)
{
    int c = (int)(intptr_t)arg;
    const cprog_t *cp = &R.p->co[c];

    start_checks(c);
    ev_log(c, EV_START);
    for (int i = 0; i < cp->nops; i++) {
        const op_t *o = &cp->ops[i];
        R.op_ev[c][i] = ev_log(c, i);
        switch (o->kind) {
        case OP_YIELD:
            co_yield();
            break;
        case OP_SPAWN:
            R.handle[o->a] = co_spawn(co_main, (void *)(intptr_t)o->a, &R.opts[o->a]);
            if (!R.handle[o->a])
                R.spawn_errno[o->a] = errno ? errno : -1;
            break;
        case OP_DEFER:
            if (co_defer(defer_cb, (void *)(intptr_t)(c << 8 | i)) != 0)
                R.defer_errs++;
            break;
        case OP_SLEEP:
            R.res[c][i] = co_sleep(op_ns(o), ctx_of(o->a));
            break;
        case OP_CANCEL:
            co_ctx_cancel(ctx_of(o->a));
            break;
        case OP_CTXERR:
            R.res[c][i] = co_ctx_err(ctx_of(o->a));
            break;
        case OP_WAIT:
            R.res[c][i] = co_wg_wait(&R.wg[c], ctx_of(o->a));
            break;
        case OP_REG:
            reg_snap(R.op_ev[c][i]);
            break;
        case OP_TEARDOWN:
            for (int k = 0; k < R.p->nctx; k++)
                if (R.p->ctx[k].parent < 0)
                    co_ctx_cancel(R.ctx[k]);
            break;
        case OP_END:
            if (o->end == END_EXIT)
                co_exit();
            if (o->end == END_PANIC)
                co_panic("c%d s%" PRIu64, c, R.p->seed);
            return;
        }
        if (op_has_ret(o->kind))
            R.ret_ev[c][i] = ev_log(c, EV_RET | i);
    }
}

/* ---- outcome statistics (for the summary line) ------------------------------------ */

struct stats {
    uint64_t programs, coroutines, small, events;
    uint64_t sleep_r[3], wait_r[3], ctxerr_r[3]; /* 0, ECANCELED, ETIMEDOUT */
    uint64_t panics, exits, returns, defers, regs, order_pairs;
    uint64_t stalled, max_stall_ns; /* programs that waited >= the order margin for a CPU */
};

/*
 * State shared by the driver and the child processes that run the programs
 * (MAP_SHARED): what is running now, how far a family got, outcome statistics.
 */
static struct shared {
    volatile uint64_t cur_seed;
    volatile int cur_timed;
    volatile uint64_t next; /* index of the next seed of the family to run */
    volatile uint64_t failed, first_failed;
    volatile int stop;  /* a child stopped at a failure (no PROP_KEEP_GOING) */
    struct stats st[2]; /* [timed] */
} * SH;

static bool g_account; /* count outcomes (main runs only, not shrinking) */

static int rslot(int r)
{
    return r == 0 ? 0 : r == ECANCELED ? 1 : 2;
}

static void account(const prog_t *p)
{
    struct stats *s = &SH->st[p->timed];
    s->programs++;
    s->events += (uint64_t)R.nev;
    s->stalled += R.stall_ns >= cfg.order_margin_ns;
    if (R.stall_ns > s->max_stall_ns)
        s->max_stall_ns = R.stall_ns;
    for (int c = 0; c < p->nco; c++) {
        const cprog_t *cp = &p->co[c];
        if (!cp->present)
            continue;
        s->coroutines++;
        s->small += cp->stack == STK_SMALL;
        for (int i = 0; i < cp->nops; i++) {
            const op_t *o = &cp->ops[i];
            if (R.op_ev[c][i] < 0)
                continue;
            if (o->kind == OP_SLEEP)
                s->sleep_r[rslot(R.res[c][i])]++;
            else if (o->kind == OP_WAIT)
                s->wait_r[rslot(R.res[c][i])]++;
            else if (o->kind == OP_CTXERR)
                s->ctxerr_r[rslot(R.res[c][i])]++;
            else if (o->kind == OP_DEFER)
                s->defers++;
            else if (o->kind == OP_REG)
                s->regs++;
            else if (o->kind == OP_END)
                s->panics += o->end == END_PANIC, s->exits += o->end == END_EXIT,
                    s->returns += o->end == END_RETURN;
        }
    }
}

/* ---- validation --------------------------------------------------------------------- */

typedef struct vinfo {
    int start_ev[MAX_CO], end_ev[MAX_CO], last_ev[MAX_CO], spawn_ev[MAX_CO];
    bool ended[MAX_CO];
    int ncan;
    struct {
        int ev, ret, k; /* k: context cancelled, -2: every root (teardown) */
    } can[MAX_CO * MAX_OPS];
} vinfo_t;

static vinfo_t V;

static bool cancel_hits(const prog_t *p, int i, int k)
{
    return k >= 0 && (V.can[i].k == -2 || prog_ctx_under(p, k, V.can[i].k));
}

/* First cancel event affecting context k with lo < ev < hi; INT_MAX if none. */
static int cancel_first(const prog_t *p, int k, int lo, int hi, uint64_t *t_after)
{
    int best = INT_MAX;
    for (int i = 0; i < V.ncan; i++)
        if (V.can[i].ev > lo && V.can[i].ev < hi && V.can[i].ev < best && cancel_hits(p, i, k)) {
            best = V.can[i].ev;
            if (t_after)
                *t_after = R.ev[V.can[i].ret].t;
        }
    return best;
}

/* Count of wait group w just before event s. */
static long wg_count_at(const prog_t *p, int w, int s)
{
    long n = 0;
    for (int m = 0; m < p->nco; m++) {
        if (!p->co[m].present || p->co[m].wg != w)
            continue;
        if (V.spawn_ev[m] < s)
            n++;
        if (V.ended[m] && V.last_ev[m] < s)
            n--;
    }
    return n;
}

static uint64_t ctx_deadline(int k)
{
    return k < 0 ? UINT64_MAX : R.ctx_dl[k];
}

/* True if deadline D had certainly passed at time t. */
static bool passed(uint64_t D, uint64_t t)
{
    return D != UINT64_MAX && D + SLACK_NS <= t;
}

/* True if deadline D may have passed by time t. */
static bool reached(uint64_t D, uint64_t t)
{
    return D != UINT64_MAX && D <= t + SLACK_NS;
}

static double rel_ms(uint64_t t)
{
    if (t == UINT64_MAX)
        return INFINITY;
    return ((double)t - (double)R.t_start) / 1e6;
}

/* Report an op that returned more than cfg.late_ns after the event that ends it. */
static void check_late(errbuf_t *eb, const char *where, uint64_t t1, uint64_t due, const char *what)
{
    if (t1 > due + cfg.late_ns + R.stall_ns)
        fail_add(eb,
                 "%s returned at %.3f ms, %.3f ms after %s (%.3f ms; the thread waited "
                 "%.3f ms for a CPU during the program)",
                 where, rel_ms(t1), (double)(t1 - due) / 1e6, what, rel_ms(due),
                 (double)R.stall_ns / 1e6);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static void check_sleep(const prog_t *p, errbuf_t *eb, int c, int i)
{
    const op_t *o = &p->co[c].ops[i];
    int e0 = R.op_ev[c][i], e1 = R.ret_ev[c][i], r = R.res[c][i], k = o->a;
    uint64_t t0 = R.ev[e0].t, t1 = R.ev[e1].t, ns = op_ns(o), D = ctx_deadline(k);
    uint64_t tc = 0;
    bool cb = cancel_first(p, k, -1, e0, NULL) != INT_MAX;
    int cin = cancel_first(p, k, e0, e1, &tc);
    char where[64], kn[16];
    ctx_str(kn, sizeof kn, k);
    snprintf(where, sizeof where, "c%d step %d sleep(%.3fms, %s)", c, i, (double)ns / 1e6, kn);

    if (r == 0) {
        if (t1 + SLACK_NS < t0 + ns)
            fail_add(eb, "%s returned 0 after %.3f ms", where, (double)(t1 - t0) / 1e6);
        if (cb)
            fail_add(eb, "%s returned 0 but its context was cancelled before the call", where);
        if (passed(D, t0))
            fail_add(eb,
                     "%s returned 0 but its deadline (%.3f ms) had passed at the call (%.3f ms)",
                     where, rel_ms(D), rel_ms(t0));
        if (cin != INT_MAX && tc + MUST_NS + R.stall_ns < t0 + ns && tc < D)
            fail_add(eb,
                     "%s returned 0 at %.3f ms but its context was cancelled at %.3f ms (event %d)",
                     where, rel_ms(t1), rel_ms(tc), cin);
        if (D != UINT64_MAX && D + MUST_NS + R.stall_ns < t0 + ns)
            fail_add(eb, "%s returned 0 at %.3f ms but its deadline was %.3f ms", where, rel_ms(t1),
                     rel_ms(D));
        check_late(eb, where, t1, t0 + ns, "its time was up");
    } else if (r == ECANCELED) {
        if (!cb && cin == INT_MAX)
            fail_add(eb, "%s returned ECANCELED but no cancel of its context came before", where);
        else
            check_late(eb, where, t1, cb ? t0 : max_u64(t0, tc), "the cancel");
    } else if (r == ETIMEDOUT) {
        if (!reached(D, t1))
            fail_add(eb, "%s returned ETIMEDOUT at %.3f ms, its deadline is %.3f ms", where,
                     rel_ms(t1), rel_ms(D));
        else
            check_late(eb, where, t1, max_u64(t0, D), "its deadline");
    } else {
        fail_add(eb, "%s returned %d", where, r);
    }
}

static void check_wait(const prog_t *p, errbuf_t *eb, int c, int i)
{
    const op_t *o = &p->co[c].ops[i];
    int e0 = R.op_ev[c][i], e1 = R.ret_ev[c][i], r = R.res[c][i], k = o->a;
    uint64_t t0 = R.ev[e0].t, t1 = R.ev[e1].t, D = ctx_deadline(k), tc = 0;
    bool cb = cancel_first(p, k, -1, e0, NULL) != INT_MAX;
    int cin = cancel_first(p, k, e0, e1, &tc);
    long n0 = wg_count_at(p, c, e0);
    /* the first point in (e0, e1) where a member finished and the count hit zero */
    int z = INT_MAX;
    for (int m = 0; m < p->nco; m++) {
        if (!p->co[m].present || p->co[m].wg != c || !V.ended[m])
            continue;
        int f = V.last_ev[m];
        if (f > e0 && f < e1 && f < z && wg_count_at(p, c, f + 1) == 0)
            z = f;
    }
    char where[80], kn[16];
    ctx_str(kn, sizeof kn, k);
    snprintf(where, sizeof where, "c%d step %d wait(%s) [count %ld at call]", c, i, kn, n0);

    if (r == 0) {
        if (n0 != 0 && z == INT_MAX)
            fail_add(eb, "%s returned 0 but the count never reached 0 while it waited", where);
        if (n0 != 0 && cb)
            fail_add(eb, "%s returned 0 but its context was cancelled before the call", where);
        if (n0 != 0 && passed(D, t0))
            fail_add(eb, "%s returned 0 but its deadline had passed at the call", where);
        if (n0 != 0 && z != INT_MAX && cin < z && tc + MUST_NS + R.stall_ns < R.ev[z].t)
            fail_add(eb, "%s returned 0: cancelled at %.3f ms, count reached 0 only at %.3f ms",
                     where, rel_ms(tc), rel_ms(R.ev[z].t));
        if (n0 == 0 || z != INT_MAX)
            check_late(eb, where, t1, n0 == 0 ? t0 : R.ev[z].t, "the count reached 0");
    } else if (r == ECANCELED) {
        if (!cb && cin == INT_MAX)
            fail_add(eb, "%s returned ECANCELED but no cancel of its context came before", where);
        if (n0 == 0 && !cb)
            fail_add(eb, "%s returned ECANCELED though the count was 0 and the context live",
                     where);
        if (n0 != 0 && !cb && z != INT_MAX && z < cin)
            fail_add(eb,
                     "%s returned ECANCELED though the count reached 0 (event %d) before the "
                     "cancel (event %d)",
                     where, z, cin);
        if (cb || cin != INT_MAX)
            check_late(eb, where, t1, cb ? t0 : max_u64(t0, tc), "the cancel");
    } else if (r == ETIMEDOUT) {
        if (!reached(D, t1))
            fail_add(eb, "%s returned ETIMEDOUT at %.3f ms, its deadline is %.3f ms", where,
                     rel_ms(t1), rel_ms(D));
        if (n0 != 0 && !cb && z != INT_MAX && z + 1 < R.nev && R.ev[z + 1].t + SLACK_NS < D &&
            cin > z)
            fail_add(eb,
                     "%s returned ETIMEDOUT though the count reached 0 at %.3f ms, before the "
                     "deadline %.3f ms",
                     where, rel_ms(R.ev[z + 1].t), rel_ms(D));
        if (reached(D, t1))
            check_late(eb, where, t1, max_u64(t0, D), "its deadline");
    } else {
        fail_add(eb, "%s returned %d", where, r);
    }
}

static void check_ctxerr(const prog_t *p, errbuf_t *eb, int c, int i, int *last_seen)
{
    int k = p->co[c].ops[i].a, e0 = R.op_ev[c][i], e1 = R.ret_ev[c][i], r = R.res[c][i];
    uint64_t t0 = R.ev[e0].t, t1 = R.ev[e1].t, D = ctx_deadline(k);
    bool cb = cancel_first(p, k, -1, e0, NULL) != INT_MAX;
    char where[48];
    snprintf(where, sizeof where, "c%d step %d co_ctx_err(k%d)", c, i, k);
    if (r == 0) {
        if (cb)
            fail_add(eb, "%s = 0 after a cancel of it or an ancestor", where);
        if (passed(D, t0))
            fail_add(eb, "%s = 0 at %.3f ms, after its deadline %.3f ms", where, rel_ms(t0),
                     rel_ms(D));
    } else if (r == ECANCELED) {
        if (!cb)
            fail_add(eb, "%s = ECANCELED without a cancel", where);
    } else if (r == ETIMEDOUT) {
        if (!reached(D, t1))
            fail_add(eb, "%s = ETIMEDOUT at %.3f ms before its deadline %.3f ms", where, rel_ms(t1),
                     rel_ms(D));
    } else {
        fail_add(eb, "%s = %d", where, r);
    }
    if (last_seen[k] != 0 && r != last_seen[k])
        fail_add(eb, "%s = %s but it was observed as %s before (the first reason must stick)",
                 where, errname(r), errname(last_seen[k]));
    if (r != 0)
        last_seen[k] = r;
}

/* Expected registry counters of kind q just before event e (INT_MAX: at the end). */
static void expect_kind(const prog_t *p, int q, int e, uint64_t *cr, uint64_t *fi, uint64_t *pa)
{
    *cr = *fi = *pa = 0;
    for (int m = 0; m < p->nco; m++) {
        const cprog_t *cp = &p->co[m];
        if (!cp->present || cp->kind != q)
            continue;
        if (V.spawn_ev[m] < e)
            (*cr)++;
        if (V.ended[m] && V.last_ev[m] < e) {
            (*fi)++;
            if (cp->ops[cp->nops - 1].end == END_PANIC)
                (*pa)++;
        }
    }
}

static void check_kinds(const prog_t *p, errbuf_t *eb, const char *when, int e,
                        const co_kind_stats_t *k, const bool *found, size_t live)
{
    uint64_t total_live = 0;
    for (int q = 0; q < NKINDS; q++) {
        uint64_t cr, fi, pa;
        expect_kind(p, q, e, &cr, &fi, &pa);
        total_live += cr - fi;
        co_kind_stats_t z = {0};
        const co_kind_stats_t *g = found[q] ? &k[q] : &z;
        if (!found[q] && cr == 0)
            continue;
        if (g->created != cr || g->finished != fi || g->panicked != pa || g->live != cr - fi)
            fail_add(eb,
                     "registry %s, kind %s: created/finished/panicked/live = %" PRIu64 "/%" PRIu64
                     "/%" PRIu64 "/%" PRIu64 ", want %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64,
                     when, kinds[q], g->created, g->finished, g->panicked, g->live, cr, fi, pa,
                     cr - fi);
    }
    if (live != total_live)
        fail_add(eb, "co_sched_live %s = %zu, want %" PRIu64, when, live, total_live);
}

static void validate(const prog_t *p, int rc, errbuf_t *eb)
{
    if (rc != 0)
        fail_add(eb, "co_sched_run returned %d, want 0", rc);
    if (R.ev_overflow)
        fail_add(eb, "trace overflow (more than %d events)", MAX_EV);
    if (R.defer_errs)
        fail_add(eb, "co_defer failed %d time(s)", R.defer_errs);

    /* index the trace */
    memset(&V, 0, sizeof V);
    for (int c = 0; c < MAX_CO; c++) {
        V.start_ev[c] = V.end_ev[c] = V.last_ev[c] = -1;
        V.spawn_ev[c] = INT_MAX;
    }
    for (int e = 0; e < R.nev; e++) {
        int c = R.ev[e].co;
        if (R.ev[e].code == EV_START && V.start_ev[c] < 0)
            V.start_ev[c] = e;
        V.last_ev[c] = e;
    }
    for (int c = 0; c < p->nco; c++) {
        const cprog_t *cp = &p->co[c];
        if (!cp->present)
            continue;
        if (cp->parent < 0)
            V.spawn_ev[c] = -1;
        int ee = R.op_ev[c][cp->nops - 1];
        V.ended[c] = ee >= 0;
        V.end_ev[c] = ee;
        for (int i = 0; i < cp->nops; i++) {
            const op_t *o = &cp->ops[i];
            if (R.op_ev[c][i] < 0)
                continue;
            if (o->kind == OP_SPAWN)
                V.spawn_ev[o->a] = R.op_ev[c][i];
            if ((o->kind == OP_CANCEL || o->kind == OP_TEARDOWN) && R.ret_ev[c][i] >= 0) {
                V.can[V.ncan].ev = R.op_ev[c][i];
                V.can[V.ncan].ret = R.ret_ev[c][i];
                V.can[V.ncan].k = o->kind == OP_TEARDOWN ? -2 : o->a;
                V.ncan++;
            }
        }
    }

    /* per coroutine: identity, completion, its own events in program order, defers LIFO */
    bool complete = true;
    for (int c = 0; c < p->nco; c++) {
        const cprog_t *cp = &p->co[c];
        if (!cp->present)
            continue;
        if (V.spawn_ev[c] != INT_MAX && !R.handle[c] && R.spawn_errno[c]) {
            fail_add(eb, "co_spawn of c%d failed: %s", c, strerror(R.spawn_errno[c]));
            complete = false;
            continue;
        }
        if (V.start_ev[c] < 0 || !V.ended[c]) {
            fail_add(eb, "c%d %s", c, V.start_ev[c] < 0 ? "never ran" : "did not reach its end");
            complete = false;
            continue;
        }
        if (R.st[c].self != R.handle[c])
            fail_add(eb, "c%d: co_self() is not the pointer co_spawn returned", c);
        if (!R.st[c].name_ok || !R.st[c].name_h_ok)
            fail_add(eb, "c%d: co_name is not \"%s\"", c, R.names[c]);
        if (!R.st[c].kind_ok)
            fail_add(eb, "c%d: co_kind is not \"%s\"", c, kinds[cp->kind]);
        if (R.st[c].ctx != ctx_of(cp->ctx))
            fail_add(eb, "c%d: co_context() is not its spawn context", c);
        /* guarded: the request rounded up to pages less the header (<= 2.3 KiB) */
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t req = cp->stack == STK_CUSTOM ? cp->stack_bytes : CO_STACK_DEFAULT;
        size_t hi = cp->stack == STK_SMALL ? CO_STACK_SMALL_SIZE : (req + page - 1) / page * page;
        size_t lo = cp->stack == STK_SMALL ? CO_STACK_SMALL_SIZE : hi - 2355;
        if (R.st[c].stack < lo || R.st[c].stack > hi)
            fail_add(eb, "c%d: co_stack_size = %zu, want %zu..%zu", c, R.st[c].stack, lo, hi);
        for (int d = 0; d < c; d++)
            if (p->co[d].present && R.st[d].id == R.st[c].id && V.start_ev[d] >= 0)
                fail_add(eb, "c%d and c%d have the same co_id %" PRIu64, d, c, R.st[c].id);

        /* the coroutine's own events */
        uint16_t want_ev[3 * MAX_OPS + 2];
        int nw = 0, nd = 0, defers[MAX_OPS];
        want_ev[nw++] = EV_START;
        for (int i = 0; i < cp->nops; i++) {
            want_ev[nw++] = (uint16_t)i;
            if (op_has_ret(cp->ops[i].kind))
                want_ev[nw++] = (uint16_t)(EV_RET | i);
            if (cp->ops[i].kind == OP_DEFER)
                defers[nd++] = i;
        }
        while (nd > 0)
            want_ev[nw++] = (uint16_t)(EV_DEFER | defers[--nd]);
        int j = 0;
        for (int e = 0; e < R.nev; e++) {
            if (R.ev[e].co != c)
                continue;
            if (j >= nw || R.ev[e].code != want_ev[j]) {
                fail_add(eb, "c%d: event %d is code 0x%x, want %s0x%x (own event #%d)%s", c, e,
                         R.ev[e].code, j < nw ? "" : "nothing, not ", j < nw ? want_ev[j] : 0, j,
                         (j < nw && (want_ev[j] & EV_DEFER)) ? " [defers must run LIFO]" : "");
                break;
            }
            j++;
        }
        if (j < nw && eb->n == 0)
            fail_add(eb, "c%d: only %d of its %d events happened", c, j, nw);

        /* co_spawn, co_defer, cancel, co_ctx_err, registry reads never switch */
        for (int i = 0; i < cp->nops; i++) {
            int kd = cp->ops[i].kind, e = R.op_ev[c][i];
            if (kd != OP_SPAWN && kd != OP_DEFER && kd != OP_CANCEL && kd != OP_CTXERR &&
                kd != OP_REG && kd != OP_TEARDOWN)
                continue;
            if (e + 1 >= R.nev || R.ev[e + 1].co != c)
                fail_add(eb, "c%d step %d: another coroutine ran right after a %s", c, i,
                         kd == OP_SPAWN ? "spawn" : "non-blocking call");
        }
    }

    /* FIFO: coroutines start in the order they were spawned */
    {
        int order[MAX_CO], n = 0;
        for (int c = 0; c < p->nco; c++)
            if (p->co[c].present && V.start_ev[c] >= 0)
                order[n++] = c;
        for (int a = 1; a < n; a++)
            for (int b = a; b > 0 && V.start_ev[order[b - 1]] > V.start_ev[order[b]]; b--) {
                int t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
        for (int a = 1; a < n; a++) {
            int x = order[a - 1], y = order[a];
            if (V.spawn_ev[x] > V.spawn_ev[y] || (V.spawn_ev[x] == V.spawn_ev[y] && x > y))
                fail_add(eb, "c%d started before c%d though it was spawned later", x, y);
        }
    }

    /* op results */
    int last_seen[MAX_CTX] = {0};
    for (int e = 0; e < R.nev; e++) {
        int c = R.ev[e].co, code = R.ev[e].code;
        if (code & (EV_START | EV_DEFER))
            continue;
        int i = code & 0xff;
        if (i >= p->co[c].nops)
            continue;
        int kd = p->co[c].ops[i].kind;
        if (!(code & EV_RET))
            continue;
        if (kd == OP_SLEEP)
            check_sleep(p, eb, c, i);
        else if (kd == OP_WAIT)
            check_wait(p, eb, c, i);
        else if (kd == OP_CTXERR)
            check_ctxerr(p, eb, c, i, last_seen);
    }

    /*
     * Plain sleeps wake in deadline order. A sleep's deadline is read inside
     * co_sleep(), after its op event was stamped: `due` (stamp + duration) is the
     * earliest it can be, and the next event of the run, stamped once the sleeper had
     * parked, bounds the latest (`due_hi`). A pair is out of order only if the earlier
     * one's latest deadline is well before the later one's earliest. The check holds
     * through a stall of the thread too (a vCPU preempted by the hypervisor, which
     * schedstat does not see): timers that come due in the same pass wake in deadline
     * order. That is how it found a runtime bug twice in CI (seed 556: "c4 step 7
     * (due 1.481 ms) woke after c5 step 7 (due 3.490 ms)", then seed 936): after a
     * stall, a lazy timer entry left keyed at an earlier, cancelled park's deadline
     * was popped by that stale key ahead of a timer due before its real deadline
     * (rt_co: test_timers_due_together_wake_in_deadline_order).
     */
    if (p->timed && cfg.order_margin_ns) {
        struct sl {
            int e0, e1;
            uint64_t due, due_hi;
            int c, i;
        } sl[MAX_CO * MAX_OPS];
        int n = 0;
        for (int c = 0; c < p->nco; c++)
            for (int i = 0; p->co[c].present && i < p->co[c].nops; i++)
                if (p->co[c].ops[i].kind == OP_SLEEP && R.op_ev[c][i] >= 0 && R.ret_ev[c][i] >= 0 &&
                    R.res[c][i] == 0) {
                    sl[n].e0 = R.op_ev[c][i], sl[n].e1 = R.ret_ev[c][i];
                    sl[n].due = R.ev[sl[n].e0].t + op_ns(&p->co[c].ops[i]);
                    /* e0 < e1, so the next event exists; it is e1 for a sleeper that
                       nothing else ran beside */
                    sl[n].due_hi = R.ev[sl[n].e0 + 1].t + op_ns(&p->co[c].ops[i]);
                    sl[n].c = c, sl[n].i = i;
                    n++;
                }
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) {
                if (a == b || sl[a].e0 > sl[b].e1 || sl[b].e0 > sl[a].e1)
                    continue; /* not parked at the same time */
                if (sl[a].due_hi + cfg.order_margin_ns >= sl[b].due)
                    continue;
                if (g_account)
                    SH->st[p->timed].order_pairs++;
                if (sl[a].e1 > sl[b].e1)
                    fail_add(eb, "c%d step %d (due %.3f ms) woke after c%d step %d (due %.3f ms)",
                             sl[a].c, sl[a].i, rel_ms(sl[a].due), sl[b].c, sl[b].i,
                             rel_ms(sl[b].due));
            }
    }

    /* co_sched_live() at every event: spawned before it, less finished before it */
    for (int e = 0, reported = 0; e < R.nev && !reported; e++) {
        uint32_t want = 0;
        for (int m = 0; m < p->nco; m++)
            if (p->co[m].present && V.spawn_ev[m] < e && !(V.ended[m] && V.last_ev[m] < e))
                want++;
        if (R.ev[e].live != want) {
            fail_add(eb, "co_sched_live() = %u at event %d (c%d code 0x%x), want %u", R.ev[e].live,
                     e, R.ev[e].co, R.ev[e].code, want);
            reported = 1;
        }
    }

    /* registry snapshots taken inside the program */
    for (int i = 0; i < R.nreg; i++) {
        char when[40];
        snprintf(when, sizeof when, "at event %d", R.reg[i].ev);
        check_kinds(p, eb, when, R.reg[i].ev, R.reg[i].k, R.reg[i].found, R.reg[i].live);
    }

    if (!complete)
        return;

    /* wait groups */
    for (int w = 0; w <= MAX_CO; w++) {
        unsigned pan = 0;
        bool used = false;
        for (int m = 0; m < p->nco; m++)
            if (p->co[m].present && p->co[m].wg == w) {
                used = true;
                pan += p->co[m].ops[p->co[m].nops - 1].end == END_PANIC;
            }
        if (!used && R.wg[w].count == 0 && R.wg[w].panicked == 0)
            continue;
        char name[16];
        snprintf(name, sizeof name, w == TOP_WG ? "top" : "c%d", w);
        if (R.wg[w].count != 0 || R.wg[w].panicked != pan || R.wg[w].waiters != NULL)
            fail_add(eb, "wait group %s: count %ld, panicked %u, waiters %p; want 0, %u, NULL",
                     name, R.wg[w].count, R.wg[w].panicked, (void *)R.wg[w].waiters, pan);
    }

    /* registry at the end */
    {
        co_kind_stats_t k[NKINDS] = {{0}};
        bool found[NKINDS] = {false};
        size_t n = co_registry_kinds(R.s, R.kbuf, CO_KINDS_MAX);
        for (size_t i = 0; i < n && i < CO_KINDS_MAX; i++)
            for (int q = 0; q < NKINDS; q++)
                if (R.kbuf[i].kind && strcmp(R.kbuf[i].kind, kinds[q]) == 0)
                    found[q] = true, k[q] = R.kbuf[i];
        check_kinds(p, eb, "at the end", INT_MAX, k, found, co_sched_live(R.s));
    }

    /* recorded panics, newest first */
    {
        int pc[MAX_CO], np = 0;
        for (int c = 0; c < p->nco; c++)
            if (p->co[c].present && p->co[c].ops[p->co[c].nops - 1].end == END_PANIC)
                pc[np++] = c;
        for (int a = 1; a < np; a++) /* newest (latest end event) first */
            for (int b = a; b > 0 && V.end_ev[pc[b - 1]] < V.end_ev[pc[b]]; b--) {
                int t = pc[b];
                pc[b] = pc[b - 1];
                pc[b - 1] = t;
            }
        co_panic_rec_t rec[CO_PANIC_LOG];
        size_t got = co_panics_recent(R.s, rec, CO_PANIC_LOG);
        size_t want = (size_t)np < CO_PANIC_LOG ? (size_t)np : CO_PANIC_LOG;
        if (got != want)
            fail_add(eb, "co_panics_recent returned %zu, want %zu", got, want);
        for (size_t i = 0; i < got && i < want; i++) {
            int c = pc[i];
            char msg[64];
            snprintf(msg, sizeof msg, "c%d s%" PRIu64, c, p->seed);
            if (strcmp(rec[i].name, R.names[c]) != 0 || strcmp(rec[i].msg, msg) != 0 ||
                rec[i].co_id != R.st[c].id)
                fail_add(eb,
                         "co_panics_recent[%zu] = {%s, \"%s\", id %" PRIu64
                         "}, want {%s, \"%s\", id %" PRIu64 "}",
                         i, rec[i].name, rec[i].msg, rec[i].co_id, R.names[c], msg, R.st[c].id);
        }
    }

    /* contexts at the end: right reason, and the first observed reason sticks */
    for (int k = 0; k < p->nctx; k++) {
        int r = co_ctx_err(R.ctx[k]);
        uint64_t D = ctx_deadline(k), now = co_now_ns();
        bool cancelled = cancel_first(p, k, -1, INT_MAX, NULL) != INT_MAX;
        bool ok = r == 0           ? !cancelled && !passed(D, now)
                  : r == ECANCELED ? cancelled
                  : r == ETIMEDOUT ? reached(D, now)
                                   : false;
        if (!ok)
            fail_add(eb, "co_ctx_err(k%d) = %s at the end (cancelled: %s, deadline %.3f ms)", k,
                     errname(r), cancelled ? "yes" : "no", rel_ms(D));
        if (last_seen[k] != 0 && r != last_seen[k])
            fail_add(eb, "co_ctx_err(k%d) = %s at the end but was observed as %s", k, errname(r),
                     errname(last_seen[k]));
    }

    /* sync programs: the exact trace */
    if (!p->timed) {
        static model_t m;
        if (model_sync(p, &m) != 0 || m.overflow) {
            fail_add(eb, "internal: the model rejects the program");
            return;
        }
        int n = m.n < R.nev ? m.n : R.nev;
        int e = 0;
        while (e < n && m.co[e] == R.ev[e].co && m.code[e] == R.ev[e].code)
            e++;
        if (e < n || m.n != R.nev) {
            char got[512], exp[512];
            size_t gl = 0, xl = 0;
            int from = e > 4 ? e - 4 : 0;
            for (int x = from; x < e + 6; x++) {
                if (x < R.nev && gl < sizeof got - 24)
                    gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s c%d:%x",
                                           x == e ? " >" : "", R.ev[x].co, R.ev[x].code);
                if (x < m.n && xl < sizeof exp - 24)
                    xl += (size_t)snprintf(exp + xl, sizeof exp - xl, "%s c%d:%x",
                                           x == e ? " >" : "", m.co[x], m.code[x]);
            }
            got[gl] = exp[xl] = 0;
            fail_add(eb,
                     "trace differs from the model at event %d (of %d, model %d); events are "
                     "c<co>:<code>, code = step | 0x100 return | 0x200 defer | 0x400 start\n"
                     "      runtime:%s\n      model:  %s",
                     e, R.nev, m.n, got, exp);
        }
    }
}

/* ---- running one program -------------------------------------------------------------- */

static int run_prog(const prog_t *p, errbuf_t *eb)
{
    memset(eb, 0, sizeof *eb);
    memset(&R, 0, sizeof R);
    R.p = p;
    for (int c = 0; c < MAX_CO; c++)
        for (int i = 0; i < MAX_OPS; i++)
            R.op_ev[c][i] = R.ret_ev[c][i] = -1;

    g_cur_seed = SH->cur_seed = p->seed;
    g_cur_timed = SH->cur_timed = p->timed;
    g_active = 1;
    cap_begin();
    if (cfg.verbose)
        prog_print(p, stderr);

    co_sched_t *s = co_sched_new(NULL);
    if (!s) {
        cap_end();
        g_active = 0;
        fail_add(eb, "co_sched_new: %s", strerror(errno));
        return 1;
    }
    R.s = s;
    R.t_start = co_now_ns();
    for (int k = 0; k < p->nctx; k++) {
        const cdef_t *d = &p->ctx[k];
        co_ctx_t *par = d->parent < 0 ? CO_BACKGROUND : R.ctx[d->parent];
        uint64_t pd = d->parent < 0 ? UINT64_MAX : R.ctx_dl[d->parent];
        uint64_t lo = 0, hi = 0;
        switch (d->type) {
        case CTX_CANCEL:
            R.ctx[k] = co_ctx_with_cancel(par);
            lo = hi = pd;
            break;
        case CTX_TIMEOUT:
        case CTX_FAR: {
            uint64_t ns = d->type == CTX_FAR ? 3600ull * 1000 * MS : d->ms * MS;
            lo = co_now_ns() + ns;
            R.ctx[k] = co_ctx_with_timeout(par, ns);
            hi = co_now_ns() + ns;
            lo = lo < pd ? lo : pd;
            hi = hi < pd ? hi : pd;
            break;
        }
        case CTX_EXPIRED:
            R.ctx[k] = co_ctx_with_deadline(par, 1);
            lo = hi = 1;
            break;
        }
        if (!R.ctx[k]) {
            fail_add(eb, "creating context k%d failed: %s", k, strerror(errno));
            for (int j = k - 1; j >= 0; j--)
                co_ctx_free(R.ctx[j]);
            co_sched_free(s, NULL);
            cap_end();
            g_active = 0;
            return 1;
        }
        R.ctx_dl[k] = co_ctx_deadline(R.ctx[k]);
        if (R.ctx_dl[k] < lo || R.ctx_dl[k] > hi)
            fail_add(eb, "co_ctx_deadline(k%d) = %.3f ms, want %.3f..%.3f ms", k,
                     rel_ms(R.ctx_dl[k]), rel_ms(lo), rel_ms(hi));
    }
    for (int w = 0; w <= MAX_CO; w++)
        co_wg_init(&R.wg[w]);
    for (int c = 0; c < p->nco; c++) {
        const cprog_t *cp = &p->co[c];
        snprintf(R.names[c], sizeof R.names[c], "c%d", c);
        R.opts[c] = (co_opts_t){
            .name = R.names[c],
            .kind = kinds[cp->kind],
            .stack_size = cp->stack == STK_SMALL    ? CO_STACK_SMALL
                          : cp->stack == STK_CUSTOM ? cp->stack_bytes
                                                    : 0,
            .ctx = ctx_of(cp->ctx),
            .wg = cp->wg < 0 ? NULL : &R.wg[cp->wg],
        };
    }
    for (int c = 0; c < p->ntop; c++) {
        if (!p->co[c].present)
            continue;
        R.handle[c] = co_spawn(co_main, (void *)(intptr_t)c, &R.opts[c]);
        if (!R.handle[c])
            R.spawn_errno[c] = errno ? errno : -1;
    }

    uint64_t delay0 = run_delay_ns();
    alarm(cfg.timeout_s);
    int rc = co_sched_run(s);
    alarm(0);
    R.t_end = co_now_ns();
    R.stall_ns = run_delay_ns() - delay0;

    validate(p, rc, eb);
    if (g_account)
        account(p);

    size_t leaks = co_sched_free(s, stderr);
    if (leaks)
        fail_add(eb, "co_sched_free reported %zu leaked coroutine(s)", leaks);
    for (int k = p->nctx - 1; k >= 0; k--)
        co_ctx_free(R.ctx[k]);
    cap_end();
    g_active = 0;
    return eb->n != 0;
}

/* Generate the program of a seed; sync programs are made deterministic. */
static int make_prog(prog_t *p, uint64_t seed, bool timed)
{
    gen(p, seed, timed);
    if (!timed) {
        static model_t m;
        if (model_fixup(p, &m) != 0)
            return -1;
    }
    return 0;
}

/* ---- isolation: programs run in child processes -------------------------------------- */

/*
 * Run @p p once; true if it failed a check or crashed. In a child unless
 * PROP_NO_FORK. @p print: print the failures (and a crash's runtime stderr).
 */
static bool run_isolated(const prog_t *p, bool print)
{
    static errbuf_t eb;
    if (cfg.no_fork) {
        int bad = run_prog(p, &eb);
        if (bad && print)
            fprintf(stderr, "%s", eb.buf);
        return bad;
    }
    pid_t pid = tu_fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        int bad = run_prog(p, &eb);
        if (bad && print)
            fprintf(stderr, "%s", eb.buf);
        tu_child_exit(bad ? 3 : 0);
    }
    int status = tu_wait_child(pid);
    if (WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3))
        return WEXITSTATUS(status) == 3;
    if (print) {
        char why[128];
        fprintf(stderr, "  the program %s\n", tu_child_end(status, cfg.timeout_s, why, sizeof why));
        cap_dump_fd(2);
    }
    return true;
}

/* ---- shrinking ----------------------------------------------------------------------- */

static bool still_fails(prog_t *cand, int tries)
{
    if (!cand->timed) {
        static model_t m;
        if (model_fixup(cand, &m) != 0)
            return false;
    }
    for (int t = 0; t < tries; t++)
        if (run_isolated(cand, false))
            return true;
    return false;
}

/* Greedy shrinking: drop coroutines and ops, simplify ends and stacks, while it fails. */
static void shrink(prog_t *p)
{
    int tries = p->timed ? 3 : 1, runs = 0, budget = p->timed ? 300 : 1500;
    uint64_t t_end = co_now_ns() + 60000 * MS;
    static prog_t cand;
    bool changed = true;
    while (changed && runs < budget && co_now_ns() < t_end) {
        changed = false;
        for (int c = p->nco - 1; c >= 0 && runs < budget; c--) {
            if (!p->co[c].present || (p->timed && c == 0))
                continue;
            int ntop = 0;
            for (int d = 0; d < p->ntop; d++)
                ntop += p->co[d].present;
            if (p->co[c].parent < 0 && ntop <= 1)
                continue;
            cand = *p;
            cand.co[c].present = false;
            prog_prune(&cand);
            runs++;
            if (still_fails(&cand, tries))
                *p = cand, changed = true;
        }
        for (int c = p->nco - 1; c >= 0; c--) {
            for (int i = p->co[c].nops - 2; i >= 0 && runs < budget && p->co[c].present; i--) {
                if (i >= p->co[c].nops - 1)
                    continue;
                const op_t *o = &p->co[c].ops[i];
                if (o->kind == OP_TEARDOWN)
                    continue;
                cand = *p;
                cprog_t *cp = &cand.co[c];
                if (o->kind == OP_SPAWN) {
                    cand.co[o->a].present = false;
                    prog_prune(&cand);
                } else {
                    memmove(&cp->ops[i], &cp->ops[i + 1],
                            (size_t)(cp->nops - i - 1) * sizeof(op_t));
                    cp->nops--;
                }
                runs++;
                if (still_fails(&cand, tries))
                    *p = cand, changed = true;
            }
        }
        for (int c = 0; c < p->nco && runs < budget; c++) {
            if (!p->co[c].present)
                continue;
            if (p->co[c].ops[p->co[c].nops - 1].end != END_RETURN) {
                cand = *p;
                cand.co[c].ops[cand.co[c].nops - 1].end = END_RETURN;
                runs++;
                if (still_fails(&cand, tries))
                    *p = cand, changed = true;
            }
            if (p->co[c].stack != STK_DEFAULT) {
                cand = *p;
                cand.co[c].stack = STK_DEFAULT;
                runs++;
                if (still_fails(&cand, tries))
                    *p = cand, changed = true;
            }
        }
    }
}

/* ---- the driver ----------------------------------------------------------------------- */

static const char *mode_name(bool timed)
{
    return timed ? "timed" : "sync";
}

/* Print a failing seed's program, then shrink it and print the minimal form. */
static void explain(uint64_t seed, bool timed)
{
    static prog_t p;
    if (make_prog(&p, seed, timed) != 0)
        return;
    prog_print(&p, stderr);
    if (!cfg.shrink)
        return;
    fprintf(stderr, "  shrinking (PROP_SHRINK=0 to skip)...\n");
    shrink(&p);
    fprintf(stderr, "  minimal failing program found:\n");
    prog_print(&p, stderr);
    fprintf(stderr, "  its failures now:\n");
    if (!run_isolated(&p, true))
        fprintf(stderr, "  (none this time: the failure is timing-dependent)\n");
}

/* Run seeds SH->next.. of a family in this process; stops at a failure unless keep_going. */
static void run_range(bool timed, uint64_t first, uint64_t n)
{
    static prog_t p;
    static errbuf_t eb;
    for (; SH->next < n; SH->next++) {
        uint64_t seed = first + SH->next;
        SH->cur_seed = seed;
        SH->cur_timed = timed;
        bool bad;
        if (make_prog(&p, seed, timed) != 0) {
            bad = true;
            snprintf(eb.buf, sizeof eb.buf, "internal: the generator made an unusable program\n");
            eb.n = 1;
        } else {
            g_account = true;
            bad = run_prog(&p, &eb) != 0;
            g_account = false;
        }
        if (!bad)
            continue;
        if (!SH->failed++)
            SH->first_failed = seed;
        print_error("seed %" PRIu64 " (%s): %d failed check(s); reproduce with PROP_SEED=%" PRIu64
                    " PROP_MODE=%s\n%s",
                    seed, mode_name(timed), eb.n, seed, mode_name(timed), eb.buf);
        fflush(stdout);
        cap_dump_fd(2);
        if (!cfg.keep_going) {
            SH->stop = 1;
            SH->next++;
            return;
        }
    }
}

static void run_family(bool timed)
{
    if (cfg.mode >= 0 && cfg.mode != (int)timed) {
        print_message("rt_property: %s programs skipped (PROP_MODE)\n", mode_name(timed));
        return;
    }
    uint64_t n = cfg.have_one ? 1 : timed ? cfg.seeds : cfg.sync_seeds;
    uint64_t first = cfg.have_one ? cfg.one_seed : cfg.base;
    SH->next = SH->failed = SH->first_failed = 0;
    SH->stop = 0;
    memset(&SH->st[timed], 0, sizeof SH->st[timed]);
    uint64_t crashed_seed = 0;
    bool crashed = false;
    uint64_t t0 = co_now_ns();

    while (SH->next < n && !SH->stop) {
        if (cfg.no_fork) {
            run_range(timed, first, n);
            break;
        }
        uint64_t batch = SH->next;
        pid_t pid = tu_fork();
        if (pid < 0)
            fail_msg("fork: %s", strerror(errno));
        if (pid == 0) {
            run_range(timed, first, n);
            tu_child_exit(0);
        }
        int status = tu_wait_child(pid);
        char why[128];
        if (!*tu_child_end(status, cfg.timeout_s, why, sizeof why))
            continue;
        uint64_t seed = SH->cur_seed;
        if (WIFEXITED(status) && WEXITSTATUS(status) == TU_CHILD_LEAKED) {
            /* LeakSanitizer ran after the whole batch: find the first seed that leaks */
            static prog_t lp;
            uint64_t last = SH->next;
            print_error("rt_property: LeakSanitizer found leaks after seeds %" PRIu64 "..%" PRIu64
                        " (%s); looking for the first seed that leaks\n",
                        first + batch, first + last - 1, mode_name(timed));
            for (uint64_t i = batch; i < last; i++)
                if (make_prog(&lp, first + i, timed) == 0 && run_isolated(&lp, true)) {
                    seed = first + i;
                    break;
                }
        }
        /* the child died inside a program (or leaked) */
        if (!SH->failed++)
            SH->first_failed = seed;
        if (!crashed)
            crashed = true, crashed_seed = seed;
        print_error("seed %" PRIu64 " (%s): the program %s; reproduce with PROP_SEED=%" PRIu64
                    " PROP_MODE=%s\n",
                    seed, mode_name(timed), why, seed, mode_name(timed));
        fflush(stdout);
        cap_dump_fd(2);
        SH->next++;
        if (!cfg.keep_going)
            break;
    }
    double secs = (double)(co_now_ns() - t0) / 1e9;
    uint64_t ran = SH->next < n ? SH->next : n;
    const struct stats *s = &SH->st[timed];
    print_message("rt_property: %s: %" PRIu64 " seed(s) from %" PRIu64 " in %.2f s, %" PRIu64
                  " coroutines (%" PRIu64 " small-stack), %" PRIu64 " events; ends "
                  "return/exit/panic %" PRIu64 "/%" PRIu64 "/%" PRIu64 ", %" PRIu64
                  " defers, %" PRIu64 " registry reads; sleep 0/ECANCELED/ETIMEDOUT %" PRIu64
                  "/%" PRIu64 "/%" PRIu64 ", wait %" PRIu64 "/%" PRIu64 "/%" PRIu64
                  ", ctx_err %" PRIu64 "/%" PRIu64 "/%" PRIu64 "%s",
                  mode_name(timed), ran, first, secs, s->coroutines, s->small, s->events,
                  s->returns, s->exits, s->panics, s->defers, s->regs, s->sleep_r[0], s->sleep_r[1],
                  s->sleep_r[2], s->wait_r[0], s->wait_r[1], s->wait_r[2], s->ctxerr_r[0],
                  s->ctxerr_r[1], s->ctxerr_r[2], timed ? "" : "\n");
    if (timed)
        print_message(", %" PRIu64 " wake-order pairs; %" PRIu64 " program(s) waited >= %.1f ms "
                      "for a CPU (longest %.1f ms): timing margins widened\n",
                      s->order_pairs, s->stalled, (double)cfg.order_margin_ns / 1e6,
                      (double)s->max_stall_ns / 1e6);
    if (SH->failed) {
        uint64_t bad = SH->first_failed;
        fflush(stdout);
        fprintf(stderr, "rt_property: first failing seed %" PRIu64 " (%s)%s:\n", bad,
                mode_name(timed), crashed && crashed_seed == bad ? ", which died" : "");
        explain(bad, timed);
        fail_msg("%" PRIu64 " of %" PRIu64 " %s seed(s) failed, first %" PRIu64
                 " (reproduce with PROP_SEED=%" PRIu64 " PROP_MODE=%s)",
                 (uint64_t)SH->failed, ran, mode_name(timed), bad, bad, mode_name(timed));
    }
}

static void test_sync_programs(void **state)
{
    (void)state;
    run_family(false);
}

static void test_timed_programs(void **state)
{
    (void)state;
    run_family(true);
}

/* The model itself: a tiny hand-checked program. */
static void test_model_selfcheck(void **state)
{
    (void)state;
    static prog_t p;
    static model_t m;
    memset(&p, 0, sizeof p);
    p.nco = 3, p.ntop = 1;
    for (int c = 0; c < 3; c++)
        p.co[c].present = true, p.co[c].wg = c ? 0 : TOP_WG, p.co[c].parent = c ? 0 : -1;
    /* c0: spawn c1; spawn c2; yield; wait; return */
    op_t c0[] = {{.kind = OP_SPAWN, .a = 1},
                 {.kind = OP_SPAWN, .a = 2},
                 {.kind = OP_YIELD, .a = -1},
                 {.kind = OP_WAIT, .a = -1},
                 {.kind = OP_END, .a = -1}};
    /* c1: defer; yield; defer; panic */
    op_t c1[] = {{.kind = OP_DEFER, .a = -1},
                 {.kind = OP_YIELD, .a = -1},
                 {.kind = OP_DEFER, .a = -1},
                 {.kind = OP_END, .end = END_PANIC, .a = -1}};
    /* c2: exit */
    op_t c2[] = {{.kind = OP_END, .end = END_EXIT, .a = -1}};
    memcpy(p.co[0].ops, c0, sizeof c0), p.co[0].nops = 5;
    memcpy(p.co[1].ops, c1, sizeof c1), p.co[1].nops = 4;
    memcpy(p.co[2].ops, c2, sizeof c2), p.co[2].nops = 1;
    assert_int_equal(model_sync(&p, &m), 0);
    static const struct {
        int co, code;
    } want[] = {
        {0, EV_START},
        {0, 0},
        {0, 1},
        {0, 2}, /* c0 runs to its yield: [c1 c2 c0] */
        {1, EV_START},
        {1, 0},
        {1, 1}, /* c1 defers, yields: [c2 c0 c1] */
        {2, EV_START},
        {2, 0}, /* c2 exits */
        {0, 3}, /* c0 waits (count 1) */
        {1, 2},
        {1, 3},
        {1, EV_DEFER | 2},
        {1, EV_DEFER | 0}, /* c1 panics: LIFO, wakes c0 */
        {0, EV_RET | 3},
        {0, 4}, /* c0 returns */
    };
    assert_int_equal(m.n, (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < m.n; i++) {
        assert_int_equal(m.co[i], want[i].co);
        assert_int_equal(m.code[i], want[i].code);
    }
}

static int teardown_test(void **state)
{
    (void)state;
    if (g_active) {
        /* cmocka caught a signal (or a longjmp) inside a program */
        cap_end();
        report_crash("the test was interrupted");
        g_active = 0;
        co_sched_t *s = co_sched_self();
        if (s)
            co_sched_free(s, NULL);
    }
    return 0;
}

int main(void)
{
    SH = mmap(NULL, sizeof *SH, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (SH == MAP_FAILED) {
        perror("rt_property: mmap");
        return 1;
    }
    bool sanitized = CO_SANITIZED;
    cfg.seeds = tu_env_u64("PROP_SEEDS", 1000);
    cfg.sync_seeds = tu_env_u64("PROP_SYNC_SEEDS", 5 * cfg.seeds);
    cfg.have_one = getenv("PROP_SEED") && *getenv("PROP_SEED");
    cfg.one_seed = cfg.have_one ? tu_seed_from_env("PROP_SEED", 1) : 0;
    cfg.base = cfg.have_one ? 0 : tu_seed_from_env("PROP_SEED_BASE", 1);
    cfg.keep_going = tu_env_u64("PROP_KEEP_GOING", 0) != 0;
    cfg.shrink = tu_env_u64("PROP_SHRINK", 1) != 0;
    cfg.verbose = tu_env_u64("PROP_VERBOSE", 0) != 0;
    cfg.no_fork = tu_env_u64("PROP_NO_FORK", 0) != 0;
    cfg.timeout_s = (unsigned)tu_env_u64("PROP_TIMEOUT_S", sanitized ? 120 : 30);
    cfg.order_margin_ns = tu_env_u64("PROP_ORDER_MARGIN_US", sanitized ? 2000 : 1000) * US;
    cfg.late_ns = tu_env_u64("PROP_LATE_MS", sanitized ? 500 : 250) * MS;
    const char *mode = getenv("PROP_MODE");
    cfg.mode = !mode || !*mode || !strcmp(mode, "all") ? -1 : !strcmp(mode, "timed") ? 1 : 0;

    g_real_err = dup(2);
    if (!cfg.verbose)
        g_cap_fd = memfd_create("rt_property-stderr", MFD_CLOEXEC);
    if (__sanitizer_set_report_fd && g_real_err >= 0)
        __sanitizer_set_report_fd((void *)(intptr_t)g_real_err);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(on_sanitizer_death);
    if (cfg.no_fork) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGABRT, &sa, NULL);
        sigaction(SIGALRM, &sa, NULL);
    }

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_selfcheck),
        cmocka_unit_test_teardown(test_sync_programs, teardown_test),
        cmocka_unit_test_teardown(test_timed_programs, teardown_test),
    };
    return cmocka_run_group_tests_name("rt_property", tests, NULL, NULL);
}
