/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file sink.h
 * The INTERIM feed handler of issue 4: one coroutine per feed, on the feed's handler
 * lcore, that selects over the feed's A and B SPSC channels (one pair per RX lcore),
 * counts what it takes per line and frees the mbufs. Issue 5 replaces it with the
 * A/B arbiter; nothing else depends on it but app/run.c.
 */
#ifndef MDMUX_APP_SINK_H
#define MDMUX_APP_SINK_H

#include <stdatomic.h>
#include <stdint.h>

#include "chan.h"
#include "config.h"

/** Most RX lcores feeding one sink (2 cases each must fit CH_SELECT_MAX). */
#define SINK_RX_MAX (CH_SELECT_MAX / CFG_LINES)

/** One feed's sink. */
typedef struct sink {
    const char *name;                    /**< the feed's name */
    uint16_t feed;                       /**< feed id */
    unsigned nch;                        /**< RX lcores feeding it */
    chs_t *ch[SINK_RX_MAX][CFG_LINES];   /**< channels, consumer side */
    _Atomic uint64_t handled[CFG_LINES]; /**< packets taken, per line (single writer) */
    atomic_uint *done;                   /**< incremented when the sink finishes */
} sink_t;

/**
 * Coroutine entry (co_fn_t): @p arg is a sink_t. Runs until every channel is closed
 * by its producer and drained, then increments *done and returns.
 */
void sink_main(void *arg);

#endif /* MDMUX_APP_SINK_H */
