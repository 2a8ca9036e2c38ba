/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mdmux-rereq: a MoldUDP64 re-request server for tests (docs/feed.md).
 *
 *   mdmux-rereq --capture FILE --port DEVICE [--mtu N] [--ignore-first N]
 *               [--ignore-every K] [--idle-exit-ms MS] [--max-requests N]
 *               [-- EAL ARGS]
 *
 * It indexes every MoldUDP64 message of FILE by (session, sequence), opens DEVICE (any
 * DPDK PMD: "net_memif0,role=server", "net_pcap0,...", a PCI address) and answers
 * each re-request with MoldUDP64 packets holding the requested messages, split to the
 * MTU, sent back to the requester's MAC / IP / port. It can ignore requests (the first
 * N, every K-th) so that retries and final gaps can be tested. It stops on SIGINT /
 * SIGTERM, after --idle-exit-ms without a request, or 0.2 s after the --max-requests-th
 * request, and prints its counters.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "co.h"
#include "io.h"
#include "proto.h"

#define MAX_SESSIONS 4096
#define MAX_SEQ      (64u << 20)  /* index bound per session: a test tool, not a day */
#define HDRS         42           /* Ethernet + IPv4 + UDP */
#define LINGER_NS    200000000ull /* serve on after --max-requests before exiting */

typedef struct msgref {
    const uint8_t *p;
    uint16_t len;
} msgref_t;

typedef struct session {
    uint8_t name[MOLD_SESSION_LEN];
    msgref_t *msgs; /* [seq - 1] */
    uint64_t cap, max_seq;
} session_t;

typedef struct opts {
    const char *capture, *port;
    unsigned mtu, ignore_first, ignore_every;
    uint64_t idle_exit_ms, max_requests;
} opts_t;

typedef struct counters {
    uint64_t frames, requests, answered, ignored, bad, unknown_session, missing, messages, packets,
        tx_failed;
} counters_t;

static session_t sessions[MAX_SESSIONS];
static unsigned nsessions;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static session_t *find_session(const uint8_t *name, bool create)
{
    for (unsigned i = 0; i < nsessions; i++) {
        if (memcmp(sessions[i].name, name, MOLD_SESSION_LEN) == 0)
            return &sessions[i];
    }
    if (!create || nsessions == MAX_SESSIONS)
        return NULL;
    session_t *s = &sessions[nsessions++];
    memcpy(s->name, name, MOLD_SESSION_LEN);
    return s;
}

/* Remember message @p seq of @p s (the first copy wins; copies are identical). */
static int index_msg(session_t *s, uint64_t seq, const uint8_t *p, uint16_t len)
{
    if (seq == 0 || seq > MAX_SEQ)
        return -1;
    if (seq > s->cap) {
        uint64_t cap = s->cap ? s->cap : 4096;
        while (cap < seq)
            cap *= 2;
        msgref_t *m = realloc(s->msgs, cap * sizeof(*m));
        if (m == NULL)
            return -1;
        memset(m + s->cap, 0, (cap - s->cap) * sizeof(*m));
        s->msgs = m;
        s->cap = cap;
    }
    if (s->msgs[seq - 1].p == NULL)
        s->msgs[seq - 1] = (msgref_t){p, len};
    if (seq > s->max_seq)
        s->max_seq = seq;
    return 0;
}

/* Index one frame of the capture (anything not MoldUDP64 data is skipped). */
static void index_frame(const uint8_t *frame, uint32_t len, uint64_t *msgs)
{
    io_pkt_info_t info;
    mold_pkt_t pkt;
    if (io_classify(NULL, frame, len, &info) != IO_UNKNOWN)
        return;
    if (mold_parse(frame + info.l4_payload_off, info.l4_payload_len, &pkt) != MOLD_OK ||
        pkt.kind != MOLD_DATA)
        return;
    session_t *s = find_session(pkt.session, true);
    if (s == NULL)
        return;
    mold_iter_t it;
    mold_msg_t m;
    mold_iter_init(&it, &pkt);
    while (mold_iter_next(&it, &m)) {
        if (index_msg(s, m.seq, m.data, m.len) == 0)
            (*msgs)++;
    }
}

static io_capture_t *load_capture(const char *path)
{
    char err[512];
    io_capture_t *c = io_capture_open(path, err, sizeof(err));
    if (c == NULL) {
        fprintf(stderr, "mdmux-rereq: %s\n", err);
        return NULL;
    }
    const uint8_t *data;
    uint32_t caplen;
    uint64_t msgs = 0;
    int rc;
    while ((rc = io_capture_next(c, NULL, &data, &caplen, NULL, err, sizeof(err))) == 1)
        index_frame(data, caplen, &msgs);
    if (rc < 0)
        fprintf(stderr, "mdmux-rereq: %s (indexed the valid prefix)\n", err);
    fprintf(stderr, "mdmux-rereq: %s: %u sessions, %lu messages indexed\n", path, nsessions,
            (unsigned long)msgs);
    return c;
}

/* ------------------------------------------------------------------------------ */
/* Answers                                                                        */
/* ------------------------------------------------------------------------------ */

static uint16_t ip_csum(const uint8_t *ip)
{
    uint32_t sum = 0;
    for (unsigned i = 0; i < 20; i += 2)
        sum += (uint32_t)ip[i] << 8 | ip[i + 1];
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Headers of a reply to the request frame @p req carrying @p udp_payload bytes. */
static void reply_headers(uint8_t *b, const uint8_t *req, unsigned req_ip_off, uint16_t pl)
{
    const uint8_t *rip = req + req_ip_off, *rudp = rip + (rip[0] & 0xF) * 4;
    memcpy(b, req + 6, 6); /* back to the requester's MAC */
    memcpy(b + 6, req, 6);
    b[12] = 0x08;
    b[13] = 0x00;
    uint8_t *ip = b + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    uint16_t tot = (uint16_t)(20 + 8 + pl);
    ip[2] = (uint8_t)(tot >> 8);
    ip[3] = (uint8_t)tot;
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, rip + 16, 4);
    memcpy(ip + 16, rip + 12, 4);
    uint16_t c = ip_csum(ip);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    uint8_t *udp = ip + 20;
    memcpy(udp, rudp + 2, 2);
    memcpy(udp + 2, rudp, 2);
    udp[4] = (uint8_t)((8 + pl) >> 8);
    udp[5] = (uint8_t)(8 + pl);
    udp[6] = udp[7] = 0; /* no UDP checksum (allowed on IPv4) */
}

/* One reply packet from @p seq: as many messages as fit @p mtu. Returns messages put. */
static unsigned reply_packet(struct rte_mempool *mp, uint16_t port, const opts_t *o,
                             const session_t *s, const uint8_t *req, unsigned ip_off, uint64_t seq,
                             uint64_t end, counters_t *k)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
    if (m == NULL) {
        k->tx_failed++;
        return 0;
    }
    uint8_t *b = rte_pktmbuf_mtod(m, uint8_t *);
    size_t room = o->mtu - 28, off = HDRS + MOLD_HDR_LEN, tail = rte_pktmbuf_tailroom(m);
    unsigned n = 0;
    for (uint64_t q = seq; q < end && q <= s->max_seq; q++) {
        const msgref_t *r = &s->msgs[q - 1];
        if (r->p == NULL || off - HDRS + 2 + r->len > room || off + 2 + r->len > tail)
            break;
        off += mold_encode_block(b + off, r->p, r->len);
        n++;
    }
    if (n == 0) {
        rte_pktmbuf_free(m);
        return 0;
    }
    mold_encode_hdr(b + HDRS, s->name, seq, (uint16_t)n);
    reply_headers(b, req, ip_off, (uint16_t)(off - HDRS));
    rte_pktmbuf_append(m, (uint16_t)off);
    if (rte_eth_tx_burst(port, 0, &m, 1) != 1) {
        rte_pktmbuf_free(m);
        k->tx_failed++;
        return n; /* counted as failed; the requester retries */
    }
    k->packets++;
    k->messages += n;
    return n;
}

/* Offset of the IPv4 header of a frame the classifier accepted (after VLAN tags). */
static unsigned l3_offset(const uint8_t *f)
{
    unsigned off = 14;
    while (off <= 22 && (((unsigned)f[off - 2] << 8 | f[off - 1]) == 0x8100 ||
                         ((unsigned)f[off - 2] << 8 | f[off - 1]) == 0x88a8))
        off += 4;
    return off;
}

/* Should request number @p n (1-based) be ignored? */
static bool ignore_req(const opts_t *o, uint64_t n)
{
    return n <= o->ignore_first || (o->ignore_every > 0 && n % o->ignore_every == 0);
}

/* Handle one received frame. */
static void serve_frame(struct rte_mempool *mp, uint16_t port, const opts_t *o, struct rte_mbuf *m,
                        counters_t *k)
{
    const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
    io_pkt_info_t info;
    mold_req_t req;
    k->frames++;
    if (io_classify(NULL, f, rte_pktmbuf_data_len(m), &info) != IO_UNKNOWN ||
        mold_parse_request(f + info.l4_payload_off, info.l4_payload_len, &req) != MOLD_OK) {
        k->bad++;
        return;
    }
    k->requests++;
    if (ignore_req(o, k->requests)) {
        k->ignored++;
        return;
    }
    const session_t *s = find_session((const uint8_t *)req.session, false);
    if (s == NULL) {
        k->unknown_session++;
        return;
    }
    unsigned ip_off = l3_offset(f);
    uint64_t seq = req.seq, end = req.seq + req.count;
    while (seq < end) {
        unsigned n = reply_packet(mp, port, o, s, f, ip_off, seq, end, k);
        if (n == 0) {
            k->missing += end - seq; /* not in the capture (or no mbuf) */
            break;
        }
        seq += n;
    }
    k->answered++;
}

static int serve(uint16_t port, const opts_t *o, counters_t *k)
{
    struct rte_mempool *mp =
        rte_pktmbuf_pool_create("rereq_tx", 4095, 64, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    if (mp == NULL) {
        fprintf(stderr, "mdmux-rereq: no TX mbuf pool\n");
        return -1;
    }
    uint64_t last = co_now_ns(), linger = 0;
    while (!stop) {
        struct rte_mbuf *b[32];
        uint16_t n = rte_eth_rx_burst(port, 0, b, 32);
        for (uint16_t i = 0; i < n; i++) {
            serve_frame(mp, port, o, b[i], k);
            rte_pktmbuf_free(b[i]);
        }
        uint64_t now = co_now_ns();
        if (n > 0)
            last = now;
        if (o->max_requests && k->requests >= o->max_requests && linger == 0)
            linger = now + LINGER_NS; /* let the peer read the last answer */
        if (linger != 0 && now >= linger)
            break;
        if (o->idle_exit_ms && now - last > o->idle_exit_ms * 1000000ull)
            break;
    }
    rte_mempool_free(mp);
    return 0;
}

/* ------------------------------------------------------------------------------ */
/* CLI                                                                            */
/* ------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: mdmux-rereq --capture FILE --port DEVICE [--mtu N] [--ignore-first N]\n"
               "                   [--ignore-every K] [--idle-exit-ms MS] [--max-requests N]\n"
               "                   [-- EAL ARGS]\n");
}

static int parse(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {{"capture", required_argument, 0, 'c'},
                                       {"port", required_argument, 0, 'p'},
                                       {"mtu", required_argument, 0, 'm'},
                                       {"ignore-first", required_argument, 0, 'f'},
                                       {"ignore-every", required_argument, 0, 'e'},
                                       {"idle-exit-ms", required_argument, 0, 'i'},
                                       {"max-requests", required_argument, 0, 'n'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    *o = (opts_t){.mtu = 1500};
    int c;
    while ((c = getopt_long(argc, argv, "c:p:h", lo, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->capture = optarg;
            break;
        case 'p':
            o->port = optarg;
            break;
        case 'm':
            o->mtu = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 'f':
            o->ignore_first = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 'e':
            o->ignore_every = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 'i':
            o->idle_exit_ms = strtoull(optarg, NULL, 0);
            break;
        case 'n':
            o->max_requests = strtoull(optarg, NULL, 0);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (o->capture == NULL || o->port == NULL || o->mtu < 128 || o->mtu > 9000) {
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o;
    if (parse(argc, argv, &o) != 0)
        return 2;
    io_capture_t *cap = load_capture(o.capture);
    if (cap == NULL)
        return 1;
    char prefix[64], err[512];
    snprintf(prefix, sizeof(prefix), "mdmux-rereq%d", (int)getpid());
    io_eal_opts_t eo = {.prog = "mdmux-rereq",
                        .file_prefix = prefix,
                        .log_level = "*:error",
                        .extra = (const char *const *)argv + optind,
                        .n_extra = (unsigned)(argc - optind)};
    if (io_eal_init(&eo, err, sizeof(err)) != 0) {
        fprintf(stderr, "mdmux-rereq: %s\n", err);
        return 1;
    }
    io_port_conf_t pc = {.name = "rereq",
                         .device = o.port,
                         .tx_queues = 1,
                         .rx_socket = -1,
                         .no_hw_timestamp = true};
    int port = io_port_open(&pc, err, sizeof(err));
    if (port < 0) {
        fprintf(stderr, "mdmux-rereq: %s\n", err);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* readiness for scripts and tests: the port is started, requests are answered */
    printf("mdmux-rereq: serving on port %d\n", port);
    fflush(stdout);
    counters_t k = {0};
    int rc = serve((uint16_t)port, &o, &k);
    printf("mdmux-rereq: frames %lu requests %lu answered %lu ignored %lu bad %lu "
           "unknown_session %lu missing %lu messages %lu packets %lu tx_failed %lu\n",
           (unsigned long)k.frames, (unsigned long)k.requests, (unsigned long)k.answered,
           (unsigned long)k.ignored, (unsigned long)k.bad, (unsigned long)k.unknown_session,
           (unsigned long)k.missing, (unsigned long)k.messages, (unsigned long)k.packets,
           (unsigned long)k.tx_failed);
    io_port_close((uint16_t)port);
    io_eal_cleanup();
    io_capture_close(cap);
    for (unsigned i = 0; i < nsessions; i++)
        free(sessions[i].msgs);
    return rc == 0 ? 0 : 1;
}
