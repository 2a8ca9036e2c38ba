/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * book.h: the market model behind one feed. It keeps the stocks (locate codes) and
 * the live orders, so every message it makes is consistent: an execute, cancel,
 * delete or replace always names a live order with enough shares, a broken trade
 * names an earlier match, and every stock was announced by its directory message.
 * Timestamps are not its business: the packetizer stamps messages when it sends them.
 */
#ifndef GEN_BOOK_H
#define GEN_BOOK_H

#include <stdint.h>

#include "itch.h"
#include "prng.h"

struct stock {
    uint64_t sym;       /* ALPHA(8) */
    uint32_t ref_price; /* 1e-4 dollars, moves as it trades */
    uint16_t locate;
};

struct order {
    uint64_t ref;
    uint32_t shares;
    uint32_t price;
    uint16_t locate;
    char side;
};

struct book {
    struct prng r;
    struct stock *stocks;
    unsigned nstocks;
    struct order *live; /* unordered; removal swaps the last one in */
    unsigned nlive, max_live;
    uint64_t next_ref, next_match;
    struct itch_msg *script; /* scratch for the session's scripted phases */
    unsigned script_cap;
};

/* The scripted parts of a session, in order. */
enum book_script {
    BOOK_START, /* S O, directory (R H Y L I ...), V, K, h, S S */
    BOOK_OPEN,  /* S Q, opening cross Q per stock */
    BOOK_CLOSE, /* closing cross Q per stock, S M */
    BOOK_END,   /* S E, S C */
};

/* Set up feed @p feed's model: @p nstocks stocks with locates 1..nstocks. 0 or -1. */
int book_init(struct book *b, unsigned feed, uint64_t seed, unsigned nstocks, unsigned max_live);

void book_free(struct book *b);

/* The messages of a scripted phase; *out points into the book (valid until the next call). */
unsigned book_script(struct book *b, enum book_script which, struct itch_msg **out);

/* One message of continuous trading, drawn from the realistic mix. */
void book_trade(struct book *b, struct itch_msg *m);

#endif
