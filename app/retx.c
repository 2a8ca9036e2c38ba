/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Re-requests (pipeline.h, retx_*): the feeds send MoldUDP64 re-requests on the
 * rereq: device themselves (lib/feed, one TX queue, so one handler lcore); the server
 * answers to each feed's own source port. A poller coroutine on that lcore takes the
 * answers off the port, classifies them against a flow table of those source ports,
 * stamps them as lib/io would and hands each to its feed's retransmission input.
 *
 * The RETX inputs close some time after RX has closed and the port has gone quiet,
 * long enough for the last gaps to be re-requested and retried; the feeds then flush.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "pipeline.h"

/* Slots of a feed's RETX channel. */
#define RETX_SLOTS 1024u
/* Request frames in flight. */
#define RETX_MBUFS 2047u
/* How long to wait for the re-request port's link at start. */
#define LINK_WAIT_MS 5000u
/* The poller's pause when the port is quiet. */
#define RETX_IDLE_NS (20u * 1000u)

/* How long after RX has ended (and the port is quiet) the RETX inputs stay open: a
   gap may still wait, be requested, and be retried to the end. */
static uint64_t linger_ns(const cfg_t *c)
{
    uint64_t wait = 0;
    for (unsigned i = 0; i < c->nfeeds; i++)
        if (c->feeds[i].rereq && c->feeds[i].arb.gap_wait_ns > wait)
            wait = c->feeds[i].arb.gap_wait_ns;
    return 2 * wait + (c->rereq.max_retries + 2) * c->rereq.retry_ns + 200ull * 1000 * 1000;
}

/* Open the device for TX and RX and wait for its link (a memif peer may be starting). */
static int open_port(pipe_t *p)
{
    const cfg_rereq_t *q = &p->cfg->rereq;
    char err[512];
    io_port_conf_t pc = {.name = "rereq",
                         .device = q->device,
                         .rx_queues = 1,
                         .tx_queues = 1,
                         .rx_socket = (int)rte_lcore_to_socket_id(p->retx.lcore),
                         .pool_mbufs = 4095,
                         .no_hw_timestamp = true};
    p->retx.port = io_port_open(&pc, err, sizeof(err));
    if (p->retx.port < 0) {
        fprintf(stderr, "mdmux: rereq.device %s: %s\n", q->device, err);
        return -1;
    }
    for (unsigned ms = 0; ms < LINK_WAIT_MS; ms += 10) {
        struct rte_eth_link l;
        if (rte_eth_link_get_nowait((uint16_t)p->retx.port, &l) == 0 && l.link_status)
            return 0;
        usleep(10000);
    }
    fprintf(stderr,
            "mdmux: rereq.device %s: link down after %u ms (requests will fail until "
            "it is up; counted as req_failed)\n",
            q->device, LINK_WAIT_MS);
    return 0;
}

/* Feed @p i's re-request settings and RETX input. */
static int setup_feed(pipe_t *p, unsigned i, const struct rte_ether_addr *mac)
{
    const cfg_rereq_t *q = &p->cfg->rereq;
    feed_conf_t *fc = &p->feeds[i].conf;
    uint16_t sport = (uint16_t)(q->source_port + i);
    p->retx.ch[i] =
        chs_new(sizeof(struct rte_mbuf *), RETX_SLOTS, (int)rte_lcore_to_socket_id(p->retx.lcore));
    if (p->retx.ch[i] == NULL ||
        io_flow_table_add(p->retx.flows, q->source_be, htons(sport), (uint16_t)i, 0) < 0) {
        fprintf(stderr, "mdmux: feed %s: cannot set up its retransmission input\n",
                p->cfg->feeds[i].name);
        return -1;
    }
    fc->in[FEED_LINE_RETX][0] = p->retx.ch[i];
    fc->n_in[FEED_LINE_RETX] = 1;
    feed_rereq_conf_t *r = &fc->rereq;
    *r = (feed_rereq_conf_t){.enabled = true,
                             .port_id = (uint16_t)p->retx.port,
                             .queue_id = 0,
                             .mbuf_pool = p->retx.pool,
                             .src_ip_be = q->source_be,
                             .dst_ip_be = p->cfg->feeds[i].rr_server_be,
                             .src_port_be = htons(sport),
                             .dst_port_be = htons(p->cfg->feeds[i].rr_server_port),
                             .max_outstanding = q->max_outstanding,
                             .retry_ns = q->retry_ns,
                             .max_retries = q->max_retries,
                             .rate_per_s = q->rate_per_s,
                             .max_msgs = q->max_msgs};
    memcpy(r->src_mac, mac->addr_bytes, 6);
    memcpy(r->dst_mac, q->server_mac, 6);
    return 0;
}

int retx_build(pipe_t *p)
{
    const cfg_t *c = p->cfg;
    p->retx.port = -1;
    if (!c->rereq.enabled)
        return 0;
    for (unsigned i = 0; i < c->nfeeds; i++)
        if (c->feeds[i].rereq)
            p->retx.lcore = c->feeds[i].handler;
    p->retx.on = true;
    if (open_port(p) < 0)
        return -1;
    p->retx.pool =
        rte_pktmbuf_pool_create("mdmux_rereq", RETX_MBUFS, 64, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                (int)rte_lcore_to_socket_id(p->retx.lcore));
    p->retx.flows = io_flow_table_new(c->nfeeds, -1);
    p->retx.ch = calloc(c->nfeeds, sizeof(*p->retx.ch));
    if (p->retx.pool == NULL || p->retx.flows == NULL || p->retx.ch == NULL) {
        fprintf(stderr, "mdmux: rereq: out of memory\n");
        return -1;
    }
    struct rte_ether_addr mac;
    rte_eth_macaddr_get((uint16_t)p->retx.port, &mac);
    for (unsigned i = 0; i < c->nfeeds; i++)
        if (c->feeds[i].rereq && setup_feed(p, i, &mac) < 0)
            return -1;
    return 0;
}

/* One received frame: to its feed's RETX input as lib/io would stamp it, or freed. */
static void retx_one(pipe_retx_t *x, struct rte_mbuf *m)
{
    io_pkt_info_t pi;
    x->frames++;
    if (io_classify_mbuf(x->flows, m, &pi) != IO_ACCEPT || x->ch[pi.feed] == NULL) {
        x->other++;
        rte_pktmbuf_free(m);
        return;
    }
    uint64_t now = co_tsc();
    *io_mbuf_meta(m) = (io_mbuf_meta_t){.rx_tsc = now,
                                        .intended_tsc = now,
                                        .feed = pi.feed,
                                        .line = FEED_LINE_RETX,
                                        .payload_off = pi.l4_payload_off,
                                        .payload_len = pi.l4_payload_len};
    if (chs_send_burst(x->ch[pi.feed], &m, 1) == 1) {
        x->accepted++;
        return;
    }
    x->channel_full++;
    rte_pktmbuf_free(m);
}

/* The poller: answers in until RX is over and the port has been quiet long enough. */
static void retx_main(void *arg)
{
    pipe_t *p = arg;
    pipe_retx_t *x = &p->retx;
    uint64_t linger = linger_ns(p->cfg), last = co_now_ns(), rx_end = 0;
    for (;;) {
        struct rte_mbuf *b[32];
        uint16_t n = rte_eth_rx_burst((uint16_t)x->port, 0, b, 32);
        for (uint16_t i = 0; i < n; i++)
            retx_one(x, b[i]);
        uint64_t now = co_now_ns();
        if (n)
            last = now;
        if (rx_end == 0 && atomic_load_explicit(p->rx_done, memory_order_acquire) >= p->nrx)
            rx_end = now;
        if (rx_end && now - (last > rx_end ? last : rx_end) > linger)
            break;
        if (co_ctx_err(p->ctx) != 0)
            break; /* the drain timed out */
        if (n)
            co_yield();
        else
            co_sleep(RETX_IDLE_NS, p->ctx);
    }
    for (unsigned i = 0; i < p->cfg->nfeeds; i++)
        if (x->ch[i])
            chs_close(x->ch[i]);
    atomic_store_explicit(&x->done, true, memory_order_release);
}

bool retx_spawn(pipe_t *p, unsigned lcore)
{
    if (!p->retx.on || lcore != p->retx.lcore)
        return true;
    co_opts_t o = {.name = "retx", .kind = "retx"};
    if (co_spawn(retx_main, p, &o) != NULL)
        return true;
    fprintf(stderr, "mdmux: cannot start the retransmission poller: %s\n", strerror(errno));
    return false;
}

void retx_free(pipe_t *p)
{
    pipe_retx_t *x = &p->retx;
    for (unsigned i = 0; x->ch && i < p->cfg->nfeeds; i++) {
        if (x->ch[i] == NULL)
            continue;
        struct rte_mbuf *m;
        while (chs_recv_burst(x->ch[i], &m, 1) == 1)
            rte_pktmbuf_free(m); /* only after a failed start */
        chs_free(x->ch[i]);
    }
    free(x->ch);
    io_flow_table_free(x->flows);
    if (x->port >= 0)
        io_port_close((uint16_t)x->port);
    rte_mempool_free(x->pool);
}
