/* SPDX-License-Identifier: BSD-3-Clause */
/* The EAL rig of the lib/feed tests (feedrig.h). */
#include "feedrig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>

#include "io.h"

#define NMBUF 1023

struct rte_mempool *fr_mp;

int fr_eal_setup(const char *prog, const char *tag)
{
    char prefix[64], name[64];
    snprintf(prefix, sizeof(prefix), "mdmux_test_%s%d", tag, (int)getpid());
    io_eal_opts_t o = {.prog = prog, .lcores = "0", .file_prefix = prefix, .log_level = "*:error"};
    char err[512];
    if (io_eal_init(&o, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(name, sizeof(name), "%s_test", tag);
    fr_mp = rte_pktmbuf_pool_create(name, NMBUF, 32, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    return fr_mp != NULL ? 0 : -1;
}

int fr_eal_teardown(void)
{
    rte_mempool_free(fr_mp);
    io_eal_cleanup();
    return 0;
}

/* An ITCH 'X' (order cancel, 23 bytes) whose reference is its sequence number. */
static size_t itch_x(uint8_t *p, uint64_t seq)
{
    memset(p, 0, 23);
    p[0] = 'X';
    p[2] = 7; /* locate 7 */
    uint64_t be = __builtin_bswap64(seq);
    memcpy(p + 11, &be, 8);
    uint32_t sh = htonl(100);
    memcpy(p + 19, &sh, 4);
    return 23;
}

struct rte_mbuf *fr_mold_mbuf(const uint8_t *session, uint16_t feed, uint8_t line, uint64_t seq,
                              uint16_t n, uint16_t count_field, bool bad_itch)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(fr_mp);
    assert_non_null(m);
    uint8_t *b = (uint8_t *)rte_pktmbuf_append(m, 42 + 20 + n * 25);
    assert_non_null(b);
    memset(b, 0, 42);
    size_t off = 42 + mold_encode_hdr(b + 42, session, seq, count_field);
    for (uint16_t i = 0; i < n; i++) {
        uint8_t msg[23];
        itch_x(msg, seq + i);
        if (bad_itch)
            msg[0] = '@';
        off += mold_encode_block(b + off, msg, 23);
    }
    io_mbuf_meta_t *meta = io_mbuf_meta(m);
    *meta = (io_mbuf_meta_t){.rx_tsc = co_tsc(),
                             .feed = feed,
                             .line = line,
                             .payload_off = 42,
                             .payload_len = (uint16_t)(off - 42)};
    return m;
}

void fr_rig_init(fr_rig_t *r, unsigned lines, uint16_t id, const char *name, uint64_t gap_wait_ns)
{
    memset(r, 0, sizeof(*r));
    for (unsigned l = 0; l < lines && l < FEED_LINES; l++) {
        r->in[l] = chs_new(sizeof(void *), 64, -1);
        r->conf.in[l][0] = r->in[l];
        r->conf.n_in[l] = 1;
    }
    r->out = ch_new(sizeof(void *), 256);
    r->pool = pool_new(&(pool_opts_t){
        .name = "recs", .elem_size = sizeof(md_rec_t), .count = 512, .numa_node = -1});
    r->conf.id = id;
    r->conf.name = name;
    r->conf.numa_node = -1;
    r->conf.rec_pool = r->pool;
    r->conf.out_local = r->out;
    r->conf.gap_wait_ns = gap_wait_ns;
}

void fr_rig_free(fr_rig_t *r)
{
    for (unsigned l = 0; l < FEED_LINES; l++)
        if (r->in[l] != NULL)
            chs_free(r->in[l]);
    ch_free(r->out);
    pool_free(r->pool);
}

uint16_t fr_ring_port(const char *name, struct rte_ring *rxr, struct rte_ring *txr)
{
    int port = rte_eth_from_rings(name, &rxr, 1, &txr, 1, 0);
    assert_true(port >= 0);
    struct rte_eth_conf conf = {0};
    assert_int_equal(rte_eth_dev_configure((uint16_t)port, 1, 1, &conf), 0);
    assert_int_equal(rte_eth_rx_queue_setup((uint16_t)port, 0, 64, 0, NULL, fr_mp), 0);
    assert_int_equal(rte_eth_tx_queue_setup((uint16_t)port, 0, 64, 0, NULL), 0);
    assert_int_equal(rte_eth_dev_start((uint16_t)port), 0);
    return (uint16_t)port;
}
