/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A recording harness around the pure feed core (feed_core.h) for the unit and
 * property tests: packets are small structs, deliveries and events go to a log,
 * re-requests to a list, and every release is checked to happen exactly once.
 */
#ifndef MDMUX_TEST_FEED_HARNESS_H
#define MDMUX_TEST_FEED_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed_core.h"

#define H_LOG_MAX  (1u << 16)
#define H_PKT_MAX  (1u << 15)
#define H_REQ_MAX  4096
#define H_KIND_MSG 0
#define H_KIND_EV  1

/* One published item: a message (seq, line) or an event. */
typedef struct h_item {
    uint8_t kind;
    uint8_t line;
    uint8_t ev;
    uint64_t seq; /* message: its sequence; event: from */
    uint64_t to;  /* event: to */
    uint64_t value;
    uint8_t session[MOLD_SESSION_LEN];
} h_item_t;

typedef struct h_pkt {
    uint64_t seq;
    uint16_t count;
    unsigned released;
} h_pkt_t;

typedef struct h_req {
    uint64_t seq;
    uint16_t count;
    uint64_t at;
} h_req_t;

typedef struct harness {
    feed_core_t *core;
    feed_stats_t st;
    h_item_t *log;
    unsigned nlog;
    h_pkt_t *pkts;
    unsigned npkts;
    h_req_t req[H_REQ_MAX];
    unsigned nreq;
    int req_rc; /* what request() returns */
    uint64_t now;
    bool bad; /* a callback saw something impossible */
    char why[200];
} harness_t;

static inline void h_fail(harness_t *h, const char *msg)
{
    if (!h->bad)
        snprintf(h->why, sizeof(h->why), "%s", msg);
    h->bad = true;
}

static inline void h_deliver(void *arg, const feed_pkt_t *p, uint64_t from, uint64_t to)
{
    harness_t *h = arg;
    h_pkt_t *hp = p->handle;
    if (hp == NULL || from < p->seq || to > p->seq + p->count || from >= to || hp->released) {
        h_fail(h, "deliver outside its packet, or after release");
        return;
    }
    for (uint64_t s = from; s < to; s++) {
        if (h->nlog == H_LOG_MAX) {
            h_fail(h, "harness: log full");
            return;
        }
        h->log[h->nlog++] = (h_item_t){.kind = H_KIND_MSG, .line = p->line, .seq = s};
    }
}

static inline void h_release(void *arg, const feed_pkt_t *p)
{
    harness_t *h = arg;
    h_pkt_t *hp = p->handle;
    if (hp == NULL)
        return; /* a heartbeat marker */
    if (hp->released++)
        h_fail(h, "packet released twice");
}

static inline void h_event(void *arg, md_event_t ev, uint8_t line, uint64_t from, uint64_t to,
                           uint64_t value, const uint8_t *session)
{
    harness_t *h = arg;
    if (h->nlog >= H_LOG_MAX) {
        h_fail(h, "harness: log full");
        return;
    }
    h_item_t *it = &h->log[h->nlog++];
    *it = (h_item_t){
        .kind = H_KIND_EV, .line = line, .ev = (uint8_t)ev, .seq = from, .to = to, .value = value};
    if (session != NULL)
        memcpy(it->session, session, MOLD_SESSION_LEN);
}

static inline int h_request(void *arg, const uint8_t *session, uint64_t seq, uint16_t count)
{
    harness_t *h = arg;
    (void)session;
    if (h->nreq < H_REQ_MAX)
        h->req[h->nreq++] = (h_req_t){seq, count, h->now};
    return h->req_rc;
}

static const feed_core_ops_t h_ops = {h_deliver, h_release, h_event, h_request};

static inline harness_t *h_new(const feed_core_conf_t *c)
{
    harness_t *h = calloc(1, sizeof(*h));
    h->log = calloc(H_LOG_MAX, sizeof(h_item_t));
    h->pkts = calloc(H_PKT_MAX, sizeof(h_pkt_t));
    h->now = 1000;
    h->core = feed_core_new(c, &h_ops, h, &h->st, h->now, -1);
    return h;
}

static inline void h_free(harness_t *h)
{
    feed_core_free(h->core);
    free(h->log);
    free(h->pkts);
    free(h);
}

static const uint8_t H_S1[MOLD_SESSION_LEN] = "SESSION001";
static const uint8_t H_S2[MOLD_SESSION_LEN] = "SESSION002";

/* A data packet [seq, seq+count) on @p line of session @p s at h->now, rx_tsc @p tsc. */
static inline void h_pkt_s(harness_t *h, const uint8_t *s, uint8_t line, uint64_t seq,
                           uint16_t count, uint64_t tsc)
{
    if (h->npkts == H_PKT_MAX) {
        h_fail(h, "harness: too many packets");
        return;
    }
    h_pkt_t *hp = &h->pkts[h->npkts++];
    *hp = (h_pkt_t){.seq = seq, .count = count};
    feed_pkt_t p = {.handle = hp, .seq = seq, .count = count, .line = line, .rx_tsc = tsc};
    feed_core_rx(h->core, line, 20);
    feed_core_packet(h->core, &p, s, h->now);
}

static inline void h_pkt(harness_t *h, uint8_t line, uint64_t seq, uint16_t count)
{
    h_pkt_s(h, H_S1, line, seq, count, h->now);
}

/*
 * Advance time to @p t, ticking at every deadline on the way. A tick must move the
 * deadline past now (the handler would spin otherwise): that is checked here.
 */
static inline void h_advance(harness_t *h, uint64_t t)
{
    for (;;) {
        uint64_t d = feed_core_deadline(h->core);
        if (d > t)
            break;
        if (d > h->now)
            h->now = d;
        feed_core_tick(h->core, h->now);
        if (feed_core_deadline(h->core) <= h->now) {
            h_fail(h, "a tick left the deadline at or before now");
            return;
        }
    }
    if (t > h->now)
        h->now = t;
    feed_core_tick(h->core, h->now);
}

/* Every packet released exactly once (after a flush or discard). */
static inline bool h_all_released(const harness_t *h)
{
    for (unsigned i = 0; i < h->npkts; i++) {
        if (h->pkts[i].released != 1)
            return false;
    }
    return true;
}

/* Number of log items of event @p ev. */
static inline unsigned h_count_ev(const harness_t *h, unsigned ev)
{
    unsigned n = 0;
    for (unsigned i = 0; i < h->nlog; i++)
        n += h->log[i].kind == H_KIND_EV && h->log[i].ev == ev;
    return n;
}

/* Index of the first event @p ev at or after @p from, or -1. */
static inline int h_find_ev(const harness_t *h, unsigned ev, unsigned from)
{
    for (unsigned i = from; i < h->nlog; i++) {
        if (h->log[i].kind == H_KIND_EV && h->log[i].ev == ev)
            return (int)i;
    }
    return -1;
}

/* The messages of the log, in order, into @p seqs (at most @p max); returns how many. */
static inline unsigned h_msgs(const harness_t *h, uint64_t *seqs, uint8_t *lines, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < h->nlog && n < max; i++) {
        if (h->log[i].kind != H_KIND_MSG)
            continue;
        if (lines != NULL)
            lines[n] = h->log[i].line;
        seqs[n++] = h->log[i].seq;
    }
    return n;
}

#endif /* MDMUX_TEST_FEED_HARNESS_H */
