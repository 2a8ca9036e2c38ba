/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The interim feed handler (sink.h): select, drain a burst, count, free.
 */
#include "sink.h"

#include <errno.h>

#include <rte_mbuf.h>

/* Mbufs taken per wake-up: the select's one, then a burst of the same channel. */
#define SINK_BURST 32

/* Count @p n mbufs of @p line and give them back to their pool. */
static void consume(sink_t *s, unsigned line, struct rte_mbuf **m, unsigned n)
{
    uint64_t h = atomic_load_explicit(&s->handled[line], memory_order_relaxed);
    atomic_store_explicit(&s->handled[line], h + n, memory_order_relaxed);
    rte_pktmbuf_free_bulk(m, n);
}

void sink_main(void *arg)
{
    sink_t *s = arg;
    ch_case_t cases[CH_SELECT_MAX];
    unsigned line_of[CH_SELECT_MAX];
    chs_t *chan_of[CH_SELECT_MAX];
    struct rte_mbuf *burst[SINK_BURST];
    int n = 0;

    for (unsigned i = 0; i < s->nch; i++) {
        for (unsigned l = 0; l < CFG_LINES; l++) {
            cases[n] = (ch_case_t){.op = CH_RECV, .spsc = s->ch[i][l], .elem = &burst[0]};
            line_of[n] = l;
            chan_of[n] = s->ch[i][l];
            n++;
        }
    }
    while (n > 0) {
        int k = ch_select(cases, n, 0, UINT64_MAX, CO_BACKGROUND);
        if (k < 0)
            break; /* no context, no deadline: cannot happen; do not spin */
        if (cases[k].result == EPIPE) {
            /* closed by its RX lcore and drained: drop the case */
            n--;
            cases[k] = cases[n];
            line_of[k] = line_of[n];
            chan_of[k] = chan_of[n];
            continue;
        }
        unsigned got = 1 + chs_recv_burst(chan_of[k], &burst[1], SINK_BURST - 1);
        consume(s, line_of[k], burst, got);
    }
    atomic_fetch_add_explicit(s->done, 1, memory_order_release);
}
