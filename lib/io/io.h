/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file io.h
 * mdmux packet I/O: DPDK EAL and ports, the L2-L4 classifier, capture files, replay
 * pacing and the per-lcore RX loop that hands mbufs to feed handlers through SPSC
 * channels (lib/chan).
 *
 * How the application wires it (app/)
 * -----------------------------------
 *  1. io_eal_init(&eal_opts, err, sizeof err)       EAL from mdmux's own options
 *                                                    (DESIGN.md defaults, raw extra args
 *                                                    appended); registers the mbuf
 *                                                    dynfields (io_mbuf_*) too.
 *  2. io_port_open(&port_conf, err, sizeof err)     once per configured port: any PMD
 *                                                    (PCI address or vdev string); returns
 *                                                    the DPDK port id; with
 *                                                    .steering IO_STEER_FLOW it also
 *                                                    creates .rules (rte_flow), and
 *                                                    io_port_close() flushes them. For
 *                                                    `mdmux replay
 *                                                    FILE` use io_replay_open() instead,
 *                                                    which pre-scans FILE and opens a
 *                                                    net_pcap port on it.
 *  3. io_flow_table_new() + io_flow_table_add()     one (group, port) -> (feed, line)
 *                                                    entry per feed line; -EEXIST on a
 *                                                    duplicate (a config error).
 *  4. per RX lcore: io_rx_new(&rx_conf)             then io_rx_add_queue() for each
 *                                                    (port, queue) it polls,
 *                                                    io_rx_set_channel() for each (feed,
 *                                                    line) -> the chs_t (elements: struct
 *                                                    rte_mbuf *) of the feed's handler
 *                                                    lcore, and, in replay,
 *                                                    io_rx_attach_replay().
 *  5. rte_eal_remote_launch() a loop on each RX lcore:
 *         while (!stop && !io_rx_done(rx)) io_rx_poll(rx);
 *     Handlers dequeue mbufs, read io_mbuf_meta() (feed, line, payload offset/len,
 *     RX and intended TSC) and free them with rte_pktmbuf_free().
 *  6. The control lcore reads io_rx_stats() / io_rx_line_stats() / io_replay_progress()
 *     at any time (relaxed atomic loads of single-writer counters; see below), and at
 *     the end: rte_eal_mp_wait_lcore(), drain and free every mbuf still in the channels
 *     (a port's pool is freed with the port), io_rx_free(), io_replay_close(),
 *     io_port_close(), io_flow_table_free(), io_eal_cleanup().
 *
 * Replay: io_replay_open() opens its own net_pcap port; attach it with
 * io_rx_attach_replay() and do NOT also io_rx_add_queue() that port. A capture with a
 * bad record opens (its valid prefix is replayed); io_replay_info()->error and errmsg
 * say so, and the application should exit non-zero at the end. Pacing error:
 * io_hist_quantile(&io_replay_pacer(r)->err, 0.5 / 0.99 / 1.0), in ns; jumps:
 * io_replay_pacer(r)->backward_jumps / forward_jumps.
 *
 * Counters
 * --------
 * Every counter lives in a structure owned by one RX lcore and is written only by
 * it, with a relaxed atomic load + store (a plain `mov` on x86: no lock prefix).
 * Other threads read them with relaxed atomic loads, so a snapshot is a consistent
 * value per counter but not across counters (take it after the RX lcore has stopped
 * for exact totals). The top-unknown-flows table is guarded by a sequence counter.
 *
 * Data path
 * ---------
 * io_classify*, io_rx_poll, io_pacer_next and io_hist_record neither allocate, lock
 * nor make system calls. Bad input is reported, never trusted: the classifier never
 * reads past the length it is given, the capture reader validates every record.
 */
#ifndef MDMUX_IO_H
#define MDMUX_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "chan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------ */
/* Classification                                                                 */
/* ------------------------------------------------------------------------------ */

/** What the classifier decided about a frame. */
typedef enum io_verdict {
    IO_ACCEPT = 0, /**< valid UDP to a known (group, port): out->feed, out->line set */
    IO_OTHER,      /**< not IPv4 (ARP, IPv6, ...) or IPv4 but not UDP */
    IO_UNKNOWN,    /**< valid UDP, no feed: out->dst_ip_be, out->dst_port_be set */
    IO_MALFORMED,  /**< rejected: out->bad says why */
} io_verdict_t;

/** Why a frame is malformed. The names (io_bad_name) are the truth file's keys. */
typedef enum io_bad {
    IO_BAD_ETH_SHORT = 0, /**< "eth_short": fewer than 14 bytes */
    IO_BAD_VLAN_SHORT,    /**< "vlan_short": a VLAN tag (or the type after it) cut */
    IO_BAD_IP_SHORT,      /**< "ip_short": fewer than 20 bytes, or than IHL*4, of IPv4 */
    IO_BAD_IP_VERSION,    /**< "ip_version": ethertype IPv4 but version != 4 */
    IO_BAD_IP_IHL,        /**< "ip_ihl": IHL < 5 */
    IO_BAD_IP_LEN,        /**< "ip_len": total length > bytes present, or < IHL*4 */
    IO_BAD_IP_CHECKSUM,   /**< "ip_checksum": header checksum wrong */
    IO_BAD_IP_FRAGMENT,   /**< "ip_fragment": MF set or fragment offset != 0 */
    IO_BAD_UDP_SHORT,     /**< "udp_short": IP payload shorter than the UDP header */
    IO_BAD_UDP_LEN,       /**< "udp_len": UDP length < 8 or > IP payload */
    IO_BAD_COUNT
} io_bad_t;

/** Lines per feed: A (0) and B (1). */
#define IO_LINES 2
/** Most feeds a flow table or an RX context addresses. */
#define IO_FEEDS_MAX 4096

/**
 * Name of malformed reason @p r ("eth_short", ..., "udp_len"); "?" when out of range.
 */
const char *io_bad_name(io_bad_t r);

/** io_classify_ex() flag: the NIC verified the IPv4 header checksum (skip ours). */
#define IO_CLS_IP_CKSUM_GOOD 1u
/** io_classify_ex() flag: the NIC found the IPv4 header checksum bad. */
#define IO_CLS_IP_CKSUM_BAD 2u

/** The classifier's result for one frame. */
typedef struct io_pkt_info {
    uint16_t feed;           /**< IO_ACCEPT: feed id */
    uint8_t line;            /**< IO_ACCEPT: 0 = A, 1 = B */
    uint8_t bad;             /**< IO_MALFORMED: an io_bad_t */
    uint16_t l4_payload_off; /**< IO_ACCEPT/IO_UNKNOWN: UDP payload offset in the frame */
    uint16_t l4_payload_len; /**< IO_ACCEPT/IO_UNKNOWN: UDP payload length (udp.len - 8) */
    uint32_t dst_ip_be;      /**< IO_ACCEPT/IO_UNKNOWN: destination address, network order */
    uint16_t dst_port_be;    /**< IO_ACCEPT/IO_UNKNOWN: destination port, network order */
} io_pkt_info_t;

/** A (dst address, dst port) -> (feed, line) table, fixed-size, built at config time. */
typedef struct io_flow_table io_flow_table_t;

/**
 * Create a flow table for up to @p max_flows entries (1 .. 2 * IO_FEEDS_MAX) on NUMA
 * node @p numa_node (-1: any). It is an open-addressing table at most 1/4 full, so a
 * lookup is one cache line in the common case. Control path. Returns NULL with errno
 * EINVAL or ENOMEM.
 */
io_flow_table_t *io_flow_table_new(unsigned max_flows, int numa_node);

/** Free @p t (NULL is ignored). No RX context may still use it. */
void io_flow_table_free(io_flow_table_t *t);

/**
 * Map (@p group_be, @p port_be) (network byte order) to (@p feed, @p line). Control
 * path, before any RX lcore uses the table. Returns 0, -EEXIST if the key is already
 * present (whatever it maps to), -ENOSPC when full, -EINVAL for feed >= IO_FEEDS_MAX
 * or line >= IO_LINES.
 */
int io_flow_table_add(io_flow_table_t *t, uint32_t group_be, uint16_t port_be, uint16_t feed,
                      uint8_t line);

/**
 * Look up a key. Returns true and sets *@p feed, *@p line when found. Thread-safe
 * against other lookups (the table is read-only once built).
 */
bool io_flow_table_lookup(const io_flow_table_t *t, uint32_t group_be, uint16_t port_be,
                          uint16_t *feed, uint8_t *line);

/** Entries in @p t. */
unsigned io_flow_table_count(const io_flow_table_t *t);

/**
 * Classify the @p len bytes at @p frame (an Ethernet frame) against @p t (which may
 * be NULL: every valid UDP frame is then IO_UNKNOWN). Never reads outside
 * [frame, frame + len). @p flags: IO_CLS_IP_CKSUM_GOOD or 0. Pure and thread-safe.
 */
io_verdict_t io_classify_ex(const io_flow_table_t *t, const uint8_t *frame, uint32_t len,
                            unsigned flags, io_pkt_info_t *out);

/** io_classify_ex(t, frame, len, 0, out): the checksum is always verified. */
io_verdict_t io_classify(const io_flow_table_t *t, const uint8_t *frame, uint32_t len,
                         io_pkt_info_t *out);

/**
 * Classify an mbuf: its first segment holds the headers; RTE_MBUF_F_RX_IP_CKSUM_GOOD
 * in ol_flags skips the software checksum, RTE_MBUF_F_RX_IP_CKSUM_BAD forces
 * IO_BAD_IP_CHECKSUM. Multi-segment frames are classified on the first segment
 * (market-data frames fit one); their IP total length is checked against pkt_len.
 */
io_verdict_t io_classify_mbuf(const io_flow_table_t *t, const struct rte_mbuf *m,
                              io_pkt_info_t *out);

/* ------------------------------------------------------------------------------ */
/* Busiest unknown flows: space-saving top-k, fixed size, no allocation           */
/* ------------------------------------------------------------------------------ */

/** Entries the top-k table tracks. */
#define IO_TOPK 16

/** One tracked flow. frames - error <= true count <= frames (space-saving bound). */
typedef struct io_flow_count {
    uint32_t dst_ip_be;
    uint16_t dst_port_be;
    uint64_t frames; /**< estimated count (an upper bound) */
    uint64_t error;  /**< over-estimation bound */
} io_flow_count_t;

/** The table itself (embedded in an RX context; usable stand-alone). */
typedef struct io_topk {
    uint32_t seq; /**< odd while the writer updates (readers retry) */
    uint32_t n;   /**< entries in use */
    io_flow_count_t e[IO_TOPK];
} io_topk_t;

/** Empty @p k. */
void io_topk_init(io_topk_t *k);

/** Count one frame of (@p ip_be, @p port_be). O(IO_TOPK), single writer. */
void io_topk_add(io_topk_t *k, uint32_t ip_be, uint16_t port_be);

/**
 * Copy up to @p max entries, busiest first, into @p out; returns how many. Safe to
 * call from another thread while the writer runs (retries on a concurrent update).
 */
unsigned io_topk_list(const io_topk_t *k, io_flow_count_t *out, unsigned max);

/* ------------------------------------------------------------------------------ */
/* Capture files (pcap)                                                           */
/* ------------------------------------------------------------------------------ */

/** Timestamp precision of a capture. */
typedef enum io_ts_prec {
    IO_TS_US = 0, /**< magic 0xa1b2c3d4 */
    IO_TS_NS = 1, /**< magic 0xa1b23c4d */
} io_ts_prec_t;

/** Largest caplen accepted, whatever the header's snaplen says (libpcap's bound). */
#define IO_CAPTURE_MAX_CAPLEN 262144u

/** An open capture, read from memory (the file is mmap'ed at open). */
typedef struct io_capture io_capture_t;

/**
 * Open the pcap file @p path (both magics, both byte orders) and validate its file
 * header. Records are validated as they are read. On failure returns NULL and writes
 * a message naming the file (and the byte offset where relevant) into @p err (pcapng:
 * "pcapng is not supported; convert with editcap -F pcap").
 */
io_capture_t *io_capture_open(const char *path, char *err, size_t errlen);

/**
 * Like io_capture_open() on @p len bytes at @p buf (not copied; must outlive the
 * capture). @p name appears in error messages. For tests and fuzzing.
 */
io_capture_t *io_capture_open_mem(const char *name, const void *buf, size_t len, char *err,
                                  size_t errlen);

/** Close @p c (NULL is ignored). */
void io_capture_close(io_capture_t *c);

/**
 * Read the next record: returns 1 and sets *@p ts_ns (nanoseconds since the epoch,
 * whatever the precision), *@p data (valid until close), *@p caplen and *@p origlen;
 * 0 at a clean end of file (exactly at a record boundary); -1 on a truncated or
 * corrupt record, with @p err naming the file and the record's byte offset. After -1
 * every further call returns -1 with the same message. Any pointer but @p c may be
 * NULL.
 */
int io_capture_next(io_capture_t *c, uint64_t *ts_ns, const uint8_t **data, uint32_t *caplen,
                    uint32_t *origlen, char *err, size_t errlen);

/** The last error of @p c ("" when none). */
const char *io_capture_error(const io_capture_t *c);

/** Go back to the first record (and clear an error). */
void io_capture_rewind(io_capture_t *c);

/** Byte offset of the next record (for progress). */
uint64_t io_capture_offset(const io_capture_t *c);

/** File size in bytes. */
uint64_t io_capture_size(const io_capture_t *c);

/** Precision of @p c's timestamps. */
io_ts_prec_t io_capture_precision(const io_capture_t *c);

/** Link type from the file header (1 = Ethernet). */
uint32_t io_capture_linktype(const io_capture_t *c);

/** What a whole-file scan found. */
typedef struct io_capture_info {
    uint64_t packets;       /**< valid records before the end or the first error */
    uint64_t bytes;         /**< sum of their caplen */
    uint64_t first_ts_ns;   /**< timestamp of the first record (0 if none) */
    uint64_t last_ts_ns;    /**< timestamp of the last valid record */
    uint64_t valid_bytes;   /**< file offset where the valid prefix ends */
    uint64_t file_bytes;    /**< file size */
    uint64_t backward_ts;   /**< records whose timestamp is below the previous one */
    uint32_t max_caplen;    /**< largest caplen seen */
    uint32_t linktype;      /**< from the file header */
    io_ts_prec_t precision; /**< from the magic */
    int error;              /**< 0, or 1 when the file ended in a bad record */
    char errmsg[256];       /**< the error (file name and byte offset) when error != 0 */
} io_capture_info_t;

/**
 * Scan @p c from the start to its end or first bad record, fill @p info, and rewind.
 * Returns 0 when the whole file is valid, -1 when it has a bad record (the valid
 * prefix is still described: packets, last_ts_ns, valid_bytes).
 */
int io_capture_scan(io_capture_t *c, io_capture_info_t *info);

/* ------------------------------------------------------------------------------ */
/* Log-linear histogram (pacing error); small and replaceable by lib/stats later   */
/* ------------------------------------------------------------------------------ */

/** Sub-buckets per power of two (relative resolution 1/IO_HIST_SUB). */
#define IO_HIST_SUB 16
/** Buckets: exact below IO_HIST_SUB, then IO_HIST_SUB per power of two up to 2^64. */
#define IO_HIST_BUCKETS (IO_HIST_SUB * 61)

/** A histogram of non-negative 64-bit values. Single writer. */
typedef struct io_hist {
    uint64_t count;
    uint64_t max;
    uint64_t sum;
    uint64_t b[IO_HIST_BUCKETS];
} io_hist_t;

/** Empty @p h. */
void io_hist_init(io_hist_t *h);

/** Record value @p v. */
void io_hist_record(io_hist_t *h, uint64_t v);

/**
 * Value at quantile @p q (0..1): the upper bound of the bucket holding it (the exact
 * maximum for q = 1); 0 for an empty histogram.
 */
uint64_t io_hist_quantile(const io_hist_t *h, double q);

/* ------------------------------------------------------------------------------ */
/* Replay pacing                                                                  */
/* ------------------------------------------------------------------------------ */

/** How a replay is paced. */
typedef enum io_pace_mode {
    IO_PACE_MAX = 0, /**< top speed: intended = actual release time */
    IO_PACE_SPEED,   /**< capture timestamps scaled by 1 / (speed_num / speed_den) */
    IO_PACE_RATE,    /**< fixed rate: packet i at i * 1e9 / rate_pps ns (rate 0: max) */
} io_pace_mode_t;

/** Pacer options. */
typedef struct io_pacer_opts {
    io_pace_mode_t mode;
    uint64_t speed_num, speed_den; /**< IO_PACE_SPEED: speed = num / den (1/1 = recorded) */
    uint64_t rate_pps;             /**< IO_PACE_RATE */
    uint64_t loops;                /**< times to play the capture (0 is taken as 1) */
    uint64_t fwd_jump_ns;          /**< a gap above this is clamped to it and counted
                                        (0: 1 s; UINT64_MAX: honour every gap) */
} io_pacer_opts_t;

/**
 * Parse a --speed value into @p o: "max", an integer "2", or a decimal "2.5" / "0.25"
 * (up to 9 decimals; exact: "2.5" is 25/10). Returns 0 or -EINVAL (also for 0).
 */
int io_pacer_parse_speed(const char *s, io_pacer_opts_t *o);

/** Pacer state: a plain struct, no allocation. */
typedef struct io_pacer {
    io_pacer_opts_t o;
    uint64_t first_ts;       /**< capture time of the first packet of the current loop */
    uint64_t prev_ts;        /**< previous effective capture time (clamped) */
    uint64_t shift;          /**< added to capture times after backward jumps */
    uint64_t loop_base;      /**< capture-time offset of the current loop */
    uint64_t loop_pkts;      /**< packets in the current loop so far */
    uint64_t index;          /**< packets paced in total */
    uint64_t loop;           /**< current loop, 0-based */
    uint64_t last_intended;  /**< previous result */
    uint64_t backward_jumps; /**< timestamps below the previous one (sent at once) */
    uint64_t forward_jumps;  /**< gaps above fwd_jump_ns (clamped to it) */
    uint64_t back_ns;        /**< sum of the backward steps, capture ns */
    uint64_t clamped_ns;     /**< capture time cut out of forward jumps, ns */
    uint64_t first_back;     /**< index (io_pacer_next calls, 0-based) of the first
                                  backward jump; UINT64_MAX: none */
    uint64_t first_fwd;      /**< the same for the first forward jump */
    uint64_t back_off;       /**< byte offset of that packet's record (set by io_replay;
                                  UINT64_MAX: unknown) */
    uint64_t fwd_off;        /**< the same for the first forward jump */
    io_hist_t err;           /**< pacing error, actual - intended, ns (io_pacer_record) */
    uint64_t early;          /**< releases before the intended time (recorded as 0) */
} io_pacer_t;

/** Initialise @p p from @p o. */
void io_pacer_init(io_pacer_t *p, const io_pacer_opts_t *o);

/**
 * Intended send time, in ns from the start of the replay, of the next packet, whose
 * capture timestamp is @p ts_ns. Monotonic non-decreasing. Exact integer arithmetic
 * (1x gives exactly ts - first_ts). IO_PACE_MAX returns 0 (the caller sends at once).
 */
uint64_t io_pacer_next(io_pacer_t *p, uint64_t ts_ns);

/**
 * The capture restarts (next loop). The next loop begins at the previous loop's
 * duration plus one mean inter-packet gap, so intended times stay monotonic.
 */
void io_pacer_next_loop(io_pacer_t *p);

/** Record a pacing error: @p actual_ns - @p intended_ns (negative: counted as early). */
void io_pacer_record(io_pacer_t *p, uint64_t intended_ns, uint64_t actual_ns);

/* ------------------------------------------------------------------------------ */
/* mbuf metadata (dynfield registered by io_eal_init / io_mbuf_register)          */
/* ------------------------------------------------------------------------------ */

/** What lib/io leaves in every mbuf it hands to a feed handler. */
typedef struct io_mbuf_meta {
    uint64_t rx_tsc;       /**< TSC at RX (NIC time converted, or rdtsc; replay: release) */
    uint64_t intended_tsc; /**< replay: intended send time; live: = rx_tsc */
    uint16_t feed;         /**< classification result */
    uint8_t line;
    uint8_t flags;        /**< IO_META_HW_TS when rx_tsc came from the NIC */
    uint16_t payload_off; /**< UDP payload offset in the frame */
    uint16_t payload_len; /**< UDP payload length */
} io_mbuf_meta_t;

/** io_mbuf_meta_t.flags: rx_tsc derived from the NIC's hardware timestamp. */
#define IO_META_HW_TS 1u

/** Dynfield offset of io_mbuf_meta_t (internal; -1 until registered). */
extern int io_mbuf_meta_off;

/**
 * Register the io_mbuf_meta_t dynfield (idempotent; io_eal_init() calls it). Needs
 * the EAL. Returns 0 or -errno.
 */
int io_mbuf_register(void);

/** The metadata of @p m (io_mbuf_register() must have succeeded). */
static inline io_mbuf_meta_t *io_mbuf_meta(struct rte_mbuf *m)
{
    return RTE_MBUF_DYNFIELD(m, io_mbuf_meta_off, io_mbuf_meta_t *);
}

/** RX time stamp of @p m (TSC). */
static inline uint64_t io_mbuf_rx_tsc(struct rte_mbuf *m)
{
    return io_mbuf_meta(m)->rx_tsc;
}

/** Intended send time of @p m (TSC; = rx_tsc outside paced replay). */
static inline uint64_t io_mbuf_intended_tsc(struct rte_mbuf *m)
{
    return io_mbuf_meta(m)->intended_tsc;
}

/** Pointer to the UDP payload of @p m (first segment). */
static inline const uint8_t *io_mbuf_payload(struct rte_mbuf *m)
{
    return rte_pktmbuf_mtod(m, const uint8_t *) + io_mbuf_meta(m)->payload_off;
}

/* ------------------------------------------------------------------------------ */
/* EAL and ports                                                                  */
/* ------------------------------------------------------------------------------ */

/** EAL options; zero means the DESIGN.md default. */
typedef struct io_eal_opts {
    const char *prog;         /**< argv[0] (default "mdmux") */
    const char *lcores;       /**< -l (default "0-1", or "0" on a 1-CPU machine) */
    unsigned memory_mb;       /**< -m (default 256) */
    bool hugepages;           /**< true: --in-memory with hugepages; false: --no-huge */
    bool pci;                 /**< true: probe PCI (a PCI device is configured) */
    bool telemetry;           /**< true: keep DPDK telemetry on */
    const char *file_prefix;  /**< --file-prefix (default "mdmux<pid>") */
    const char *const *allow; /**< PCI addresses for -a */
    unsigned n_allow;
    const char *const *vdevs; /**< vdev strings for --vdev */
    unsigned n_vdevs;
    const char *const *extra; /**< raw extra EAL args, appended last */
    unsigned n_extra;
    const char *log_level; /**< --log-level (default "*:warning"... NULL: EAL default) */
} io_eal_opts_t;

/** Most EAL arguments io_eal_init() builds. */
#define IO_EAL_ARGS_MAX 64

/**
 * Build the EAL argv from @p o into @p argv (at most IO_EAL_ARGS_MAX entries, pointing
 * into @p o and into @p buf of @p buflen bytes) without initialising anything.
 * Returns argc, or -E2BIG. For logging and tests.
 */
int io_eal_args(const io_eal_opts_t *o, const char **argv, char *buf, size_t buflen);

/**
 * Initialise the EAL from @p o (io_eal_args), then register the mbuf dynfields.
 * Once per process. Returns 0, or -errno with a message in @p err.
 */
int io_eal_init(const io_eal_opts_t *o, char *err, size_t errlen);

/** rte_eal_cleanup() after closing every port. */
void io_eal_cleanup(void);

/** How a port spreads its traffic over its RX queues (io_port_conf_t.steering). */
typedef enum io_steering {
    IO_STEER_NONE = 0, /**< mq_mode NONE and no rules: the PMD decides (queue 0 on most) */
    IO_STEER_RSS,      /**< mq_mode RSS on the IPv4 and UDP hash types the device offers */
    IO_STEER_FLOW,     /**< one rte_flow rule per io_steer_rule_t, created after start */
} io_steering_t;

/** "none", "rss" or "flow". */
const char *io_steering_name(io_steering_t s);

/**
 * One steering rule: UDP frames to @p dst_ip_be : @p dst_port_be go to RX queue
 * @p queue. As an rte_flow rule: ingress, group 0, priority 0, pattern
 * `eth / ipv4 dst is GROUP / udp dst is PORT / end`, actions `queue index N / end`.
 * No VLAN item: on most NICs the rule matches untagged frames only.
 */
typedef struct io_steer_rule {
    uint32_t dst_ip_be;   /**< destination IPv4 address (the group), network order */
    uint16_t dst_port_be; /**< destination UDP port, network order */
    uint16_t queue;       /**< RX queue, below the port's rx_queues */
    const char *label;    /**< what the rule is for, in messages ("feed X line A") */
} io_steer_rule_t;

/** Pattern items of an io_flow_rule_t: ETH, IPV4, UDP, END. */
#define IO_FLOW_ITEMS 4
/** Actions of an io_flow_rule_t: QUEUE, END. */
#define IO_FLOW_ACTIONS 2

/**
 * An io_steer_rule_t as the rte_flow arguments io_port_open() passes to
 * rte_flow_validate() and rte_flow_create(). The items and actions point into the
 * structure itself: build it in place, do not copy it.
 */
typedef struct io_flow_rule {
    struct rte_flow_attr attr;
    struct rte_flow_item pattern[IO_FLOW_ITEMS];
    struct rte_flow_action actions[IO_FLOW_ACTIONS];
    struct rte_flow_item_ipv4 ip_spec, ip_mask;  /**< dst_addr only */
    struct rte_flow_item_udp udp_spec, udp_mask; /**< dst_port only */
    struct rte_flow_action_queue queue;
} io_flow_rule_t;

/** Build @p r as rte_flow arguments into @p out. Pure: no EAL, no port needed. */
void io_flow_rule_build(const io_steer_rule_t *r, io_flow_rule_t *out);

/** The RSS hash types IO_STEER_RSS asks for (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP). */
#define IO_RSS_HF (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP)

/** How to open a port. Zero fields take defaults. */
typedef struct io_port_conf {
    const char *name;       /**< the configuration's name (messages) */
    const char *device;     /**< PCI address "0000:3b:00.0", or a vdev "net_pcap0,rx_pcap=x" */
    unsigned rx_queues;     /**< default 1 */
    unsigned rx_desc;       /**< default 1024 */
    unsigned tx_queues;     /**< 0 or 1 (later issues) */
    unsigned tx_desc;       /**< default 1024 */
    int rx_socket;          /**< socket of the RX lcore: pool and queues go there (-1: port's) */
    unsigned pool_mbufs;    /**< mbufs in the RX pool (default 8191 + queue sizes) */
    bool no_hw_timestamp;   /**< do not ask for RTE_ETH_RX_OFFLOAD_TIMESTAMP */
    unsigned frame_max;     /**< largest frame the pool's mbufs must hold in one segment
                               (default 0: RTE_MBUF_DEFAULT_DATAROOM, 2048 bytes); larger
                               mbufs, fewer of them when pool_mbufs is 0 */
    io_steering_t steering; /**< default IO_STEER_NONE */
    const io_steer_rule_t *rules; /**< IO_STEER_FLOW: the rules, created in this order */
    unsigned n_rules;
} io_port_conf_t;

/**
 * Open and start a port: probe the device (a vdev through rte_dev_probe, a PCI
 * address if not already probed), configure its RX queues (+ TX), an mbuf pool on
 * @p c->rx_socket with a per-lcore cache, promiscuous and all-multicast on, the
 * hardware RX timestamp offload where offered. Warns (stderr) when the port's socket
 * differs from rx_socket. Returns the port id (>= 0) or -errno with @p err set.
 *
 * Steering (@p c->steering): IO_STEER_RSS configures mq_mode RTE_ETH_MQ_RX_RSS with
 * IO_RSS_HF masked by the device's flow_type_rss_offloads, warning (stderr) about the
 * hash types dropped; none left is an error. IO_STEER_FLOW starts the port, then
 * validates (rte_flow_validate) and creates (rte_flow_create) each of @p c->rules; a
 * rule the PMD rejects closes the port and fails with @p err naming the port, the
 * rule's label, its match and the PMD's rte_flow_error message. Frames that arrive
 * between the start and the last rule land where the PMD puts unmatched traffic.
 */
int io_port_open(const io_port_conf_t *c, char *err, size_t errlen);

/** The rte_flow rules io_port_open() created on @p port_id (0: none, or not flow). */
unsigned io_port_flow_count(uint16_t port_id);

/** The mbufs of the RX pool io_port_open() created for @p port_id (0: none). */
unsigned io_port_mbufs(uint16_t port_id);

/**
 * Stop and close port @p port_id and remove its device (vdev or PCI); its rte_flow
 * rules are destroyed first (rte_flow_flush).
 */
void io_port_close(uint16_t port_id);

/** True when port @p port_id delivers hardware RX timestamps (offload enabled). */
bool io_port_hw_timestamp(uint16_t port_id);

/* ------------------------------------------------------------------------------ */
/* Replay: capture reader + pacer + a net_pcap port, walked in lockstep           */
/* ------------------------------------------------------------------------------ */

typedef struct io_replay io_replay_t;

/** Replay configuration. */
typedef struct io_replay_conf {
    const char *path;     /**< the capture */
    io_pacer_opts_t pace; /**< mode, speed, rate, loops */
    int rx_socket;        /**< socket of the RX lcore (-1: any) */
    unsigned pool_mbufs;  /**< default 8191 */
} io_replay_conf_t;

/**
 * Scan @p c->path (io_capture_scan), then open a net_pcap port on it. A capture with
 * a bad record still opens (the valid prefix is replayed); io_replay_info() tells
 * the error, which the application reports and exits non-zero for. Returns NULL with
 * @p err set on a capture that cannot be opened at all or a port failure.
 */
io_replay_t *io_replay_open(const io_replay_conf_t *c, char *err, size_t errlen);

/** Close the port and the capture. */
void io_replay_close(io_replay_t *r);

/** The pre-scan's result (packets, timestamps, first error). */
const io_capture_info_t *io_replay_info(const io_replay_t *r);

/** The replay's DPDK port id. */
uint16_t io_replay_port(const io_replay_t *r);

/** Progress, for the control lcore (relaxed loads of the RX lcore's counters). */
typedef struct io_replay_progress {
    uint64_t packets;    /**< released so far (all loops) */
    uint64_t total;      /**< packets * loops */
    uint64_t loop;       /**< current loop, 0-based */
    double percent;      /**< of total */
    double pps;          /**< average since the first release */
    double eta_s;        /**< remaining / pps (0 when unknown) */
    uint64_t mismatches; /**< mbufs whose length differed from the capture's record */
    bool done;
} io_replay_progress_t;

/** Fill @p out. Thread-safe (reader side). */
void io_replay_progress(const io_replay_t *r, io_replay_progress_t *out);

/** The pacer (pacing error histogram, jump counters); read after the replay ends. */
const io_pacer_t *io_replay_pacer(const io_replay_t *r);

/* ------------------------------------------------------------------------------ */
/* RX contexts                                                                    */
/* ------------------------------------------------------------------------------ */

/** RX burst size. */
#define IO_RX_BURST 32
/** Most (port, queue) pairs one RX context polls. */
#define IO_RX_QUEUES_MAX 16

typedef struct io_rx io_rx_t;

/** RX context configuration. */
typedef struct io_rx_conf {
    const io_flow_table_t *flows; /**< shared, read-only */
    unsigned n_feeds;             /**< feed ids are 0 .. n_feeds-1 (<= IO_FEEDS_MAX) */
    int socket;                   /**< NUMA node of the RX lcore (-1: caller's) */
    /**
     * A full channel holds the rest of its burst instead of dropping it: io_rx_poll()
     * then offers the held mbufs again first and takes nothing new (no replay burst, no
     * queue polled) until all are in. For a replay, so that a capture reaches the feed
     * handlers whole at any speed (the pacer falls behind instead, which its error and
     * the intended-time latency show); a live port would only move the loss into the
     * NIC. A line without a channel still drops. See io_rx_release_held().
     */
    bool hold_when_full;
} io_rx_conf_t;

/** Create an RX context. Control path. Returns NULL with errno EINVAL/ENOMEM. */
io_rx_t *io_rx_new(const io_rx_conf_t *c);

/** Free @p rx (its lcore must have stopped). Does not free the channels. */
void io_rx_free(io_rx_t *rx);

/** Poll (@p port, @p queue) too. Returns 0, -ENOSPC or -EINVAL. */
int io_rx_add_queue(io_rx_t *rx, uint16_t port, uint16_t queue);

/**
 * Deliver (@p feed, @p line) to @p ch (element size sizeof(struct rte_mbuf *); this
 * RX lcore its only producer). Lines may share a channel (app/run.c gives each handler
 * lcore one ingress ring for all its lines): each channel gets its packets of a burst
 * in one chs_send_burst, in RX order, and a packet it cannot take is counted as
 * channel_full on its own line. Packets of a line with no channel (@p ch NULL) are
 * freed and counted as channel_full. Returns 0 or -EINVAL.
 */
int io_rx_set_channel(io_rx_t *rx, uint16_t feed, uint8_t line, chs_t *ch);

/**
 * Poll the replay @p r instead of (in addition to) plain queues: its port's queue 0
 * is read in lockstep with the capture, each mbuf stamped with its intended time and
 * held until then (never blocking: io_rx_poll returns and tries again). Returns 0.
 */
int io_rx_attach_replay(io_rx_t *rx, io_replay_t *r);

/**
 * One pass: rx_burst(IO_RX_BURST) per queue, stamp, pace (replay), classify,
 * enqueue each destination's group with one chs_send_burst; what does not fit is
 * freed and counted. Never blocks. Returns the packets handled in this pass.
 */
unsigned io_rx_poll(io_rx_t *rx);

/** True once an attached replay has released every packet of every loop. */
bool io_rx_done(const io_rx_t *rx);

/**
 * With hold_when_full: count every mbuf still held for a full channel as that line's
 * channel_full and free it (a stop). Call from the RX lcore before closing its
 * channels; io_rx_free() does it too. Returns how many were dropped.
 */
unsigned io_rx_release_held(io_rx_t *rx);

/** Per-line counters. */
typedef struct io_line_stats {
    uint64_t packets;      /**< accepted frames */
    uint64_t bytes;        /**< sum of their UDP payload lengths */
    uint64_t channel_full; /**< accepted but dropped: channel full (or not set) */
} io_line_stats_t;

/** RX context counters (a snapshot). */
typedef struct io_rx_stats {
    uint64_t frames;   /**< every mbuf received */
    uint64_t filtered; /**< accepted, then dropped by the filter (io_rx_set_filter) */
    uint64_t bursts;   /**< non-empty rx_bursts */
    uint64_t accepted; /**< sum of the lines' packets */
    uint64_t other;
    uint64_t unknown;
    uint64_t malformed[IO_BAD_COUNT];
    uint64_t malformed_total;
    uint64_t held;  /**< hold_when_full: times a channel's burst was full and kept for a later
                        poll (offered again first), instead of dropped */
    unsigned n_top; /**< entries in top */
    io_flow_count_t top[IO_TOPK]; /**< busiest unknown flows, busiest first */
} io_rx_stats_t;

/** Snapshot @p rx's counters into @p out. Any thread. */
void io_rx_stats(const io_rx_t *rx, io_rx_stats_t *out);

/**
 * A filter the RX loop asks about each accepted packet, once it is classified, stamped
 * and counted on its line, before it is staged for its channel (lib/feed's A/B copy
 * filter, which lib/io does not know). Called on the RX lcore only.
 */
typedef struct io_rx_filter {
    /** True to forward the packet; false drops it: RX frees it and counts it in
        io_rx_stats_t.filtered (it stays counted in its line's packets). @p payload is
        the UDP payload, @p len its bytes in the first segment. */
    bool (*keep)(void *arg, uint16_t feed, uint8_t line, const uint8_t *payload, uint32_t len,
                 uint64_t rx_tsc);
    /** A packet keep() forwarded found its channel full and was dropped (NULL: not
        told). Not called for packets kept back under hold_when_full. */
    void (*unsent)(void *arg, uint16_t feed, uint8_t line, const uint8_t *payload, uint32_t len);
    /** After unsent() in a burst: asked again about each packet keep() dropped in that
        burst (the copy of what was just dropped may be among them); true forwards it
        after all. NULL: they stay dropped. */
    bool (*again)(void *arg, uint16_t feed, uint8_t line, const uint8_t *payload, uint32_t len,
                  uint64_t rx_tsc);
    void *arg;
} io_rx_filter_t;

/** Ask @p f about every accepted packet from now on (NULL: no filter). Before the RX
    lcore starts. Returns 0. */
int io_rx_set_filter(io_rx_t *rx, const io_rx_filter_t *f);

/** Snapshot the counters of (@p feed, @p line) into @p out. Any thread. */
void io_rx_line_stats(const io_rx_t *rx, uint16_t feed, uint8_t line, io_line_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* MDMUX_IO_H */
