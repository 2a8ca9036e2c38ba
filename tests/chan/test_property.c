/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Property test of lib/chan: seeded random programs of send, receive, close and
 * select on channels of random capacity, run on one scheduler and checked against a
 * model (program representation in tests/chan/chan_model.h).
 *
 * Two families:
 *
 *  local - 2..5 coroutines operate on 1..4 local channels (capacity 0, 1, 2, 3 or 8;
 *          elements of 4..257 bytes) with blocking ch_send/ch_recv (and the _ptr entry
 *          points), ch_trysend/ch_tryrecv, ch_close, ch_len/ch_cap/ch_closed and
 *          ch_select (1..4 mixed send/recv cases, with and without CH_NONBLOCK, with a
 *          deadline (sometimes one already past), on contexts; rarely with no case, or
 *          with an invalid case), under up to 4 contexts (cancel, timeout, expired,
 *          one-hour) that the program cancels at random points. Once every coroutine is
 *          parked with nothing that could wake it, a sentinel coroutine unblocks the
 *          program with a trysend/tryrecv helping a parked op, a close or a cancel. In
 *          "thread mode" (no contexts) there is no sentinel: co_sched_run() must
 *          return CO_EDEADLOCK, and the thread itself unblocks the program
 *          (ch_trysend/ch_tryrecv/ch_close from outside any coroutine) and runs the
 *          scheduler again.
 *
 *          Every op logs its start and its return (result, element received). The
 *          trace is replayed through a model of Go's channel semantics, in the order
 *          the events happened: FIFO buffers; a sender meeting a parked receiver hands
 *          the element over directly (and a receiver meeting a parked sender takes its
 *          element, or, on a full buffer, takes the head and moves the sender's element
 *          in); parked senders and receivers are served in FIFO order; a parked select
 *          is completed by its peer like any other waiter; close completes every
 *          parked receiver (buffer empty) and sender with EPIPE, later sends get EPIPE,
 *          receives drain then get EPIPE, a second close gets EPIPE; len/cap.
 *          Nondeterminism is resolved from what was observed and then checked:
 *          - a select's choice must be a case that was ready (and, when none was, it
 *            parks; CH_DEFAULT only with CH_NONBLOCK and nothing ready);
 *          - a parked op whose context is cancelled or expires may leave its queue at
 *            any point after that happened (the scheduler wakes it on its next pass);
 *            if it returned ECANCELED/ETIMEDOUT it left before any peer that came
 *            after the cancel, and a peer that came before the cancel must have
 *            completed it (so a cancelled receiver never swallows an element);
 *          - an op on a done context may fail with the context's error even when it
 *            could complete, but then it has no effect;
 *          - a select with an invalid case returns -EINVAL with no effect, or (it
 *            validates lazily) performs a case it found ready first; it never waits.
 *          Also checked: calls that complete at once do not switch coroutines;
 *          received elements are intact (every byte), failed receives leave the buffer
 *          untouched, sends do not write to their element; each element received was
 *          sent exactly once and every element sent is received or still buffered
 *          (model-free accounting); the final buffers (drained from the thread) match
 *          the model; CO_EDEADLOCK only when the model has every live coroutine
 *          parked; co_sched_run() returns 0 at the end and co_sched_free() reports no
 *          leak. Over all seeds, selects with every case ready must pick case 0 about
 *          1/n of the time, and selects with several ready cases must not always pick
 *          the lowest.
 *
 *  spsc  - one or two producer coroutines own 1..3 SPSC channels (capacity 1..64,
 *          rounded up to a power of two) and a consumer coroutine receives, all on the
 *          same scheduler, with random burst sizes: chs_send (contexts: background,
 *          already cancelled, 20..500 us timeouts), chs_send_burst, producer-side
 *          select over send cases, chs_recv, chs_recv_burst, consumer-side select over
 *          receive cases (sometimes with a case on a local channel fed by a "ticker"
 *          coroutine), chs_len/chs_cap/chs_closed, early closes, a coroutine that only
 *          yields, and sometimes a second coroutine of the same thread on one side (a
 *          second consumer of every channel, or a second producer of c0's), so that
 *          several coroutines park on one side at once. Producers close all their
 *          channels at the end (again, if already closed: idempotent); the consumer
 *          then drains everything until EPIPE.
 *          Checked: per channel, the consumer receives exactly the sequence of
 *          elements whose send succeeded, in order, intact; bursts move exactly
 *          min(n, room) or min(n, queued) (one thread sees both indices; the header
 *          allows "fewer" only when the ring fills); EPIPE only after close and
 *          drain, and sends after close fail (EPIPE, burst 0); timeouts and cancels
 *          lose nothing; len (exact, one thread), cap, closed; select choices ready,
 *          CH_DEFAULT only when nothing is ready; no switch when an op can complete;
 *          no deadlock, no leak.
 *
 * Each program also draws its scheduler's idle policy (busy, pause, sleep) and batch
 * (1, 2, 3 or 64 switches between scheduler passes, which moves the points where
 * cancellations, timers and poll hooks take effect).
 *
 * Isolation: programs run in forked child processes, a batch per child, so a crash,
 * an abort from the library, a sanitizer report, a leak (LeakSanitizer runs in each
 * child) or a hang (watchdog) still names its seed. The first failing program is
 * shrunk (coroutines, ops, select cases, contexts, channels dropped, each candidate
 * run several times in a child because select choices are random) and the minimal
 * program is printed with its trace.
 *
 * Environment:
 *   PROP_SEEDS=n          local programs (default 5000)
 *   PROP_SPSC_SEEDS=n     spsc programs (default PROP_SEEDS)
 *   PROP_SEED=s           run only seed s (of both families, or of PROP_MODE)
 *   PROP_SEED_BASE=b      first seed (default 1)
 *   PROP_MODE=local|spsc  one family only
 *   PROP_KEEP_GOING=1     do not stop at the first failing seed
 *   PROP_SHRINK=0         do not shrink the first failing program
 *   PROP_VERBOSE=1        print every program, and the trace of a failing one
 *   PROP_NO_FORK=1        run programs in the test process (for gdb)
 *   PROP_TIMEOUT_S=n      watchdog per program (default 10 s, 60 under sanitizers; programs
 *                        take milliseconds; at most 2 s, 6 under sanitizers, while shrinking)
 *   PROP_SWITCH_CHECK=0   do not check that calls completing at once do not switch
 *   PROP_PASSED_DEADLINES=0  no selects whose deadline has passed before the call (they
 *                        become selects without a deadline; the seeds stay the same)
 *   PROP_SPSC_SHARED=0    no second coroutine on a side of an SPSC channel (the seeds
 *                        stay the same)
 *
 * A failing seed is printed as "seed N (family): ..." with the failed checks; rerun
 * it alone with PROP_SEED=N PROP_MODE=family. Select choices are random (the
 * library's own generator), so a failure that depends on one may need a few reruns.
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

#include "chan.h"
#include "chan_model.h"
#include "co.h"
#include "testutil.h"

#define US        ((uint64_t)1000)
#define MS        ((uint64_t)1000000)
#define SLACK_NS  (50 * US) /* clock slack for deadline comparisons */
#define NEAR_NS   (20 * MS) /* the sentinel waits for deadlines closer than this */
#define MAX_EV    16384
#define VPOOL     65536
#define MAX_FAILS 12
#define HELPERS   120 /* most helping trysend/tryrecv of the sentinel per program */

static const char *const fam_name[] = {"local", "spsc"};

/* ---- configuration ------------------------------------------------------------ */

static struct {
    uint64_t seeds[2], base, one_seed;
    bool have_one, keep_going, shrink, verbose, no_fork, switch_check, passed_dl, spsc_extra;
    unsigned timeout_s;
    int mode; /* -1 both, else FAM_* */
} cfg;

static bool g_trace;         /* print the trace of a failing run */
static unsigned g_timeout_s; /* watchdog of one program */

/* ---- random numbers (splitmix64) ---------------------------------------------- */

static uint64_t rng_s;

static uint64_t mix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static unsigned rnd(unsigned n)
{
    return n ? (unsigned)(mix64(&rng_s) % n) : 0;
}

/* ---- failure messages ----------------------------------------------------------- */

typedef struct errbuf {
    char buf[16384];
    size_t len;
    int n;
} errbuf_t;

static errbuf_t *EB;

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

/* ---- generators ----------------------------------------------------------------- */

static const uint8_t batches[] = {1, 2, 3, 64};
static const uint16_t caps_local[] = {0, 0, 0, 1, 1, 2, 3, 8};
static const uint16_t esz_local[] = {4, 8, 8, 8, 16, 24, 64, 257};
static const uint16_t ctx_us[] = {100, 300, 1000, 2000};
static const uint32_t dl_us[] = {0, 0, 30, 200, 1000, 3000}; /* select deadline tiers */
#define NDL 6
static const uint16_t caps_spsc[] = {1, 2, 3, 4, 5, 8, 16, 64};
static const uint16_t esz_spsc[] = {4, 8, 16, 40};
static const uint16_t sctx_us[] = {20, 100, 500};
#define NSCTX 3

static int pick_ctx(const prog_t *p, unsigned pct_bg)
{
    if (!p->nctx || rnd(100) < pct_bg)
        return -1;
    return (int)rnd((unsigned)p->nctx);
}

static void gen_local_op(const prog_t *p, op_t *o)
{
    memset(o, 0, sizeof *o);
    o->ctx = -1;
    o->ch = (int8_t)rnd((unsigned)p->nch);
    unsigned r = rnd(1000);
    if (r < 220 || (r >= 440 && r < 510)) {
        o->kind = r < 220 ? OP_SEND : OP_TRYSEND;
    } else if (r < 440 || r < 580) {
        o->kind = r < 440 ? OP_RECV : OP_TRYRECV;
    } else if (r < 790) {
        static const uint8_t nc[] = {1, 1, 2, 2, 2, 3, 3, 4, 4, 4};
        o->kind = OP_SELECT;
        o->ncase = nc[rnd(10)];
        for (int j = 0; j < o->ncase; j++) {
            o->cs[j].dir = (uint8_t)(rnd(2) ? CH_SEND : CH_RECV);
            o->cs[j].ch = (int8_t)rnd((unsigned)p->nch);
        }
        o->nb = rnd(100) < 30;
        unsigned d = rnd(100);
        o->dl = d < 80 ? 0 : d < 85 ? 1 : (uint8_t)(2 + rnd(NDL - 2));
        o->ctx = (int8_t)pick_ctx(p, 65);
        o->ch = 0;
        unsigned odd = rnd(100);
        if (odd < 3) {
            /* no case at all: CH_DEFAULT, or a wait that only its context or deadline ends */
            o->ncase = 0;
            if (o->ctx < 0 && o->dl < 2)
                o->nb = 1;
        } else if (odd < 6) {
            o->cs[rnd(o->ncase)].dir = CASE_BAD;
        }
    } else if (r < 805) {
        o->kind = OP_CLOSE;
    } else if (r < 855) {
        o->kind = OP_LEN;
    } else if (r < 965 || !p->nctx) {
        o->kind = OP_YIELD;
        o->ch = 0;
    } else {
        o->kind = OP_CANCEL;
        o->ch = (int8_t)rnd((unsigned)p->nctx);
    }
    if (o->kind == OP_SEND || o->kind == OP_RECV) {
        o->ctx = (int8_t)pick_ctx(p, 55);
        o->ptr = p->ch[o->ch].esize == sizeof(void *) && rnd(2);
    }
}

static void gen_local(prog_t *p, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    rng_s = seed * 0x2545F4914F6CDD1Dull + 0x7A3C1E5B9D4F2A61ull;
    p->seed = seed;
    p->fam = FAM_LOCAL;
    p->idle = (uint8_t)rnd(3);
    p->batch = batches[rnd(4)];
    p->thread_mode = rnd(4) == 0;
    static const uint8_t nchs[] = {1, 1, 2, 2, 2, 3, 3, 4};
    p->nch = nchs[rnd(8)];
    for (int k = 0; k < p->nch; k++) {
        p->ch[k].cap = caps_local[rnd(8)];
        p->ch[k].esize = esz_local[rnd(8)];
    }
    p->nctx = p->thread_mode ? 0 : (int)rnd(MAX_CTX + 1);
    for (int k = 0; k < p->nctx; k++) {
        unsigned r = rnd(100);
        p->ctx[k].type = r < 45 ? CX_CANCEL : r < 65 ? CX_TIMEOUT : r < 75 ? CX_EXPIRED : CX_FAR;
        p->ctx[k].parent = (int8_t)(k == 0 || rnd(3) == 0 ? -1 : (int)rnd((unsigned)k));
        p->ctx[k].us = ctx_us[rnd(4)];
    }
    p->nco = 2 + (int)rnd(MAX_CO - 1);
    for (int c = 0; c < p->nco; c++) {
        cprog_t *cp = &p->co[c];
        cp->present = true;
        cp->nops = (uint8_t)(1 + rnd(MAX_POPS));
        for (int i = 0; i < cp->nops; i++)
            gen_local_op(p, &cp->ops[i]);
    }
}

static int owned(const prog_t *p, int sl, int8_t *own)
{
    int n = 0;
    for (int k = 0; k < p->nch; k++)
        if (p->ch[k].owner == sl)
            own[n++] = (int8_t)k;
    return n;
}

static unsigned burst_max(const prog_t *p, int ch)
{
    unsigned m = 2u * p->ch[ch].cap + 2u;
    return m < 40 ? m : 40;
}

/* A random nonempty subset of chans (in random order) as cases of direction dir. */
static void gen_cases(op_t *o, const int8_t *chans, int n, int dir)
{
    int8_t tmp[MAX_CH];
    memcpy(tmp, chans, (size_t)n);
    for (int a = n - 1; a > 0; a--) {
        int b = (int)rnd((unsigned)a + 1);
        int8_t t = tmp[a];
        tmp[a] = tmp[b];
        tmp[b] = t;
    }
    o->ncase = (uint8_t)(1 + rnd((unsigned)n));
    for (int j = 0; j < o->ncase; j++)
        o->cs[j] = (pcase_t){.dir = (uint8_t)dir, .ch = tmp[j]};
}

static uint8_t gen_sctx(unsigned pct_bg, bool need_timeout)
{
    unsigned r = rnd(100);
    if (r < pct_bg && !need_timeout)
        return SCTX_BG;
    if (r < pct_bg + 10 && !need_timeout)
        return SCTX_CANCELLED;
    return (uint8_t)(SCTX_TIMEOUT0 + rnd(NSCTX));
}

static void gen_spsc(prog_t *p, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    rng_s = seed * 0x2545F4914F6CDD1Dull + 0x1C69B3F74AC4AE35ull;
    p->seed = seed;
    p->fam = FAM_SPSC;
    p->idle = (uint8_t)rnd(3);
    p->batch = batches[rnd(4)];
    p->nch = 1 + (int)rnd(3);
    for (int k = 0; k < p->nch; k++) {
        p->ch[k].cap = caps_spsc[rnd(8)];
        p->ch[k].esize = esz_spsc[rnd(4)];
    }
    p->nco = p->nch == 1 ? 1 : 1 + (int)rnd(2);
    for (int k = 0; k < p->nch; k++)
        p->ch[k].owner = (uint8_t)(p->nco == 1 ? 0 : k < 2 ? k : (int)rnd(2));
    p->local = rnd(10) < 3;
    static const uint8_t lcaps[] = {0, 1, 4};
    p->lcap = lcaps[rnd(3)];
    p->litems = (uint8_t)(1 + rnd(20));
    p->noise = rnd(10) < 3 ? (uint8_t)(1 + rnd(30)) : 0;

    int8_t all[MAX_CH];
    for (int k = 0; k < p->nch; k++)
        all[k] = (int8_t)k;
    for (int sl = 0; sl < p->nco; sl++) {
        cprog_t *cp = &p->co[sl];
        int8_t own[MAX_CH];
        int nown = owned(p, sl, own);
        bool multi = nown > 1; /* blocking ops must time out, or a cycle could deadlock */
        cp->present = true;
        cp->nops = (uint8_t)rnd(21);
        for (int i = 0; i < cp->nops; i++) {
            op_t *o = &cp->ops[i];
            memset(o, 0, sizeof *o);
            o->ch = own[rnd((unsigned)nown)];
            unsigned r = rnd(100);
            if (r < 35) {
                o->kind = OP_SSEND;
                o->ctx = (int8_t)gen_sctx(70, multi);
            } else if (r < 65) {
                o->kind = OP_SBURST;
                o->n = (uint16_t)(1 + rnd(burst_max(p, o->ch)));
            } else if (r < 75) {
                o->kind = OP_SSELECT;
                gen_cases(o, own, nown, CH_SEND);
                o->nb = rnd(100) < 40;
                o->dl = o->nb         ? 0
                        : multi       ? (uint8_t)(2 + rnd(NDL - 2))
                        : rnd(5) == 0 ? (uint8_t)(1 + rnd(NDL - 1))
                                      : 0;
                o->ch = 0;
            } else if (r < 91) {
                o->kind = OP_YIELD;
            } else if (r < 97) {
                o->kind = OP_SLEN;
            } else {
                o->kind = OP_SCLOSE;
            }
        }
    }
    cprog_t *cp = &p->co[SL_C];
    cp->present = true;
    cp->nops = (uint8_t)rnd(25);
    for (int i = 0; i < cp->nops; i++) {
        op_t *o = &cp->ops[i];
        memset(o, 0, sizeof *o);
        o->ch = (int8_t)rnd((unsigned)p->nch);
        unsigned r = rnd(100);
        if (r < 30) {
            o->kind = OP_SRECV;
            o->ctx = (int8_t)gen_sctx(75, false);
        } else if (r < 55) {
            o->kind = OP_SRBURST;
            o->n = (uint16_t)(1 + rnd(burst_max(p, o->ch)));
        } else if (r < 75) {
            o->kind = OP_SSELECT;
            gen_cases(o, all, p->nch, CH_RECV);
            o->local = p->local && rnd(2);
            o->nb = rnd(100) < 40;
            o->dl = o->nb || rnd(4) ? 0 : (uint8_t)(1 + rnd(NDL - 1));
            o->ch = 0;
        } else if (r < 88) {
            o->kind = OP_YIELD;
        } else {
            o->kind = OP_SLEN;
        }
    }
    /* a second coroutine of the same thread on the consumer side, or on c0's producer side */
    p->extra = rnd(10) < 3 ? (uint8_t)(1 + rnd(2)) : X_NONE;
    if (p->extra) {
        cprog_t *xp = &p->co[SL_X];
        int8_t own[MAX_CH];
        int nown = owned(p, SL_P0, own);
        xp->present = true;
        xp->nops = (uint8_t)rnd(16);
        for (int i = 0; i < xp->nops; i++) {
            op_t *o = &xp->ops[i];
            memset(o, 0, sizeof *o);
            unsigned r = rnd(100);
            if (p->extra == X_CONSUMER) {
                o->ch = (int8_t)rnd((unsigned)p->nch);
                if (r < 40) {
                    o->kind = OP_SRECV;
                    o->ctx = (int8_t)gen_sctx(75, false);
                } else if (r < 60) {
                    o->kind = OP_SRBURST;
                    o->n = (uint16_t)(1 + rnd(burst_max(p, o->ch)));
                } else if (r < 80) {
                    o->kind = OP_SSELECT;
                    gen_cases(o, all, p->nch, CH_RECV);
                    o->nb = rnd(100) < 30;
                    o->ch = 0;
                } else {
                    o->kind = OP_YIELD;
                }
            } else {
                o->ch = own[rnd((unsigned)nown)];
                if (r < 45) {
                    o->kind = OP_SSEND;
                    o->ctx = (int8_t)gen_sctx(70, nown > 1);
                } else if (r < 70) {
                    o->kind = OP_SBURST;
                    o->n = (uint16_t)(1 + rnd(burst_max(p, o->ch)));
                } else if (r < 85) {
                    o->kind = OP_SSELECT;
                    gen_cases(o, own, nown, CH_SEND);
                    o->nb = rnd(100) < 30;
                    o->dl = o->nb || nown == 1 ? 0 : (uint8_t)(2 + rnd(NDL - 2));
                    o->ch = 0;
                } else {
                    o->kind = OP_YIELD;
                }
            }
        }
    }
}

static void gen(prog_t *p, uint64_t seed, int fam)
{
    if (fam == FAM_LOCAL)
        gen_local(p, seed);
    else
        gen_spsc(p, seed);
    if (!cfg.spsc_extra && p->extra) {
        p->extra = X_NONE;
        p->co[SL_X].present = false;
    }
    if (!cfg.passed_dl)
        for (int c = 0; c < NSLOT; c++)
            for (int i = 0; i < p->co[c].nops; i++)
                if (p->co[c].ops[i].dl == 1)
                    p->co[c].ops[i].dl = 0;
}

/* ---- printing --------------------------------------------------------------------- */

static const char *ctx_type_name[] = {"cancel", "timeout", "expired", "far"};

static const char *errstr(int r)
{
    static char buf[8][24];
    static unsigned k;
    switch (r) {
    case 0:
        return "0";
    case EAGAIN:
        return "EAGAIN";
    case EPIPE:
        return "EPIPE";
    case ECANCELED:
        return "ECANCELED";
    case ETIMEDOUT:
        return "ETIMEDOUT";
    case -ECANCELED:
        return "-ECANCELED";
    case -ETIMEDOUT:
        return "-ETIMEDOUT";
    case -EINVAL:
        return "-EINVAL";
    default:
        k = (k + 1) % 8;
        snprintf(buf[k], sizeof buf[k], "%d", r);
        return buf[k];
    }
}

/* A select's return value. */
static const char *selstr(int r)
{
    static char buf[8][24];
    static unsigned k;
    if (r >= 0) {
        k = (k + 1) % 8;
        snprintf(buf[k], sizeof buf[k], "case %d", r);
        return buf[k];
    }
    if (r == CH_DEFAULT)
        return "CH_DEFAULT";
    return errstr(r);
}

static const char *valstr(uint32_t id, int fam)
{
    static char buf[8][32];
    static unsigned k;
    k = (k + 1) % 8;
    if (id == 0) {
        snprintf(buf[k], sizeof buf[k], "-");
    } else if (id > LBASE) {
        snprintf(buf[k], sizeof buf[k], "L%u", id - LBASE);
    } else {
        uint32_t v = id - 1, per = fam == FAM_LOCAL ? 8u : 256u;
        uint32_t j = v % per, i = (v / per) % MAX_SOPS, sl = v / per / MAX_SOPS;
        if (fam == FAM_LOCAL && sl == SENT)
            snprintf(buf[k], sizeof buf[k], "S.%u", i);
        else if (j)
            snprintf(buf[k], sizeof buf[k], "c%u.%u/%u", sl, i, j);
        else
            snprintf(buf[k], sizeof buf[k], "c%u.%u", sl, i);
    }
    return buf[k];
}

static void sctx_str(char *b, size_t n, int mode)
{
    if (mode == SCTX_BG)
        snprintf(b, n, "bg");
    else if (mode == SCTX_CANCELLED)
        snprintf(b, n, "cancelled");
    else
        snprintf(b, n, "timeout(%uus)", sctx_us[mode - SCTX_TIMEOUT0]);
}

static void op_str(char *b, size_t n, const op_t *o)
{
    char k[24];
    if (o->ctx < 0)
        snprintf(k, sizeof k, "bg");
    else
        snprintf(k, sizeof k, "k%d", o->ctx);
    switch (o->kind) {
    case OP_SEND:
    case OP_RECV:
        snprintf(b, n, "%s%s ch%d ctx=%s", o->kind == OP_SEND ? "send" : "recv",
                 o->ptr ? "_ptr" : "", o->ch, k);
        return;
    case OP_TRYSEND:
        snprintf(b, n, "trysend ch%d", o->ch);
        return;
    case OP_TRYRECV:
        snprintf(b, n, "tryrecv ch%d", o->ch);
        return;
    case OP_CLOSE:
        snprintf(b, n, "close ch%d", o->ch);
        return;
    case OP_LEN:
        snprintf(b, n, "len ch%d", o->ch);
        return;
    case OP_YIELD:
        snprintf(b, n, "yield");
        return;
    case OP_CANCEL:
        snprintf(b, n, "cancel k%d", o->ch);
        return;
    case OP_SELECT:
    case OP_SSELECT: {
        size_t l = (size_t)snprintf(b, n, "select{");
        const char *pre = o->kind == OP_SELECT ? "ch" : "s";
        for (int j = 0; j < o->ncase && l < n; j++)
            l +=
                o->cs[j].dir == CASE_BAD
                    ? (size_t)snprintf(b + l, n - l, "%sBAD (no channel)", j ? ", " : "")
                    : (size_t)snprintf(b + l, n - l, "%s%s %s%d", j ? ", " : "",
                                       o->cs[j].dir == CH_SEND ? "send" : "recv", pre, o->cs[j].ch);
        if (o->local && l < n)
            l += (size_t)snprintf(b + l, n - l, ", recv L");
        if (l < n)
            l += (size_t)snprintf(b + l, n - l, "}%s", o->nb ? " nb" : "");
        if (o->dl == 1 && l < n)
            l += (size_t)snprintf(b + l, n - l, " dl=passed");
        else if (o->dl > 1 && l < n)
            l += (size_t)snprintf(b + l, n - l, " dl=%uus", dl_us[o->dl]);
        if (o->kind == OP_SELECT && l < n)
            snprintf(b + l, n - l, " ctx=%s", k);
        return;
    }
    case OP_SSEND:
    case OP_SRECV:
        sctx_str(k, sizeof k, o->ctx);
        snprintf(b, n, "%s s%d ctx=%s", o->kind == OP_SSEND ? "ssend" : "srecv", o->ch, k);
        return;
    case OP_SBURST:
        snprintf(b, n, "sburst s%d n=%u", o->ch, o->n);
        return;
    case OP_SRBURST:
        snprintf(b, n, "srburst s%d n=%u", o->ch, o->n);
        return;
    case OP_SCLOSE:
        snprintf(b, n, "sclose s%d", o->ch);
        return;
    case OP_SLEN:
        snprintf(b, n, "slen s%d", o->ch);
        return;
    case OP_TSEND:
        snprintf(b, n, "tsend L");
        return;
    case OP_TCLOSE:
        snprintf(b, n, "tclose L");
        return;
    default:
        snprintf(b, n, "?%d", o->kind);
    }
}

static void prog_print(const prog_t *p, FILE *f)
{
    static const char *idle_name[] = {"busy", "pause", "sleep"};
    fprintf(f, "  program %" PRIu64 " (%s): scheduler idle=%s batch=%u%s\n", p->seed,
            fam_name[p->fam], idle_name[p->idle], p->batch,
            p->thread_mode ? ", thread mode (no sentinel)" : "");
    for (int k = 0; k < p->nch; k++) {
        if (p->fam == FAM_LOCAL)
            fprintf(f, "    ch%d: cap %u, elem %u bytes\n", k, p->ch[k].cap, p->ch[k].esize);
        else
            fprintf(f, "    s%d: cap %u, elem %u bytes, producer c%u\n", k, p->ch[k].cap,
                    p->ch[k].esize, p->ch[k].owner);
    }
    for (int k = 0; k < p->nctx; k++) {
        fprintf(f, "    k%d = %s(", k, ctx_type_name[p->ctx[k].type]);
        if (p->ctx[k].parent < 0)
            fprintf(f, "bg");
        else
            fprintf(f, "k%d", p->ctx[k].parent);
        if (p->ctx[k].type == CX_TIMEOUT)
            fprintf(f, ", %uus", p->ctx[k].us);
        fprintf(f, ")\n");
    }
    if (p->fam == FAM_SPSC) {
        if (p->local)
            fprintf(f, "    L: local channel cap %u, ticker sends %u then closes\n", p->lcap,
                    p->litems);
        if (p->noise)
            fprintf(f, "    noise coroutine: %u yields\n", p->noise);
    }
    for (int c = 0; c < NSLOT; c++) {
        const cprog_t *cp = &p->co[c];
        if (!cp->present)
            continue;
        const char *role =
            p->fam == FAM_LOCAL                   ? ""
            : c == SL_C                           ? " (consumer; then drains)"
            : c == SL_X && p->extra == X_CONSUMER ? " (a second consumer coroutine, same thread)"
            : c == SL_X ? " (a second producer coroutine of c0's channels, same thread)"
                        : " (producer; then closes its channels)";
        fprintf(f, "    c%d%s:", c, role);
        if (!cp->nops)
            fprintf(f, " -\n");
        for (int i = 0; i < cp->nops; i++) {
            char b[160];
            op_str(b, sizeof b, &cp->ops[i]);
            fprintf(f, " %d:%s%s", i, b, i + 1 < cp->nops ? ";" : "\n");
        }
    }
}

/* ---- the run ----------------------------------------------------------------------- */

enum { EV_START = 0, EV_RET, EV_DEADLOCK };

typedef struct ev {
    uint64_t t;
    uint32_t resumes; /* R.resumes when logged */
    uint16_t i;
    uint8_t sl, type;
} ev_t;

/* result flags */
#define F_PAYLOAD  0x01 /* a received element is corrupt */
#define F_TOUCHED  0x02 /* a failed receive (or an unchosen case, or a burst past its count) wrote */
#define F_SENDBUF  0x04 /* a send wrote to its element */
#define F_RESULT   0x08 /* the chosen case's result is neither 0 nor EPIPE */
#define F_ELEMSIZE 0x10 /* ch_elem_size / chs_elem_size wrong */
#define F_NOCTX    0x20 /* could not create a context */

typedef struct ores {
    int res, cres;
    uint32_t val;
    uint16_t flags;
    int voff, vcnt; /* receive bursts: ids in R.vpool */
    uint32_t len, cap;
    uint8_t closed;
    int e0, e1;
    uint64_t dl_ns; /* deadline of the op itself (select, spsc timeout), UINT64_MAX: none */
} ores_t;

static struct run {
    const prog_t *p;
    co_sched_t *s;
    ch_t *lch[MAX_CH];
    chs_t *sch[MAX_CH];
    ch_t *tick;
    co_ctx_t *ctx[MAX_CTX];
    uint64_t ctx_dl[MAX_CTX];
    co_t *h[NSLOT];
    bool done[NSLOT], spawned[NSLOT];
    int nops[NSLOT], cur[NSLOT];
    op_t ops[NSLOT][MAX_SOPS];
    ores_t res[NSLOT][MAX_SOPS];
    ev_t ev[MAX_EV];
    int nev;
    bool ev_overflow, sops_overflow;
    uint32_t resumes;
    uint32_t vpool[VPOOL];
    int nv;
    uint64_t rng;
    bool stuck;
    char stuck_msg[400];
    int run_rc, deadlocks;
    size_t leaks;
    /* the thread's drain of what is left at the end (local) */
    uint32_t drained[MAX_CH][64];
    int ndrained[MAX_CH], drain_end[MAX_CH];
    bool drain_bad[MAX_CH];
    size_t end_len[MAX_CH];
    bool end_closed[MAX_CH];
    uint64_t t_start;
} R;

static int ev_log(int sl, int i, int type)
{
    int e = R.nev;
    if (e >= MAX_EV) {
        R.ev_overflow = true;
        return MAX_EV - 1;
    }
    R.ev[e] = (ev_t){.t = co_now_ns(),
                     .resumes = R.resumes,
                     .i = (uint16_t)i,
                     .sl = (uint8_t)sl,
                     .type = (uint8_t)type};
    R.nev = e + 1;
    return e;
}

static uint64_t rnd_r(unsigned n)
{
    return n ? mix64(&R.rng) % n : 0;
}

static co_ctx_t *ctx_of(int k)
{
    return k < 0 ? CO_BACKGROUND : R.ctx[k];
}

static size_t esz_of(int ch)
{
    return R.p->ch[ch].esize;
}

static void post_recv_st(ores_t *x, int status, const void *b, size_t es)
{
    if (status == 0) {
        uint32_t id;
        if (!pcheck(b, es, &id))
            x->flags |= F_PAYLOAD;
        x->val = id;
    } else if (!untouched(b, es)) {
        x->flags |= F_TOUCHED;
    }
}

static void post_recv(ores_t *x, const void *b, size_t es)
{
    post_recv_st(x, x->res, b, es);
}

static bool same_payload(const void *b, size_t es, uint32_t id)
{
    uint32_t got;
    return pcheck(b, es, &got) && got == id;
}

/* A context for an spsc op (mode SCTX_*); sets x->dl_ns. NULL mode bg. */
static co_ctx_t *sctx_make(int mode, ores_t *x, bool *fail)
{
    *fail = false;
    if (mode == SCTX_BG)
        return CO_BACKGROUND;
    co_ctx_t *k;
    if (mode == SCTX_CANCELLED) {
        k = co_ctx_with_cancel(CO_BACKGROUND);
        if (k)
            co_ctx_cancel(k);
    } else {
        k = co_ctx_with_timeout(CO_BACKGROUND, sctx_us[mode - SCTX_TIMEOUT0] * US);
        if (k)
            x->dl_ns = co_ctx_deadline(k);
    }
    if (!k) {
        x->flags |= F_NOCTX;
        *fail = true;
    }
    return k;
}

static void run_select(int sl, int i, const op_t *o, ores_t *x)
{
    bool spsc = o->kind == OP_SSELECT;
    int n = o->ncase + (o->local ? 1 : 0);
    ch_case_t *cs = malloc(n ? (size_t)n * sizeof *cs : 1);
    uint8_t *bufs[MAX_CASES + 1];
    size_t es[MAX_CASES + 1];
    uint32_t ids[MAX_CASES + 1];
    for (int j = 0; j < n; j++) {
        int dir = j < o->ncase ? o->cs[j].dir : CH_RECV;
        es[j] = j < o->ncase && dir != CASE_BAD ? esz_of(o->cs[j].ch) : 8;
        bufs[j] = malloc(es[j]);
        ids[j] = spsc ? vid_spsc(sl, i, j) : vid_local(sl, i, j);
        if (dir == CH_SEND)
            pfill(bufs[j], es[j], ids[j]);
        else
            memset(bufs[j], 0xA5, es[j]);
        cs[j] = (ch_case_t){
            .op = (ch_op_t)dir,
            .local = j >= o->ncase ? R.tick
                     : spsc        ? NULL
                                   : R.lch[o->cs[j].ch],
            .spsc = j < o->ncase && spsc ? R.sch[o->cs[j].ch] : NULL,
            .elem = bufs[j],
            .result = 0x5a5a,
        };
        if (dir == CASE_BAD)
            cs[j].op = CH_RECV, cs[j].local = NULL, cs[j].spsc = NULL;
    }
    uint64_t dl = UINT64_MAX;
    if (o->dl == 1) {
        x->dl_ns = 0;
        dl = co_tsc() - 1000;
    } else if (o->dl > 1) {
        x->dl_ns = co_now_ns() + dl_us[o->dl] * US;
        dl = co_tsc() + co_ns_to_tsc(dl_us[o->dl] * US);
    }
    int r = ch_select(cs, n, o->nb ? CH_NONBLOCK : 0, dl, spsc ? CO_BACKGROUND : ctx_of(o->ctx));
    x->res = r;
    for (int j = 0; j < n; j++) {
        int dir = j < o->ncase ? o->cs[j].dir : CH_RECV;
        if (dir == CH_SEND) {
            if (!same_payload(bufs[j], es[j], ids[j]))
                x->flags |= F_SENDBUF;
        } else if (j == r) {
            x->cres = cs[j].result;
            if (x->cres != 0 && x->cres != EPIPE)
                x->flags |= F_RESULT;
            post_recv_st(x, x->cres, bufs[j], es[j]);
        } else if (!untouched(bufs[j], es[j])) {
            x->flags |= F_TOUCHED;
        }
        if (j == r && dir == CH_SEND) {
            x->cres = cs[j].result;
            if (x->cres != 0 && x->cres != EPIPE)
                x->flags |= F_RESULT;
        }
        free(bufs[j]);
    }
    free(cs);
}

static void run_op(int sl, int i)
{
    const op_t *o = &R.ops[sl][i];
    ores_t *x = &R.res[sl][i];
    R.cur[sl] = i;
    x->dl_ns = UINT64_MAX;
    x->e0 = ev_log(sl, i, EV_START);
    switch (o->kind) {
    case OP_SEND:
    case OP_TRYSEND: {
        ch_t *c = R.lch[o->ch];
        size_t es = esz_of(o->ch);
        uint32_t id = vid_local(sl, i, 0);
        if (o->kind == OP_SEND && o->ptr) {
            uint64_t w;
            pfill(&w, sizeof w, id);
            x->res = ch_send_ptr(c, (void *)(uintptr_t)w, ctx_of(o->ctx));
        } else {
            uint8_t *b = malloc(es);
            pfill(b, es, id);
            x->res = o->kind == OP_SEND ? ch_send(c, b, ctx_of(o->ctx)) : ch_trysend(c, b);
            if (!same_payload(b, es, id))
                x->flags |= F_SENDBUF;
            free(b);
        }
        break;
    }
    case OP_RECV:
    case OP_TRYRECV: {
        ch_t *c = R.lch[o->ch];
        size_t es = esz_of(o->ch);
        if (o->kind == OP_RECV && o->ptr) {
            void *pv;
            memset(&pv, 0xA5, sizeof pv);
            x->res = ch_recv_ptr(c, &pv, ctx_of(o->ctx));
            post_recv(x, &pv, sizeof pv);
        } else {
            uint8_t *b = malloc(es);
            memset(b, 0xA5, es);
            x->res = o->kind == OP_RECV ? ch_recv(c, b, ctx_of(o->ctx)) : ch_tryrecv(c, b);
            post_recv(x, b, es);
            free(b);
        }
        break;
    }
    case OP_CLOSE:
        x->res = ch_close(R.lch[o->ch]);
        break;
    case OP_LEN: {
        ch_t *c = R.lch[o->ch];
        x->len = (uint32_t)ch_len(c);
        x->cap = (uint32_t)ch_cap(c);
        x->closed = ch_closed(c);
        if (ch_elem_size(c) != esz_of(o->ch))
            x->flags |= F_ELEMSIZE;
        break;
    }
    case OP_SELECT:
    case OP_SSELECT:
        run_select(sl, i, o, x);
        break;
    case OP_YIELD:
        co_yield();
        break;
    case OP_CANCEL:
        co_ctx_cancel(R.ctx[o->ch]);
        break;
    case OP_SSEND: {
        bool nf;
        co_ctx_t *k = sctx_make(o->ctx, x, &nf);
        if (nf)
            break;
        size_t es = esz_of(o->ch);
        uint32_t id = vid_spsc(sl, i, 0);
        uint8_t *b = malloc(es);
        pfill(b, es, id);
        x->res = chs_send(R.sch[o->ch], b, k);
        if (!same_payload(b, es, id))
            x->flags |= F_SENDBUF;
        free(b);
        if (k)
            co_ctx_free(k);
        break;
    }
    case OP_SRECV: {
        bool nf;
        co_ctx_t *k = sctx_make(o->ctx, x, &nf);
        if (nf)
            break;
        size_t es = esz_of(o->ch);
        uint8_t *b = malloc(es);
        memset(b, 0xA5, es);
        x->res = chs_recv(R.sch[o->ch], b, k);
        post_recv(x, b, es);
        free(b);
        if (k)
            co_ctx_free(k);
        break;
    }
    case OP_SBURST: {
        size_t es = esz_of(o->ch);
        uint8_t *b = malloc(es * o->n);
        for (unsigned j = 0; j < o->n; j++)
            pfill(b + j * es, es, vid_spsc(sl, i, (int)j));
        x->res = (int)chs_send_burst(R.sch[o->ch], b, o->n);
        for (unsigned j = 0; j < o->n; j++)
            if (!same_payload(b + j * es, es, vid_spsc(sl, i, (int)j)))
                x->flags |= F_SENDBUF;
        free(b);
        break;
    }
    case OP_SRBURST: {
        size_t es = esz_of(o->ch);
        uint8_t *b = malloc(es * o->n);
        memset(b, 0xA5, es * o->n);
        unsigned got = chs_recv_burst(R.sch[o->ch], b, o->n);
        x->res = (int)got;
        x->voff = R.nv;
        for (unsigned j = 0; j < o->n; j++) {
            if (j < got) {
                uint32_t id;
                if (!pcheck(b + j * es, es, &id))
                    x->flags |= F_PAYLOAD;
                if (R.nv < VPOOL)
                    R.vpool[R.nv++] = id;
            } else if (!untouched(b + j * es, es)) {
                x->flags |= F_TOUCHED;
            }
        }
        x->vcnt = R.nv - x->voff;
        free(b);
        break;
    }
    case OP_SCLOSE:
        chs_close(R.sch[o->ch]);
        break;
    case OP_SLEN: {
        chs_t *c = R.sch[o->ch];
        x->len = (uint32_t)chs_len(c);
        x->cap = (uint32_t)chs_cap(c);
        x->closed = chs_closed(c);
        if (chs_elem_size(c) != esz_of(o->ch))
            x->flags |= F_ELEMSIZE;
        break;
    }
    case OP_TSEND: {
        uint8_t b[8];
        pfill(b, sizeof b, x->val);
        x->res = ch_send(R.tick, b, CO_BACKGROUND);
        break;
    }
    case OP_TCLOSE:
        x->res = ch_close(R.tick);
        break;
    }
    x->e1 = ev_log(sl, i, EV_RET);
    R.resumes++;
}

/* Append op @p o to slot @p sl's run-time list and run it; -1 when the list is full. */
static int run_extra(int sl, const op_t *o, uint32_t val)
{
    int i = R.nops[sl];
    if (i >= MAX_SOPS) {
        R.sops_overflow = true;
        return -1;
    }
    R.ops[sl][i] = *o;
    R.res[sl][i].val = val;
    R.nops[sl] = i + 1;
    run_op(sl, i);
    return i;
}

/* ---- local family: coroutines, sentinel, thread mode ------------------------------- */

static void local_co(void *arg)
{
    int c = (int)(intptr_t)arg;
    R.resumes++;
    for (int i = 0; i < R.p->co[c].nops; i++)
        run_op(c, i);
    R.done[c] = true;
}

/* Could a parked coroutine c be woken without the sentinel (done or near deadline)? */
static bool wakeable(int c)
{
    int i = R.cur[c];
    const op_t *o = &R.ops[c][i];
    uint64_t now = co_now_ns();
    if (o->ctx >= 0 && (o->kind == OP_SEND || o->kind == OP_RECV || o->kind == OP_SELECT)) {
        if (co_ctx_err(R.ctx[o->ctx]))
            return true;
        if (R.ctx_dl[o->ctx] < now + NEAR_NS)
            return true;
    }
    if (o->kind == OP_SELECT && R.res[c][i].dl_ns < now + NEAR_NS)
        return true;
    return false;
}

/* What parked coroutine c waits for: (dir, ch) pairs. */
static int waits_of(int c, int *dir, int *ch)
{
    const op_t *o = &R.ops[c][R.cur[c]];
    if (o->kind == OP_SEND || o->kind == OP_RECV) {
        dir[0] = o->kind == OP_SEND ? CH_SEND : CH_RECV;
        ch[0] = o->ch;
        return 1;
    }
    if (o->kind == OP_SELECT) {
        int n = 0;
        for (int j = 0; j < o->ncase; j++)
            if (o->cs[j].dir != CASE_BAD)
                dir[n] = o->cs[j].dir, ch[n++] = o->cs[j].ch;
        return n;
    }
    return 0;
}

/*
 * One unblocking action (sentinel or thread): a trysend/tryrecv that helps a parked
 * op, a close, or a cancel. False when nothing is left to do.
 */
static bool unblock_act(int *helpers, bool may_cancel)
{
    const prog_t *p = R.p;
    int hdir[64], hch[64], nh = 0;
    bool waited[MAX_CH] = {false}, kc[MAX_CTX] = {false};
    for (int c = 0; c < p->nco; c++) {
        if (!p->co[c].present || R.done[c] || !R.spawned[c] || !co_is_parked(R.h[c]))
            continue;
        int dir[MAX_CASES], ch[MAX_CASES];
        int n = waits_of(c, dir, ch);
        for (int j = 0; j < n; j++) {
            waited[ch[j]] = true;
            if (!ch_closed(R.lch[ch[j]]) && nh < 64)
                hdir[nh] = dir[j], hch[nh++] = ch[j];
        }
        const op_t *o = &R.ops[c][R.cur[c]];
        for (int k = o->ctx; k >= 0; k = p->ctx[k].parent)
            if (co_ctx_err(R.ctx[k]) == 0)
                kc[k] = true;
    }
    int cl[MAX_CH], ncl = 0, any_open = -1, kk[MAX_CTX], nk = 0;
    for (int k = 0; k < p->nch; k++) {
        if (ch_closed(R.lch[k]))
            continue;
        any_open = k;
        if (waited[k])
            cl[ncl++] = k;
    }
    for (int k = 0; k < p->nctx; k++)
        if (kc[k] && may_cancel)
            kk[nk++] = k;

    op_t o;
    memset(&o, 0, sizeof o);
    o.ctx = -1;
    unsigned r = (unsigned)rnd_r(100);
    if (nh && *helpers < HELPERS && (r < 80 || (!ncl && !nk))) {
        int h = (int)rnd_r((unsigned)nh);
        o.kind = hdir[h] == CH_RECV ? OP_TRYSEND : OP_TRYRECV;
        o.ch = (int8_t)hch[h];
        (*helpers)++;
    } else if (ncl && (!nk || r < 85)) {
        o.kind = OP_CLOSE;
        o.ch = (int8_t)cl[rnd_r((unsigned)ncl)];
    } else if (nk) {
        o.kind = OP_CANCEL;
        o.ch = (int8_t)kk[rnd_r((unsigned)nk)];
    } else if (any_open >= 0) {
        o.kind = OP_CLOSE;
        o.ch = (int8_t)any_open;
    } else {
        return false;
    }
    return run_extra(SENT, &o, 0) >= 0;
}

static void describe_stuck(const char *who)
{
    size_t l =
        (size_t)snprintf(R.stuck_msg, sizeof R.stuck_msg,
                         "%s: every channel is closed and every context cancelled, yet", who);
    for (int c = 0; c < R.p->nco && l < sizeof R.stuck_msg; c++) {
        if (!R.p->co[c].present || R.done[c] || !R.spawned[c])
            continue;
        char b[160];
        op_str(b, sizeof b, &R.ops[c][R.cur[c]]);
        l += (size_t)snprintf(R.stuck_msg + l, sizeof R.stuck_msg - l, " c%d op %d (%s)%s", c,
                              R.cur[c], b, co_is_parked(R.h[c]) ? " is still parked" : "");
    }
}

static void sentinel(void *arg)
{
    (void)arg;
    int helpers = 0;
    R.resumes++;
    for (;;) {
        co_yield();
        R.resumes++;
        int alive = 0;
        bool quiet = true;
        for (int c = 0; c < R.p->nco; c++) {
            if (!R.p->co[c].present || R.done[c])
                continue;
            alive++;
            if (!R.spawned[c] || !co_is_parked(R.h[c]) || wakeable(c))
                quiet = false;
        }
        if (!alive)
            break;
        if (!quiet)
            continue;
        if (!unblock_act(&helpers, true)) {
            describe_stuck("sentinel");
            R.stuck = true;
            co_sched_stop(R.s);
            break;
        }
    }
    R.done[SENT] = true;
}

/* ---- spsc family: producers, consumer, ticker, noise -------------------------------- */

static void spsc_producer(void *arg)
{
    int sl = (int)(intptr_t)arg;
    R.resumes++;
    for (int i = 0; i < R.p->co[sl].nops; i++)
        run_op(sl, i);
    /* close every own channel, again if it was closed already (idempotent) */
    for (int k = 0; k < R.p->nch; k++)
        if (R.p->ch[k].owner == sl) {
            op_t o = {.kind = OP_SCLOSE, .ch = (int8_t)k};
            run_extra(sl, &o, 0);
        }
    R.done[sl] = true;
}

static void spsc_consumer(void *arg)
{
    (void)arg;
    const prog_t *p = R.p;
    R.resumes++;
    for (int i = 0; i < p->co[SL_C].nops; i++)
        run_op(SL_C, i);
    /* drain every channel until EPIPE */
    bool left[MAX_CH + 1];
    int nleft = 0;
    for (int k = 0; k <= p->nch; k++) {
        left[k] = k < p->nch || p->local;
        nleft += left[k];
    }
    while (nleft > 0) {
        op_t o;
        memset(&o, 0, sizeof o);
        int8_t rem[MAX_CH];
        int nrem = 0;
        for (int k = 0; k < p->nch; k++)
            if (left[k])
                rem[nrem++] = (int8_t)k;
        unsigned r = (unsigned)rnd_r(100);
        if (R.nops[SL_C] > MAX_SOPS / 2)
            r = nrem && r < 50 ? 50 : 90; /* running out of room: bursts and selects */
        if (!nrem || r >= 80) {
            o.kind = OP_SSELECT;
            o.ncase = 0;
            for (int k = 0; k < nrem; k++)
                o.cs[o.ncase++] = (pcase_t){.dir = CH_RECV, .ch = rem[k]};
            o.local = left[p->nch];
            if (!o.ncase) {
                /* only the ticker's channel is left: one receive case on it */
                o.local = 1;
            }
        } else if (r < 60) {
            o.kind = OP_SRBURST;
            o.ch = rem[rnd_r((unsigned)nrem)];
            o.n = (uint16_t)(1 + rnd_r(64));
        } else {
            o.kind = OP_SRECV;
            o.ch = rem[rnd_r((unsigned)nrem)];
        }
        int i = run_extra(SL_C, &o, 0);
        if (i < 0)
            break;
        const ores_t *x = &R.res[SL_C][i];
        if (o.kind == OP_SRECV && x->res == EPIPE) {
            left[o.ch] = false, nleft--;
        } else if (o.kind == OP_SSELECT && x->res >= 0 && x->cres == EPIPE) {
            int k = x->res < o.ncase ? o.cs[x->res].ch : p->nch;
            if (left[k])
                left[k] = false, nleft--;
        } else if (o.kind == OP_SSELECT && (x->res < 0 || x->res > o.ncase)) {
            break; /* a broken select: the checker reports it */
        }
    }
    R.done[SL_C] = true;
}

static void spsc_ticker(void *arg)
{
    (void)arg;
    R.resumes++;
    for (int k = 0; k < R.p->litems; k++) {
        op_t o = {.kind = OP_TSEND};
        run_extra(SL_TICK, &o, LBASE + 1u + (uint32_t)k);
    }
    op_t o = {.kind = OP_TCLOSE};
    run_extra(SL_TICK, &o, 0);
    R.done[SL_TICK] = true;
}

static void spsc_extra(void *arg)
{
    (void)arg;
    R.resumes++;
    for (int i = 0; i < R.p->co[SL_X].nops; i++)
        run_op(SL_X, i);
    R.done[SL_X] = true;
}

static void spsc_noise(void *arg)
{
    (void)arg;
    R.resumes++;
    for (int k = 0; k < R.p->noise; k++) {
        co_yield();
        R.resumes++;
    }
    R.done[SL_NOISE] = true;
}

/* ---- statistics ------------------------------------------------------------------------ */

struct stats {
    uint64_t programs, ops, events, elems;
    uint64_t parked;                   /* ops that completed after another coroutine ran */
    uint64_t r_epipe, r_eagain, r_ctx; /* results */
    uint64_t handoffs;                 /* model: a waiter completed by its peer */
    uint64_t withdrawn;                /* model: a parked op that left on its context */
    uint64_t sel_imm, sel_parked, sel_default;
    uint64_t unblock;   /* sentinel / thread actions */
    uint64_t deadlocks; /* CO_EDEADLOCK returns (thread mode) */
    uint64_t partial_bursts;
};

static struct shared {
    volatile uint64_t cur_seed;
    volatile int cur_fam;
    volatile uint64_t next, failed, first_failed;
    volatile int stop;
    struct stats st[2];
    /* select fairness over all local programs (immediate selects) */
    uint64_t multi, multi_nonlow; /* >= 2 cases ready; picks that were not the lowest */
    uint64_t allr, allr_pick0;    /* every case ready (n >= 2); picks of case 0 */
    double allr_exp, allr_var;
    uint64_t bad_case_performed; /* selects with an invalid case that performed a ready one */
} * SH;

static bool g_account; /* count (main runs only, not shrinking) */

/* ---- local family: the model ----------------------------------------------------------- */

enum { MS_NONE = 0, MS_PENDING, MS_DONE, MS_WITHDRAWN };

typedef struct mst {
    uint8_t st;
    bool imm;     /* decided at its start: must not switch */
    bool sel_bad; /* a select completed by a peer as a case it did not return */
    int res, cres;
    uint32_t val;
    int by; /* event that completed it */
} mst_t;

typedef struct mw {
    uint8_t sl;
    uint16_t i;
} mw_t;

#define MQ 48
static struct mchan {
    int cap, len;
    bool closed;
    uint32_t buf[16];
    int nq[2];
    mw_t q[2][MQ]; /* [CH_RECV]: parked receivers, [CH_SEND]: parked senders */
} MC[MAX_CH];

static mst_t M[NSLOT][MAX_SOPS];
static bool g_mfail;              /* the model diverged: stop replaying */
static int g_cancel_ret[MAX_CTX]; /* return event of the first cancel of each context */

static void mfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mfail(const char *fmt, ...)
{
    char b[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    fail_add(EB, "%s", b);
    g_mfail = true;
}

static const char *opdesc(int sl, int i)
{
    static char buf[4][220];
    static unsigned k;
    k = (k + 1) % 4;
    char o[160];
    op_str(o, sizeof o, &R.ops[sl][i]);
    if (R.p->fam == FAM_LOCAL && sl == SENT)
        snprintf(buf[k], sizeof buf[k], "%s S.%d (%s)", R.p->thread_mode ? "thread" : "sentinel", i,
                 o);
    else
        snprintf(buf[k], sizeof buf[k], "c%d op %d (%s)", sl, i, o);
    return buf[k];
}

static bool obs_ctxerr(int sl, int i)
{
    int r = R.res[sl][i].res;
    if (op_is_select(R.ops[sl][i].kind))
        return r == -ECANCELED || r == -ETIMEDOUT;
    return r == ECANCELED || r == ETIMEDOUT;
}

/* First cancel (its return event) of context k or an ancestor; INT_MAX if none. */
static int cancel_ev(int k)
{
    int best = INT_MAX;
    for (; k >= 0; k = R.p->ctx[k].parent)
        if (g_cancel_ret[k] < best)
            best = g_cancel_ret[k];
    return best;
}

/* Had the reason for op (sl,i)'s observed ctx error happened before event e? */
static bool reason_by(int sl, int i, int e)
{
    const op_t *o = &R.ops[sl][i];
    const ores_t *x = &R.res[sl][i];
    int err = x->res < 0 ? -x->res : x->res;
    uint64_t t = R.ev[e].t;
    if (err == ECANCELED)
        return o->ctx >= 0 && cancel_ev(o->ctx) < e;
    if (err == ETIMEDOUT)
        return (o->ctx >= 0 && R.ctx_dl[o->ctx] <= t + SLACK_NS) ||
               (x->dl_ns != UINT64_MAX && x->dl_ns <= t + SLACK_NS);
    return false;
}

/* Was op (sl,i)'s context (or deadline) certainly done when it started at event e? */
static bool done_at_start(int sl, int i, int e)
{
    const op_t *o = &R.ops[sl][i];
    const ores_t *x = &R.res[sl][i];
    uint64_t t = R.ev[e].t;
    if (o->ctx >= 0 && (cancel_ev(o->ctx) < e ||
                        (R.ctx_dl[o->ctx] != UINT64_MAX && R.ctx_dl[o->ctx] + SLACK_NS < t)))
        return true;
    return x->dl_ns != UINT64_MAX && x->dl_ns + SLACK_NS < t;
}

static void unqueue(int sl, int i)
{
    for (int ch = 0; ch < R.p->nch; ch++)
        for (int d = 0; d < 2; d++) {
            struct mchan *m = &MC[ch];
            int w = 0;
            for (int r = 0; r < m->nq[d]; r++)
                if (!(m->q[d][r].sl == sl && m->q[d][r].i == i))
                    m->q[d][w++] = m->q[d][r];
            m->nq[d] = w;
        }
}

static void enqueue(int ch, int dir, int sl, int i)
{
    struct mchan *m = &MC[ch];
    if (m->nq[dir] >= MQ) {
        mfail("internal: model queue overflow");
        return;
    }
    m->q[dir][m->nq[dir]++] = (mw_t){.sl = (uint8_t)sl, .i = (uint16_t)i};
}

/* The first waiter of direction dir on ch still parked at event e, or NULL. */
static mw_t *head_live(int ch, int dir, int e)
{
    struct mchan *m = &MC[ch];
    while (m->nq[dir] > 0) {
        mw_t w = m->q[dir][0];
        if (M[w.sl][w.i].st == MS_PENDING && obs_ctxerr(w.sl, w.i) && reason_by(w.sl, w.i, e)) {
            M[w.sl][w.i].st = MS_WITHDRAWN;
            if (g_account)
                SH->st[FAM_LOCAL].withdrawn++;
            unqueue(w.sl, w.i);
            continue;
        }
        return &m->q[dir][0];
    }
    return NULL;
}

/*
 * Waiter w, parked in direction wdir on ch, is completed at event e with result r
 * (0 or EPIPE), receiving v when it is a receiver. Returns the element it sends when
 * it is a sender.
 */
static uint32_t commit(mw_t w, int ch, int wdir, int r, uint32_t v, int e)
{
    const op_t *o = &R.ops[w.sl][w.i];
    const ores_t *x = &R.res[w.sl][w.i];
    mst_t *m = &M[w.sl][w.i];
    uint32_t sv = 0;
    m->st = MS_DONE;
    m->res = r;
    m->cres = r;
    m->val = wdir == CH_RECV && r == 0 ? v : 0;
    m->by = e;
    if (g_account)
        SH->st[FAM_LOCAL].handoffs++;
    if (o->kind == OP_SELECT) {
        int j = x->res;
        if (j < 0 || j >= o->ncase || o->cs[j].ch != ch || o->cs[j].dir != wdir) {
            mfail("%s returned %s, but at event %d (%s) the model completes it as its %s case on "
                  "ch%d (result %s)",
                  opdesc(w.sl, w.i), selstr(j), e, opdesc(R.ev[e].sl, R.ev[e].i),
                  wdir == CH_SEND ? "send" : "recv", ch, errstr(r));
            m->sel_bad = true;
            for (j = 0; j < o->ncase; j++)
                if (o->cs[j].ch == ch && o->cs[j].dir == wdir)
                    break;
        }
        m->res = j;
        sv = vid_local(w.sl, w.i, j);
    } else {
        sv = vid_local(w.sl, w.i, 0);
    }
    unqueue(w.sl, w.i);
    return sv;
}

static void mpush(int ch, uint32_t v)
{
    struct mchan *m = &MC[ch];
    if (m->len >= 16) {
        mfail("internal: model buffer overflow");
        return;
    }
    m->buf[m->len++] = v;
}

static uint32_t mpop(int ch)
{
    struct mchan *m = &MC[ch];
    uint32_t v = m->buf[0];
    memmove(m->buf, m->buf + 1, (size_t)(m->len - 1) * sizeof m->buf[0]);
    m->len--;
    return v;
}

/* Send v on ch at event e: 0, EPIPE, or EAGAIN (would park). */
static int m_send(int ch, uint32_t v, int e)
{
    struct mchan *m = &MC[ch];
    if (m->closed)
        return EPIPE;
    mw_t *w = head_live(ch, CH_RECV, e);
    if (w) {
        if (m->len)
            mfail("internal: a receiver parked on ch%d while it buffers %d", ch, m->len);
        commit(*w, ch, CH_RECV, 0, v, e);
        return 0;
    }
    if (m->len < m->cap) {
        mpush(ch, v);
        return 0;
    }
    return EAGAIN;
}

/* Receive from ch at event e: 0 (*v), EPIPE, or EAGAIN (would park). */
static int m_recv(int ch, int e, uint32_t *v)
{
    struct mchan *m = &MC[ch];
    if (m->len > 0) {
        *v = mpop(ch);
        mw_t *w = head_live(ch, CH_SEND, e);
        if (w)
            mpush(ch, commit(*w, ch, CH_SEND, 0, 0, e));
        return 0;
    }
    mw_t *w = head_live(ch, CH_SEND, e);
    if (w) {
        *v = commit(*w, ch, CH_SEND, 0, 0, e);
        return 0;
    }
    return m->closed ? EPIPE : EAGAIN;
}

static bool m_ready(int ch, int dir, int e)
{
    struct mchan *m = &MC[ch];
    if (m->closed)
        return true;
    if (dir == CH_SEND)
        return head_live(ch, CH_RECV, e) || m->len < m->cap;
    return m->len > 0 || head_live(ch, CH_SEND, e);
}

static void m_close(int ch, int e)
{
    struct mchan *m = &MC[ch];
    m->closed = true;
    mw_t *w;
    while ((w = head_live(ch, CH_RECV, e)) != NULL) {
        if (m->len)
            mfail("internal: a receiver parked on ch%d while it buffers %d", ch, m->len);
        commit(*w, ch, CH_RECV, EPIPE, 0, e);
    }
    while ((w = head_live(ch, CH_SEND, e)) != NULL)
        commit(*w, ch, CH_SEND, EPIPE, 0, e);
}

static void m_done_imm(int sl, int i, int res, int cres, uint32_t val)
{
    mst_t *m = &M[sl][i];
    m->st = MS_DONE;
    m->imm = true;
    m->res = res;
    m->cres = cres;
    m->val = val;
}

/* An op that observed its context's error although it could complete at once. */
static void m_ctx_noeffect(int sl, int i, int e_ret)
{
    if (!reason_by(sl, i, e_ret))
        mfail("%s returned %s, though it could complete at once and its context had not "
              "been cancelled or expired",
              opdesc(sl, i),
              op_is_select(R.ops[sl][i].kind) ? selstr(R.res[sl][i].res)
                                              : errstr(R.res[sl][i].res));
    M[sl][i].st = MS_WITHDRAWN;
    M[sl][i].imm = true;
}

static void m_park(int sl, int i, int e)
{
    const op_t *o = &R.ops[sl][i];
    M[sl][i].st = MS_PENDING;
    if (!obs_ctxerr(sl, i) && done_at_start(sl, i, e))
        mfail("%s parked although its context or deadline was already done (it returned %s)",
              opdesc(sl, i),
              op_is_select(o->kind) ? selstr(R.res[sl][i].res) : errstr(R.res[sl][i].res));
    if (o->kind == OP_SEND)
        enqueue(o->ch, CH_SEND, sl, i);
    else if (o->kind == OP_RECV)
        enqueue(o->ch, CH_RECV, sl, i);
    else
        for (int j = 0; j < o->ncase; j++)
            enqueue(o->cs[j].ch, o->cs[j].dir, sl, i);
}

static void m_start(int sl, int i, int e)
{
    const op_t *o = &R.ops[sl][i];
    const ores_t *x = &R.res[sl][i];
    struct mchan *m = &MC[o->ch];
    int e_ret = x->e1;
    switch (o->kind) {
    case OP_SEND: {
        bool can = m_ready(o->ch, CH_SEND, e);
        if (obs_ctxerr(sl, i)) {
            if (can)
                m_ctx_noeffect(sl, i, e_ret);
            else
                m_park(sl, i, e);
            break;
        }
        int r = m_send(o->ch, vid_local(sl, i, 0), e);
        if (r == EAGAIN)
            m_park(sl, i, e);
        else
            m_done_imm(sl, i, r, r, 0);
        break;
    }
    case OP_RECV: {
        bool can = m_ready(o->ch, CH_RECV, e);
        if (obs_ctxerr(sl, i)) {
            if (can)
                m_ctx_noeffect(sl, i, e_ret);
            else
                m_park(sl, i, e);
            break;
        }
        uint32_t v = 0;
        int r = m_recv(o->ch, e, &v);
        if (r == EAGAIN)
            m_park(sl, i, e);
        else
            m_done_imm(sl, i, r, r, v);
        break;
    }
    case OP_TRYSEND: {
        int r = m_send(o->ch, vid_local(sl, i, 0), e);
        m_done_imm(sl, i, r, r, 0);
        break;
    }
    case OP_TRYRECV: {
        uint32_t v = 0;
        int r = m_recv(o->ch, e, &v);
        m_done_imm(sl, i, r, r, v);
        break;
    }
    case OP_CLOSE:
        if (m->closed) {
            m_done_imm(sl, i, EPIPE, EPIPE, 0);
        } else {
            m_close(o->ch, e);
            m_done_imm(sl, i, 0, 0, 0);
        }
        break;
    case OP_LEN:
        m_done_imm(sl, i, 0, 0, 0);
        if (x->len != (uint32_t)m->len || x->cap != (uint32_t)m->cap || x->closed != m->closed)
            mfail("%s: ch_len %u, ch_cap %u, ch_closed %d; the model has %d, %d, %d", opdesc(sl, i),
                  x->len, x->cap, x->closed, m->len, m->cap, m->closed);
        break;
    case OP_YIELD:
    case OP_CANCEL:
        M[sl][i].st = MS_DONE;
        M[sl][i].imm = o->kind == OP_CANCEL;
        M[sl][i].res = x->res;
        break;
    case OP_SELECT: {
        bool ready[MAX_CASES], bad = false;
        int nready = 0, lowest = -1;
        for (int j = 0; j < o->ncase; j++) {
            if (o->cs[j].dir == CASE_BAD) {
                ready[j] = false;
                bad = true;
                continue;
            }
            ready[j] = m_ready(o->cs[j].ch, o->cs[j].dir, e);
            nready += ready[j];
            if (ready[j] && lowest < 0)
                lowest = j;
        }
        int r = x->res;
        if (bad) {
            /* -EINVAL with no effect; validating lazily, a select may instead perform a
               case it found ready before it reached the bad one; it never waits */
            if (r == -EINVAL) {
                m_done_imm(sl, i, r, 0, 0);
            } else if (r >= 0 && r < o->ncase && ready[r]) {
                uint32_t v = 0;
                int cr = o->cs[r].dir == CH_SEND ? m_send(o->cs[r].ch, vid_local(sl, i, r), e)
                                                 : m_recv(o->cs[r].ch, e, &v);
                m_done_imm(sl, i, r, cr, v);
                if (g_account)
                    SH->bad_case_performed++;
            } else {
                mfail("%s (with an invalid case) returned %s; want -EINVAL%s", opdesc(sl, i),
                      selstr(r), nready ? " or a ready case" : "");
            }
            break;
        }
        if (r == -ECANCELED || r == -ETIMEDOUT) {
            if (nready || o->nb)
                m_ctx_noeffect(sl, i, e_ret);
            else
                m_park(sl, i, e);
        } else if (r >= 0 && r < o->ncase) {
            if (nready) {
                if (!ready[r]) {
                    char rl[64];
                    size_t l = 0;
                    for (int j = 0; j < o->ncase; j++)
                        if (ready[j])
                            l += (size_t)snprintf(rl + l, sizeof rl - l, " %d", j);
                    mfail("%s chose case %d, which was not ready (ready:%s)", opdesc(sl, i), r, rl);
                    break;
                }
                if (g_account) {
                    SH->st[FAM_LOCAL].sel_imm++;
                    if (nready >= 2) {
                        SH->multi++;
                        SH->multi_nonlow += r != lowest;
                    }
                    if (nready == o->ncase && o->ncase >= 2) {
                        double pr = 1.0 / o->ncase;
                        SH->allr++;
                        SH->allr_pick0 += r == 0;
                        SH->allr_exp += pr;
                        SH->allr_var += pr * (1 - pr);
                    }
                }
                uint32_t v = 0;
                int cr = o->cs[r].dir == CH_SEND ? m_send(o->cs[r].ch, vid_local(sl, i, r), e)
                                                 : m_recv(o->cs[r].ch, e, &v);
                m_done_imm(sl, i, r, cr, v);
            } else if (o->nb) {
                mfail("%s returned case %d with CH_NONBLOCK though no case was ready (want "
                      "CH_DEFAULT)",
                      opdesc(sl, i), r);
            } else {
                if (g_account)
                    SH->st[FAM_LOCAL].sel_parked++;
                m_park(sl, i, e);
            }
        } else if (r == CH_DEFAULT) {
            if (!o->nb)
                mfail("%s returned CH_DEFAULT without CH_NONBLOCK", opdesc(sl, i));
            else if (nready)
                mfail("%s returned CH_DEFAULT though case %d was ready", opdesc(sl, i), lowest);
            else
                m_done_imm(sl, i, CH_DEFAULT, 0, 0);
            if (g_account)
                SH->st[FAM_LOCAL].sel_default++;
        } else {
            mfail("%s returned %s", opdesc(sl, i), selstr(r));
        }
        break;
    }
    default:
        mfail("internal: op kind %d in a local program", o->kind);
    }
}

static void m_ret(int sl, int i, int e)
{
    const op_t *o = &R.ops[sl][i];
    const ores_t *x = &R.res[sl][i];
    mst_t *m = &M[sl][i];
    bool sel = o->kind == OP_SELECT;
    if (m->st == MS_PENDING) {
        if (obs_ctxerr(sl, i) && reason_by(sl, i, e)) {
            m->st = MS_WITHDRAWN;
            if (g_account)
                SH->st[FAM_LOCAL].withdrawn++;
            unqueue(sl, i);
        } else {
            mfail("%s returned %s%s at event %d, but the model still has it parked: no peer "
                  "completed it%s",
                  opdesc(sl, i), sel ? selstr(x->res) : errstr(x->res),
                  x->val ? " with an element" : "", e,
                  obs_ctxerr(sl, i) ? ", and its context had not been cancelled or expired" : "");
            return;
        }
    }
    if (m->st == MS_DONE && !m->sel_bad && o->kind != OP_YIELD && o->kind != OP_CANCEL) {
        if (x->res != m->res) {
            mfail("%s returned %s; the model says %s%s", opdesc(sl, i),
                  sel ? selstr(x->res) : errstr(x->res), sel ? selstr(m->res) : errstr(m->res),
                  m->imm ? "" : " (completed by a peer)");
            return;
        }
        if (sel && x->res >= 0 && x->cres != m->cres) {
            mfail("%s: case %d completed with result %s; the model says %s", opdesc(sl, i), x->res,
                  errstr(x->cres), errstr(m->cres));
            return;
        }
        if (x->val != m->val) {
            mfail("%s received %s; the model says %s (%s)", opdesc(sl, i),
                  valstr(x->val, FAM_LOCAL), valstr(m->val, FAM_LOCAL),
                  m->imm ? "at once" : "handed over by a peer");
            return;
        }
    }
    if (m->imm && cfg.switch_check && R.ev[e].resumes != R.ev[x->e0].resumes)
        mfail("%s completed at once in the model, but other coroutines ran before it returned "
              "(it switched)",
              opdesc(sl, i));
    if (!m->imm && g_account)
        SH->st[FAM_LOCAL].parked++;
}

static void check_flags(int sl, int i)
{
    const ores_t *x = &R.res[sl][i];
    if (!x->flags)
        return;
    const char *what = x->flags & F_PAYLOAD    ? "received a corrupt element"
                       : x->flags & F_TOUCHED  ? "wrote to a receive buffer it did not fill"
                       : x->flags & F_SENDBUF  ? "modified the element it sent"
                       : x->flags & F_RESULT   ? "left the chosen case's result neither 0 nor EPIPE"
                       : x->flags & F_ELEMSIZE ? "saw a wrong elem_size"
                                               : "could not create its context";
    fail_add(EB, "%s %s (result %s, case result %d)", opdesc(sl, i), what,
             op_is_select(R.ops[sl][i].kind) ? selstr(x->res) : errstr(x->res), x->cres);
}

/* Model-free accounting: each element received was sent exactly once, none is lost. */
static void check_accounting_local(const prog_t *p)
{
    enum { NID = NSLOT * MAX_SOPS * 8 + 2 };
    static int8_t sent_ch[NID];
    static uint8_t got[NID];
    memset(sent_ch, -1, sizeof sent_ch);
    memset(got, 0, sizeof got);
    int bad = 0;
    for (int sl = 0; sl < NSLOT; sl++)
        for (int i = 0; i < R.nops[sl]; i++) {
            const op_t *o = &R.ops[sl][i];
            const ores_t *x = &R.res[sl][i];
            if (x->e1 < 0)
                continue;
            if ((o->kind == OP_SEND || o->kind == OP_TRYSEND) && x->res == 0)
                sent_ch[vid_local(sl, i, 0)] = o->ch;
            if (o->kind == OP_SELECT && x->res >= 0 && x->res < o->ncase &&
                o->cs[x->res].dir == CH_SEND && x->cres == 0)
                sent_ch[vid_local(sl, i, x->res)] = o->cs[x->res].ch;
        }
    for (int sl = 0; sl < NSLOT; sl++)
        for (int i = 0; i < R.nops[sl]; i++) {
            const op_t *o = &R.ops[sl][i];
            const ores_t *x = &R.res[sl][i];
            int ch = -1;
            if (x->e1 < 0)
                continue;
            if ((o->kind == OP_RECV || o->kind == OP_TRYRECV) && x->res == 0)
                ch = o->ch;
            if (o->kind == OP_SELECT && x->res >= 0 && x->res < o->ncase &&
                o->cs[x->res].dir == CH_RECV && x->cres == 0)
                ch = o->cs[x->res].ch;
            if (ch < 0)
                continue;
            uint32_t id = x->val;
            if (id == 0 || id >= NID || sent_ch[id] != ch) {
                if (bad++ < 3)
                    fail_add(EB, "%s received %s on ch%d, which was never sent successfully there",
                             opdesc(sl, i), valstr(id, FAM_LOCAL), ch);
                continue;
            }
            if (got[id]++ && bad++ < 3)
                fail_add(EB, "%s received %s, which was received before", opdesc(sl, i),
                         valstr(id, FAM_LOCAL));
        }
    for (int ch = 0; ch < p->nch; ch++)
        for (int k = 0; k < R.ndrained[ch]; k++) {
            uint32_t id = R.drained[ch][k];
            if (id == 0 || id >= NID || sent_ch[id] != ch) {
                if (bad++ < 3)
                    fail_add(EB, "ch%d still held %s at the end, which was never sent there", ch,
                             valstr(id, FAM_LOCAL));
            } else if (got[id]++ && bad++ < 3) {
                fail_add(EB, "ch%d still held %s at the end, which was received before", ch,
                         valstr(id, FAM_LOCAL));
            }
        }
    for (uint32_t id = 1; id < NID; id++)
        if (sent_ch[id] >= 0 && !got[id] && bad++ < 3)
            fail_add(EB, "%s was sent on ch%d (result 0) but never received nor left buffered",
                     valstr(id, FAM_LOCAL), sent_ch[id]);
}

static void validate_local(const prog_t *p, errbuf_t *eb)
{
    EB = eb;
    g_mfail = false;
    memset(M, 0, sizeof M);
    memset(MC, 0, sizeof MC);
    for (int ch = 0; ch < p->nch; ch++)
        MC[ch].cap = p->ch[ch].cap;
    for (int k = 0; k < MAX_CTX; k++)
        g_cancel_ret[k] = INT_MAX;
    for (int sl = 0; sl < NSLOT; sl++)
        for (int i = 0; i < R.nops[sl]; i++)
            if (R.ops[sl][i].kind == OP_CANCEL && R.res[sl][i].e1 >= 0) {
                int k = R.ops[sl][i].ch;
                if (R.res[sl][i].e1 < g_cancel_ret[k])
                    g_cancel_ret[k] = R.res[sl][i].e1;
            }

    if (R.ev_overflow || R.sops_overflow)
        fail_add(eb, "internal: the trace overflowed");
    if (R.stuck)
        fail_add(eb, "%s", R.stuck_msg);
    else if (R.run_rc != 0)
        fail_add(eb, "co_sched_run returned %d", R.run_rc);

    for (int e = 0; e < R.nev && !g_mfail; e++) {
        const ev_t *v = &R.ev[e];
        if (v->type == EV_START) {
            m_start(v->sl, v->i, e);
        } else if (v->type == EV_RET) {
            m_ret(v->sl, v->i, e);
            check_flags(v->sl, v->i);
        } else {
            /* CO_EDEADLOCK: every live coroutine must be parked in the model */
            for (int c = 0; c < p->nco; c++) {
                if (!p->co[c].present)
                    continue;
                int i = -1;
                for (int k = 0; k < R.nops[c]; k++)
                    if (R.res[c][k].e0 >= 0 && R.res[c][k].e0 < e &&
                        (R.res[c][k].e1 < 0 || R.res[c][k].e1 > e))
                        i = k;
                if (i >= 0 && M[c][i].st != MS_PENDING)
                    mfail("co_sched_run returned CO_EDEADLOCK at event %d, but %s had been "
                          "completed at event %d and was never woken",
                          e, opdesc(c, i), M[c][i].by);
            }
        }
    }
    if (g_mfail || R.stuck || R.run_rc != 0)
        return;
    /* every op ran and returned; the final buffers match */
    for (int c = 0; c < p->nco; c++)
        if (p->co[c].present && R.nops[c] && R.res[c][R.nops[c] - 1].e1 < 0)
            fail_add(eb, "c%d never finished", c);
    for (int ch = 0; ch < p->nch; ch++) {
        struct mchan *m = &MC[ch];
        if (R.end_len[ch] != (size_t)m->len || R.end_closed[ch] != m->closed)
            fail_add(eb, "at the end ch%d: ch_len %zu, ch_closed %d; the model has %d, %d", ch,
                     R.end_len[ch], R.end_closed[ch], m->len, m->closed);
        bool same = R.ndrained[ch] == m->len;
        for (int k = 0; same && k < m->len; k++)
            same = R.drained[ch][k] == m->buf[k];
        if (!same) {
            char got[256], want[256];
            size_t gl = 0, wl = 0;
            got[0] = want[0] = 0;
            for (int k = 0; k < R.ndrained[ch] && gl < 200; k++)
                gl += (size_t)snprintf(got + gl, sizeof got - gl, " %s",
                                       valstr(R.drained[ch][k], FAM_LOCAL));
            for (int k = 0; k < m->len && wl < 200; k++)
                wl += (size_t)snprintf(want + wl, sizeof want - wl, " %s",
                                       valstr(m->buf[k], FAM_LOCAL));
            fail_add(eb, "at the end ch%d held [%s ]; the model has [%s ]", ch, got, want);
        }
        if (R.drain_bad[ch])
            fail_add(eb, "at the end ch%d: a drained element was corrupt", ch);
        int want_end = m->closed ? EPIPE : EAGAIN;
        if (R.drain_end[ch] != want_end)
            fail_add(eb, "at the end ch%d: ch_tryrecv after the drain returned %s, want %s", ch,
                     errstr(R.drain_end[ch]), errstr(want_end));
    }
    check_accounting_local(p);
}

/* ---- spsc family: the checker ------------------------------------------------------------ */

static uint32_t S_sent[MAX_CH][VPOOL / 4];

static bool sreason(int sl, int i, int e)
{
    const op_t *o = &R.ops[sl][i];
    const ores_t *x = &R.res[sl][i];
    int err = x->res < 0 ? -x->res : x->res;
    if (err == ECANCELED)
        return o->kind != OP_SSELECT && o->ctx == SCTX_CANCELLED;
    if (err == ETIMEDOUT)
        return x->dl_ns != UINT64_MAX && x->dl_ns <= R.ev[e].t + SLACK_NS;
    return false;
}

static void validate_spsc(const prog_t *p, errbuf_t *eb)
{
    EB = eb;
    g_mfail = false;
    struct {
        int nsent, nrecv, cap;
        bool closed, epipe;
    } S[MAX_CH];
    memset(S, 0, sizeof S);
    int lnext = 0;
    bool lclosed = false, lepipe = false;
    static bool imm[NSLOT][MAX_SOPS];
    memset(imm, 0, sizeof imm);
    for (int k = 0; k < p->nch; k++) {
        unsigned c = 2;
        while (c < p->ch[k].cap)
            c *= 2;
        S[k].cap = (int)c;
    }

    if (R.ev_overflow || R.sops_overflow)
        fail_add(eb, "internal: the trace overflowed");
    if (R.stuck)
        fail_add(eb, "%s", R.stuck_msg);
    else if (R.run_rc != 0)
        fail_add(eb, "co_sched_run returned %d", R.run_rc);

#define SLEN_(k)      (S[k].nsent - S[k].nrecv)
#define SREADY_(k, d) (S[k].closed || ((d) == CH_SEND ? SLEN_(k) < S[k].cap : SLEN_(k) > 0))
    for (int e = 0; e < R.nev && !g_mfail; e++) {
        const ev_t *v = &R.ev[e];
        int sl = v->sl, i = v->i;
        const op_t *o = &R.ops[sl][i];
        const ores_t *x = &R.res[sl][i];
        int k = o->ch;
        if (v->type == EV_START) {
            bool im = false;
            switch (o->kind) {
            case OP_SSEND:
                im = SREADY_(k, CH_SEND) || o->ctx == SCTX_CANCELLED;
                break;
            case OP_SRECV:
                im = SREADY_(k, CH_RECV) || o->ctx == SCTX_CANCELLED;
                break;
            case OP_SSELECT: {
                bool any = false;
                for (int j = 0; j < o->ncase; j++)
                    any |= SREADY_(o->cs[j].ch, o->cs[j].dir);
                im = o->nb || any;
                if (x->res == CH_DEFAULT && any)
                    mfail("%s returned CH_DEFAULT though a case was ready", opdesc(sl, i));
                if (x->res >= 0 && x->res < o->ncase && any &&
                    !SREADY_(o->cs[x->res].ch, o->cs[x->res].dir))
                    mfail("%s chose case %d, which was not ready though another was", opdesc(sl, i),
                          x->res);
                break;
            }
            case OP_TCLOSE:
                lclosed = true;
                im = true;
                break;
            case OP_TSEND:
            case OP_YIELD:
                break;
            default:
                im = true;
            }
            imm[sl][i] = im;
            continue;
        }

        /* EV_RET: effects and checks */
        check_flags(sl, i);
        if (imm[sl][i] && cfg.switch_check && R.ev[e].resumes != R.ev[x->e0].resumes)
            mfail("%s could complete at once, but other coroutines ran before it returned (it "
                  "switched)",
                  opdesc(sl, i));
        if (!imm[sl][i] && g_account)
            SH->st[FAM_SPSC].parked++;
        int r = x->res;
        switch (o->kind) {
        case OP_SSEND:
            if (r == 0) {
                if (S[k].closed) {
                    mfail("%s returned 0 on a closed channel", opdesc(sl, i));
                } else {
                    if (SLEN_(k) >= S[k].cap)
                        mfail("%s returned 0 but s%d already held %d of %d", opdesc(sl, i), k,
                              SLEN_(k), S[k].cap);
                    S_sent[k][S[k].nsent++] = vid_spsc(sl, i, 0);
                }
            } else if (r == EPIPE) {
                if (!S[k].closed)
                    mfail("%s returned EPIPE on an open channel", opdesc(sl, i));
            } else if (!((r == ECANCELED || r == ETIMEDOUT) && sreason(sl, i, e))) {
                mfail("%s returned %s", opdesc(sl, i), errstr(r));
            }
            break;
        case OP_SBURST: {
            int fits = S[k].cap - SLEN_(k), want = o->n < fits ? o->n : fits;
            if (S[k].closed) {
                if (r != 0)
                    mfail("%s enqueued %d on a closed channel", opdesc(sl, i), r);
                break;
            }
            if (r != want) {
                /* one thread: both sides see everything, so "fewer" means "full" */
                mfail("%s enqueued %d; %d fitted (s%d held %d of %d)", opdesc(sl, i), r, want, k,
                      SLEN_(k), S[k].cap);
                break;
            }
            if (r < want && g_account)
                SH->st[FAM_SPSC].partial_bursts++;
            for (int j = 0; j < r; j++)
                S_sent[k][S[k].nsent++] = vid_spsc(sl, i, j);
            break;
        }
        case OP_SSELECT:
            if (r >= 0 && r < o->ncase) {
                int c = o->cs[r].ch;
                if (!SREADY_(c, o->cs[r].dir))
                    mfail("%s chose case %d, which is not ready", opdesc(sl, i), r);
                else if (o->cs[r].dir == CH_SEND && x->cres == 0 && S[c].closed)
                    mfail("%s: case %d sent on closed s%d", opdesc(sl, i), r, c);
                else if (o->cs[r].dir == CH_SEND && x->cres == 0)
                    S_sent[c][S[c].nsent++] = vid_spsc(sl, i, r);
                else if (o->cs[r].dir == CH_SEND && x->cres == EPIPE && !S[c].closed)
                    mfail("%s: case %d got EPIPE on open s%d", opdesc(sl, i), r, c);
                else if (o->cs[r].dir == CH_RECV && x->cres == 0) {
                    if (SLEN_(c) <= 0)
                        mfail("%s: case %d received %s from s%d, which holds nothing sent",
                              opdesc(sl, i), r, valstr(x->val, FAM_SPSC), c);
                    else if (x->val != S_sent[c][S[c].nrecv])
                        mfail("%s: case %d received %s from s%d; next in order is %s",
                              opdesc(sl, i), r, valstr(x->val, FAM_SPSC), c,
                              valstr(S_sent[c][S[c].nrecv], FAM_SPSC));
                    else
                        S[c].nrecv++;
                } else if (o->cs[r].dir == CH_RECV && x->cres == EPIPE) {
                    if (!S[c].closed || SLEN_(c) != 0)
                        mfail("%s: case %d got EPIPE from s%d (closed %d, %d left)", opdesc(sl, i),
                              r, c, S[c].closed, SLEN_(c));
                    S[c].epipe = true;
                }
                if (g_account)
                    SH->st[FAM_SPSC].sel_imm += imm[sl][i];
            } else if (r == o->ncase && o->local) {
                if (x->cres == 0) {
                    if (x->val != LBASE + 1u + (uint32_t)lnext)
                        mfail("%s: the local case received %s; next is L%d", opdesc(sl, i),
                              valstr(x->val, FAM_SPSC), lnext + 1);
                    lnext++;
                } else if (x->cres == EPIPE) {
                    if (!lclosed || lnext != p->litems)
                        mfail("%s: the local case got EPIPE after %d of %d (closed %d)",
                              opdesc(sl, i), lnext, p->litems, lclosed);
                    lepipe = true;
                }
            } else if (r == CH_DEFAULT) {
                if (!o->nb)
                    mfail("%s returned CH_DEFAULT without CH_NONBLOCK", opdesc(sl, i));
                if (g_account)
                    SH->st[FAM_SPSC].sel_default++;
            } else if (!(r == -ETIMEDOUT && sreason(sl, i, e))) {
                mfail("%s returned %s", opdesc(sl, i), selstr(r));
            }
            if (g_account && !imm[sl][i])
                SH->st[FAM_SPSC].sel_parked++;
            break;
        case OP_SCLOSE:
            S[k].closed = true;
            break;
        case OP_SLEN:
            if (x->len != (uint32_t)SLEN_(k) || x->cap != (uint32_t)S[k].cap ||
                x->closed != S[k].closed)
                mfail("%s: chs_len %u, chs_cap %u, chs_closed %d; want %d, %d, %d", opdesc(sl, i),
                      x->len, x->cap, x->closed, SLEN_(k), S[k].cap, S[k].closed);
            break;
        case OP_SRECV:
            if (r == 0) {
                if (SLEN_(k) <= 0)
                    mfail("%s received %s from s%d, which holds nothing sent", opdesc(sl, i),
                          valstr(x->val, FAM_SPSC), k);
                else if (x->val != S_sent[k][S[k].nrecv])
                    mfail("%s received %s; next in order is %s", opdesc(sl, i),
                          valstr(x->val, FAM_SPSC), valstr(S_sent[k][S[k].nrecv], FAM_SPSC));
                else
                    S[k].nrecv++;
            } else if (r == EPIPE) {
                if (!S[k].closed || SLEN_(k) != 0)
                    mfail("%s returned EPIPE (closed %d, %d left)", opdesc(sl, i), S[k].closed,
                          SLEN_(k));
                S[k].epipe = true;
            } else if (!((r == ECANCELED || r == ETIMEDOUT) && sreason(sl, i, e))) {
                mfail("%s returned %s", opdesc(sl, i), errstr(r));
            }
            break;
        case OP_SRBURST: {
            int have = SLEN_(k), want = o->n < have ? o->n : have;
            if (r != want) {
                mfail("%s dequeued %d; %d were there (asked %u)", opdesc(sl, i), r, have, o->n);
                break;
            }
            if (r < want && g_account)
                SH->st[FAM_SPSC].partial_bursts++;
            for (int j = 0; j < r && j < x->vcnt; j++) {
                uint32_t id = R.vpool[x->voff + j];
                if (id != S_sent[k][S[k].nrecv]) {
                    mfail("%s: element %d is %s; next in order is %s", opdesc(sl, i), j,
                          valstr(id, FAM_SPSC), valstr(S_sent[k][S[k].nrecv], FAM_SPSC));
                    break;
                }
                S[k].nrecv++;
            }
            break;
        }
        case OP_TSEND:
        case OP_TCLOSE:
            if (r != 0)
                mfail("%s returned %s", opdesc(sl, i), errstr(r));
            break;
        default:
            break;
        }
    }
#undef SLEN_
#undef SREADY_
    if (g_mfail || R.stuck || R.run_rc != 0)
        return;
    for (int k = 0; k < p->nch; k++)
        if (!S[k].closed || S[k].nrecv != S[k].nsent || !S[k].epipe)
            fail_add(eb, "at the end s%d: closed %d, %d sent, %d received, EPIPE seen %d", k,
                     S[k].closed, S[k].nsent, S[k].nrecv, S[k].epipe);
    if (p->local && (lnext != p->litems || !lepipe))
        fail_add(eb, "at the end the local channel: %d of %d received, EPIPE seen %d", lnext,
                 p->litems, lepipe);
    if (g_account)
        for (int k = 0; k < p->nch; k++)
            SH->st[FAM_SPSC].elems += (uint64_t)S[k].nsent;
}

/* ---- running one program ---------------------------------------------------------------- */

static void print_trace(FILE *f)
{
    fprintf(f, "  trace (event: who op -> result):\n");
    int from = R.nev > 400 ? R.nev - 400 : 0;
    if (from)
        fprintf(f, "    ... %d earlier events\n", from);
    for (int e = from; e < R.nev; e++) {
        const ev_t *v = &R.ev[e];
        if (v->type == EV_DEADLOCK) {
            fprintf(f, "    e%-4d co_sched_run -> CO_EDEADLOCK\n", e);
            continue;
        }
        const op_t *o = &R.ops[v->sl][v->i];
        const ores_t *x = &R.res[v->sl][v->i];
        if (v->type == EV_START) {
            /* one line for calls that returned right away */
            if (x->e1 == e + 1)
                continue;
            fprintf(f, "    e%-4d %s starts\n", e, opdesc(v->sl, v->i));
            continue;
        }
        char res[96];
        bool sel = op_is_select(o->kind);
        if (o->kind == OP_YIELD || o->kind == OP_CANCEL || o->kind == OP_SCLOSE) {
            snprintf(res, sizeof res, "done");
        } else if (o->kind == OP_LEN || o->kind == OP_SLEN) {
            snprintf(res, sizeof res, "len %u cap %u closed %u", x->len, x->cap, x->closed);
        } else if (o->kind == OP_SBURST || o->kind == OP_SRBURST) {
            snprintf(res, sizeof res, "%d", x->res);
        } else if (sel) {
            snprintf(res, sizeof res, "%s%s%s%s%s", selstr(x->res), x->res >= 0 ? " result " : "",
                     x->res >= 0 ? errstr(x->cres) : "", x->val ? " elem " : "",
                     x->val ? valstr(x->val, R.p->fam) : "");
        } else {
            snprintf(res, sizeof res, "%s%s%s", errstr(x->res), x->val ? " elem " : "",
                     x->val && o->kind != OP_TSEND ? valstr(x->val, R.p->fam) : "");
        }
        fprintf(f, "    e%-4d %s%s -> %s\n", e, opdesc(v->sl, v->i),
                x->e0 == e - 1 ? "" : " returns", res);
    }
}

/* Watchdog in a child that prints traces: show what ran before the hang, then die. */
static void on_watchdog(int sig)
{
    (void)sig;
    fprintf(stderr, "  the program hung (the %u s watchdog fired); what had happened:\n",
            g_timeout_s);
    for (int sl = 0; sl < NSLOT; sl++)
        if (R.spawned[sl] && !R.done[sl])
            fprintf(stderr, "    %s has not finished%s\n",
                    R.nops[sl] ? opdesc(sl, R.cur[sl]) : "a coroutine",
                    co_is_parked(R.h[sl]) ? " (parked in it)" : "");
    print_trace(stderr);
    fflush(stderr);
    signal(SIGALRM, SIG_DFL);
    raise(SIGALRM);
}

static int make_contexts(const prog_t *p, errbuf_t *eb)
{
    for (int k = 0; k < p->nctx; k++) {
        co_ctx_t *par = p->ctx[k].parent < 0 ? CO_BACKGROUND : R.ctx[p->ctx[k].parent];
        switch (p->ctx[k].type) {
        case CX_CANCEL:
            R.ctx[k] = co_ctx_with_cancel(par);
            break;
        case CX_TIMEOUT:
            R.ctx[k] = co_ctx_with_timeout(par, p->ctx[k].us * US);
            break;
        case CX_EXPIRED:
            R.ctx[k] = co_ctx_with_deadline(par, 1);
            break;
        default:
            R.ctx[k] = co_ctx_with_timeout(par, 3600ull * 1000 * MS);
            break;
        }
        if (!R.ctx[k]) {
            fail_add(eb, "creating context k%d: %s", k, strerror(errno));
            for (int j = k - 1; j >= 0; j--)
                co_ctx_free(R.ctx[j]);
            return -1;
        }
        R.ctx_dl[k] = co_ctx_deadline(R.ctx[k]);
    }
    return 0;
}

static void spawn_slot(int sl, co_fn_t fn, errbuf_t *eb)
{
    static char names[NSLOT][16];
    snprintf(names[sl], sizeof names[sl], sl == SENT && R.p->fam == FAM_LOCAL ? "sentinel" : "c%d",
             sl);
    co_opts_t o = {.name = names[sl], .kind = "chan.prop"};
    R.h[sl] = co_spawn(fn, (void *)(intptr_t)sl, &o);
    if (!R.h[sl])
        fail_add(eb, "co_spawn: %s", strerror(errno));
    else
        R.spawned[sl] = true;
}

/* Thread mode: run to CO_EDEADLOCK, unblock from the thread, again, until done. */
static int run_thread_mode(co_sched_t *s)
{
    int helpers = 0;
    for (int round = 0;; round++) {
        int rc = co_sched_run(s);
        if (rc != CO_EDEADLOCK)
            return rc;
        R.deadlocks++;
        ev_log(SENT, 0, EV_DEADLOCK);
        if (round > 4 * HELPERS || !unblock_act(&helpers, false)) {
            describe_stuck("thread");
            R.stuck = true;
            return rc;
        }
    }
}

static int run_prog(const prog_t *p, errbuf_t *eb)
{
    memset(eb, 0, sizeof *eb);
    memset(&R, 0, sizeof R);
    R.p = p;
    R.rng = p->seed * 0xD1B54A32D192ED03ull + 0x8BB84B93962EACC9ull;
    for (int sl = 0; sl < NSLOT; sl++)
        for (int i = 0; i < MAX_SOPS; i++)
            R.res[sl][i].e0 = R.res[sl][i].e1 = -1;
    if (cfg.verbose)
        prog_print(p, stderr);

    co_sched_opts_t so = {.name = "chan.prop", .idle = (co_idle_t)p->idle, .batch = p->batch};
    co_sched_t *s = co_sched_new(&so);
    if (!s) {
        fail_add(eb, "co_sched_new: %s", strerror(errno));
        return 1;
    }
    R.s = s;
    R.t_start = co_now_ns();
    if (make_contexts(p, eb) != 0) {
        co_sched_free(s, stderr);
        return 1;
    }
    int made = 0;
    for (int k = 0; k < p->nch; k++, made++) {
        size_t cap;
        if (p->fam == FAM_LOCAL) {
            R.lch[k] = ch_new(p->ch[k].esize, p->ch[k].cap);
            if (!R.lch[k])
                break;
            cap = ch_cap(R.lch[k]);
            if (cap != p->ch[k].cap || ch_len(R.lch[k]) != 0 || ch_closed(R.lch[k]) ||
                ch_elem_size(R.lch[k]) != p->ch[k].esize)
                fail_add(eb, "ch%d fresh: cap %zu len %zu closed %d elem %zu", k, cap,
                         ch_len(R.lch[k]), ch_closed(R.lch[k]), ch_elem_size(R.lch[k]));
        } else {
            R.sch[k] = chs_new(p->ch[k].esize, p->ch[k].cap, -1);
            if (!R.sch[k])
                break;
        }
    }
    if (made < p->nch) {
        fail_add(eb, "creating channel %d: %s", made, strerror(errno));
        R.stuck = true; /* do not free what may be inconsistent */
    }
    if (p->fam == FAM_SPSC && p->local) {
        R.tick = ch_new(8, p->lcap);
        if (!R.tick) {
            fail_add(eb, "creating the local channel: %s", strerror(errno));
            R.stuck = true;
        }
    }
    for (int sl = 0; sl < NSLOT; sl++) {
        R.nops[sl] = p->co[sl].present ? p->co[sl].nops : 0;
        memcpy(R.ops[sl], p->co[sl].ops, sizeof p->co[sl].ops);
    }

    if (!R.stuck) {
        if (p->fam == FAM_LOCAL) {
            for (int c = 0; c < p->nco; c++)
                if (p->co[c].present)
                    spawn_slot(c, local_co, eb);
            if (!p->thread_mode)
                spawn_slot(SENT, sentinel, eb);
        } else {
            /* spawn in a random order */
            int order[6] = {SL_P0, SL_P1, SL_C, SL_TICK, SL_NOISE, SL_X}, n = 6;
            for (int a = n - 1; a > 0; a--) {
                int b = (int)rnd_r((unsigned)a + 1), t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
            for (int a = 0; a < n; a++) {
                int sl = order[a];
                if (sl == SL_P0 || (sl == SL_P1 && p->nco > 1))
                    spawn_slot(sl, spsc_producer, eb);
                else if (sl == SL_C)
                    spawn_slot(sl, spsc_consumer, eb);
                else if (sl == SL_TICK && p->local)
                    spawn_slot(sl, spsc_ticker, eb);
                else if (sl == SL_NOISE && p->noise)
                    spawn_slot(sl, spsc_noise, eb);
                else if (sl == SL_X && p->extra && p->co[SL_X].present)
                    spawn_slot(sl, spsc_extra, eb);
            }
        }
        if (g_trace && !cfg.no_fork)
            signal(SIGALRM, on_watchdog);
        alarm(g_timeout_s);
        if (p->fam == FAM_LOCAL && p->thread_mode)
            R.run_rc = run_thread_mode(s);
        else
            R.run_rc = co_sched_run(s);
        alarm(0);
    }

    bool clean = !R.stuck && R.run_rc == 0;
    if (clean && p->fam == FAM_LOCAL) {
        /* the thread drains what is left */
        for (int k = 0; k < p->nch; k++) {
            ch_t *c = R.lch[k];
            size_t es = p->ch[k].esize;
            R.end_len[k] = ch_len(c);
            R.end_closed[k] = ch_closed(c);
            uint8_t *b = malloc(es);
            for (;;) {
                memset(b, 0xA5, es);
                int r = ch_tryrecv(c, b);
                if (r != 0 || R.ndrained[k] >= 64) {
                    R.drain_end[k] = r;
                    break;
                }
                uint32_t id;
                if (!pcheck(b, es, &id))
                    R.drain_bad[k] = true;
                R.drained[k][R.ndrained[k]++] = id;
            }
            free(b);
        }
    }

    if (p->fam == FAM_LOCAL)
        validate_local(p, eb);
    else
        validate_spsc(p, eb);

    if (clean) {
        for (int k = 0; k < p->nch; k++) {
            if (R.lch[k])
                ch_free(R.lch[k]);
            if (R.sch[k])
                chs_free(R.sch[k]);
        }
        if (R.tick)
            ch_free(R.tick);
    }
    R.leaks = co_sched_free(s, stderr);
    if (R.leaks)
        fail_add(eb, "co_sched_free reported %zu leaked coroutine(s)", R.leaks);
    if (clean)
        for (int k = p->nctx - 1; k >= 0; k--)
            co_ctx_free(R.ctx[k]);

    if (g_account) {
        struct stats *st = &SH->st[p->fam];
        st->programs++;
        st->events += (uint64_t)R.nev;
        st->deadlocks += (uint64_t)R.deadlocks;
        for (int sl = 0; sl < NSLOT; sl++)
            for (int i = 0; i < R.nops[sl]; i++) {
                const ores_t *x = &R.res[sl][i];
                if (x->e1 < 0)
                    continue;
                st->ops++;
                if (p->fam == FAM_LOCAL && sl == SENT)
                    st->unblock++;
                int r =
                    op_is_select(R.ops[sl][i].kind) ? (x->res >= 0 ? x->cres : -x->res) : x->res;
                int kd = R.ops[sl][i].kind;
                if (kd == OP_SBURST || kd == OP_SRBURST || kd == OP_LEN || kd == OP_SLEN)
                    continue;
                st->r_epipe += r == EPIPE;
                st->r_eagain += r == EAGAIN;
                st->r_ctx += r == ECANCELED || r == ETIMEDOUT;
                if (p->fam == FAM_LOCAL && (kd == OP_SEND || kd == OP_TRYSEND) && r == 0)
                    st->elems++;
            }
    }
    if (eb->n && g_trace)
        print_trace(stderr);
    return eb->n != 0;
}

/* Run @p p once; true if it failed a check or crashed. */
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
        if (!print) {
            /* quiet: the library's own reports of a candidate are noise */
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0)
                dup2(fd, 2);
        }
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
        fprintf(stderr, "  the program %s\n", tu_child_end(status, g_timeout_s, why, sizeof why));
    }
    return true;
}

/* ---- shrinking -------------------------------------------------------------------------- */

static bool op_uses_ch(const op_t *o, int ch)
{
    if (o->kind == OP_YIELD || o->kind == OP_CANCEL)
        return false;
    if (o->kind == OP_SELECT || o->kind == OP_SSELECT) {
        for (int j = 0; j < o->ncase; j++)
            if (o->cs[j].dir != CASE_BAD && o->cs[j].ch == ch)
                return true;
        return false;
    }
    return o->ch == ch;
}

/* Local programs: drop channels and contexts nothing refers to (renumbering). */
static void normalize(prog_t *p)
{
    if (p->fam != FAM_LOCAL)
        return;
    for (int ch = p->nch - 1; ch >= 0 && p->nch > 1; ch--) {
        bool used = false;
        for (int c = 0; c < MAX_CO && !used; c++)
            for (int i = 0; p->co[c].present && i < p->co[c].nops && !used; i++)
                used = op_uses_ch(&p->co[c].ops[i], ch);
        if (used)
            continue;
        for (int k = ch; k + 1 < p->nch; k++)
            p->ch[k] = p->ch[k + 1];
        p->nch--;
        for (int c = 0; c < MAX_CO; c++)
            for (int i = 0; i < p->co[c].nops; i++) {
                op_t *o = &p->co[c].ops[i];
                if (o->kind == OP_SELECT) {
                    for (int j = 0; j < o->ncase; j++)
                        if (o->cs[j].ch > ch)
                            o->cs[j].ch--;
                } else if (o->kind != OP_YIELD && o->kind != OP_CANCEL && o->ch > ch) {
                    o->ch--;
                }
            }
    }
    for (int k = p->nctx - 1; k >= 0; k--) {
        bool used = false;
        for (int j = 0; j < p->nctx; j++)
            used |= j != k && p->ctx[j].parent == k;
        for (int c = 0; c < MAX_CO && !used; c++)
            for (int i = 0; p->co[c].present && i < p->co[c].nops && !used; i++) {
                const op_t *o = &p->co[c].ops[i];
                used = o->ctx == k || (o->kind == OP_CANCEL && o->ch == k);
            }
        if (used)
            continue;
        for (int j = k; j + 1 < p->nctx; j++)
            p->ctx[j] = p->ctx[j + 1];
        p->nctx--;
        for (int j = 0; j < p->nctx; j++)
            if (p->ctx[j].parent > k)
                p->ctx[j].parent--;
        for (int c = 0; c < MAX_CO; c++)
            for (int i = 0; i < p->co[c].nops; i++) {
                op_t *o = &p->co[c].ops[i];
                if (o->ctx > k)
                    o->ctx--;
                if (o->kind == OP_CANCEL && o->ch > k)
                    o->ch--;
            }
    }
}

static int g_shrink_tries;

static bool still_fails(prog_t *cand)
{
    normalize(cand);
    for (int t = 0; t < g_shrink_tries; t++)
        if (run_isolated(cand, false))
            return true;
    return false;
}

static void shrink(prog_t *p)
{
    int runs = 0, budget = 600;
    uint64_t t_end = co_now_ns() + 60000 * MS;
    static prog_t cand;
    bool changed = true;
    g_shrink_tries = 4;
#define TRY(mutation)                                                                              \
    do {                                                                                           \
        cand = *p;                                                                                 \
        mutation;                                                                                  \
        runs++;                                                                                    \
        if (still_fails(&cand))                                                                    \
            *p = cand, changed = true;                                                             \
    } while (0)
    while (changed && runs < budget && co_now_ns() < t_end) {
        changed = false;
        if (p->fam == FAM_LOCAL) {
            for (int c = MAX_CO - 1; c >= 0 && runs < budget; c--) {
                int n = 0;
                for (int d = 0; d < MAX_CO; d++)
                    n += p->co[d].present;
                if (p->co[c].present && n > 1)
                    TRY(cand.co[c].present = false);
            }
        } else {
            if (p->local)
                TRY(cand.local = false);
            if (p->noise)
                TRY(cand.noise = 0);
            if (p->extra)
                TRY(cand.extra = X_NONE; cand.co[SL_X].present = false);
        }
        for (int c = 0; c < NSLOT; c++)
            for (int i = p->co[c].nops - 1; i >= 0 && runs < budget; i--) {
                if (!p->co[c].present || i >= p->co[c].nops)
                    continue;
                TRY({
                    cprog_t *cp = &cand.co[c];
                    memmove(&cp->ops[i], &cp->ops[i + 1],
                            (size_t)(cp->nops - i - 1) * sizeof(op_t));
                    cp->nops--;
                });
            }
        for (int c = 0; c < NSLOT; c++)
            for (int i = 0; i < p->co[c].nops && runs < budget; i++) {
                if (!p->co[c].present)
                    continue;
                const op_t *o = &p->co[c].ops[i];
                if (op_is_select(o->kind)) {
                    for (int j = o->ncase - 1; j >= 0 && o->ncase > 1; j--)
                        TRY({
                            op_t *q = &cand.co[c].ops[i];
                            memmove(&q->cs[j], &q->cs[j + 1],
                                    (size_t)(q->ncase - j - 1) * sizeof(pcase_t));
                            q->ncase--;
                        });
                    if (o->nb)
                        TRY(cand.co[c].ops[i].nb = 0);
                    if (o->dl)
                        TRY(cand.co[c].ops[i].dl = 0);
                    if (o->local)
                        TRY(cand.co[c].ops[i].local = 0);
                }
                if (p->fam == FAM_LOCAL && o->ctx >= 0)
                    TRY(cand.co[c].ops[i].ctx = -1);
                if (p->fam == FAM_SPSC && o->ctx > 0 &&
                    (o->kind == OP_SSEND || o->kind == OP_SRECV))
                    TRY(cand.co[c].ops[i].ctx = SCTX_BG);
                if (o->ptr)
                    TRY(cand.co[c].ops[i].ptr = 0);
                if ((o->kind == OP_SBURST || o->kind == OP_SRBURST) && o->n > 1)
                    TRY(cand.co[c].ops[i].n = (uint16_t)(o->n / 2));
            }
        if (p->batch != 64)
            TRY(cand.batch = 64);
        if (p->idle != CO_IDLE_BUSY)
            TRY(cand.idle = CO_IDLE_BUSY);
    }
#undef TRY
}

/* ---- the driver -------------------------------------------------------------------------- */

static void explain(uint64_t seed, int fam)
{
    static prog_t p;
    /* a candidate that hangs should not hold up the search: programs take milliseconds */
    unsigned cap_s = tu_sanitized() ? 6 : 2;
    g_timeout_s = cfg.timeout_s < cap_s ? cfg.timeout_s : cap_s;
    gen(&p, seed, fam);
    prog_print(&p, stderr);
    if (cfg.shrink) {
        fprintf(stderr, "  shrinking (PROP_SHRINK=0 to skip)...\n");
        shrink(&p);
        fprintf(stderr, "  minimal failing program found:\n");
        prog_print(&p, stderr);
    }
    fprintf(stderr, "  its failures now, with the trace:\n");
    g_trace = true;
    bool bad = false;
    for (int t = 0; t < 8 && !bad; t++)
        bad = run_isolated(&p, true);
    if (!bad)
        fprintf(stderr, "  (none in 8 runs: the failure depends on select choices or timing)\n");
    g_trace = cfg.verbose;
    g_timeout_s = cfg.timeout_s;
}

static void run_range(int fam, uint64_t first, uint64_t n)
{
    static prog_t p;
    static errbuf_t eb;
    for (; SH->next < n; SH->next++) {
        uint64_t seed = first + SH->next;
        SH->cur_seed = seed;
        SH->cur_fam = fam;
        gen(&p, seed, fam);
        g_account = true;
        bool bad = run_prog(&p, &eb) != 0;
        g_account = false;
        if (!bad)
            continue;
        if (!SH->failed++)
            SH->first_failed = seed;
        print_error("seed %" PRIu64 " (%s): %d failed check(s); reproduce with PROP_SEED=%" PRIu64
                    " PROP_MODE=%s\n%s",
                    seed, fam_name[fam], eb.n, seed, fam_name[fam], eb.buf);
        fflush(stdout);
        if (!cfg.keep_going) {
            SH->stop = 1;
            SH->next++;
            return;
        }
    }
}

static void print_stats(int fam, uint64_t ran, uint64_t first, double secs)
{
    const struct stats *s = &SH->st[fam];
    print_message("chan_property: %s: %" PRIu64 " seed(s) from %" PRIu64 " in %.2f s: %" PRIu64
                  " ops, %" PRIu64 " events, %" PRIu64 " elements sent, %" PRIu64
                  " ops parked; results EPIPE/EAGAIN/ctx %" PRIu64 "/%" PRIu64 "/%" PRIu64
                  "; selects at once/parked/default %" PRIu64 "/%" PRIu64 "/%" PRIu64,
                  fam_name[fam], ran, first, secs, s->ops, s->events, s->elems, s->parked,
                  s->r_epipe, s->r_eagain, s->r_ctx, s->sel_imm, s->sel_parked, s->sel_default);
    if (fam == FAM_LOCAL)
        print_message("; %" PRIu64 " waiters completed by a peer, %" PRIu64
                      " left on their context; %" PRIu64 " sentinel/thread actions, %" PRIu64
                      " CO_EDEADLOCK\n",
                      s->handoffs, s->withdrawn, s->unblock, s->deadlocks);
    else
        print_message("; %" PRIu64 " partial bursts\n", s->partial_bursts);
}

static void check_fairness(void)
{
    if (cfg.have_one)
        return;
    if (SH->bad_case_performed)
        print_message("chan_property: note: %" PRIu64 " select(s) with an invalid case performed "
                      "a ready case instead of returning -EINVAL (lazy validation)\n",
                      SH->bad_case_performed);
    print_message(
        "chan_property: select fairness: %" PRIu64 " selects with >= 2 ready cases, %" PRIu64
        " picked a later one; %" PRIu64 " with every case ready picked case 0 %" PRIu64
        " times (expected %.1f +- %.1f)\n",
        SH->multi, SH->multi_nonlow, SH->allr, SH->allr_pick0, SH->allr_exp, sqrt(SH->allr_var));
    if (SH->multi >= 200 && SH->multi_nonlow * 10 < SH->multi)
        fail_msg("selects with several ready cases picked the lowest ready case %" PRIu64
                 " of %" PRIu64 " times",
                 SH->multi - SH->multi_nonlow, SH->multi);
    if (SH->allr >= 400) {
        double z = ((double)SH->allr_pick0 - SH->allr_exp) / sqrt(SH->allr_var);
        if (fabs(z) > 6)
            fail_msg("selects with every case ready picked case 0 %" PRIu64
                     " times; %.1f expected (z = %.1f)",
                     SH->allr_pick0, SH->allr_exp, z);
    }
}

static void run_family(int fam)
{
    if (cfg.mode >= 0 && cfg.mode != fam) {
        print_message("chan_property: %s programs skipped (PROP_MODE)\n", fam_name[fam]);
        return;
    }
    uint64_t n = cfg.have_one ? 1 : cfg.seeds[fam];
    uint64_t first = cfg.have_one ? cfg.one_seed : cfg.base;
    SH->next = SH->failed = SH->first_failed = 0;
    SH->stop = 0;
    memset(&SH->st[fam], 0, sizeof SH->st[fam]);
    if (fam == FAM_LOCAL) {
        SH->multi = SH->multi_nonlow = SH->allr = SH->allr_pick0 = SH->bad_case_performed = 0;
        SH->allr_exp = SH->allr_var = 0;
    }
    uint64_t t0 = co_now_ns();

    while (SH->next < n && !SH->stop) {
        if (cfg.no_fork) {
            run_range(fam, first, n);
            break;
        }
        uint64_t batch = SH->next;
        pid_t pid = tu_fork();
        if (pid < 0)
            fail_msg("fork: %s", strerror(errno));
        if (pid == 0) {
            run_range(fam, first, n);
            tu_child_exit(0);
        }
        int status = tu_wait_child(pid);
        char why[128];
        if (!*tu_child_end(status, g_timeout_s, why, sizeof why))
            continue;
        uint64_t seed = SH->cur_seed;
        if (WIFEXITED(status) && WEXITSTATUS(status) == TU_CHILD_LEAKED) {
            static prog_t lp;
            uint64_t last = SH->next;
            print_error("chan_property: LeakSanitizer found leaks after seeds %" PRIu64 "..%" PRIu64
                        " (%s); looking for the first seed that leaks\n",
                        first + batch, first + last - 1, fam_name[fam]);
            for (uint64_t i = batch; i < last; i++) {
                gen(&lp, first + i, fam);
                if (run_isolated(&lp, true)) {
                    seed = first + i;
                    break;
                }
            }
        }
        if (!SH->failed++)
            SH->first_failed = seed;
        print_error("seed %" PRIu64 " (%s): the program %s; reproduce with PROP_SEED=%" PRIu64
                    " PROP_MODE=%s\n",
                    seed, fam_name[fam], why, seed, fam_name[fam]);
        fflush(stdout);
        SH->next++;
        if (!cfg.keep_going)
            break;
    }
    double secs = (double)(co_now_ns() - t0) / 1e9;
    uint64_t ran = SH->next < n ? SH->next : n;
    print_stats(fam, ran, first, secs);
    if (SH->failed) {
        uint64_t bad = SH->first_failed;
        fflush(stdout);
        fprintf(stderr, "chan_property: first failing seed %" PRIu64 " (%s):\n", bad,
                fam_name[fam]);
        explain(bad, fam);
        fail_msg("%" PRIu64 " of %" PRIu64 " %s seed(s) failed, first %" PRIu64
                 " (reproduce with PROP_SEED=%" PRIu64 " PROP_MODE=%s)",
                 (uint64_t)SH->failed, ran, fam_name[fam], bad, bad, fam_name[fam]);
    }
    if (fam == FAM_LOCAL)
        check_fairness();
}

static void test_local_programs(void **state)
{
    (void)state;
    run_family(FAM_LOCAL);
}

static void test_spsc_programs(void **state)
{
    (void)state;
    run_family(FAM_SPSC);
}

int main(void)
{
    SH = mmap(NULL, sizeof *SH, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (SH == MAP_FAILED) {
        perror("chan_property: mmap");
        return 1;
    }
    bool sanitized = tu_sanitized();
    cfg.seeds[FAM_LOCAL] = tu_env_u64("PROP_SEEDS", 5000);
    cfg.seeds[FAM_SPSC] = tu_env_u64("PROP_SPSC_SEEDS", cfg.seeds[FAM_LOCAL]);
    cfg.have_one = getenv("PROP_SEED") && *getenv("PROP_SEED");
    cfg.one_seed = cfg.have_one ? tu_seed_from_env("PROP_SEED", 1) : 0;
    cfg.base = cfg.have_one ? 0 : tu_seed_from_env("PROP_SEED_BASE", 1);
    cfg.keep_going = tu_env_u64("PROP_KEEP_GOING", 0) != 0;
    cfg.shrink = tu_env_u64("PROP_SHRINK", 1) != 0;
    cfg.verbose = tu_env_u64("PROP_VERBOSE", 0) != 0;
    cfg.no_fork = tu_env_u64("PROP_NO_FORK", 0) != 0;
    cfg.switch_check = tu_env_u64("PROP_SWITCH_CHECK", 1) != 0;
    cfg.passed_dl = tu_env_u64("PROP_PASSED_DEADLINES", 1) != 0;
    cfg.spsc_extra = tu_env_u64("PROP_SPSC_SHARED", 1) != 0;
    cfg.timeout_s = (unsigned)tu_env_u64("PROP_TIMEOUT_S", sanitized ? 60 : 10);
    g_trace = cfg.verbose;
    g_timeout_s = cfg.timeout_s;
    const char *mode = getenv("PROP_MODE");
    cfg.mode = !mode || !*mode || !strcmp(mode, "all") ? -1
               : !strcmp(mode, "spsc")                 ? FAM_SPSC
                                                       : FAM_LOCAL;

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_programs),
        cmocka_unit_test(test_spsc_programs),
    };
    return cmocka_run_group_tests_name("chan_property", tests, NULL, NULL);
}
