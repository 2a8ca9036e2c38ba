/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The program representation shared by tests/chan/test_property.c: header-only and
 * private to that test.
 *
 * Two families of programs run on one scheduler:
 *
 *  local - up to MAX_CO coroutines, each a straight-line list of ops on up to MAX_CH
 *          local channels (ch_t) of random capacity and element size: blocking
 *          send/recv (plain and _ptr entry points) with cancellation contexts,
 *          trysend/tryrecv, close, len/cap, select over mixed send/recv cases with
 *          and without CH_NONBLOCK, with deadlines and contexts; cancels of the
 *          program's contexts. A "sentinel" coroutine (or, in thread mode, the
 *          scheduler's thread after CO_EDEADLOCK) unblocks the program once nothing
 *          else can move: a trysend/tryrecv helping a parked op, a close, a cancel.
 *
 *  spsc  - one or two producer coroutines owning 1..3 SPSC channels (chs_t) and a
 *          consumer coroutine on the same scheduler: blocking and burst send and
 *          receive, select over send (producer) or receive (consumer) cases, optionally
 *          with a case on a local channel fed by a "ticker" coroutine, len/cap/closed;
 *          producers close their channels at the end and the consumer drains
 *          everything until EPIPE. Optionally a second coroutine of the same thread
 *          shares the consumer side of every channel, or the producer side of c0's.
 */
#ifndef MDMUX_TESTS_CHAN_MODEL_H
#define MDMUX_TESTS_CHAN_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#define MAX_CH    4    /* channels of a program */
#define MAX_CTX   4    /* contexts of a local program */
#define MAX_CO    5    /* program coroutines (local) */
#define NSLOT     6    /* run-time slots: MAX_CO coroutines + the sentinel */
#define SENT      5    /* slot of the sentinel (local) */
#define MAX_POPS  24   /* ops of one coroutine in a program */
#define MAX_SOPS  1024 /* ops of one slot at run time (sentinel, drain, ticker) */
#define MAX_CASES 4    /* cases of a select in a program (+1 for the ticker's case) */

/* spsc slots */
#define SL_P0    0
#define SL_P1    1
#define SL_C     2
#define SL_TICK  3
#define SL_NOISE 4
#define SL_X     5 /* extra: a second consumer, or a second producer of c0's channels */

enum { X_NONE = 0, X_CONSUMER, X_PRODUCER };

enum fam { FAM_LOCAL = 0, FAM_SPSC = 1 };

enum op_kind {
    /* local family (and the sentinel) */
    OP_SEND = 0, /* ch_send / ch_send_ptr (ptr) on ch, context ctx */
    OP_RECV,     /* ch_recv / ch_recv_ptr */
    OP_TRYSEND,  /* ch_trysend */
    OP_TRYRECV,  /* ch_tryrecv */
    OP_CLOSE,    /* ch_close */
    OP_LEN,      /* ch_len, ch_cap, ch_closed, ch_elem_size */
    OP_SELECT,   /* ch_select over cs[0..ncase), nb, deadline tier dl, ctx */
    OP_YIELD,    /* co_yield */
    OP_CANCEL,   /* co_ctx_cancel(context ch) */
    /* spsc family */
    OP_SSEND,   /* chs_send, ctx = context mode */
    OP_SBURST,  /* chs_send_burst of n */
    OP_SRECV,   /* chs_recv, ctx = context mode */
    OP_SRBURST, /* chs_recv_burst of n */
    OP_SCLOSE,  /* chs_close */
    OP_SLEN,    /* chs_len, chs_cap, chs_closed, chs_elem_size */
    OP_SSELECT, /* ch_select over SPSC cases (+ the ticker's channel when local) */
    OP_TSEND,   /* ticker: ch_send on its local channel */
    OP_TCLOSE,  /* ticker: ch_close */
    OP__COUNT
};

/* spsc context modes (op.ctx) */
enum { SCTX_BG = 0, SCTX_CANCELLED = 1, SCTX_TIMEOUT0 = 2 /* + tier */ };

/* local context types */
enum ctx_type { CX_CANCEL = 0, CX_TIMEOUT, CX_EXPIRED, CX_FAR };

#define CASE_BAD 2 /* a case with neither a local nor an SPSC channel: -EINVAL */

typedef struct pcase {
    uint8_t dir; /* CH_RECV, CH_SEND or CASE_BAD */
    int8_t ch;
} pcase_t;

typedef struct op {
    uint8_t kind;
    int8_t ch;     /* channel; OP_CANCEL: the context */
    int8_t ctx;    /* local: context (-1: background); spsc: SCTX_* mode */
    uint8_t ptr;   /* OP_SEND/OP_RECV: the _ptr entry point */
    uint8_t nb;    /* select: CH_NONBLOCK */
    uint8_t dl;    /* select: deadline tier (0: none, 1: already passed) */
    uint8_t ncase; /* select: cases in cs */
    uint8_t local; /* OP_SSELECT: one more case, a receive on the ticker's channel */
    uint16_t n;    /* bursts: element count */
    pcase_t cs[MAX_CASES];
} op_t;

typedef struct cprog {
    bool present;
    uint8_t nops;
    op_t ops[MAX_POPS];
} cprog_t;

typedef struct prog {
    uint64_t seed;
    int fam;
    uint8_t idle;     /* co_idle_t of the scheduler */
    uint8_t batch;    /* co_sched_opts_t.batch */
    bool thread_mode; /* local: no sentinel; the thread unblocks after CO_EDEADLOCK */
    int nch;
    struct {
        uint16_t cap, esize;
        uint8_t owner; /* spsc: producer slot */
    } ch[MAX_CH];
    int nctx;
    struct {
        uint8_t type;
        int8_t parent;
        uint16_t us; /* CX_TIMEOUT */
    } ctx[MAX_CTX];
    int nco;           /* local: coroutines; spsc: producers (1..2) */
    cprog_t co[NSLOT]; /* local: c0..c4; spsc: SL_P0, SL_P1, SL_C, SL_X */
    bool local;        /* spsc: a ticker feeds a local channel the consumer selects on */
    uint8_t lcap, litems;
    uint8_t noise; /* spsc: yields of a coroutine that only yields (0: none) */
    uint8_t extra; /* spsc: X_* role of coroutine SL_X (same thread as the others) */
} prog_t;

/* Element ids: unique per (slot, op, case or burst index) within a program. */
static inline uint32_t vid_local(int sl, int i, int j)
{
    return 1u + (((uint32_t)sl * MAX_SOPS + (uint32_t)i) * 8u + (uint32_t)j);
}

static inline uint32_t vid_spsc(int sl, int i, int j)
{
    return 1u + (((uint32_t)sl * MAX_SOPS + (uint32_t)i) * 256u + (uint32_t)j);
}

#define LBASE 0x40000000u /* ids of the ticker's elements: LBASE + 1.. */

/* The byte at offset k of the element with id @p id. */
static inline uint8_t pbyte(uint32_t id, size_t k)
{
    return k < 4 ? (uint8_t)(id >> (8 * k)) : (uint8_t)(id * 131u + (uint32_t)k * 7u + 1u);
}

static inline void pfill(void *b, size_t es, uint32_t id)
{
    uint8_t *p = b;
    for (size_t k = 0; k < es; k++)
        p[k] = pbyte(id, k);
}

/* True if @p b holds a well-formed element; its id in *id. */
static inline bool pcheck(const void *b, size_t es, uint32_t *id)
{
    const uint8_t *p = b;
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    *id = v;
    for (size_t k = 4; k < es; k++)
        if (p[k] != pbyte(v, k))
            return false;
    return true;
}

static inline bool untouched(const void *b, size_t es)
{
    const uint8_t *p = b;
    for (size_t k = 0; k < es; k++)
        if (p[k] != 0xA5)
            return false;
    return true;
}

static inline bool op_is_select(int kind)
{
    return kind == OP_SELECT || kind == OP_SSELECT;
}

#endif /* MDMUX_TESTS_CHAN_MODEL_H */
