/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file mux.h
 * mdmux merger and outputs: one mux coroutine selects fairly across every feed's
 * channel of records, gives each record the next merged sequence number, stamps its
 * publish time and hands it to every configured output:
 *
 * - a shared-memory broadcast ring (mux_shm_*) for local subscribers (mdmux_sub.h);
 * - UDP datagrams of packed records under an mdmux header (mux_pack_*: the frames,
 *   DPDK-free) sent on a DPDK TX port (mux_tx_*, the only part that needs DPDK);
 * - a pcap capture of those frames and a JSON Lines dump (mux_writer_*): the mux only
 *   copies into an SPSC ring; a writer coroutine on another (control) thread formats
 *   and writes with stdio, so no file I/O happens on the data path.
 *
 * Then it returns the record to its pool. It ends when every input is closed and
 * drained (or its context is cancelled): it flushes the last datagram, marks the shm
 * ring closed and closes the writers' rings, so the writers finish their files.
 *
 * The data path (mux_main, mux_shm_publish, mux_pack_add) never allocates, locks or
 * makes a system call. Everything except mux_tx_* builds without DPDK (and is covered
 * by the TSan tree). Counters are single-writer; readers on other threads get
 * consistent-enough values through relaxed atomics.
 */
#ifndef MDMUX_MUX_H
#define MDMUX_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chan.h"
#include "co.h"
#include "pool.h"
#include "proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------ */
/* Shared-memory broadcast ring: the publisher                                    */
/* ------------------------------------------------------------------------------ */

typedef struct mux_shm mux_shm_t; /**< The publishing side of a ring file. */

/** Ring options; zero fields take the defaults. */
typedef struct mux_shm_conf {
    const char *path;              /**< default MDMUX_SHM_PATH_DEFAULT ("/dev/shm/mdmux") */
    unsigned mode;                 /**< file mode; default 0640 (not world-readable) */
    bool set_group;                /**< chown the file to @ref gid (else the creator's group) */
    uint32_t gid;                  /**< group allowed to read the ring (with mode 0640) */
    uint64_t slots;                /**< records kept, rounded up to a power of two; default 65536 */
    bool keep_file;                /**< false: mux_shm_free() unlinks the file */
    const char *const *feed_names; /**< name of feed id i, stored in the header (copied) */
    unsigned n_feed_names;         /**< at most MDMUX_SHM_NAMES_MAX are kept */
} mux_shm_conf_t;

/**
 * Create the ring file (replacing an existing one: subscribers of the old one see it
 * closed), size it, map it and write its header. With set_group the file's group is
 * @ref mux_shm_conf_t.gid (fchown: root, or a member of that group, may do it). The
 * mode is then set exactly (fchmod: the umask does not apply). Pages are touched now,
 * not on the data path.
 *
 * @return
 *   The ring, or NULL with errno set and a message naming the file in @p err.
 */
mux_shm_t *mux_shm_new(const mux_shm_conf_t *c, char *err, size_t errlen);

/**
 * Publish a copy of @p r as the ring's next record. The ring numbers its records 1, 2,
 * ... and readers see that number as the seq field (r->seq is not stored: its word
 * carries the slot's stamp); the mux publishes every record, so it is the merged seq.
 * Never blocks and never fails: a reader that is a whole ring behind is lapped and
 * counts its loss itself. One publisher thread only.
 */
void mux_shm_publish(mux_shm_t *s, const md_rec_t *r);

/** Mark the ring closed: subscribers read what is left and then see the end. */
void mux_shm_close(mux_shm_t *s);

/** Records published so far. */
uint64_t mux_shm_published(const mux_shm_t *s);

/** Slots in the ring (a power of two). */
uint64_t mux_shm_slots(const mux_shm_t *s);

/** Path of the ring file. */
const char *mux_shm_path(const mux_shm_t *s);

/** Close (if not yet), unmap, and unlink the file unless keep_file was set. */
void mux_shm_free(mux_shm_t *s);

/* ------------------------------------------------------------------------------ */
/* Datagrams: records packed under the mdmux header                               */
/* ------------------------------------------------------------------------------ */

/** "MDMX": first four bytes of every mdmux datagram's UDP payload. */
#define MUX_DGRAM_MAGIC 0x4D444D58u
/** Datagram format version. */
#define MUX_DGRAM_VERSION 1u
/** Largest frame (Ethernet header + IP MTU 9000) the packer builds. */
#define MUX_FRAME_MAX 9014u

/**
 * The mdmux datagram header (UDP payload offset 0; every field big-endian), followed by
 * count records of rec_size bytes each: md_rec_t as in memory (x86-64 little-endian,
 * docs/record.md). Records are consecutive in merged sequence: first_seq, first_seq+1..
 */
typedef struct mux_dgram_hdr {
    uint32_t magic;     /**< MUX_DGRAM_MAGIC */
    uint16_t version;   /**< MUX_DGRAM_VERSION */
    uint16_t hdr_len;   /**< sizeof(mux_dgram_hdr_t): records start here */
    uint64_t first_seq; /**< merged seq of the first record */
    uint16_t count;     /**< records in this datagram */
    uint16_t rec_size;  /**< sizeof(md_rec_t) */
    uint32_t reserved;  /**< zero */
} __attribute__((packed)) mux_dgram_hdr_t;

_Static_assert(sizeof(mux_dgram_hdr_t) == 24, "mdmux datagram header is 24 bytes");

/** Where the datagrams go; addresses and ports in network byte order. */
typedef struct mux_udp_conf {
    uint8_t src_mac[6];
    uint8_t dst_mac[6];   /**< all zero: the group's IPv4 multicast MAC (01:00:5e:...) */
    uint32_t src_ip_be;   /**< source address */
    uint32_t group_be;    /**< destination (multicast) address */
    uint16_t src_port_be; /**< source port */
    uint16_t dst_port_be; /**< destination port */
    uint16_t mtu;         /**< IP MTU, 576 .. 9000; default 1500 */
    uint8_t ttl;          /**< default 16 */
} mux_udp_conf_t;

/**
 * Parse "A.B.C.D:PORT" (a group and port) into @p c->group_be and @p c->dst_port_be.
 * Returns 0 or -EINVAL.
 */
int mux_udp_parse_dest(const char *s, mux_udp_conf_t *c);

/** Receives each finished frame (Ethernet .. last record); the frame is borrowed. */
typedef void (*mux_frame_fn)(void *arg, const uint8_t *frame, uint32_t len);

/** A frame consumer: a TX port (mux_tx_sink()) or anything else. */
typedef struct mux_sink {
    mux_frame_fn frame;       /**< one frame */
    void (*flush)(void *arg); /**< push out whatever is batched (may be NULL) */
    void *arg;
} mux_sink_t;

typedef struct mux_pack mux_pack_t; /**< Packs records into frames. */

/**
 * Create a packer building frames for @p c (copied); each finished frame goes to
 * @p emit(@p arg, ...). Returns NULL with errno EINVAL (bad MTU) or ENOMEM.
 */
mux_pack_t *mux_pack_new(const mux_udp_conf_t *c, mux_frame_fn emit, void *arg);

/** Free @p p (an unfinished frame is dropped: flush first). */
void mux_pack_free(mux_pack_t *p);

/**
 * Append @p r (its seq must follow the previous record's) to the frame under
 * construction; emit the frame when no further record fits.
 */
void mux_pack_add(mux_pack_t *p, const md_rec_t *r);

/** Emit the frame under construction, if it holds any record. */
void mux_pack_flush(mux_pack_t *p);

/** Records per full frame at the configured MTU (11 at 1500). */
unsigned mux_pack_per_frame(const mux_pack_t *p);

/** Frames emitted so far. */
uint64_t mux_pack_frames(const mux_pack_t *p);

/**
 * Validate an mdmux frame (Ethernet, optional 802.1Q tag, IPv4 with a correct header
 * checksum, UDP, the mdmux header and its record count against the lengths) and
 * point @p *recs at its first record (unaligned: memcpy each one out).
 *
 * @return
 *   The record count (>= 0) with @p *hdr in host byte order, or -EINVAL.
 */
int mux_dgram_parse(const uint8_t *frame, uint32_t len, mux_dgram_hdr_t *hdr, const uint8_t **recs);

/* ------------------------------------------------------------------------------ */
/* Writers: JSON Lines dump and pcap capture, off the data path                   */
/* ------------------------------------------------------------------------------ */

/** What a writer writes. */
typedef enum mux_writer_kind {
    MUX_WRITER_JSONL = 0, /**< one md_rec_json() object per line */
    MUX_WRITER_PCAP,      /**< the mdmux frames, as a pcap (ns timestamps, Ethernet) */
} mux_writer_kind_t;

/** What the mux does when a writer's ring is full. */
typedef enum mux_writer_policy {
    MUX_POLICY_BLOCK = 0, /**< park until there is room: lossless (counted as waits) */
    MUX_POLICY_DROP,      /**< drop the item (counted as drops) */
} mux_writer_policy_t;

/** Writer options; zero fields take the defaults. */
typedef struct mux_writer_conf {
    mux_writer_kind_t kind;
    const char *path; /**< file to create ("-": stdout); ignored when fp is set */
    FILE *fp;         /**< or an open stream (not closed by the writer) */
    unsigned slots;   /**< ring slots; default 4096 (records) or 256 (frames) */
    mux_writer_policy_t policy;
    int numa_node;                 /**< ring memory node (-1: the calling thread's) */
    const char *const *feed_names; /**< JSONL: name of feed id i (copied pointers) */
    unsigned n_feed_names;         /**< ids beyond it are written as numbers */
    uint16_t snaplen;              /**< PCAP: largest frame taken; default 1514 (MTU 1500) */
    bool stall;                    /**< tests: after writing stall_after items, stop taking */
    uint64_t stall_after;          /**< any (flushed), parked until the writer's context is
                                        done; then return, the rest unwritten (a stalled output) */
} mux_writer_conf_t;

typedef struct mux_writer mux_writer_t; /**< A ring plus a file. */

/** Writer counters. */
typedef struct mux_writer_stats {
    uint64_t items;   /**< records or frames written */
    uint64_t bytes;   /**< bytes written to the file */
    uint64_t waits;   /**< times the mux parked on a full ring (BLOCK) */
    uint64_t drops;   /**< items dropped on a full ring (DROP) */
    uint64_t errors;  /**< failed writes (the first errno is kept by mux_writer_error) */
    uint64_t invalid; /**< records md_rec_json() rejected (written as {"seq":N,"invalid":true}) */
} mux_writer_stats_t;

/**
 * Open the file and create the ring. The producer is the mux's thread; the consumer
 * is whoever runs mux_writer_main(). Returns NULL with errno set and @p err filled.
 */
mux_writer_t *mux_writer_new(const mux_writer_conf_t *c, char *err, size_t errlen);

/**
 * Coroutine entry (arg: the mux_writer_t), for the control thread: take items off the
 * ring in bursts, format and write them with stdio, until the mux closes the ring and
 * it is drained, then flush (and close the file it opened). Cancelling @p ctx given
 * to mux_writer_set_ctx() stops it early.
 */
void mux_writer_main(void *w);

/**
 * Context mux_writer_main() observes while it waits for items (default none). Cancel
 * it only with (or after) the mux's: under MUX_POLICY_BLOCK a writer that stops
 * consuming parks the mux for good. Items still queued when it is cancelled are not
 * written.
 */
void mux_writer_set_ctx(mux_writer_t *w, co_ctx_t *ctx);

/** Items queued in the ring, not yet taken by the writer (relaxed; any thread). */
uint64_t mux_writer_pending(const mux_writer_t *w);

/** Close the ring from the producer's side (mux_main does this when it ends). */
void mux_writer_close(mux_writer_t *w);

/** Counters (relaxed reads). */
void mux_writer_stats(const mux_writer_t *w, mux_writer_stats_t *out);

/** 0, or the errno of the first failed write or flush. */
int mux_writer_error(const mux_writer_t *w);

/** True once mux_writer_main() has written everything and returned. */
bool mux_writer_done(const mux_writer_t *w);

/** Free @p w after mux_writer_main() has returned (or never ran). */
void mux_writer_free(mux_writer_t *w);

/* ------------------------------------------------------------------------------ */
/* The mux                                                                        */
/* ------------------------------------------------------------------------------ */

/** Most inputs (feeds) of one mux. */
#define MUX_INPUTS_MAX CH_SELECT_MAX

/** One input: a feed's channel of md_rec_t * (set exactly one of local and spsc). */
typedef struct mux_input {
    ch_t *local;      /**< a local channel (feed handler on the mux's thread) */
    chs_t *spsc;      /**< or an SPSC channel from the feed handler's thread */
    pool_t *pool;     /**< where its records go back (NULL: not returned) */
    const char *name; /**< the feed's name (reports) */
} mux_input_t;

/**
 * Observer of the published stream (e.g. a latency recorder), called on the mux's
 * thread: after each burst with the @p n records just published (stamped, still
 * valid; all from one input), and with @p n == 0 from the idle path at least every
 * mux_conf_t.observe_idle_ns while no input is ready, so an observer that hands
 * data to another thread at its batch boundaries (stats_interval_t) still does so
 * when the market is quiet. Data path: no allocation, lock or system call.
 */
typedef void (*mux_observe_fn)(void *arg, md_rec_t *const *recs, unsigned n);

/** Mux options; zero fields take the defaults. */
typedef struct mux_conf {
    const mux_input_t *inputs; /**< copied */
    unsigned n_inputs;         /**< 1 .. MUX_INPUTS_MAX */
    unsigned burst;            /**< records taken per pick of an input; default 32 */
    unsigned yield_every;      /**< co_yield() after this many records (let feed handlers on
                                    the same lcore run under load); default 64 */
    co_ctx_t *ctx;             /**< cancelling it ends the mux (outputs are still closed) */
    mux_shm_t *shm;            /**< shared-memory ring, or NULL */
    const mux_udp_conf_t *udp; /**< datagrams (with tx and/or pcap), or NULL */
    mux_sink_t tx;             /**< where frames are sent (tx.frame NULL: nowhere) */
    mux_writer_t *pcap;        /**< pcap writer of the frames (needs udp), or NULL */
    mux_writer_t *dump;        /**< JSON Lines writer, or NULL */
    mux_observe_fn observe;    /**< called per published burst and when idle, or NULL */
    void *observe_arg;         /**< its argument */
    uint64_t observe_idle_ns;  /**< idle-call period; default 1 ms (with observe) */
} mux_conf_t;

typedef struct mux mux_t; /**< The merger. */

/** Mux counters. */
typedef struct mux_stats {
    uint64_t published; /**< records published (= last merged seq) */
    uint64_t events;    /**< ... of which events */
    uint64_t selects;   /**< picks (ch_select calls that returned an input) */
    uint64_t idle;      /**< times no input was ready (outputs flushed, then parked) */
    uint64_t frames;    /**< datagrams built */
    unsigned inputs_open;
} mux_stats_t;

/** Per-input counters. */
typedef struct mux_input_stats {
    uint64_t records; /**< records taken from it */
    uint64_t picks;   /**< times select chose it */
    bool closed;      /**< closed and drained */
} mux_input_stats_t;

/**
 * Create a mux over @p c's inputs and outputs (the outputs stay the caller's: the mux
 * closes them when it ends, the caller frees them after). Returns NULL with errno
 * EINVAL (no input, too many, a case with both or neither channel) or ENOMEM.
 */
mux_t *mux_new(const mux_conf_t *c);

/** Free @p m after mux_main() has returned (or never ran). */
void mux_free(mux_t *m);

/**
 * Coroutine entry (arg: the mux_t), on the thread that consumes every input: select,
 * sequence, publish, return records, until every input is closed and drained or the
 * context is cancelled; then flush and close the outputs.
 */
void mux_main(void *m);

/** Counters (relaxed reads; callable from any thread). */
void mux_stats(const mux_t *m, mux_stats_t *out);

/** Counters of input @p i (0 .. n_inputs-1). */
void mux_input_stats(const mux_t *m, unsigned i, mux_input_stats_t *out);

/* ------------------------------------------------------------------------------ */
/* TX on a DPDK port (lib/mux's only DPDK part; not in the TSan tree)             */
/* ------------------------------------------------------------------------------ */

struct rte_mempool;
typedef struct mux_tx mux_tx_t; /**< Frames to a DPDK TX queue. */

/** TX counters. */
typedef struct mux_tx_stats {
    uint64_t frames;     /**< frames accepted by rte_eth_tx_burst */
    uint64_t bytes;      /**< their bytes */
    uint64_t tx_fail;    /**< frames the port did not accept (freed, lost) */
    uint64_t alloc_fail; /**< frames lost for want of an mbuf (or of room in one: size the
                              pool's data room for the MTU) */
} mux_tx_stats_t;

/**
 * Send frames on @p port_id / @p queue (a started port with that TX queue), copying
 * each into an mbuf from @p mp and sending in bursts of up to 32 (mux flushes them
 * when idle). Returns NULL with errno set and @p err filled.
 */
mux_tx_t *mux_tx_new(uint16_t port_id, uint16_t queue, struct rte_mempool *mp, char *err,
                     size_t errlen);

/** The sink to put in mux_conf_t.tx. */
mux_sink_t mux_tx_sink(mux_tx_t *t);

/** Counters. */
void mux_tx_stats(const mux_tx_t *t, mux_tx_stats_t *out);

/** Free @p t (send what is batched first with mux_tx_sink(t).flush). */
void mux_tx_free(mux_tx_t *t);

#ifdef __cplusplus
}
#endif
#endif /* MDMUX_MUX_H */
