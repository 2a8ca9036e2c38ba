/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * End to end over net_memif: mdmux-rereq (a child process, memif server) answers the
 * re-requests a feed handler (this process, memif client) sends for a gap both lines
 * lost. The server ignores the first request, so the handler must retry; the answer
 * comes back over the same memif port, is classified and handed to the handler's
 * retransmission channel, and fills the gap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "feed.h"
#include "io.h"
#include "testutil.h"

#define NMSG 10

static const uint8_t SESS[MOLD_SESSION_LEN] = "0000770001";
static char pcap_path[128], sock_path[128];
static struct rte_mempool *mp;

/* ITCH 'D' (order delete, 19 bytes) with its sequence as the reference. */
static void itch_d(uint8_t *p, uint64_t seq)
{
    memset(p, 0, 19);
    p[0] = 'D';
    uint64_t be = __builtin_bswap64(seq);
    memcpy(p + 11, &be, 8);
}

static uint16_t csum16(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    while (s >> 16)
        s = (s & 0xFFFF) + (s >> 16);
    return (uint16_t)~s;
}

/* A line-A frame of messages [seq, seq+n) into @p f; returns its length. */
static size_t frame(uint8_t *f, uint64_t seq, uint16_t n)
{
    static const uint8_t hdr[14] = {1, 0, 0x5e, 0x64, 0, 1, 2, 0, 0, 0, 0, 0xa, 8, 0};
    memcpy(f, hdr, 14);
    size_t off = 42 + mold_encode_hdr(f + 42, SESS, seq, n);
    for (uint16_t i = 0; i < n; i++) {
        uint8_t m[19];
        itch_d(m, seq + i);
        off += mold_encode_block(f + off, m, 19);
    }
    uint8_t *ip = f + 14;
    memset(ip, 0, 28);
    ip[0] = 0x45;
    ip[2] = (uint8_t)((off - 14) >> 8);
    ip[3] = (uint8_t)(off - 14);
    ip[8] = 32;
    ip[9] = 17;
    uint32_t src = htonl(0x0A000001), dst = htonl(0xEF640001);
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    uint16_t c = csum16(ip, 20);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    uint8_t *udp = ip + 20;
    uint16_t sp = htons(40000), dp = htons(30000), ul = htons((uint16_t)(off - 34));
    memcpy(udp, &sp, 2);
    memcpy(udp + 2, &dp, 2);
    memcpy(udp + 4, &ul, 2);
    return off;
}

/* The capture the server answers from: every message, two per packet. */
static void write_capture(void)
{
    FILE *f = fopen(pcap_path, "wb");
    assert_non_null(f);
    uint32_t gh[6] = {0xa1b23c4d, 0x00040002, 0, 0, 65535, 1};
    fwrite(gh, sizeof(gh), 1, f);
    for (uint64_t s = 1; s <= NMSG; s += 2) {
        uint8_t fr[512];
        uint32_t len = (uint32_t)frame(fr, s, 2);
        uint32_t rh[4] = {1, (uint32_t)s, len, len};
        fwrite(rh, sizeof(rh), 1, f);
        fwrite(fr, len, 1, f);
    }
    fclose(f);
}

static int server_out = -1; /* the server's stdout */

static pid_t start_server(void)
{
    char port[256];
    snprintf(port, sizeof(port), "net_memif0,role=server,socket=%s", sock_path);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = tu_fork();
    if (pid == 0) {
        /* the EAL pinned this thread to lcore 0: give the server every CPU back */
        cpu_set_t all;
        CPU_ZERO(&all);
        for (int c = 0; c < CPU_SETSIZE; c++)
            CPU_SET(c, &all);
        sched_setaffinity(0, sizeof(all), &all);
        dup2(fds[1], 1);
        close(fds[0]);
        execl(MDMUX_REREQ_BIN, "mdmux-rereq", "--capture", pcap_path, "--port", port,
              "--ignore-first", "1", "--max-requests", "2", "--idle-exit-ms", "20000",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    server_out = fds[0];
    return pid;
}

/* Read the server's stdout until a line containing @p want (into @p line); false at EOF. */
static bool server_line(const char *want, char *line, size_t cap)
{
    size_t n = 0;
    char ch;
    while (read(server_out, &ch, 1) == 1) {
        if (ch != '\n') {
            if (n + 1 < cap)
                line[n++] = ch;
            continue;
        }
        line[n] = 0;
        if (strstr(line, want) != NULL)
            return true;
        n = 0;
    }
    return false;
}

/* Open the memif client port and wait for the link (the server may still start). */
static uint16_t client_port(void)
{
    char dev[256], err[512];
    char line[512];
    if (!server_line("serving on port", line, sizeof(line)))
        fail_msg("mdmux-rereq did not start");
    snprintf(dev, sizeof(dev), "net_memif1,role=client,socket=%s", sock_path);
    io_port_conf_t pc = {.name = "memif",
                         .device = dev,
                         .tx_queues = 1,
                         .rx_socket = -1,
                         .pool_mbufs = 2047,
                         .no_hw_timestamp = true};
    int port = io_port_open(&pc, err, sizeof(err));
    if (port < 0)
        fail_msg("%s", err);
    for (int i = 0; i < 1000; i++) {
        struct rte_eth_link l;
        if (rte_eth_link_get_nowait((uint16_t)port, &l) == 0 && l.link_status) {
            return (uint16_t)port;
        }
        usleep(10000);
    }
    fail_msg("memif link never came up");
    return 0;
}

/* The RX side for the retransmissions: classify, stamp, hand to the RETX channel. */
typedef struct rx {
    uint16_t port;
    chs_t *retx;
    unsigned msgs;
} rx_t;

static void rx_loop(void *arg)
{
    rx_t *r = arg;
    while (r->msgs < 4) {
        struct rte_mbuf *b[32];
        uint16_t n = rte_eth_rx_burst(r->port, 0, b, 32);
        for (uint16_t i = 0; i < n; i++) {
            io_pkt_info_t info;
            const uint8_t *f = rte_pktmbuf_mtod(b[i], const uint8_t *);
            if (io_classify(NULL, f, rte_pktmbuf_data_len(b[i]), &info) != IO_UNKNOWN) {
                rte_pktmbuf_free(b[i]);
                continue;
            }
            io_mbuf_meta_t *m = io_mbuf_meta(b[i]);
            *m = (io_mbuf_meta_t){.rx_tsc = co_tsc(),
                                  .line = FEED_LINE_RETX,
                                  .payload_off = info.l4_payload_off,
                                  .payload_len = info.l4_payload_len};
            mold_pkt_t p;
            if (mold_parse(f + info.l4_payload_off, info.l4_payload_len, &p) == MOLD_OK)
                r->msgs += p.count;
            assert_int_equal(chs_send_burst(r->retx, &b[i], 1), 1);
        }
        co_sleep(n ? 0 : 100000, CO_BACKGROUND);
    }
    chs_close(r->retx);
}

typedef struct sink {
    ch_t *out;
    pool_t *pool;
    unsigned n;
    md_rec_t recs[32];
} sink_t;

static void sink(void *arg)
{
    sink_t *s = arg;
    void *p;
    while (ch_recv_ptr(s->out, &p, CO_BACKGROUND) == 0) {
        if (s->n < 32)
            s->recs[s->n++] = *(md_rec_t *)p;
        pool_put(s->pool, p);
    }
}

/* A line packet as lib/io would deliver it (payload after 42 bytes of headers). */
static struct rte_mbuf *line_mbuf(uint8_t line, uint64_t seq, uint16_t n)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
    assert_non_null(m);
    uint8_t *b = (uint8_t *)rte_pktmbuf_append(m, 42 + 20 + 21 * n);
    size_t len = frame(b, seq, n);
    *io_mbuf_meta(m) = (io_mbuf_meta_t){
        .rx_tsc = co_tsc(), .line = line, .payload_off = 42, .payload_len = (uint16_t)(len - 42)};
    return m;
}

static void test_memif_rerequest(void **state)
{
    (void)state;
    pid_t pid = start_server();
    uint16_t port = client_port();
    co_sched_t *sched = co_sched_new(NULL);
    chs_t *in[FEED_LINES];
    for (unsigned l = 0; l < FEED_LINES; l++)
        in[l] = chs_new(sizeof(void *), 64, -1);
    ch_t *out = ch_new(sizeof(void *), 64);
    pool_t *pool = pool_new(&(pool_opts_t){
        .name = "recs", .elem_size = sizeof(md_rec_t), .count = 256, .numa_node = -1});
    feed_conf_t c = {.id = 1,
                     .name = "feed01",
                     .numa_node = -1,
                     .rec_pool = pool,
                     .out_local = out,
                     .gap_wait_ns = 1000000};
    for (unsigned l = 0; l < FEED_LINES; l++) {
        c.in[l][0] = in[l];
        c.n_in[l] = 1;
    }
    c.rereq = (feed_rereq_conf_t){.enabled = true,
                                  .port_id = port,
                                  .mbuf_pool = mp,
                                  .src_mac = {2, 0, 0, 0, 0, 0x11},
                                  .dst_mac = {2, 0, 0, 0, 0, 0x22},
                                  .src_ip_be = htonl(0x0A000101),
                                  .dst_ip_be = htonl(0x0A000202),
                                  .src_port_be = htons(45000),
                                  .dst_port_be = htons(46000),
                                  .retry_ns = 200000000,
                                  .max_retries = 3};
    feed_t *f = feed_new(&c);
    assert_non_null(f);
    /* 3..6 lost on both lines */
    for (uint8_t l = 0; l < 2; l++) {
        chs_t *ch = in[l];
        struct rte_mbuf *m[3] = {line_mbuf(l, 1, 2), line_mbuf(l, 7, 2), line_mbuf(l, 9, 2)};
        assert_int_equal(chs_send_burst(ch, m, 3), 3);
        chs_close(ch);
    }
    rx_t rx = {.port = port, .retx = in[2]};
    sink_t s = {.out = out, .pool = pool};
    co_spawn(feed_main, f, &(co_opts_t){.name = "feed01"});
    co_spawn(rx_loop, &rx, NULL);
    co_spawn(sink, &s, NULL);
    assert_int_equal(co_sched_run(sched), 0);

    feed_stats_t st;
    feed_stats(f, &st);
    assert_int_equal(st.requests, 2); /* the first was ignored */
    assert_int_equal(st.req_retries, 1);
    assert_int_equal(st.recovered, 4);
    assert_int_equal(st.final_lost, 0);
    assert_int_equal(st.messages, NMSG);
    /* 1 2 GAP 7 8 9 10 3 4 5 6 FILLED */
    assert_int_equal(s.n, 12);
    assert_int_equal(s.recs[2].kind, MD_KIND_EVENT);
    assert_int_equal(s.recs[2].type, MD_EV_GAP);
    assert_int_equal(s.recs[2].ev.from, 3);
    assert_int_equal(s.recs[2].ev.to, 6);
    for (unsigned i = 7; i < 11; i++) {
        assert_int_equal(s.recs[i].line, MD_LINE_RETX);
        assert_int_equal(s.recs[i].feed_seq, i - 4);
        assert_int_equal(s.recs[i].ref, i - 4);
    }
    assert_int_equal(s.recs[11].type, MD_EV_GAP_FILLED);

    char line[512];
    assert_true(server_line("requests", line, sizeof(line)));
    assert_non_null(strstr(line, "requests 2 answered 1 ignored 1 "));
    assert_non_null(strstr(line, " messages 4 "));
    close(server_out);
    int status = tu_wait_child(pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    feed_free(f);
    for (unsigned l = 0; l < FEED_LINES; l++)
        chs_free(in[l]);
    ch_free(out);
    pool_free(pool);
    co_sched_free(sched, stderr);
    io_port_close(port);
}

static int setup(void **state)
{
    (void)state;
    snprintf(pcap_path, sizeof(pcap_path), "/tmp/mdmux-feed-rereq-%d.pcap", (int)getpid());
    snprintf(sock_path, sizeof(sock_path), "/tmp/mdmux-feed-memif-%d.sock", (int)getpid());
    write_capture();
    char prefix[64], err[512];
    snprintf(prefix, sizeof(prefix), "mdmux_test_rereq%d", (int)getpid());
    io_eal_opts_t o = {
        .prog = "test_feed_rereq", .lcores = "0", .file_prefix = prefix, .log_level = "*:error"};
    if (io_eal_init(&o, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    mp = rte_pktmbuf_pool_create("rereq_test", 1023, 32, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    return mp != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rte_mempool_free(mp);
    io_eal_cleanup();
    unlink(pcap_path);
    unlink(sock_path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memif_rerequest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
