/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * gen.h: mdmux-gen's internal types. A feed turns its book's messages into
 * MoldUDP64 packets ("slots", kept in a small ring), each with its fate on each
 * line decided once; the feed's two lines turn slots into Ethernet frames at their
 * own times; main() merges all lines into one time-ordered pcap.
 */
#ifndef GEN_GEN_H
#define GEN_GEN_H

#include <stdint.h>
#include <stdio.h>

#include "book.h"
#include "prng.h"

#define MOLD_HDR      20
#define MOLD_HB       0      /* message count of a heartbeat */
#define MOLD_EOS      0xFFFF /* message count of an end-of-session packet */
#define ETH_MIN_FRAME 60     /* without FCS: shorter frames are padded */

struct gen_opts {
    const char *out, *config, *truth, *messages;
    unsigned feeds, stocks, max_msgs;
    uint64_t seed, packets_per_feed;
    double duration_ms, rate, skew_us, jitter_us;
    double loss_a, loss_b, loss_both, reorder, dup, truncate, corrupt, corrupt_payload;
    double zero_udp, unknown, noise;
    double heartbeat_ms, preopen_ms, postclose_ms;
    double burst_every_ms, burst_len_ms, burst_factor;
    int vlan, qinq_outer, qinq_inner; /* -1: none */
    int end_session, jumbo, quiet, bench;
    /* line-level impairments (whole lines silent) and capture clock steps */
    int dead[2], flap_overlap;
    double dead_after_ms, flap_ms, ts_back_ms, ts_fwd_s;
};

/* Malformed reasons the generator produces, named as the classifier names them. */
enum bad_reason { BAD_ETH_SHORT, BAD_VLAN_SHORT, BAD_IP_SHORT, BAD_IP_LEN, BAD_IP_CHECKSUM, BAD_N };
extern const char *const bad_names[BAD_N];

/* What happens to a data packet on one line. */
enum fate { FATE_OK, FATE_LOST, FATE_TRUNC, FATE_CORRUPT, FATE_CORRUPT_PAYLOAD };

enum slot_kind { SLOT_DATA, SLOT_HB, SLOT_EOS };

struct slot {
    uint64_t t[2]; /* capture time on line A and B, ns since the epoch */
    uint64_t seq;
    uint16_t count, len; /* messages; payload bytes */
    uint8_t kind, fate[2], dup[2], reorder[2];
    uint8_t silent[2]; /* the line sends nothing at this slot's time (--dead-*, --flap-ms) */
    uint32_t csum;     /* ones'-complement sum of the payload, shared by both lines */
    uint8_t *payload;  /* MoldUDP64 header + blocks */
};

struct ranges {
    uint64_t (*r)[2];
    unsigned n, cap;
};

struct line_stats {
    uint64_t frames, packets, bytes, malformed, duplicates, heartbeats, end_session;
    uint64_t lost, truncated, corrupt, corrupt_payload, reordered, zero_length;
    uint64_t silenced, silenced_control; /* data / heartbeat+EOS packets a silent line kept */
    uint64_t bad[BAD_N];
};

/* One stretch of a line's silence: the capture times of the line's last frame before
   it (0: none) and of its first frame after it (0: the line never sent again). */
struct silence {
    uint64_t from, to, first_slot_t, packets;
};

enum job_kind { JOB_SLOT, JOB_DUP, JOB_ZERO };

struct job {
    uint64_t t, slot;
    uint8_t kind;
};

#define LINE_JOBS 8

struct feed;

struct line {
    struct feed *feed;
    int which; /* 0 = A, 1 = B */
    uint32_t group, src;
    uint16_t port, sport;
    uint64_t cursor; /* next slot this line has not looked at */
    struct job q[LINE_JOBS];
    unsigned qh, qn;
    uint64_t last_t;
    uint16_t ip_id;
    struct prng r;       /* this line's cut points and zero-length datagrams */
    struct silence *sil; /* the line's silences, in time order */
    unsigned nsil, capsil;
    int in_silence;
    uint8_t hdr[64]; /* Ethernet + VLAN tags + IPv4 + UDP template */
    unsigned l3_off, hdr_len;
    struct line_stats st;
};

enum phase {
    PH_START,
    PH_PREOPEN,
    PH_OPEN,
    PH_TRADE,
    PH_CLOSE,
    PH_POSTCLOSE,
    PH_END,
    PH_EOS,
    PH_DONE
};

struct feed {
    const struct gen_opts *o;
    unsigned id;
    char name[16], session[11];
    struct book book;
    struct prng r; /* timing and impairments, apart from the book's stream */
    struct slot *ring;
    uint8_t *paybuf;
    unsigned cap;  /* power of two */
    uint64_t head; /* slots made so far; slot n lives in ring[n & (cap - 1)] */
    enum phase phase;
    struct itch_msg *script;
    unsigned script_n, script_i;
    uint64_t t_exch;    /* planned time of the next packet, ns since midnight */
    uint64_t last_exch; /* time of the last packet sent */
    uint64_t last_ts;   /* last message timestamp */
    uint64_t t_open, midnight;
    uint64_t next_seq, trade_pkts;
    int planned;
    struct ranges lost[3]; /* A, B, both */
    struct line line[2];
    FILE *msgs;
};

/* Global context of a run. */
struct gen_ctx {
    const struct gen_opts *o;
    struct feed *feeds;
    uint64_t midnight_ns; /* epoch ns of the session's midnight (exchange time 0) */
    unsigned max_payload;
    /* --ts-jump-*: the first frame at or after jump_at (epoch ns) and all later ones are
       written delta_ns later; where it happened */
    uint64_t jump_at, jump_frame, jump_offset;
    int64_t jump_delta_ns;
    int jumped;
};

/* feed.c */
int feed_init(struct feed *f, const struct gen_ctx *g, unsigned id, FILE *msgs);
void feed_free(struct feed *f);
/* Make sure slot @p n exists (generating as needed); 0 when the session ended before. */
int feed_have(struct feed *f, uint64_t n);
struct slot *feed_slot(struct feed *f, uint64_t n);
void ranges_add(struct ranges *r, uint64_t from, uint64_t to);

/* line.c */
void line_init(struct line *l, struct feed *f, int which, const struct gen_opts *o);
void line_free(struct line *l);
/* Whether line @p w is silent at exchange time @p t_exch (ns since midnight). */
int line_silent_at(const struct feed *f, int w, uint64_t t_exch);
/* Time of the line's next frame; 0 when the line has no more frames. */
uint64_t line_peek(struct line *l);
/* Build the line's next frame into @p buf; returns its length, *t gets its time. */
unsigned line_next(struct line *l, uint8_t *buf, uint64_t *t);
/* Lowest slot number the line still needs. */
uint64_t line_low(const struct line *l);
unsigned frame_udp(uint8_t *buf, const uint8_t *hdr, unsigned l3_off, uint16_t ip_id,
                   const uint8_t *payload, unsigned len, uint32_t csum);
uint32_t csum_add(uint32_t sum, const uint8_t *p, unsigned len);
void line_template(uint8_t *hdr, unsigned *l3_off, uint32_t src, uint32_t dst, uint16_t sport,
                   uint16_t dport, uint8_t mac_last, const struct gen_opts *o);

/* pcap_out.c */
struct pcap_out;
struct pcap_out *pcap_out_open(const char *path);
void pcap_out_write(struct pcap_out *p, uint64_t t_ns, const uint8_t *frame, unsigned len);
/* Flush and close; 0, or -1 if any write failed. */
int pcap_out_close(struct pcap_out *p);

/* truth.c */
struct gen_totals {
    uint64_t frames, messages, bytes, unknown, other;
    double elapsed;
};
int truth_write(const struct gen_ctx *g, const struct gen_totals *t, const char *path);
int config_write(const struct gen_ctx *g, const char *path);

#endif
