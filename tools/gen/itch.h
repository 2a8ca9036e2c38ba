/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * itch.h: NASDAQ TotalView-ITCH 5.0 message layouts, encoder and JSON writer of
 * mdmux-gen. Private to the generator (and its tests): it is an encoder written
 * independently of lib/proto so that each can check the other.
 *
 * One table describes every message: the common header (type, stock locate,
 * tracking number, 6-byte timestamp) then the body fields in wire order. Encoding
 * and the JSON of the messages file both walk that table, so they cannot disagree.
 */
#ifndef GEN_ITCH_H
#define GEN_ITCH_H

#include <stddef.h>
#include <stdint.h>

#define ITCH_MAX_FIELDS 16
#define ITCH_MAX_LEN    50 /* the longest message, 'I' */

enum itch_kind {
    ITCH_UINT,   /* unsigned big-endian integer of the field's width */
    ITCH_ALPHA,  /* left-justified ASCII padded with spaces (stock, MPID) */
    ITCH_CHAR,   /* one ASCII code */
    ITCH_PRICE4, /* 4-byte price, units of 1e-4 dollars */
    ITCH_PRICE8, /* 8-byte price, units of 1e-8 dollars (MWCB levels) */
};

struct itch_field {
    const char *name; /* JSON key, snake_case of the spec's field name */
    uint8_t width;
    uint8_t kind;
};

struct itch_layout {
    char type;
    uint8_t len; /* total message length, header included */
    uint8_t nfields;
    struct itch_field f[ITCH_MAX_FIELDS];
};

/*
 * A message before encoding. Field values are in table order; ALPHA values hold
 * their bytes in memory order (itch_alpha()), CHAR values the character code.
 */
struct itch_msg {
    char type;
    uint16_t locate;
    uint16_t tracking;
    uint64_t ts; /* nanoseconds since midnight, 48 bits */
    uint64_t v[ITCH_MAX_FIELDS];
};

/* The layout of message @p type, or NULL when ITCH 5.0 has no such message. */
const struct itch_layout *itch_layout(char type);

/* All layouts, for tests; *n receives their number. */
const struct itch_layout *itch_layouts(unsigned *n);

/* Pack up to 8 characters, space-padded to @p width, as an ALPHA value. */
uint64_t itch_alpha(const char *s, unsigned width);

/* Encode @p m into @p out (at least ITCH_MAX_LEN bytes); returns its length. */
size_t itch_encode(const struct itch_msg *m, uint8_t *out);

/*
 * Write the JSON members of the encoded message @p msg (len bytes) to @p out:
 * "type":"A","locate":..,"tracking":..,"ts":.., then every body field. No braces,
 * so callers can add members. Returns the length written, or 0 if @p cap is too
 * small or the message is not a known, complete ITCH 5.0 message.
 */
size_t itch_json_fields(const uint8_t *msg, size_t len, char *out, size_t cap);

/*
 * One line of the messages file: {"feed":"<feed>","seq":<seq>,<fields>}\n, not
 * NUL-terminated. Returns its length, or 0 as itch_json_fields() does.
 */
size_t itch_json_line(const char *feed, uint64_t seq, const uint8_t *msg, size_t len, char *out,
                      size_t cap);

#endif
