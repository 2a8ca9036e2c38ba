/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file proto.h
 * mdmux protocols: the normalized record (md_), MoldUDP64 framing (mold_) and
 * NASDAQ TotalView-ITCH 5.0 decoding (itch_).
 *
 * Everything here works on byte buffers: no DPDK, no mbufs, no allocation, no
 * system calls. Bad input is never fatal: every parse and decode returns 0 or a
 * reason code (mold_err_t, itch_err_t) that the caller counts per feed and drops.
 * co_panic() (lib/rt) is raised only for broken invariants of this library itself.
 *
 * ITCH 5.0 is table-driven: one descriptor per message type (itch_desc_t) lists
 * every field with its spec name in snake_case, offset, width and kind. The table
 * drives validation, the generic decoder, the JSON writer and the re-encoder. The fast
 * decoder (itch_decode()) runs on per-type offset rows compiled from the same table at
 * load time, with no per-type branch; a test checks it against the table-driven one,
 * byte for byte, on random input of every type.
 *
 * The record layout, event encoding and JSON names are documented in docs/record.md.
 */
#ifndef MDMUX_PROTO_H
#define MDMUX_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------ */
/* The normalized record                                                          */
/* ------------------------------------------------------------------------------ */

/** md_rec_t.kind: what the record carries. Zero is an unused record. */
enum md_kind {
    MD_KIND_NONE = 0,
    MD_KIND_MSG = 1,   /**< an ITCH message; type is its ITCH type character */
    MD_KIND_EVENT = 2, /**< a feed event; type is an md_event_t */
};

/** md_rec_t.line: where the message came from. */
enum md_line {
    MD_LINE_A = 0,
    MD_LINE_B = 1,
    MD_LINE_RETX = 2, /**< a retransmission answering a re-request */
    MD_LINE_NONE = 3, /**< events that concern the whole feed */
};

/** Events (kind MD_KIND_EVENT); see docs/record.md for the fields each one sets. */
typedef enum md_event {
    MD_EV_GAP = 1,         /**< ev.from..ev.to (inclusive) missing on both lines */
    MD_EV_GAP_FILLED,      /**< ev.from..ev.to recovered by retransmission */
    MD_EV_GAP_FINAL,       /**< ev.from..ev.to given up: lost for good */
    MD_EV_LINE_UP,         /**< line (A or B) heard again */
    MD_EV_LINE_DOWN,       /**< line silent for longer than its timeout */
    MD_EV_FEED_UP,         /**< first line of the feed up */
    MD_EV_FEED_DOWN,       /**< both lines down */
    MD_EV_SESSION_CHANGE,  /**< new MoldUDP64 session ev.session; ev.from = first seq */
    MD_EV_END_OF_SESSION,  /**< end of session ev.session; ev.from = next seq */
    MD_EV_HANDLER_RESTART, /**< the feed handler restarted; ev.value = restarts so far */
    MD_EV_COUNT            /**< number of event codes + 1 (codes start at 1) */
} md_event_t;

/** Indices of md_rec_t.tsc[]: the per-stage TSC stamps. */
enum md_tsc {
    MD_TSC_RX = 0,   /**< packet received (NIC hardware time converted, or TSC) */
    MD_TSC_DEQUEUE,  /**< the feed handler took the packet off its channel */
    MD_TSC_DECODE,   /**< the message was decoded into this record */
    MD_TSC_PUBLISH,  /**< the mux published the record */
    MD_TSC_INTENDED, /**< replay: the packet's intended send time (0 when live) */
    MD_TSC_COUNT
};

/**
 * The normalized record: 128 bytes, two cache lines. The first line holds what an
 * order-book consumer reads for the hot types; the second the new reference, the
 * MPID, the stock and the stamps. Offsets are in docs/record.md (and checked by
 * static asserts in lib/proto).
 *
 * Caller-owned fields (never written by itch_decode()): seq (mux), feed_seq, feed,
 * line (feed handler) and tsc[]. Every other field is written by itch_decode().
 *
 * The 40-byte union at offset 40 has three views, chosen by kind and type:
 * - order view (ITCH A F E C X D U P B): ref, price, match, new_ref, mpid;
 * - body view (ITCH S R H Y L V W K J h Q I N O): body[] holds the message bytes
 *   after the 11-byte header, verbatim (big-endian; at most 39 bytes, for I);
 * - event view (kind MD_KIND_EVENT): ev.
 * Fields a type does not have are zero.
 */
typedef struct md_rec {
    uint64_t seq;      /**<  0 merged sequence, assigned by the mux */
    uint64_t feed_seq; /**<  8 MoldUDP64 sequence number of the message */
    uint16_t feed;     /**< 16 feed id */
    uint8_t line;      /**< 18 enum md_line */
    uint8_t kind;      /**< 19 enum md_kind */
    uint8_t type;      /**< 20 ITCH message type ('A'...), or md_event_t */
    char side;         /**< 21 buy_sell_indicator 'B'/'S' (A F P) */
    uint16_t locate;   /**< 22 stock_locate */
    uint16_t tracking; /**< 24 tracking_number */
    char printable;    /**< 26 printable 'Y'/'N' (C) */
    char cross_type;   /**< 27 cross_type (Q I) */
    uint32_t shares;   /**< 28 shares, executed_shares (E C), canceled_shares (X) */
    uint64_t ts;       /**< 32 exchange timestamp, ns since midnight (48-bit field) */
    union {
        struct {
            uint64_t ref;     /**< 40 order_reference_number; original_... (U) */
            int64_t price;    /**< 48 price, execution_price (C); 1e-4 units */
            uint64_t match;   /**< 56 match_number (E C P B) */
            uint64_t new_ref; /**< 64 new_order_reference_number (U) */
            char mpid[4];     /**< 72 attribution (F), space-padded */
            uint8_t pad_o[4]; /**< 76 zero */
        };
        uint8_t body[40]; /**< 40 body view: message bytes [11, len), zero-filled */
        struct {
            uint64_t from;    /**< 40 first sequence concerned */
            uint64_t to;      /**< 48 last sequence concerned (inclusive) */
            uint64_t value;   /**< 56 event-specific count */
            char session[10]; /**< 64 MoldUDP64 session (session events) */
            uint8_t pad_e[6]; /**< 74 zero */
        } ev;
    };
    char stock[8]; /**< 80 stock symbol, space-padded, not NUL-terminated; zero if none */
    union {
        struct {
            uint64_t tsc_rx;       /**<  88 */
            uint64_t tsc_dequeue;  /**<  96 */
            uint64_t tsc_decode;   /**< 104 */
            uint64_t tsc_publish;  /**< 112 */
            uint64_t tsc_intended; /**< 120 */
        };
        uint64_t tsc[MD_TSC_COUNT]; /**< the same stamps, indexed by enum md_tsc */
    };
} __attribute__((aligned(64))) md_rec_t;

_Static_assert(sizeof(md_rec_t) == 128, "md_rec_t is two cache lines");
_Static_assert(_Alignof(md_rec_t) == 64, "md_rec_t is cache-line aligned");

/** Longest JSON object md_rec_json() writes (an I message with every escape). */
#define MD_JSON_MAX 640

/** Name of event @p ev ("gap", "line_down", ...), or "unknown". */
const char *md_event_name(unsigned ev);

/** Name of line @p line: "A", "B", "R" (retransmission) or "-". */
const char *md_line_name(unsigned line);

/**
 * Make @p r an event record: kind MD_KIND_EVENT, type @p ev, the given feed, line
 * and range; every other field except seq and tsc[] is zeroed.
 */
void md_rec_event(md_rec_t *r, md_event_t ev, uint16_t feed, uint8_t line, uint64_t from,
                  uint64_t to, uint64_t value);

/**
 * Re-encode the ITCH message a record of kind MD_KIND_MSG holds into @p out (at
 * least ITCH_MAX_LEN bytes), exactly as it was on the wire.
 *
 * @return
 *   The message length, or 0 if @p r is not a message record of a known type.
 */
size_t md_rec_to_itch(const md_rec_t *r, uint8_t *out);

/**
 * Write record @p r as one JSON object (no newline) into @p buf, NUL-terminated:
 * messages as {"seq","feed","feed_seq","line","type","locate","tracking","ts",...}
 * with the dump names of docs/record.md; events as {"seq","event","feed",...}.
 * The feed is written as the string @p feed_name, or as the number r->feed when
 * @p feed_name is NULL. No allocation.
 *
 * @return
 *   The length written (without the NUL), or -1 if @p cap is too small (MD_JSON_MAX
 *   always suffices for names up to 64 bytes) or @p r is not a valid record.
 */
int md_rec_json(const md_rec_t *r, const char *feed_name, char *buf, size_t cap);

/* ------------------------------------------------------------------------------ */
/* MoldUDP64                                                                      */
/* ------------------------------------------------------------------------------ */

#define MOLD_SESSION_LEN   10     /**< session: 10 ASCII bytes */
#define MOLD_HDR_LEN       20     /**< session, u64 sequence, u16 count (big-endian) */
#define MOLD_REQ_LEN       20     /**< re-request: session, u64 sequence, u16 count */
#define MOLD_COUNT_EOS     0xFFFF /**< count of an end-of-session packet */
#define MOLD_MAX_BLOCK_LEN 0xFFFF /**< a block's u16 length */

/** Why a MoldUDP64 packet was rejected (counted per feed by mold_err_name()). */
typedef enum mold_err {
    MOLD_OK = 0,
    MOLD_ERR_SHORT_HEADER,   /**< fewer than 20 bytes */
    MOLD_ERR_SHORT_BLOCK,    /**< a block's 2-byte length cut by the end of the packet */
    MOLD_ERR_BLOCK_OVERRUN,  /**< a block's length runs past the end of the packet */
    MOLD_ERR_COUNT_MISMATCH, /**< the packet ends before count blocks */
    MOLD_ERR_TRAILING_BYTES, /**< bytes after the last block (or after a heartbeat/EOS) */
    MOLD_ERR_SEQ_OVERFLOW,   /**< seq + count wraps 64 bits */
    MOLD_ERR_COUNT           /**< number of codes */
} mold_err_t;

/** What a valid packet is. */
enum mold_kind {
    MOLD_DATA = 0,           /**< count >= 1 message blocks */
    MOLD_HEARTBEAT = 1,      /**< count 0: seq is the next sequence to be sent */
    MOLD_END_OF_SESSION = 2, /**< count 0xFFFF: seq is the next (never sent) sequence */
};

/** A parsed, validated MoldUDP64 packet. Pointers point into the caller's buffer. */
typedef struct mold_pkt {
    const uint8_t *session; /**< MOLD_SESSION_LEN bytes */
    uint64_t seq;           /**< sequence number of the first block */
    uint16_t count;         /**< blocks in the packet (0 for heartbeat and EOS) */
    uint8_t kind;           /**< enum mold_kind */
    const uint8_t *blocks;  /**< first block (its u16 length) */
    const uint8_t *end;     /**< end of the packet */
} mold_pkt_t;

/** Iterator over the blocks of a validated packet. */
typedef struct mold_iter {
    const uint8_t *p; /**< next block */
    uint64_t seq;     /**< its sequence number */
    uint16_t left;    /**< blocks left */
} mold_iter_t;

/** One message block. */
typedef struct mold_msg {
    const uint8_t *data; /**< message bytes (after the length) */
    uint16_t len;        /**< message length (0 is valid framing; ITCH rejects it) */
    uint64_t seq;        /**< its MoldUDP64 sequence number */
} mold_msg_t;

/** A parsed re-request packet. */
typedef struct mold_req {
    char session[MOLD_SESSION_LEN];
    uint64_t seq;   /**< first sequence requested */
    uint16_t count; /**< messages requested */
} mold_req_t;

/** Name of reason @p e ("short_header", ...), "ok" for MOLD_OK, or "unknown". */
const char *mold_err_name(unsigned e);

/**
 * Parse and fully validate the MoldUDP64 packet @p buf of @p len bytes: the header,
 * then every block length against the end of the packet, then the count. A packet
 * is accepted whole or rejected whole, so iteration needs no further checks.
 *
 * @return
 *   MOLD_OK and @p pkt filled, or a mold_err_t reason (@p pkt is then undefined).
 */
mold_err_t mold_parse(const uint8_t *buf, size_t len, mold_pkt_t *pkt);

/** Start iterating over the blocks of @p pkt (which mold_parse() accepted). */
static inline void mold_iter_init(mold_iter_t *it, const mold_pkt_t *pkt)
{
    it->p = pkt->blocks;
    it->seq = pkt->seq;
    it->left = pkt->kind == MOLD_DATA ? pkt->count : 0;
}

/**
 * Next block of a packet mold_parse() accepted. No bounds checks: mold_parse() has
 * checked every length already.
 *
 * @return
 *   true and @p m filled, or false after the last block.
 */
static inline bool mold_iter_next(mold_iter_t *it, mold_msg_t *m)
{
    uint16_t be;

    if (it->left == 0)
        return false;
    memcpy(&be, it->p, 2);
    m->len = __builtin_bswap16(be);
    m->data = it->p + 2;
    m->seq = it->seq++;
    it->p += 2 + (size_t)m->len;
    it->left--;
    return true;
}

/**
 * Encode a MoldUDP64 packet header into @p out (MOLD_HDR_LEN bytes): @p session
 * (MOLD_SESSION_LEN bytes), @p seq, @p count. Blocks follow with mold_encode_block().
 *
 * @return
 *   MOLD_HDR_LEN.
 */
size_t mold_encode_hdr(uint8_t *out, const void *session, uint64_t seq, uint16_t count);

/**
 * Encode one block (u16 length, then @p len bytes of @p msg) into @p out, which
 * must hold 2 + @p len bytes.
 *
 * @return
 *   2 + @p len.
 */
size_t mold_encode_block(uint8_t *out, const void *msg, uint16_t len);

/**
 * Encode a re-request (MOLD_REQ_LEN bytes) for @p count messages from @p seq of
 * @p session (MOLD_SESSION_LEN bytes) into @p out.
 *
 * @return
 *   MOLD_REQ_LEN.
 */
size_t mold_encode_request(uint8_t *out, const void *session, uint64_t seq, uint16_t count);

/**
 * Parse a re-request packet (for re-request servers).
 *
 * @return
 *   MOLD_OK and @p req filled; MOLD_ERR_SHORT_HEADER if @p len < MOLD_REQ_LEN,
 *   MOLD_ERR_TRAILING_BYTES if longer, MOLD_ERR_SEQ_OVERFLOW if seq + count wraps.
 */
mold_err_t mold_parse_request(const uint8_t *buf, size_t len, mold_req_t *req);

/* ------------------------------------------------------------------------------ */
/* ITCH 5.0                                                                       */
/* ------------------------------------------------------------------------------ */

#define ITCH_MAX_LEN     50  /**< the longest message (I) */
#define ITCH_HDR_LEN     11  /**< type, stock_locate, tracking_number, timestamp */
#define ITCH_NTYPES      23  /**< message types in ITCH 5.0 */
#define ITCH_NFIELDS_MAX 18  /**< most fields in one message, header included (R) */
#define ITCH_JSON_MAX    560 /**< enough for itch_json() of any message, every byte escaped */

/** Why an ITCH message was rejected. */
typedef enum itch_err {
    ITCH_OK = 0,
    ITCH_ERR_UNKNOWN_TYPE, /**< not an ITCH 5.0 type (or an empty block) */
    ITCH_ERR_BAD_LENGTH,   /**< the block length is not the type's length */
    ITCH_ERR_COUNT         /**< number of codes */
} itch_err_t;

/*
 * The tags (itch_fkind, itch_fdesc) differ from the typedef names so that this header
 * and mdmux-gen's private tools/gen/itch.h (an independent encoder) can meet in one test.
 */

/** How a field's bytes are read (all integers big-endian). */
typedef enum itch_fkind {
    ITCH_K_CHAR = 0, /**< one ASCII byte */
    ITCH_K_ALPHA,    /**< width ASCII bytes, left-justified, space-padded */
    ITCH_K_U16,
    ITCH_K_U32,
    ITCH_K_TS48, /**< 6-byte nanoseconds since midnight */
    ITCH_K_U64,
    ITCH_K_PRICE4, /**< u32, 4 implied decimals (1e-4 units) */
    ITCH_K_PRICE8, /**< u64, 8 implied decimals (1e-8 units: MWCB levels) */
} itch_kind_t;

/** Which md_rec_t field a message field lands in (ITCH_R_NONE: body view only). */
typedef enum itch_role {
    ITCH_R_NONE = 0,
    ITCH_R_TYPE,
    ITCH_R_LOCATE,
    ITCH_R_TRACKING,
    ITCH_R_TS,
    ITCH_R_REF,
    ITCH_R_NEW_REF,
    ITCH_R_SIDE,
    ITCH_R_SHARES,
    ITCH_R_STOCK,
    ITCH_R_PRICE,
    ITCH_R_MATCH,
    ITCH_R_PRINTABLE,
    ITCH_R_MPID,
    ITCH_R_CROSS_TYPE,
} itch_role_t;

/** One field of a message, header included. */
typedef struct itch_fdesc {
    const char *name; /**< the spec's field name in snake_case ("stock_locate") */
    const char *key;  /**< JSON key in record dumps ("locate", "ref"); = name if none */
    uint8_t off;      /**< byte offset in the message */
    uint8_t width;    /**< bytes */
    uint8_t kind;     /**< itch_kind_t */
    uint8_t role;     /**< itch_role_t */
} itch_field_t;

/** md_rec_t union view of a message type. */
enum itch_view {
    ITCH_VIEW_ORDER = 0, /**< decoded into ref/price/match/new_ref/mpid */
    ITCH_VIEW_BODY = 1,  /**< body bytes copied into md_rec_t.body */
};

/** A message type: its length and its fields in wire order. */
typedef struct itch_desc {
    char type;                  /**< 'A' ... */
    uint8_t len;                /**< total length, header included */
    uint8_t nfields;            /**< fields[] entries, header included */
    uint8_t view;               /**< enum itch_view */
    const char *name;           /**< the spec's message name in snake_case */
    const itch_field_t *fields; /**< nfields entries; fields[0..3] are the header */
} itch_desc_t;

/** Name of reason @p e ("unknown_type", "bad_length"), "ok", or "unknown". */
const char *itch_err_name(unsigned e);

/** The descriptor of type @p type, or NULL if ITCH 5.0 has no such message. */
const itch_desc_t *itch_desc(uint8_t type);

/** All ITCH_NTYPES descriptors, in the spec's order. */
const itch_desc_t *itch_descs(void);

/** The field of @p d called @p name (spec name or JSON key), or NULL. */
const itch_field_t *itch_field_find(const itch_desc_t *d, const char *name);

/**
 * Value of a numeric or CHAR field @p f of message @p msg (which must be at least
 * f->off + f->width bytes): integers and prices as unsigned, a CHAR as its byte.
 * ALPHA fields return their first (up to 8) bytes packed big-endian.
 */
uint64_t itch_field_u64(const uint8_t *msg, const itch_field_t *f);

/**
 * Decode and normalize one ITCH message (@p msg, @p len bytes: one MoldUDP64 block)
 * into @p r: kind, type, locate, tracking, ts, the type's fields and the union view
 * (see md_rec_t); fields the type lacks are zeroed. seq, feed_seq, feed, line and
 * tsc[] are left as they were. One branch-free path for every type (fixed offsets
 * per type, masks for absent fields); body-view types add one copy of the body.
 *
 * @return
 *   ITCH_OK, or ITCH_ERR_UNKNOWN_TYPE / ITCH_ERR_BAD_LENGTH (@p r's decoded fields
 *   are then undefined; the caller counts the reason and drops the message).
 */
int itch_decode(const uint8_t *msg, size_t len, md_rec_t *r);

/**
 * The same as itch_decode(), table-driven for every type (walks the descriptor's
 * fields and roles). Slower; it is the reference the fast decoders are tested against.
 */
int itch_decode_table(const uint8_t *msg, size_t len, md_rec_t *r);

/** itch_json() flags. */
enum itch_json_flags {
    ITCH_JSON_KEYS = 1,    /**< use the record-dump keys ("ref") instead of spec names */
    ITCH_JSON_MEMBERS = 2, /**< members only, no braces (the caller adds its own) */
};

/**
 * Write message @p msg as a JSON object into @p buf, NUL-terminated, with no
 * allocation: "type","locate","tracking","ts", then every body field in wire order
 * by its spec name (or its dump key with ITCH_JSON_KEYS). CHAR and ALPHA fields are
 * strings (ALPHA with trailing spaces trimmed), everything else integers; prices in
 * their raw units (1e-4, or 1e-8 for PRICE8).
 *
 * @return
 *   The length written (without the NUL), or -1 if the message is invalid (unknown
 *   type, bad length) or does not fit in @p cap (ITCH_JSON_MAX always fits).
 */
int itch_json(const uint8_t *msg, size_t len, unsigned flags, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* MDMUX_PROTO_H */
