/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The EAL rig of the lib/feed tests that run feed_main over real mbufs
 * (test_handler, test_fault): the EAL and an mbuf pool as cmocka group setup, MoldUDP64
 * packets of ITCH 'X' messages in mbufs as lib/io delivers them, a feed's input
 * channels, record pool and output, and a net_ring port. (harness.h is the pure feed
 * core's harness, without EAL.)
 */
#ifndef MDMUX_TEST_FEED_FEEDRIG_H
#define MDMUX_TEST_FEED_FEEDRIG_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "feed.h"

/** The mbuf pool of fr_eal_setup() (1023 mbufs). */
extern struct rte_mempool *fr_mp;

/**
 * Start the EAL on lcore 0 as program @p prog with file prefix "mdmux_test_TAGPID" and
 * create fr_mp ("TAG_test"). Returns 0, or -1 (the reason on stderr): cmocka group
 * setup.
 */
int fr_eal_setup(const char *prog, const char *tag);

/** Free fr_mp and clean up the EAL (cmocka group teardown). Returns 0. */
int fr_eal_teardown(void);

/**
 * An mbuf from fr_mp holding a 42-byte (zero) header and a MoldUDP64 packet of session
 * @p session with header count @p count_field and @p n ITCH 'X' messages (order cancel,
 * locate 7, 100 shares) for [seq, seq+n), each's reference its sequence number;
 * @p bad_itch: type '@' instead. Its io_mbuf_meta: rx_tsc now, feed @p feed, @p line,
 * the payload after the header, the rest 0. Fails the test when the pool is empty.
 */
struct rte_mbuf *fr_mold_mbuf(const uint8_t *session, uint16_t feed, uint8_t line, uint64_t seq,
                              uint16_t n, uint16_t count_field, bool bad_itch);

/** A feed's plumbing: its input channels, record pool and local output. */
typedef struct fr_rig {
    chs_t *in[FEED_LINES]; /**< one SPSC channel (64 slots) per line in use, else NULL */
    ch_t *out;             /**< the records (256 slots) */
    pool_t *pool;          /**< 512 records */
    feed_conf_t conf;      /**< all of the above, and id, name, gap_wait_ns */
} fr_rig_t;

/**
 * Make @p r's channels for lines 0 to @p lines - 1, its record pool and output, and a
 * feed configuration using them: feed @p id named @p name, gap wait @p gap_wait_ns,
 * NUMA node any. The caller adds to conf and makes the feed.
 */
void fr_rig_init(fr_rig_t *r, unsigned lines, uint16_t id, const char *name, uint64_t gap_wait_ns);

/** Free what fr_rig_init() made (the feed is the caller's). */
void fr_rig_free(fr_rig_t *r);

/**
 * A started net_ring port @p name over @p rxr and @p txr (one queue each, 64
 * descriptors, RX mbufs from fr_mp). Fails the test on error.
 */
uint16_t fr_ring_port(const char *name, struct rte_ring *rxr, struct rte_ring *txr);

#endif /* MDMUX_TEST_FEED_FEEDRIG_H */
