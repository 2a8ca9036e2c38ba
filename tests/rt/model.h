/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The program representation and the reference model used by
 * tests/rt/test_property.c. Header-only and private to that test.
 *
 * A program is a forest of coroutines, each with a straight-line list of
 * operations ending in OP_END (return, co_exit or co_panic), plus a static forest
 * of cancellation contexts and one wait group per coroutine (its children join it)
 * and one for the top-level coroutines.
 *
 * model_sync() runs a "sync" program (no timers: only spawn, yield, defer, cancel,
 * ctx queries, registry queries, waits, and sleeps on contexts that are already
 * done) on a FIFO run queue and produces the exact event trace the runtime must
 * produce. When an op would make the trace timing-dependent (a sleep on a live
 * context, or a cancel that would wake a parked waiter on the next poll), it reports
 * the op; model_fixup() rewrites such ops and re-runs until the program is
 * deterministic.
 */
#ifndef MDMUX_TESTS_RT_MODEL_H
#define MDMUX_TESTS_RT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MAX_CO       8  /* coroutines per program */
#define MAX_RAND_OPS 13 /* random ops per coroutine (before spawns and the end) */
#define MAX_OPS      24 /* ops per coroutine, OP_END included */
#define MAX_CTX      6  /* contexts per program */
#define NKINDS       4  /* registry kinds used */
#define MAX_EV       1024
#define TOP_WG       MAX_CO /* wait group of the top-level coroutines */

/* event codes: an op's step index, or one of these flags | step */
#define EV_RET   0x100 /* a blocking/ctx op returned */
#define EV_DEFER 0x200 /* a co_defer() callback ran (| the DEFER op's step) */
#define EV_START 0x400 /* the coroutine's entry began */

enum op_kind {
    OP_YIELD = 0,
    OP_SPAWN,    /* a = child index */
    OP_DEFER,    /* co_defer(cb, (co, step)) */
    OP_SLEEP,    /* co_sleep(ns, ctx a) */
    OP_CANCEL,   /* co_ctx_cancel(ctx a) */
    OP_CTXERR,   /* co_ctx_err(ctx a) */
    OP_WAIT,     /* co_wg_wait(own wait group, ctx a) */
    OP_REG,      /* co_registry_kinds() + co_sched_live() snapshot */
    OP_TEARDOWN, /* cancel every root context (timed programs, coroutine 0) */
    OP_END,      /* end: return, co_exit() or co_panic() */
    OP__COUNT
};

enum end_kind { END_RETURN = 0, END_EXIT, END_PANIC };
enum ctx_type { CTX_CANCEL = 0, CTX_TIMEOUT, CTX_FAR, CTX_EXPIRED };
enum stk_kind { STK_DEFAULT = 0, STK_SMALL, STK_CUSTOM };

typedef struct op {
    uint8_t kind;
    uint8_t end; /* OP_END: END_* */
    int8_t a;    /* OP_SPAWN: child; SLEEP/CANCEL/CTXERR/WAIT: ctx (-1: background) */
    uint8_t pad_;
    uint32_t ns_lo; /* OP_SLEEP: duration in ns (low, high 32 bits) */
    uint32_t ns_hi;
} op_t;

static inline uint64_t op_ns(const op_t *o)
{
    return ((uint64_t)o->ns_hi << 32) | o->ns_lo;
}

static inline void op_set_ns(op_t *o, uint64_t ns)
{
    o->ns_lo = (uint32_t)ns;
    o->ns_hi = (uint32_t)(ns >> 32);
}

static inline bool op_has_ret(int kind)
{
    return kind == OP_SLEEP || kind == OP_CANCEL || kind == OP_CTXERR || kind == OP_WAIT ||
           kind == OP_TEARDOWN;
}

typedef struct cprog {
    op_t ops[MAX_OPS];
    int nops;           /* ops[nops - 1] is OP_END */
    bool present;       /* false once the shrinker removed it */
    int parent;         /* spawner, -1: spawned by the thread (top level) */
    int wg;             /* wait group joined: -1 none, c: coroutine c's, TOP_WG */
    int ctx;            /* co_opts_t.ctx (-1: background) */
    int stack;          /* STK_* */
    size_t stack_bytes; /* STK_CUSTOM */
    int kind;           /* registry kind index */
} cprog_t;

typedef struct cdef {
    int parent;  /* -1: CO_BACKGROUND */
    int type;    /* CTX_* */
    uint32_t ms; /* CTX_TIMEOUT */
} cdef_t;

typedef struct prog {
    uint64_t seed;
    bool timed;
    int nco, ntop, nctx;
    cprog_t co[MAX_CO];
    cdef_t ctx[MAX_CTX];
} prog_t;

/** True if context j is k or an ancestor of k. */
static inline bool prog_ctx_under(const prog_t *p, int k, int j)
{
    for (; k >= 0; k = p->ctx[k].parent)
        if (k == j)
            return true;
    return false;
}

/** True if k (or an ancestor) has a deadline that passes during a program. */
static inline bool prog_ctx_expires(const prog_t *p, int k)
{
    for (; k >= 0; k = p->ctx[k].parent)
        if (p->ctx[k].type == CTX_TIMEOUT || p->ctx[k].type == CTX_EXPIRED)
            return true;
    return false;
}

/** Mark every descendant of an absent coroutine absent (parents have lower indices). */
static inline void prog_prune(prog_t *p)
{
    for (int c = 0; c < p->nco; c++)
        if (p->co[c].parent >= 0 && !p->co[p->co[c].parent].present)
            p->co[c].present = false;
    for (int c = 0; c < p->nco; c++) {
        cprog_t *cp = &p->co[c];
        if (!cp->present)
            continue;
        /* drop SPAWN ops of absent children */
        int n = 0;
        for (int i = 0; i < cp->nops; i++)
            if (!(cp->ops[i].kind == OP_SPAWN && !p->co[cp->ops[i].a].present))
                cp->ops[n++] = cp->ops[i];
        cp->nops = n;
    }
}

/* ---- the model of sync programs -------------------------------------------- */

typedef struct model {
    uint8_t co[MAX_EV];
    uint16_t code[MAX_EV];
    int n;
    bool overflow;
    int fix_c, fix_i; /* on conflict: the op to rewrite */
} model_t;

static inline bool model_done(const prog_t *p, const bool *cancelled, int k)
{
    for (; k >= 0; k = p->ctx[k].parent)
        if (cancelled[k] || p->ctx[k].type == CTX_EXPIRED)
            return true;
    return false;
}

static inline void model_emit(model_t *m, int c, int code)
{
    if (m->n >= MAX_EV) {
        m->overflow = true;
        return;
    }
    m->co[m->n] = (uint8_t)c;
    m->code[m->n] = (uint16_t)code;
    m->n++;
}

/**
 * Run sync program @p p on the model. Returns 0 with the trace in @p m, or 1 when
 * op (m->fix_c, m->fix_i) makes the trace depend on timing.
 */
static inline int model_sync(const prog_t *p, model_t *m)
{
    enum { QN = 512 };
    int q[QN];
    unsigned qh = 0, qt = 0;
    int pc[MAX_CO] = {0}, resume[MAX_CO], waiting[MAX_CO], nd[MAX_CO] = {0};
    int dstack[MAX_CO][MAX_OPS];
    bool started[MAX_CO] = {false}, cancelled[MAX_CTX] = {false};
    long cnt[MAX_CO + 1] = {0};

    m->n = 0;
    m->overflow = false;
    m->fix_c = m->fix_i = -1;
    for (int c = 0; c < MAX_CO; c++)
        resume[c] = waiting[c] = -1;
    for (int c = 0; c < p->ntop; c++) {
        if (!p->co[c].present)
            continue;
        q[qt++ % QN] = c;
        if (p->co[c].wg >= 0)
            cnt[p->co[c].wg]++;
    }
    while (qh != qt) {
        int c = q[qh++ % QN];
        const cprog_t *cp = &p->co[c];
        if (!started[c]) {
            model_emit(m, c, EV_START);
            started[c] = true;
        }
        if (resume[c] >= 0) {
            model_emit(m, c, EV_RET | resume[c]);
            resume[c] = -1;
        }
        for (;;) {
            int i = pc[c]++;
            const op_t *o = &cp->ops[i];
            model_emit(m, c, i);
            if (o->kind == OP_YIELD) {
                q[qt++ % QN] = c;
                break;
            } else if (o->kind == OP_SPAWN) {
                q[qt++ % QN] = o->a;
                if (p->co[o->a].wg >= 0)
                    cnt[p->co[o->a].wg]++;
            } else if (o->kind == OP_DEFER) {
                dstack[c][nd[c]++] = i;
            } else if (o->kind == OP_SLEEP) {
                if (!model_done(p, cancelled, o->a)) {
                    m->fix_c = c, m->fix_i = i;
                    return 1;
                }
                model_emit(m, c, EV_RET | i);
            } else if (o->kind == OP_CANCEL || o->kind == OP_TEARDOWN) {
                for (int k = 0; k < p->nctx; k++)
                    if (o->kind == OP_TEARDOWN ? p->ctx[k].parent < 0 : k == o->a)
                        cancelled[k] = true;
                for (int w = 0; w < p->nco; w++) {
                    if (waiting[w] < 0)
                        continue;
                    int k2 = p->co[w].ops[waiting[w]].a;
                    if (k2 >= 0 && model_done(p, cancelled, k2)) {
                        m->fix_c = w, m->fix_i = waiting[w];
                        return 1;
                    }
                }
                model_emit(m, c, EV_RET | i);
            } else if (o->kind == OP_CTXERR) {
                model_emit(m, c, EV_RET | i);
            } else if (o->kind == OP_WAIT) {
                if (cnt[c] == 0 || model_done(p, cancelled, o->a)) {
                    model_emit(m, c, EV_RET | i);
                } else {
                    waiting[c] = resume[c] = i;
                    break;
                }
            } else if (o->kind == OP_REG) {
                /* no scheduling effect */
            } else { /* OP_END */
                while (nd[c] > 0)
                    model_emit(m, c, EV_DEFER | dstack[c][--nd[c]]);
                int w = cp->wg;
                if (w >= 0 && --cnt[w] == 0 && w < MAX_CO && waiting[w] >= 0) {
                    waiting[w] = -1;
                    q[qt++ % QN] = w;
                }
                break;
            }
        }
    }
    return 0;
}

/**
 * Make sync program @p p deterministic: sleeps on live contexts become yields and
 * waits whose context would be cancelled while they are parked wait on
 * CO_BACKGROUND. Leaves the trace in @p m. Returns 0, or -1 if it did not converge.
 */
static inline int model_fixup(prog_t *p, model_t *m)
{
    for (int iter = 0; iter < 4 * MAX_CO * MAX_OPS; iter++) {
        if (model_sync(p, m) == 0)
            return m->overflow ? -1 : 0;
        op_t *o = &p->co[m->fix_c].ops[m->fix_i];
        if (o->kind == OP_SLEEP) {
            o->kind = OP_YIELD;
            o->a = -1;
        } else {
            o->a = -1; /* OP_WAIT */
        }
    }
    return -1;
}

#endif /* MDMUX_TESTS_RT_MODEL_H */
