/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file config.h
 * mdmux configuration: the YAML file of docs/configuration.md (schema v1), loaded
 * with libcyaml, given its defaults and validated as a whole.
 *
 * Every error names the file, the line and the field, e.g.
 *
 *     configs/x.yaml:14:11: feeds[1].b: flow 239.100.0.1:30000 is also feeds[0].a (line 9)
 *
 * libcyaml reports schema errors (unknown keys, wrong types, missing fields) through
 * its log callback with a backtrace; the loader turns that into the line above. The
 * checks that span fields (duplicate flows, lcores) use a position index built by a
 * second, plain libyaml pass over the same bytes.
 *
 * The loaded configuration is plain data owned by the caller; nothing here needs the
 * EAL, so the loader can be tested and fuzzed on its own.
 */
#ifndef MDMUX_APP_CONFIG_H
#define MDMUX_APP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest feed or port name, without the NUL. */
#define CFG_NAME_MAX 31
/** Highest lcore id + 1 the configuration accepts (DPDK's default RTE_MAX_LCORE). */
#define CFG_MAX_LCORES 128
/** Most feeds in one configuration (a feed id is 16 bits in lib/io). */
#define CFG_MAX_FEEDS 4096
/** Most feeds one mux merges (a select case each: CH_SELECT_MAX in lib/chan). */
#define CFG_MAX_MUX_FEEDS 128
/** Largest reorder window (lib/feed's FEED_WINDOW_MAX). */
#define CFG_MAX_WINDOW 1024
/** Largest configuration file read. */
#define CFG_MAX_FILE (4u << 20)
/** Name of the port `mdmux replay` adds; rx entries may name it. */
#define CFG_REPLAY_PORT "replay"

/** Line indices: A = 0, B = 1. */
enum { CFG_LINE_A = 0, CFG_LINE_B = 1, CFG_LINES = 2 };

/** One multicast line of a feed. */
typedef struct cfg_line {
    uint32_t group_be; /**< destination IPv4 address, network order */
    uint16_t port;     /**< destination UDP port, host order */
    char group[16];    /**< dotted quad as written */
} cfg_line_t;

/** The arbiter's settings of a feed (feed_defaults:, overridden per feed). */
typedef struct cfg_arb {
    uint64_t gap_wait_ns;     /**< wait for the other line before a gap */
    unsigned window;          /**< packets held per line */
    uint64_t line_timeout_ns; /**< a line is down after this silence */
    bool sync_first;          /**< join on the first packet seen (not at sequence 1) */
} cfg_arb_t;

/** The feed handlers' restart policy (feed_defaults.restart; lib/rt's co_supervise). */
typedef struct cfg_restart {
    uint64_t backoff_ns;     /**< first restart delay; doubles per restart ... */
    uint64_t backoff_max_ns; /**< ... up to this */
    unsigned max_restarts;   /**< at most this many restarts ... (1 .. CFG_MAX_RESTARTS) */
    uint64_t window_ns;      /**< ... within this window, else the feed is given up */
} cfg_restart_t;

/** Largest feed_defaults.restart.max_restarts (the supervisor's ring of restart times). */
#define CFG_MAX_RESTARTS 32

/** Kinds of an injected fault (= lib/feed's feed_fault_kind_t). */
typedef enum cfg_fault_kind {
    CFG_FAULT_PANIC = 1, /**< the handler panics (a broken invariant): restarted */
    CFG_FAULT_STALL,     /**< the handler parks, taking no packets */
    CFG_FAULT_SLOW,      /**< the handler spends extra time per packet */
} cfg_fault_kind_t;

/** One injected fault (faults:, --fault): for tests, see docs/feed.md. */
typedef struct cfg_fault {
    unsigned feed; /**< index into cfg_t.feeds */
    cfg_fault_kind_t kind;
    uint64_t after_packets; /**< fires from the packet after this many were taken */
    unsigned count;         /**< panic, stall: times (default 1) */
    uint64_t stall_ns;      /**< stall: how long (default 1 s) */
    uint64_t slow_ns;       /**< slow: extra busy time per packet (default 10 us) */
} cfg_fault_t;

/** One feed: one or two lines, the lcore of its handler, its arbiter settings. */
typedef struct cfg_feed {
    char name[CFG_NAME_MAX + 1];
    unsigned handler; /**< lcore */
    unsigned nlines;  /**< 2 (A and B), or 1 (A only: `b` left out) */
    cfg_line_t line[CFG_LINES];
    cfg_arb_t arb;
    bool rereq;              /**< uses the re-request server (rereq: set and not opted out) */
    uint32_t rr_server_be;   /**< its server: rereq.server or the feed's rereq_server */
    uint16_t rr_server_port; /**< host order */
} cfg_feed_t;

/** Shared-memory ring output (outputs.shm). */
typedef struct cfg_shm {
    bool set;       /**< outputs.shm was written (else the mode's default applies) */
    bool enabled;   /**< publish to the ring */
    char *path;     /**< ring file; NULL: the default of the mode */
    uint64_t slots; /**< records kept (power of two) */
    unsigned mode;  /**< file mode */
    char *group;    /**< outputs.shm.group as written (a name or a gid), or NULL */
    bool has_gid;   /**< @ref gid is known: a numeric group, or a name cfg_check_host() found */
    uint32_t gid;   /**< group the ring file is chown'ed to */
} cfg_shm_t;

/** Where a key is in the file, for the checks made after loading (cfg_check_host). */
typedef struct cfg_at {
    unsigned line, col; /**< 0 when the key is absent */
} cfg_at_t;

/** UDP multicast output on a DPDK TX device (outputs.multicast). */
typedef struct cfg_mcast {
    bool enabled;
    char *device;        /**< vdev or PCI address opened for TX */
    uint32_t group_be;   /**< destination group */
    uint16_t port;       /**< destination UDP port, host order */
    uint32_t src_be;     /**< source address */
    uint16_t src_port;   /**< source UDP port, host order */
    unsigned mtu;        /**< IP MTU */
    unsigned ttl;        /**< IP TTL */
    char group_text[24]; /**< "A.B.C.D:PORT" as written (reports) */
} cfg_mcast_t;

/** How a port spreads its traffic over its RX queues (ports[].steering). */
typedef enum cfg_steering {
    CFG_STEER_NONE = 0, /**< no rules, no RSS: the PMD decides (queue 0 on most) */
    CFG_STEER_RSS,      /**< RSS on IPv4/UDP hashes */
    CFG_STEER_FLOW,     /**< one rte_flow rule per feed line (rx[].feeds, rx[].lines) */
} cfg_steering_t;

/** replay.max_gap_ms default: a capture gap above 1 s is replayed as 1 s. */
#define CFG_MAX_GAP_MS 1000u

/** replay.max_gap_ms (0: none) in ns: UINT64_MAX for 0, every gap replayed as recorded. */
static inline uint64_t cfg_max_gap_ns(unsigned ms)
{
    return ms ? (uint64_t)ms * 1000000u : UINT64_MAX;
}

/** ports[].mbufs: bounds of the RX pool of a port. */
#define CFG_PORT_MBUFS_MIN 1023u
#define CFG_PORT_MBUFS_MAX 16777215u

/** A DPDK port. */
typedef struct cfg_port {
    char name[CFG_NAME_MAX + 1];
    char *device; /**< PCI address or vdev string */
    unsigned rx_queues;
    unsigned rx_desc;
    unsigned mbufs;          /**< the RX pool's mbufs; 0: lib/io's default (8191 + queues) */
    cfg_steering_t steering; /**< default: flow when rx_queues > 1, else none */
    unsigned default_queue;  /**< flow: the queue of the lines no rx entry lists (0) */
    /** flow: [nfeeds], the queue each feed line is steered to; NULL otherwise */
    uint16_t (*line_queue)[CFG_LINES];
} cfg_port_t;

/** Which lcore polls which (port, queue). */
typedef struct cfg_rx {
    unsigned lcore;
    char port[CFG_NAME_MAX + 1]; /**< a cfg_port_t name, or CFG_REPLAY_PORT */
    unsigned queue;
} cfg_rx_t;

/** Replay pacing mode. */
typedef enum cfg_pace {
    CFG_PACE_MAX = 0, /**< top speed */
    CFG_PACE_SPEED,   /**< capture timestamps times a multiplier */
    CFG_PACE_RATE,    /**< fixed packets/s */
} cfg_pace_t;

/** The re-request server (rereq:), shared by every feed that does not opt out. */
typedef struct cfg_rereq {
    bool enabled;
    char *device;          /**< DPDK device: TX of requests, RX of retransmissions */
    uint32_t server_be;    /**< server address */
    uint16_t server_port;  /**< server UDP port, host order */
    uint8_t server_mac[6]; /**< default ff:ff:ff:ff:ff:ff */
    uint32_t source_be;    /**< our address */
    uint16_t source_port;  /**< feed i sends from source_port + i, host order */
    unsigned max_outstanding, max_retries, rate_per_s, max_msgs;
    uint64_t retry_ns;
} cfg_rereq_t;

/** Default of shutdown.drain_timeout_ms: how long a stop may drain before it cancels. */
#define CFG_DRAIN_TIMEOUT_MS_DEFAULT 10000u
/** Largest shutdown.drain_timeout_ms (and --drain-timeout): one hour. */
#define CFG_DRAIN_TIMEOUT_MS_MAX 3600000u

/** latency.interval_ms (and --latency-interval): default, smallest, largest. */
#define CFG_LATENCY_INTERVAL_MS_DEFAULT 100u
#define CFG_LATENCY_INTERVAL_MS_MIN     20u
#define CFG_LATENCY_INTERVAL_MS_MAX     3600000u
/** latency.series_points (and --latency-points): default, smallest, largest (even). */
#define CFG_LATENCY_POINTS_DEFAULT 4096u
#define CFG_LATENCY_POINTS_MIN     4u
#define CFG_LATENCY_POINTS_MAX     1048576u

/** latency.recorder "auto": an lcore that runs no handler if there is one, else the mux's. */
#define CFG_RECORDER_AUTO (-1)
/** latency.recorder "mux": the mux records latency itself, on its own lcore. */
#define CFG_RECORDER_MUX (-2)

/** A loaded, defaulted and validated configuration. */
typedef struct cfg {
    char *path; /**< file it came from */
    struct {
        char *lcores;       /**< EAL -l */
        unsigned memory_mb; /**< EAL -m */
        bool hugepages;     /**< --in-memory instead of --no-huge */
        char **args;        /**< extra EAL arguments */
        unsigned nargs;
    } eal;
    bool lcore_set[CFG_MAX_LCORES]; /**< the lcores eal.lcores names */
    unsigned control;               /**< main lcore */
    unsigned handlers[CFG_MAX_LCORES];
    unsigned nhandlers;
    cfg_port_t *ports;
    unsigned nports;
    cfg_rx_t *rx; /**< as written; cfg_default_rx() fills it for the run's ports */
    unsigned nrx;
    unsigned channel_slots;
    struct {
        cfg_pace_t pace;
        double speed;        /**< CFG_PACE_SPEED multiplier */
        char speed_text[24]; /**< as written ("max", "2.5"): lib/io parses it exactly */
        double rate;         /**< CFG_PACE_RATE packets/s */
        unsigned loop;       /**< passes over the file, >= 1 */
        /** a capture gap above this is replayed as this (ns; UINT64_MAX: every gap as
            recorded); replay.max_gap_ms, default 1 s */
        uint64_t max_gap_ns;
        /** replay.lossless: a full channel makes RX wait instead of dropping */
        bool lossless;
    } replay;
    cfg_feed_t *feeds;
    unsigned nfeeds;
    cfg_arb_t feed_defaults; /**< feed_defaults: (each feed starts from these) */
    cfg_restart_t restart;   /**< feed_defaults.restart: */
    /** feed_defaults.copies_on_rx: each RX lcore drops the A/B copies of what it
        forwarded (lib/feed's feed_rxf_t) instead of the handlers. Unset (copies_on_rx_set
        false): on when one RX lcore polls every line (app/run.c build_filters) */
    bool copies_on_rx;
    bool copies_on_rx_set; /**< the file states copies_on_rx */
    cfg_fault_t *faults;   /**< faults: and --fault, at most one per feed */
    unsigned nfaults;
    cfg_rereq_t rereq; /**< rereq: */
    struct {
        cfg_shm_t shm;
        char *dump; /**< JSON Lines dump file, or NULL (--dump overrides) */
        char *pcap; /**< pcap of the multicast datagrams, or NULL */
        cfg_mcast_t mcast;
    } outputs;
    struct {
        char *listen;      /**< metrics.listen as written, or NULL: no endpoint */
        uint32_t addr_be;  /**< parsed address (default 127.0.0.1) */
        uint16_t port;     /**< parsed port, host order */
    } metrics;             /**< metrics: the Prometheus endpoint (--metrics overrides) */
    bool telemetry;        /**< telemetry: true keeps DPDK telemetry on (/mdmux/... commands) */
    cfg_at_t at_lcores;    /**< position of eal.lcores */
    cfg_at_t at_shm_group; /**< position of outputs.shm.group */

    /** shutdown: (--drain-timeout overrides drain_timeout_ms) */
    struct {
        unsigned drain_timeout_ms; /**< a stop's drain, then cancel what is left */
    } shutdown;

    /** latency: the time series (--latency-interval, --latency-points override) */
    struct {
        unsigned interval_ms;   /**< base interval of the series */
        unsigned series_points; /**< budget of points per series (even) */
        /** latency.recorder: CFG_RECORDER_AUTO, CFG_RECORDER_MUX or an lcore */
        int recorder;
    } latency;
} cfg_t;

/**
 * Load @p path, apply defaults and validate it. On success returns the
 * configuration (free it with cfg_free()); on failure returns NULL and writes one
 * or more "FILE:LINE:COL: FIELD: message" lines to @p err.
 */
cfg_t *cfg_load(const char *path, char *err, size_t errlen);

/**
 * As cfg_load(), from @p len bytes at @p data; @p name is the file name used in
 * messages. (The fuzz target and the tests use it.)
 */
cfg_t *cfg_parse(const char *data, size_t len, const char *name, char *err, size_t errlen);

/** Free @p c (NULL is ignored). */
void cfg_free(cfg_t *c);

/**
 * Add the fault of a --fault option to @p c: @p spec is
 * "feed=NAME,kind=panic|stall|slow[,after=N][,count=K][,ms=M][,ns=S]" (the keys of
 * faults: in docs/configuration.md; ms: stall_ms, ns: slow_ns). It replaces a fault the
 * file gave the same feed. Returns 0, or -1 with "--fault 'SPEC': reason" in @p err.
 */
int cfg_add_fault(cfg_t *c, const char *spec, char *err, size_t errlen);

/** "panic", "stall" or "slow". */
const char *cfg_fault_kind_name(cfg_fault_kind_t k);

/**
 * Check @p c against the host it is for, after cfg_load():
 *
 * - every lcore of eal.lcores must exist: with @p target NULL, be an online CPU of
 *   this machine that this process may be pinned to (probed with sched_setaffinity,
 *   so CPUs left out of the inherited mask by isolcpus= are fine, and a cpuset
 *   cgroup's limit is not); with @p target (CFG_MAX_LCORES flags, from
 *   cfg_parse_cpus()), be one of the target host's CPUs;
 * - with @p target NULL, a group name in outputs.shm.group must exist here (its gid
 *   is filled in); with a target it is not resolved, since groups differ by host.
 *
 * Returns 0, or -1 with every problem in @p err as "FILE:LINE:COL: FIELD: message"
 * lines. `run` and `replay` call it with NULL before the EAL starts; `check-config`
 * with NULL by default or with its --target-cpus.
 */
int cfg_check_host(cfg_t *c, const bool *target, char *err, size_t errlen);

/**
 * Parse --target-cpus: a count N (the host has CPUs 0 to N-1) or a CPU list as the
 * kernel prints it (/sys/devices/system/cpu/online: "0-15,32-47"), into @p set
 * (CFG_MAX_LCORES flags; ids beyond are left out). Returns 0, or -1.
 */
int cfg_parse_cpus(const char *s, bool *set);

/**
 * Read the CPU list the kernel keeps in @p path (/sys/devices/system/cpu/online,
 * isolated, nohz_full: "0-3,6", or an empty line) into @p buf (@p len bytes): its first
 * line without the newline. Returns false when the file cannot be read.
 */
bool cfg_read_cpu_file(const char *path, char *buf, size_t len);

/**
 * Parse a replay speed: "max", or a positive decimal multiplier ("1", "2.5", "0.25";
 * digits and at most one '.', up to 9 decimals, as lib/io's pacer reads it).
 * Returns 0 and sets *@p pace / *@p speed, or -1.
 */
int cfg_parse_speed(const char *s, cfg_pace_t *pace, double *speed);

/**
 * Make sure every queue of every port in @p ports (an array of @p nports) is polled:
 * for each (port, queue) without an rx entry in @p c, add one on the first lcore of
 * eal.lcores that is not the control lcore (the control lcore when it is the only
 * one). Returns 0, or -1 with errno ENOMEM.
 */
int cfg_default_rx(cfg_t *c, const cfg_port_t *ports, unsigned nports);

/**
 * Parse a listen address "ADDR:PORT", ":PORT" or "PORT" (address 127.0.0.1 when
 * absent; IPv4). Returns 0 and sets *@p addr_be / *@p port, or -1.
 */
int cfg_parse_listen(const char *s, uint32_t *addr_be, uint16_t *port);

/** "max", "speed" or "rate". */
const char *cfg_pace_name(cfg_pace_t p);

/** "none", "rss" or "flow". */
const char *cfg_steering_name(cfg_steering_t s);

/** Line name: "A" or "B". */
const char *cfg_line_name(unsigned line);

#endif /* MDMUX_APP_CONFIG_H */
