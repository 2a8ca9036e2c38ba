/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file truth.h
 * The generator's truth against mdmux's dump (tests/app): what each feed sent
 * (OUT.messages.jsonl) and lost on both lines (OUT.truth.json, lost_both), and what
 * `mdmux replay --dump` published of it. Reading the dump checks every message the same
 * way for every test: sent, published once, with the sent fields, in feed order outside
 * the declared gaps. What a test then requires of the feeds (all but lost_both, gaps
 * equal to lost_both, ...) stays with the test.
 */
#ifndef MDMUX_TRUTH_H
#define MDMUX_TRUTH_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define TR_MAX_FEEDS  16
#define TR_MAX_RANGES 4096

/** One feed: what it sent, what the dump showed of it. */
typedef struct tr_feed {
    char name[32];
    uint64_t last; /**< the truth's last_seq */
    json_t **sent; /**< [last + 1]: the generator's message objects (NULL: not sent) */
    uint8_t *seen; /**< [last + 1]: times published */
    uint64_t lost[TR_MAX_RANGES][2]; /**< lost_both, adjacent ranges merged */
    uint64_t gaps[TR_MAX_RANGES][2]; /**< the dump's gap events, from-to */
    unsigned nlost, ngaps;
    uint64_t last_inorder; /**< highest seq published outside every gap */
    uint64_t known;        /**< highest seq the dump showed (a message or a gap's end) */
} tr_feed_t;

/** Every feed of one truth file, and the dump's totals. */
typedef struct tr {
    tr_feed_t f[TR_MAX_FEEDS];
    unsigned n;
    uint64_t published; /**< records in the dump, events included */
    uint64_t events;    /**< event records */
} tr_t;

/**
 * Called by tr_read_dump() for every event record @p rec (event name @p event) of feed
 * @p feed (an index into tr_t.f), after a "gap" was recorded in the feed's gaps.
 */
typedef void tr_event_fn(void *arg, unsigned feed, const char *event, json_t *rec);

/**
 * Add the feeds of truth file @p path to @p t (zeroed, or holding earlier feeds): names,
 * last sequence numbers (sent and seen allocated), lost_both merged when adjacent.
 * Fails the test on a malformed file or too many feeds or ranges.
 */
void tr_load_truth(tr_t *t, const char *path);

/**
 * Read the generator's messages file @p path (one JSON object a line, with "feed" and
 * "seq") into the feeds' sent arrays. Fails the test on an unknown feed or sequence.
 */
void tr_load_sent(tr_t *t, const char *path);

/**
 * Read mdmux's dump @p path (JSON lines) against the feeds: count published records and
 * events, record gap events, and fail the test on a message that was never sent, was
 * published twice, differs from the sent one in a field (the generator's ITCH names
 * mapped to the record's short ones) or comes out of feed order outside every declared
 * gap. @p on_event (may be NULL) sees every event record, with @p arg.
 */
void tr_read_dump(tr_t *t, const char *path, tr_event_fn *on_event, void *arg);

/** True when @p seq is inside one of the @p n ranges @p r ([from, to], inclusive). */
bool tr_in_ranges(uint64_t (*r)[2], unsigned n, uint64_t seq);

/**
 * Fail the test unless feed @p x's gap events are exactly its lost_both ranges, in
 * order (what a run with no channel drops and no re-request server must show).
 */
void tr_check_gaps(const tr_feed_t *x);

/** Free what tr_load_truth() and tr_load_sent() allocated (not @p t itself). */
void tr_free(tr_t *t);

#endif /* MDMUX_TRUTH_H */
