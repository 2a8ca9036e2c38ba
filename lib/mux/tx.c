/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/mux: frames to a DPDK TX queue. Each frame is copied into an mbuf (one copy of a
 * ~1.4 KiB frame per ~11 records) and sent in bursts; the mux flushes a partial burst
 * whenever it goes idle. Unsent frames are freed and counted, never retried: a stalled
 * port must not stall the merged stream. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "mux_internal.h"

#define TX_BURST 32u

struct mux_tx {
    uint16_t port, queue;
    unsigned n;
    struct rte_mempool *mp;
    struct rte_mbuf *pending[TX_BURST];
    mux_tx_stats_t st;
};

mux_tx_t *mux_tx_new(uint16_t port_id, uint16_t queue, struct rte_mempool *mp, char *err,
                     size_t errlen)
{
    if (!rte_eth_dev_is_valid_port(port_id) || !mp) {
        if (err && errlen)
            snprintf(err, errlen, "mux tx: port %u: no such port (or no mbuf pool)", port_id);
        errno = EINVAL;
        return NULL;
    }
    mux_tx_t *t = co_mem_alloc(sizeof(*t), 64);
    if (!t) {
        if (err && errlen)
            snprintf(err, errlen, "mux tx: out of memory");
        return NULL;
    }
    t->port = port_id;
    t->queue = queue;
    t->mp = mp;
    return t;
}

static void tx_flush(void *arg)
{
    mux_tx_t *t = arg;
    if (t->n == 0)
        return;
    uint16_t sent = rte_eth_tx_burst(t->port, t->queue, t->pending, (uint16_t)t->n);
    for (unsigned i = 0; i < sent; i++)
        MUX_ADD(t->st.bytes, rte_pktmbuf_pkt_len(t->pending[i]));
    MUX_ADD(t->st.frames, sent);
    if (sent < t->n) {
        MUX_ADD(t->st.tx_fail, t->n - sent);
        rte_pktmbuf_free_bulk(&t->pending[sent], t->n - sent);
    }
    t->n = 0;
}

static void tx_frame(void *arg, const uint8_t *frame, uint32_t len)
{
    mux_tx_t *t = arg;
    struct rte_mbuf *m = rte_pktmbuf_alloc(t->mp);
    char *dst = m ? rte_pktmbuf_append(m, (uint16_t)len) : NULL;
    if (!dst) {
        if (m)
            rte_pktmbuf_free(m);
        MUX_INC(t->st.alloc_fail);
        return;
    }
    rte_memcpy(dst, frame, len);
    t->pending[t->n++] = m;
    if (t->n == TX_BURST)
        tx_flush(t);
}

mux_sink_t mux_tx_sink(mux_tx_t *t)
{
    return (mux_sink_t){.frame = tx_frame, .flush = tx_flush, .arg = t};
}

void mux_tx_stats(const mux_tx_t *t, mux_tx_stats_t *out)
{
    out->frames = MUX_LOAD(t->st.frames);
    out->bytes = MUX_LOAD(t->st.bytes);
    out->tx_fail = MUX_LOAD(t->st.tx_fail);
    out->alloc_fail = MUX_LOAD(t->st.alloc_fail);
}

void mux_tx_free(mux_tx_t *t)
{
    if (!t)
        return;
    if (t->n)
        rte_pktmbuf_free_bulk(t->pending, t->n);
    co_mem_free(t);
}
