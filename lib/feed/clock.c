/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The arrival clock (feed_core.h, docs/feed.md "Clocks"): the feed's time is how far
 * its inputs have been read, so a backlog at the handler never turns into a gap.
 */
#include <string.h>

#include "feed_core.h"

static unsigned slot(uint8_t line, unsigned idx)
{
    return (unsigned)line * FEED_IN_MAX + idx;
}

/*
 * The minimum of known[] over live inputs of lines [l0, l1], or @p wall when none.
 * Only the configured slots of each line are visited (n_in): this runs for every
 * packet and every loop of the handler, and a full scan of FEED_CLOCK_IN slots was
 * ~200 instructions for the usual one input per line.
 */
static uint64_t min_known(const feed_clock_t *k, uint8_t l0, uint8_t l1, uint64_t wall)
{
    uint64_t m = UINT64_MAX;
    for (unsigned l = l0; l <= l1; l++) {
        for (unsigned i = slot((uint8_t)l, 0), e = i + k->n_in[l]; i < e; i++) {
            if (k->live[i] && k->known[i] < m)
                m = k->known[i];
        }
    }
    return m == UINT64_MAX ? wall : m;
}

/* Recompute both clocks (monotone: known[] only grow and inputs only close). */
static void update(feed_clock_t *k, uint64_t wall)
{
    uint64_t a = min_known(k, FEED_LINE_A, FEED_LINE_B, wall);
    uint64_t r = min_known(k, FEED_LINE_RETX, FEED_LINE_RETX, wall);
    if (a > k->arrival)
        k->arrival = a;
    if (r > k->request)
        k->request = r;
}

void feed_clock_init(feed_clock_t *k, const unsigned n_in[FEED_LINES])
{
    /*
     * Everything starts at 0, not at the handler's start: packets queued before it
     * started carry earlier stamps. Starting known[] there would clamp them all to
     * one time, and reading "the input furthest behind" would then drain one line's
     * whole backlog before the other's (a full window: gaps the other line fills).
     */
    memset(k, 0, sizeof(*k));
    for (uint8_t l = 0; l < FEED_LINES; l++) {
        k->n_in[l] = (uint8_t)(n_in[l] < FEED_IN_MAX ? n_in[l] : FEED_IN_MAX);
        for (unsigned i = 0; i < k->n_in[l]; i++)
            k->live[slot(l, i)] = true;
    }
}

void feed_clock_empty(feed_clock_t *k, uint8_t line, unsigned idx, uint64_t wall_ns)
{
    unsigned i = slot(line, idx);
    if (wall_ns > k->known[i])
        k->known[i] = wall_ns;
}

void feed_clock_closed(feed_clock_t *k, uint8_t line, unsigned idx, uint64_t wall_ns)
{
    k->live[slot(line, idx)] = false;
    update(k, wall_ns);
}

/* Give the core the request clock and run what arrival time has made due. */
static void run_timers(feed_clock_t *k, feed_core_t *c)
{
    feed_core_set_wall(c, k->request);
    if (feed_core_due(c, k->arrival))
        feed_core_tick(c, k->arrival);
}

uint64_t feed_clock_packet(feed_clock_t *k, feed_core_t *c, uint8_t line, unsigned idx,
                           uint64_t rx_ns, uint64_t wall_ns)
{
    unsigned i = slot(line, idx);
    uint64_t t = rx_ns < k->known[i] ? k->known[i] : rx_ns;
    if (t > wall_ns && wall_ns >= k->known[i])
        t = wall_ns;
    k->known[i] = t;
    update(k, wall_ns);
    run_timers(k, c);
    return t;
}

void feed_clock_tick(feed_clock_t *k, feed_core_t *c, uint64_t wall_ns)
{
    update(k, wall_ns);
    run_timers(k, c);
}
