/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Configuration loader (config.h). Three steps:
 *
 *   1. libyaml pass: syntax check and the position index (cfg_pos.c);
 *   2. libcyaml load into "raw" structs that mirror the YAML (optional scalars are
 *      pointers so that absent and 0 differ); its log messages are captured and
 *      turned into FILE:LINE:COL: FIELD: message;
 *   3. conversion to cfg_t with defaults, then the checks that span fields.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cyaml/cyaml.h>

#include "cfg_pos.h"

/* ------------------------------------------------------------------------------ */
/* Raw schema: what libcyaml fills                                                */
/* ------------------------------------------------------------------------------ */

struct raw_line {
    char *group;
    uint32_t port;
};

struct raw_restart {
    uint32_t *backoff_ms;
    uint32_t *backoff_max_ms;
    uint32_t *max_restarts;
    uint32_t *window_ms;
};

struct raw_arb {
    uint32_t *gap_wait_us;
    uint32_t *window;
    uint32_t *line_timeout_ms;
    bool *sync_first;
    struct raw_restart *restart; /* feed_defaults only */
    bool *copies_on_rx;          /* feed_defaults only */
};

struct raw_fault {
    char *feed;
    char *kind;
    uint32_t *after_packets;
    uint32_t *count;
    uint32_t *stall_ms;
    uint32_t *slow_ns;
};

struct raw_feed {
    char *name;
    uint32_t *handler;
    struct raw_line *a, *b;
    uint32_t *gap_wait_us;
    uint32_t *window;
    uint32_t *line_timeout_ms;
    bool *sync_first;
    bool *rereq;
    char *rereq_server;
};

struct raw_rereq {
    char *device;
    char *server;
    char *server_mac;
    char *source;
    uint32_t *max_outstanding;
    uint32_t *retry_us;
    uint32_t *max_retries;
    uint32_t *rate_per_s;
    uint32_t *max_msgs;
};

struct raw_shm {
    bool *enabled;
    char *path;
    uint32_t *slots;
    char *mode;
    char *group;
};

struct raw_mcast {
    char *device;
    char *group;
    char *source;
    uint32_t *mtu;
    uint32_t *ttl;
};

struct raw_outputs {
    struct raw_shm *shm;
    char *dump;
    char *pcap;
    struct raw_mcast *multicast;
};

struct raw_eal {
    char *lcores;
    uint32_t *memory_mb;
    bool *hugepages;
    char **args;
    unsigned args_count;
};

struct raw_cores {
    uint32_t *control;
    uint32_t *handlers;
    unsigned handlers_count;
};

struct raw_port {
    char *name;
    char *device;
    uint32_t *rx_queues;
    uint32_t *rx_desc;
    uint32_t *mbufs;
    char *steering;
    uint32_t *default_queue;
};

struct raw_rx_line {
    char *feed;
    char *line;
};

struct raw_rx {
    uint32_t lcore;
    char *port;
    uint32_t *queue;
    char **feeds;
    unsigned feeds_count;
    struct raw_rx_line *lines;
    unsigned lines_count;
};

struct raw_channels {
    uint32_t *slots;
};

struct raw_replay {
    char *speed;
    double *rate;
    uint32_t *loop;
    uint32_t *max_gap_ms;
    bool *lossless;
};

struct raw_metrics {
    char *listen;
};

struct raw_shutdown {
    uint32_t *drain_timeout_ms;
};

struct raw_latency {
    uint32_t *interval_ms;
    uint32_t *series_points;
    char *recorder;
};

struct raw_cfg {
    uint32_t version;
    struct raw_eal *eal;
    struct raw_cores *cores;
    struct raw_port *ports;
    unsigned ports_count;
    struct raw_rx *rx;
    unsigned rx_count;
    struct raw_channels *channels;
    struct raw_replay *replay;
    struct raw_feed *feeds;
    unsigned feeds_count;
    struct raw_arb *feed_defaults;
    struct raw_outputs *outputs;
    struct raw_rereq *rereq;
    struct raw_metrics *metrics;
    bool *telemetry;
    struct raw_shutdown *shutdown;
    struct raw_latency *latency;
    struct raw_fault *faults;
    unsigned faults_count;
};

#define OPT (CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL)
#define STR(key, type, member, flags)                                                              \
    CYAML_FIELD_STRING_PTR(key, (flags) | CYAML_FLAG_POINTER, type, member, 0, CYAML_UNLIMITED)

static const cyaml_schema_field_t line_fields[] = {
    STR("group", struct raw_line, group, 0),
    CYAML_FIELD_UINT("port", CYAML_FLAG_DEFAULT, struct raw_line, port),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t feed_fields[] = {
    STR("name", struct raw_feed, name, 0),
    CYAML_FIELD_UINT_PTR("handler", OPT, struct raw_feed, handler),
    CYAML_FIELD_MAPPING_PTR("a", CYAML_FLAG_POINTER, struct raw_feed, a, line_fields),
    CYAML_FIELD_MAPPING_PTR("b", OPT, struct raw_feed, b, line_fields),
    CYAML_FIELD_UINT_PTR("gap_wait_us", OPT, struct raw_feed, gap_wait_us),
    CYAML_FIELD_UINT_PTR("window", OPT, struct raw_feed, window),
    CYAML_FIELD_UINT_PTR("line_timeout_ms", OPT, struct raw_feed, line_timeout_ms),
    CYAML_FIELD_BOOL_PTR("sync_first", OPT, struct raw_feed, sync_first),
    CYAML_FIELD_BOOL_PTR("rereq", OPT, struct raw_feed, rereq),
    STR("rereq_server", struct raw_feed, rereq_server, CYAML_FLAG_OPTIONAL),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t rereq_fields[] = {
    STR("device", struct raw_rereq, device, 0),
    STR("server", struct raw_rereq, server, 0),
    STR("server_mac", struct raw_rereq, server_mac, CYAML_FLAG_OPTIONAL),
    STR("source", struct raw_rereq, source, 0),
    CYAML_FIELD_UINT_PTR("max_outstanding", OPT, struct raw_rereq, max_outstanding),
    CYAML_FIELD_UINT_PTR("retry_us", OPT, struct raw_rereq, retry_us),
    CYAML_FIELD_UINT_PTR("max_retries", OPT, struct raw_rereq, max_retries),
    CYAML_FIELD_UINT_PTR("rate_per_s", OPT, struct raw_rereq, rate_per_s),
    CYAML_FIELD_UINT_PTR("max_msgs", OPT, struct raw_rereq, max_msgs),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t restart_fields[] = {
    CYAML_FIELD_UINT_PTR("backoff_ms", OPT, struct raw_restart, backoff_ms),
    CYAML_FIELD_UINT_PTR("backoff_max_ms", OPT, struct raw_restart, backoff_max_ms),
    CYAML_FIELD_UINT_PTR("max_restarts", OPT, struct raw_restart, max_restarts),
    CYAML_FIELD_UINT_PTR("window_ms", OPT, struct raw_restart, window_ms),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t arb_fields[] = {
    CYAML_FIELD_UINT_PTR("gap_wait_us", OPT, struct raw_arb, gap_wait_us),
    CYAML_FIELD_UINT_PTR("window", OPT, struct raw_arb, window),
    CYAML_FIELD_UINT_PTR("line_timeout_ms", OPT, struct raw_arb, line_timeout_ms),
    CYAML_FIELD_BOOL_PTR("sync_first", OPT, struct raw_arb, sync_first),
    CYAML_FIELD_MAPPING_PTR("restart", OPT, struct raw_arb, restart, restart_fields),
    CYAML_FIELD_BOOL_PTR("copies_on_rx", OPT, struct raw_arb, copies_on_rx),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t fault_fields[] = {
    STR("feed", struct raw_fault, feed, 0),
    STR("kind", struct raw_fault, kind, 0),
    CYAML_FIELD_UINT_PTR("after_packets", OPT, struct raw_fault, after_packets),
    CYAML_FIELD_UINT_PTR("count", OPT, struct raw_fault, count),
    CYAML_FIELD_UINT_PTR("stall_ms", OPT, struct raw_fault, stall_ms),
    CYAML_FIELD_UINT_PTR("slow_ns", OPT, struct raw_fault, slow_ns),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t fault_value = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_fault, fault_fields),
};

static const cyaml_schema_field_t shm_fields[] = {
    CYAML_FIELD_BOOL_PTR("enabled", OPT, struct raw_shm, enabled),
    STR("path", struct raw_shm, path, CYAML_FLAG_OPTIONAL),
    CYAML_FIELD_UINT_PTR("slots", OPT, struct raw_shm, slots),
    STR("mode", struct raw_shm, mode, CYAML_FLAG_OPTIONAL),
    STR("group", struct raw_shm, group, CYAML_FLAG_OPTIONAL),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t mcast_fields[] = {
    STR("device", struct raw_mcast, device, 0),
    STR("group", struct raw_mcast, group, 0),
    STR("source", struct raw_mcast, source, CYAML_FLAG_OPTIONAL),
    CYAML_FIELD_UINT_PTR("mtu", OPT, struct raw_mcast, mtu),
    CYAML_FIELD_UINT_PTR("ttl", OPT, struct raw_mcast, ttl),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t outputs_fields[] = {
    CYAML_FIELD_MAPPING_PTR("shm", OPT, struct raw_outputs, shm, shm_fields),
    STR("dump", struct raw_outputs, dump, CYAML_FLAG_OPTIONAL),
    STR("pcap", struct raw_outputs, pcap, CYAML_FLAG_OPTIONAL),
    CYAML_FIELD_MAPPING_PTR("multicast", OPT, struct raw_outputs, multicast, mcast_fields),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t string_value = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t eal_fields[] = {
    STR("lcores", struct raw_eal, lcores, CYAML_FLAG_OPTIONAL),
    CYAML_FIELD_UINT_PTR("memory_mb", OPT, struct raw_eal, memory_mb),
    CYAML_FIELD_BOOL_PTR("hugepages", OPT, struct raw_eal, hugepages),
    CYAML_FIELD_SEQUENCE("args", OPT, struct raw_eal, args, &string_value, 0, CYAML_UNLIMITED),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t lcore_value = {
    CYAML_VALUE_UINT(CYAML_FLAG_DEFAULT, uint32_t),
};

static const cyaml_schema_field_t cores_fields[] = {
    CYAML_FIELD_UINT_PTR("control", OPT, struct raw_cores, control),
    CYAML_FIELD_SEQUENCE("handlers", OPT, struct raw_cores, handlers, &lcore_value, 1,
                         CFG_MAX_LCORES),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t port_fields[] = {
    STR("name", struct raw_port, name, 0),
    STR("device", struct raw_port, device, 0),
    CYAML_FIELD_UINT_PTR("rx_queues", OPT, struct raw_port, rx_queues),
    CYAML_FIELD_UINT_PTR("rx_desc", OPT, struct raw_port, rx_desc),
    CYAML_FIELD_UINT_PTR("mbufs", OPT, struct raw_port, mbufs),
    STR("steering", struct raw_port, steering, CYAML_FLAG_OPTIONAL),
    CYAML_FIELD_UINT_PTR("default_queue", OPT, struct raw_port, default_queue),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t port_value = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_port, port_fields),
};

static const cyaml_schema_field_t rx_line_fields[] = {
    STR("feed", struct raw_rx_line, feed, 0),
    STR("line", struct raw_rx_line, line, 0),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t rx_line_value = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_rx_line, rx_line_fields),
};

static const cyaml_schema_field_t rx_fields[] = {
    CYAML_FIELD_UINT("lcore", CYAML_FLAG_DEFAULT, struct raw_rx, lcore),
    STR("port", struct raw_rx, port, 0),
    CYAML_FIELD_UINT_PTR("queue", OPT, struct raw_rx, queue),
    CYAML_FIELD_SEQUENCE("feeds", OPT, struct raw_rx, feeds, &string_value, 0, CFG_MAX_FEEDS),
    CYAML_FIELD_SEQUENCE("lines", OPT, struct raw_rx, lines, &rx_line_value, 0, 2 * CFG_MAX_FEEDS),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t rx_value = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_rx, rx_fields),
};

static const cyaml_schema_field_t channels_fields[] = {
    CYAML_FIELD_UINT_PTR("slots", OPT, struct raw_channels, slots),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t replay_fields[] = {
    STR("speed", struct raw_replay, speed, CYAML_FLAG_OPTIONAL),
    CYAML_FIELD_FLOAT_PTR("rate", OPT, struct raw_replay, rate),
    CYAML_FIELD_UINT_PTR("loop", OPT, struct raw_replay, loop),
    CYAML_FIELD_UINT_PTR("max_gap_ms", OPT, struct raw_replay, max_gap_ms),
    CYAML_FIELD_BOOL_PTR("lossless", OPT, struct raw_replay, lossless),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t metrics_fields[] = {
    STR("listen", struct raw_metrics, listen, CYAML_FLAG_OPTIONAL),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t shutdown_fields[] = {
    CYAML_FIELD_UINT_PTR("drain_timeout_ms", OPT, struct raw_shutdown, drain_timeout_ms),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t latency_fields[] = {
    CYAML_FIELD_UINT_PTR("interval_ms", OPT, struct raw_latency, interval_ms),
    CYAML_FIELD_UINT_PTR("series_points", OPT, struct raw_latency, series_points),
    STR("recorder", struct raw_latency, recorder, CYAML_FLAG_OPTIONAL),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t feed_value = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_feed, feed_fields),
};

static const cyaml_schema_field_t top_fields[] = {
    CYAML_FIELD_UINT("version", CYAML_FLAG_DEFAULT, struct raw_cfg, version),
    CYAML_FIELD_MAPPING_PTR("eal", OPT, struct raw_cfg, eal, eal_fields),
    CYAML_FIELD_MAPPING_PTR("cores", OPT, struct raw_cfg, cores, cores_fields),
    CYAML_FIELD_SEQUENCE("ports", OPT, struct raw_cfg, ports, &port_value, 0, CYAML_UNLIMITED),
    CYAML_FIELD_SEQUENCE("rx", OPT, struct raw_cfg, rx, &rx_value, 0, CYAML_UNLIMITED),
    CYAML_FIELD_MAPPING_PTR("channels", OPT, struct raw_cfg, channels, channels_fields),
    CYAML_FIELD_MAPPING_PTR("replay", OPT, struct raw_cfg, replay, replay_fields),
    CYAML_FIELD_SEQUENCE("feeds", CYAML_FLAG_POINTER, struct raw_cfg, feeds, &feed_value, 1,
                         CFG_MAX_FEEDS),
    CYAML_FIELD_MAPPING_PTR("feed_defaults", OPT, struct raw_cfg, feed_defaults, arb_fields),
    CYAML_FIELD_MAPPING_PTR("outputs", OPT, struct raw_cfg, outputs, outputs_fields),
    CYAML_FIELD_MAPPING_PTR("rereq", OPT, struct raw_cfg, rereq, rereq_fields),
    CYAML_FIELD_MAPPING_PTR("metrics", OPT, struct raw_cfg, metrics, metrics_fields),
    CYAML_FIELD_BOOL_PTR("telemetry", OPT, struct raw_cfg, telemetry),
    CYAML_FIELD_MAPPING_PTR("shutdown", OPT, struct raw_cfg, shutdown, shutdown_fields),
    CYAML_FIELD_MAPPING_PTR("latency", OPT, struct raw_cfg, latency, latency_fields),
    CYAML_FIELD_SEQUENCE("faults", OPT, struct raw_cfg, faults, &fault_value, 0, CFG_MAX_FEEDS),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t top_value = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_cfg, top_fields),
};

/* ------------------------------------------------------------------------------ */
/* Error reporting                                                                */
/* ------------------------------------------------------------------------------ */

/* Most messages reported for one file (the rest are counted). */
#define ERRORS_MAX 20

typedef struct loader {
    const char *name; /* file name for messages */
    cfg_pos_t pos;
    char *err;
    size_t errlen, used;
    unsigned nerrors;
    /* libcyaml's log, assembled: first message and its backtrace */
    char cy_msg[256];
    char cy_path[CFG_POS_PATH_MAX];
    unsigned cy_line, cy_col;
    bool cy_in_backtrace;
    char cy_frames[8][CFG_POS_PATH_MAX];
    unsigned cy_nframes;
    /* reported errors, kept to print in file order */
    struct {
        unsigned line, col, seq;
        char text[448];
    } msgs[ERRORS_MAX];
    unsigned nmsgs;
} loader_t;

static void append(loader_t *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(loader_t *ld, const char *fmt, ...)
{
    if (ld->errlen == 0 || ld->used >= ld->errlen - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ld->err + ld->used, ld->errlen - ld->used, fmt, ap);
    va_end(ap);
    if (n > 0)
        ld->used += (size_t)n < ld->errlen - ld->used ? (size_t)n : ld->errlen - ld->used - 1;
}

/*
 * Copy @p s into @p out (@p cap bytes) with control characters escaped (\n, \t, \xHH):
 * messages quote values and keys from the file, and a newline in a quoted scalar
 * must not break the one-line-per-error format (found by tests/fuzz).
 */
static const char *one_line(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 5 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x20 && ch != 0x7f)
            out[n++] = (char)ch;
        else if (ch == '\n' || ch == '\t')
            n += (size_t)snprintf(out + n, cap - n, "\\%c", ch == '\n' ? 'n' : 't');
        else
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", ch);
    }
    out[n] = '\0';
    return out;
}

/* Keep one "FILE:LINE:COL: ..." message to print in file order. */
static void keep(loader_t *ld, unsigned line, unsigned col, const char *path, const char *msg)
{
    char p[CFG_POS_PATH_MAX + 16], m[304];
    if (++ld->nerrors > ERRORS_MAX)
        return;
    unsigned i = ld->nmsgs++;
    ld->msgs[i].line = line;
    ld->msgs[i].col = col;
    ld->msgs[i].seq = i;
    snprintf(ld->msgs[i].text, sizeof(ld->msgs[i].text), "%s:%u:%u: %s%s%s\n", ld->name, line, col,
             one_line(path, p, sizeof(p)), path[0] ? ": " : "", one_line(msg, m, sizeof(m)));
    size_t n = strlen(ld->msgs[i].text);
    if (ld->msgs[i].text[n - 1] != '\n') /* cut: still one line */
        ld->msgs[i].text[n - 1] = '\n';
}

static int msg_cmp(const void *x, const void *y)
{
    const __typeof__(((loader_t *)0)->msgs[0]) *a = x, *b = y;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Write the kept messages into the caller's buffer, sorted by position. */
static void flush(loader_t *ld)
{
    qsort(ld->msgs, ld->nmsgs, sizeof(ld->msgs[0]), msg_cmp);
    for (unsigned i = 0; i < ld->nmsgs; i++)
        append(ld, "%s", ld->msgs[i].text);
    if (ld->nerrors > ERRORS_MAX)
        append(ld, "%s: ... and %u more errors\n", ld->name, ld->nerrors - ERRORS_MAX);
}

/* Report "FILE:LINE:COL: PATH: message" with the position of @p path from the index. */
static void fail(loader_t *ld, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(loader_t *ld, const char *path, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const cfg_pos_ent_t *p = cfg_pos_find(&ld->pos, path);
    keep(ld, p ? p->line : 1, p ? p->col : 1, path, msg);
}

/* Line of @p path, for "(line N)" notes; 0 if unknown. */
static unsigned line_of(const loader_t *ld, const char *path)
{
    const cfg_pos_ent_t *p = cfg_pos_find(&ld->pos, path);
    return p ? p->line : 0;
}

/*
 * libcyaml log callback. An error arrives as "Load: MESSAGE" followed by
 * "Load: Backtrace:" and one "  in mapping field 'x' (line: L, column: C)" or
 * "  in sequence entry 'N' (...)" line per level, innermost first.
 */
static void cy_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    loader_t *ld = ctx;
    char line[320];
    if (level < CYAML_LOG_ERROR)
        return;
    vsnprintf(line, sizeof(line), fmt, args);
    line[strcspn(line, "\n")] = '\0';

    const char *s = line;
    if (strncmp(s, "Load: ", 6) == 0) {
        s += 6;
        if (strcmp(s, "Backtrace:") == 0)
            ld->cy_in_backtrace = true;
        else if (ld->cy_msg[0] == '\0')
            snprintf(ld->cy_msg, sizeof(ld->cy_msg), "%.200s", s);
        return;
    }
    if (!ld->cy_in_backtrace || ld->cy_nframes == 8)
        return;
    char name[CFG_POS_PATH_MAX - 8];
    unsigned l = 0, c = 0, n = 0;
    char *f = ld->cy_frames[ld->cy_nframes];
    if (sscanf(s, " in mapping field '%87[^']' (line: %u, column: %u)", name, &l, &c) >= 1) {
        snprintf(f, CFG_POS_PATH_MAX, ".%s", name);
    } else if (sscanf(s, " in sequence entry '%u' (line: %u, column: %u)", &n, &l, &c) >= 1) {
        /* libcyaml counts the entry being read, so the first one is 1 */
        snprintf(f, CFG_POS_PATH_MAX, "[%u]", n ? n - 1 : 0);
    } else if (sscanf(s, " in mapping (line: %u, column: %u)", &l, &c) == 2) {
        f[0] = '\0';
    } else {
        return;
    }
    if (ld->cy_nframes == 0 || ld->cy_line == 0) {
        ld->cy_line = l;
        ld->cy_col = c;
    }
    ld->cy_nframes++;
}

/* Join libcyaml's frames (innermost first) from @p from outward into a path. */
static void cy_join(const loader_t *ld, unsigned from, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (unsigned i = ld->cy_nframes; i-- > from;) {
        const char *f = ld->cy_frames[i];
        if (n == 0 && f[0] == '.')
            f++;
        int k = snprintf(out + n, outlen - n, "%s", f);
        if (k < 0 || (size_t)k >= outlen - n)
            return;
        n += (size_t)k;
    }
}

/* Turn the captured libcyaml error into one reported line. */
static void cy_report(loader_t *ld, cyaml_err_t e)
{
    char path[CFG_POS_PATH_MAX], full[CFG_POS_PATH_MAX + 64];
    const char *msg = ld->cy_msg[0] ? ld->cy_msg : cyaml_strerror(e);
    const char *key;
    unsigned inner = 0;

    /* A missing field's backtrace names the last field read, not the one missing. */
    bool missing = strncmp(msg, "Missing required mapping field: ", 32) == 0;
    if (missing && ld->cy_nframes > 0 && ld->cy_frames[0][0] == '.')
        inner = 1;
    cy_join(ld, inner, path, sizeof(path));

    if ((key = strstr(msg, "Unexpected key: ")) != NULL) {
        key += 16;
        snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "." : "", key);
        fail(ld, full, "unknown key '%s' (see docs/configuration.md)", key);
        return;
    }
    if (missing) {
        key = msg + 32;
        snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "." : "", key);
        fail(ld, path, "missing required field '%s'", key);
        return;
    }
    if (cfg_pos_find(&ld->pos, path) == NULL && ld->cy_line) {
        keep(ld, ld->cy_line, ld->cy_col, path, msg);
        return;
    }
    fail(ld, path, "%s", msg);
}

/* ------------------------------------------------------------------------------ */
/* Conversion and defaults                                                        */
/* ------------------------------------------------------------------------------ */

const char *cfg_pace_name(cfg_pace_t p)
{
    return p == CFG_PACE_SPEED ? "speed" : p == CFG_PACE_RATE ? "rate" : "max";
}

const char *cfg_line_name(unsigned line)
{
    return line == CFG_LINE_A ? "A" : "B";
}

int cfg_parse_speed(const char *s, cfg_pace_t *pace, double *speed)
{
    if (strcmp(s, "max") == 0) {
        *pace = CFG_PACE_MAX;
        *speed = 0;
        return 0;
    }
    /* digits with at most one '.' and 9 decimals: what the pacer reads exactly */
    size_t n = strlen(s), dots = 0, decimals = 0;
    if (n == 0 || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.')
            dots++;
        else if (!isdigit((unsigned char)s[i]))
            return -1;
        else if (dots)
            decimals++;
    }
    double v = strtod(s, NULL);
    if (dots > 1 || decimals > 9 || s[0] == '.' || s[n - 1] == '.' || !(v > 0) || v > 1e6)
        return -1;
    *pace = CFG_PACE_SPEED;
    *speed = v;
    return 0;
}

/* Parse a CPU list "0-3,5,8-9" into @p set (CFG_MAX_LCORES entries). @p lcores: the
   eal.lcores rules (an id beyond 127 or listed twice is an error); otherwise a kernel
   list (/sys/devices/system/cpu/online, --target-cpus) whose ids beyond 127 are left
   out. Returns 0, or -1 with a reason in @p why. */
static int parse_cpulist(const char *s, bool *set, bool lcores, char *why, size_t whylen)
{
    const char *p = s;
    bool any = false;
    if (lcores && strpbrk(s, "@()") != NULL) {
        snprintf(why, whylen,
                 "only lcore lists and ranges (\"0-3,5\") are supported, not '@' or '()' maps");
        return -1;
    }
    while (*p) {
        char *end;
        unsigned long lo = strtoul(p, &end, 10), hi = lo;
        if (end == p || !isdigit((unsigned char)*p))
            goto bad;
        p = end;
        if (*p == '-') {
            const char *q = p + 1;
            hi = strtoul(q, &end, 10);
            if (end == q || !isdigit((unsigned char)*q))
                goto bad;
            p = end;
        }
        if (lo > hi || (lcores && hi >= CFG_MAX_LCORES)) {
            snprintf(why, whylen, "lcore range out of order or beyond %d", CFG_MAX_LCORES - 1);
            return -1;
        }
        for (unsigned long i = lo; i <= hi && i < CFG_MAX_LCORES; i++) {
            if (lcores && set[i]) {
                /* "0-3,2": one CPU cannot be two EAL threads */
                snprintf(why, whylen, "lcore %lu is listed twice", i);
                return -1;
            }
            set[i] = true;
        }
        any = true;
        if (*p == ',')
            p++;
        else if (*p != '\0')
            goto bad;
    }
    if (!any)
        goto bad;
    return 0;
bad:
    snprintf(why, whylen, "expected a list of lcores and ranges such as \"0-1\" or \"0,2-5\"");
    return -1;
}

static char *dup_or_fail(loader_t *ld, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        fail(ld, "", "out of memory");
    return d;
}

/* Copy a name field, checking its length and characters. */
static void copy_name(loader_t *ld, const char *path, const char *src, char *dst)
{
    size_t n = strlen(src);
    if (n == 0 || n > CFG_NAME_MAX) {
        fail(ld, path, "name must be 1 to %d characters", CFG_NAME_MAX);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (!isalnum(ch) && ch != '_' && ch != '-' && ch != '.' && ch != ':') {
            fail(ld, path, "'%s': names use letters, digits, '_', '-', '.' and ':'", src);
            return;
        }
    }
    memcpy(dst, src, n + 1);
}

static void conv_eal(loader_t *ld, const struct raw_eal *r, cfg_t *c)
{
    static const char *const reserved[] = {"-l", "--lcores", "-c", "--main-lcore", "--coremask"};
    char why[96];

    c->eal.lcores = dup_or_fail(ld, r && r->lcores ? r->lcores : "0-1");
    c->eal.memory_mb = r && r->memory_mb ? *r->memory_mb : 256;
    c->eal.hugepages = r && r->hugepages ? *r->hugepages : false;
    if (c->eal.lcores && parse_cpulist(c->eal.lcores, c->lcore_set, true, why, sizeof(why)) < 0)
        fail(ld, "eal.lcores", "'%s': %s", c->eal.lcores, why);
    if (c->eal.memory_mb < 64 || c->eal.memory_mb > (1u << 20))
        fail(ld, "eal.memory_mb", "%u MiB: expected 64 to 1048576", c->eal.memory_mb);
    if (r == NULL || r->args_count == 0)
        return;
    c->eal.args = calloc(r->args_count, sizeof(char *));
    if (c->eal.args == NULL) {
        fail(ld, "eal.args", "out of memory");
        return;
    }
    for (unsigned i = 0; i < r->args_count; i++) {
        char path[32];
        snprintf(path, sizeof(path), "eal.args[%u]", i);
        for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++) {
            size_t n = strlen(reserved[k]);
            if (strncmp(r->args[i], reserved[k], n) == 0 &&
                (r->args[i][n] == '\0' || r->args[i][n] == '='))
                fail(ld, path, "'%s': the lcore map comes from eal.lcores and cores.control",
                     r->args[i]);
        }
        c->eal.args[c->eal.nargs++] = dup_or_fail(ld, r->args[i]);
    }
}

/* The first lcore of the EAL set, or 0. */
static unsigned first_lcore(const cfg_t *c)
{
    for (unsigned i = 0; i < CFG_MAX_LCORES; i++)
        if (c->lcore_set[i])
            return i;
    return 0;
}

static void check_lcore(loader_t *ld, const cfg_t *c, const char *path, unsigned lcore)
{
    unsigned line = line_of(ld, "eal.lcores");
    if (lcore >= CFG_MAX_LCORES || !c->lcore_set[lcore]) {
        if (line)
            fail(ld, path, "lcore %u is not in eal.lcores \"%s\" (line %u)", lcore,
                 c->eal.lcores ? c->eal.lcores : "", line);
        else
            fail(ld, path, "lcore %u is not in the default eal.lcores \"%s\"", lcore,
                 c->eal.lcores ? c->eal.lcores : "");
    }
}

/* latency.recorder: "auto", "mux" or an lcore of eal.lcores (after conv_eal). */
static void load_recorder(loader_t *ld, cfg_t *c, const char *v)
{
    char *end;
    if (strcmp(v, "auto") == 0) {
        c->latency.recorder = CFG_RECORDER_AUTO;
        return;
    }
    if (strcmp(v, "mux") == 0) {
        c->latency.recorder = CFG_RECORDER_MUX;
        return;
    }
    errno = 0;
    unsigned long l = strtoul(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || l >= CFG_MAX_LCORES) {
        fail(ld, "latency.recorder", "'%s': expected auto, mux or an lcore number", v);
        return;
    }
    c->latency.recorder = (int)l;
    check_lcore(ld, c, "latency.recorder", (unsigned)l);
}

static void conv_cores(loader_t *ld, const struct raw_cores *r, cfg_t *c)
{
    c->control = r && r->control ? *r->control : first_lcore(c);
    check_lcore(ld, c, "cores.control", c->control);
    if (r == NULL || r->handlers_count == 0) {
        c->handlers[0] = c->control;
        c->nhandlers = 1;
        return;
    }
    for (unsigned i = 0; i < r->handlers_count; i++) {
        char path[32];
        unsigned l = r->handlers[i];
        snprintf(path, sizeof(path), "cores.handlers[%u]", i);
        check_lcore(ld, c, path, l);
        for (unsigned j = 0; j < i; j++)
            if (r->handlers[j] == l)
                fail(ld, path, "lcore %u is listed twice", l);
        c->handlers[c->nhandlers++] = l;
    }
}

static void conv_ports(loader_t *ld, const struct raw_cfg *r, cfg_t *c)
{
    if (r->ports_count == 0)
        return;
    c->ports = calloc(r->ports_count, sizeof(*c->ports));
    if (c->ports == NULL) {
        fail(ld, "ports", "out of memory");
        return;
    }
    for (unsigned i = 0; i < r->ports_count; i++) {
        const struct raw_port *rp = &r->ports[i];
        cfg_port_t *p = &c->ports[c->nports++];
        char path[48];
        snprintf(path, sizeof(path), "ports[%u].name", i);
        copy_name(ld, path, rp->name, p->name);
        if (strcmp(rp->name, CFG_REPLAY_PORT) == 0)
            fail(ld, path, "'%s' is reserved for the port mdmux replay adds", CFG_REPLAY_PORT);
        p->device = dup_or_fail(ld, rp->device);
        p->rx_queues = rp->rx_queues ? *rp->rx_queues : 1;
        p->rx_desc = rp->rx_desc ? *rp->rx_desc : 1024;
        snprintf(path, sizeof(path), "ports[%u].rx_queues", i);
        if (p->rx_queues < 1 || p->rx_queues > 64)
            fail(ld, path, "%u: expected 1 to 64", p->rx_queues);
        snprintf(path, sizeof(path), "ports[%u].rx_desc", i);
        if (p->rx_desc < 64 || p->rx_desc > 32768)
            fail(ld, path, "%u: expected 64 to 32768", p->rx_desc);
        p->mbufs = rp->mbufs ? *rp->mbufs : 0;
        snprintf(path, sizeof(path), "ports[%u].mbufs", i);
        if (rp->mbufs && (p->mbufs < CFG_PORT_MBUFS_MIN || p->mbufs > CFG_PORT_MBUFS_MAX))
            fail(ld, path, "%u: expected %u to %u", p->mbufs, CFG_PORT_MBUFS_MIN,
                 CFG_PORT_MBUFS_MAX);
        else if (rp->mbufs && p->mbufs < p->rx_desc * p->rx_queues + 64)
            fail(ld, path,
                 "%u mbufs cannot fill the %u RX descriptors of %u queues (rx_desc x "
                 "rx_queues + 64 at least)",
                 p->mbufs, p->rx_desc * p->rx_queues, p->rx_queues);
        snprintf(path, sizeof(path), "ports[%u].steering", i);
        p->steering = p->rx_queues > 1 ? CFG_STEER_FLOW : CFG_STEER_NONE;
        if (rp->steering) {
            if (strcmp(rp->steering, "flow") == 0)
                p->steering = CFG_STEER_FLOW;
            else if (strcmp(rp->steering, "rss") == 0)
                p->steering = CFG_STEER_RSS;
            else if (strcmp(rp->steering, "none") == 0)
                p->steering = CFG_STEER_NONE;
            else
                fail(ld, path, "'%s': expected flow, rss or none", rp->steering);
        }
        snprintf(path, sizeof(path), "ports[%u].default_queue", i);
        p->default_queue = rp->default_queue ? *rp->default_queue : 0;
        if (rp->default_queue && p->steering != CFG_STEER_FLOW)
            fail(ld, path, "only with steering: flow (this port's is %s)",
                 cfg_steering_name(p->steering));
        else if (p->default_queue >= p->rx_queues)
            fail(ld, path, "queue %u but the port has %u rx_queues", p->default_queue,
                 p->rx_queues);
        snprintf(path, sizeof(path), "ports[%u].device", i);
        if (rp->device[0] == '\0')
            fail(ld, path, "empty device");
        for (unsigned j = 0; j < i; j++) {
            char other[32], npath[32];
            snprintf(other, sizeof(other), "ports[%u]", j);
            snprintf(npath, sizeof(npath), "ports[%u].name", i);
            if (strcmp(r->ports[j].name, rp->name) == 0)
                fail(ld, npath, "port name '%s' is also %s (line %u)", rp->name, other,
                     line_of(ld, other));
            else if (strcmp(r->ports[j].device, rp->device) == 0)
                fail(ld, path, "device '%s' is also %s (line %u)", rp->device, other,
                     line_of(ld, other));
        }
    }
}

/* Queue count of port @p name, or 0 if there is no such port. Replay's port has one. */
static unsigned port_queues(const cfg_t *c, const char *name)
{
    if (strcmp(name, CFG_REPLAY_PORT) == 0)
        return 1;
    for (unsigned i = 0; i < c->nports; i++)
        if (strcmp(c->ports[i].name, name) == 0)
            return c->ports[i].rx_queues;
    return 0;
}

static void conv_rx(loader_t *ld, const struct raw_cfg *r, cfg_t *c)
{
    if (r->rx_count == 0)
        return;
    c->rx = calloc(r->rx_count, sizeof(*c->rx));
    if (c->rx == NULL) {
        fail(ld, "rx", "out of memory");
        return;
    }
    for (unsigned i = 0; i < r->rx_count; i++) {
        const struct raw_rx *rr = &r->rx[i];
        cfg_rx_t *x = &c->rx[c->nrx++];
        char path[40];
        x->lcore = rr->lcore;
        x->queue = rr->queue ? *rr->queue : 0;
        snprintf(path, sizeof(path), "rx[%u].lcore", i);
        check_lcore(ld, c, path, x->lcore);
        snprintf(path, sizeof(path), "rx[%u].port", i);
        copy_name(ld, path, rr->port, x->port);
        unsigned nq = port_queues(c, rr->port);
        if (nq == 0)
            fail(ld, path, "no port named '%s' in ports", rr->port);
        snprintf(path, sizeof(path), "rx[%u].queue", i);
        if (nq && x->queue >= nq)
            fail(ld, path, "queue %u but port '%s' has %u rx_queues", x->queue, rr->port, nq);
        for (unsigned j = 0; j < i; j++) {
            char other[24];
            snprintf(other, sizeof(other), "rx[%u]", j);
            if (strcmp(c->rx[j].port, x->port) == 0 && c->rx[j].queue == x->queue)
                fail(ld, path, "port '%s' queue %u is already polled by %s (lcore %u, line %u)",
                     x->port, x->queue, other, c->rx[j].lcore, line_of(ld, other));
        }
    }
}

static int feed_index(const cfg_t *c, const char *name);

/* Steer feed line (@p f, @p l) of port @p p to @p queue for rx entry @p i, at @p path;
   @p by[f][l] is the rx entry that did it first (-1: none). */
static void steer_line(loader_t *ld, const char *path, cfg_port_t *p, int (*by)[CFG_LINES],
                       unsigned i, const cfg_t *c, unsigned f, unsigned l, unsigned queue)
{
    if (by[f][l] >= 0) {
        char other[24];
        snprintf(other, sizeof(other), "rx[%d]", by[f][l]);
        fail(ld, path, "feed '%s' line %s is already steered to port '%s' queue %u by %s (line %u)",
             c->feeds[f].name, cfg_line_name(l), p->name, p->line_queue[f][l], other,
             line_of(ld, other));
        return;
    }
    by[f][l] = (int)i;
    p->line_queue[f][l] = (uint16_t)queue;
}

/* rx[].feeds and rx[].lines: the queue of each feed line on each port with steering:
   flow; every line no entry lists goes to the port's default_queue. */
static void conv_steer(loader_t *ld, const struct raw_cfg *r, cfg_t *c)
{
    for (unsigned pi = 0; pi < c->nports; pi++) {
        cfg_port_t *p = &c->ports[pi];
        if (p->steering != CFG_STEER_FLOW || c->nfeeds == 0)
            continue;
        p->line_queue = calloc(c->nfeeds, sizeof(*p->line_queue));
        int(*by)[CFG_LINES] = calloc(c->nfeeds, sizeof(*by));
        if (p->line_queue == NULL || by == NULL) {
            free(by);
            fail(ld, "ports", "out of memory");
            return;
        }
        for (unsigned f = 0; f < c->nfeeds; f++)
            for (unsigned l = 0; l < CFG_LINES; l++) {
                p->line_queue[f][l] = (uint16_t)p->default_queue;
                by[f][l] = -1;
            }
        for (unsigned i = 0; i < r->rx_count && i < c->nrx; i++) {
            const struct raw_rx *rr = &r->rx[i];
            if (strcmp(rr->port, p->name) != 0)
                continue;
            unsigned q = c->rx[i].queue;
            char path[64];
            for (unsigned j = 0; j < rr->feeds_count; j++) {
                snprintf(path, sizeof(path), "rx[%u].feeds[%u]", i, j);
                int f = feed_index(c, rr->feeds[j]);
                if (f < 0) {
                    fail(ld, path, "'%s': no such feed in feeds (line %u)", rr->feeds[j],
                         line_of(ld, "feeds"));
                    continue;
                }
                for (unsigned l = 0; l < c->feeds[f].nlines; l++)
                    steer_line(ld, path, p, by, i, c, (unsigned)f, l, q);
            }
            for (unsigned j = 0; j < rr->lines_count; j++) {
                const struct raw_rx_line *x = &rr->lines[j];
                snprintf(path, sizeof(path), "rx[%u].lines[%u].feed", i, j);
                int f = feed_index(c, x->feed);
                if (f < 0) {
                    fail(ld, path, "'%s': no such feed in feeds (line %u)", x->feed,
                         line_of(ld, "feeds"));
                    continue;
                }
                snprintf(path, sizeof(path), "rx[%u].lines[%u].line", i, j);
                unsigned l;
                if (strcmp(x->line, "a") == 0 || strcmp(x->line, "A") == 0)
                    l = CFG_LINE_A;
                else if (strcmp(x->line, "b") == 0 || strcmp(x->line, "B") == 0)
                    l = CFG_LINE_B;
                else {
                    fail(ld, path, "'%s': expected a or b", x->line);
                    continue;
                }
                if (l >= c->feeds[f].nlines) {
                    fail(ld, path, "feed '%s' has no line b", x->feed);
                    continue;
                }
                steer_line(ld, path, p, by, i, c, (unsigned)f, l, q);
            }
        }
        free(by);
    }
    /* feeds: and lines: on an entry whose port does not steer by flow rules */
    for (unsigned i = 0; i < r->rx_count && i < c->nrx; i++) {
        const struct raw_rx *rr = &r->rx[i];
        if (rr->feeds_count == 0 && rr->lines_count == 0)
            continue;
        const cfg_port_t *p = NULL;
        for (unsigned pi = 0; pi < c->nports; pi++)
            if (strcmp(c->ports[pi].name, rr->port) == 0)
                p = &c->ports[pi];
        char path[40];
        snprintf(path, sizeof(path), "rx[%u].%s", i, rr->feeds_count ? "feeds" : "lines");
        if (p == NULL && strcmp(rr->port, CFG_REPLAY_PORT) == 0)
            fail(ld, path, "the replay port has one queue: nothing to steer");
        else if (p && p->steering != CFG_STEER_FLOW)
            fail(ld, path, "port '%s' has steering: %s; feeds and lines need steering: flow",
                 p->name, cfg_steering_name(p->steering));
    }
}

static void conv_replay(loader_t *ld, const struct raw_replay *r, cfg_t *c)
{
    c->replay.pace = CFG_PACE_MAX;
    snprintf(c->replay.speed_text, sizeof(c->replay.speed_text), "max");
    c->replay.loop = r && r->loop ? *r->loop : 1;
    if (r && r->loop && *r->loop == 0)
        fail(ld, "replay.loop", "0: expected 1 or more passes over the capture");
    c->replay.max_gap_ns = cfg_max_gap_ns(r && r->max_gap_ms ? *r->max_gap_ms : CFG_MAX_GAP_MS);
    c->replay.lossless = r && r->lossless && *r->lossless;
    if (r && r->speed) {
        if (cfg_parse_speed(r->speed, &c->replay.pace, &c->replay.speed) < 0)
            fail(ld, "replay.speed",
                 "'%s': expected \"max\" or a positive multiplier such as 1 or 2.5", r->speed);
        else
            snprintf(c->replay.speed_text, sizeof(c->replay.speed_text), "%s", r->speed);
    }
    if (r && r->rate) {
        if (!isfinite(*r->rate) || *r->rate < 0 || *r->rate > 1e9)
            fail(ld, "replay.rate", "%g: expected 0 (off) to 1e9 packets/s", *r->rate);
        else if (*r->rate > 0) {
            if (r->speed && c->replay.pace == CFG_PACE_SPEED)
                fail(ld, "replay.rate", "set either speed (a multiplier) or rate, not both");
            c->replay.pace = CFG_PACE_RATE;
            c->replay.rate = *r->rate;
        }
    }
}

static void conv_line(loader_t *ld, const char *fpath, unsigned line, const struct raw_line *r,
                      cfg_line_t *l)
{
    char path[64];
    struct in_addr a;
    snprintf(path, sizeof(path), "%s.%s.group", fpath, line == CFG_LINE_A ? "a" : "b");
    if (inet_pton(AF_INET, r->group, &a) != 1)
        fail(ld, path, "'%s' is not an IPv4 address", r->group);
    l->group_be = a.s_addr;
    snprintf(l->group, sizeof(l->group), "%s", inet_ntoa(a));
    snprintf(path, sizeof(path), "%s.%s.port", fpath, line == CFG_LINE_A ? "a" : "b");
    if (r->port < 1 || r->port > 65535)
        fail(ld, path, "%u: expected a UDP port 1 to 65535", r->port);
    l->port = (uint16_t)r->port;
}

static bool is_handler(const cfg_t *c, unsigned lcore)
{
    for (unsigned i = 0; i < c->nhandlers; i++)
        if (c->handlers[i] == lcore)
            return true;
    return false;
}

/* Each flow (group, port) and each name belongs to one feed line. O(n^2): n <= 4096. */
static void check_feed_dups(loader_t *ld, const cfg_t *c, unsigned i)
{
    const cfg_feed_t *f = &c->feeds[i];
    char path[48], other[48];
    for (unsigned j = 0; j < i; j++) {
        if (strcmp(c->feeds[j].name, f->name) == 0) {
            snprintf(path, sizeof(path), "feeds[%u].name", i);
            snprintf(other, sizeof(other), "feeds[%u]", j);
            fail(ld, path, "feed name '%s' is also %s (line %u)", f->name, other,
                 line_of(ld, other));
        }
    }
    for (unsigned l = 0; l < f->nlines; l++) {
        const cfg_line_t *x = &f->line[l];
        snprintf(path, sizeof(path), "feeds[%u].%s", i, l ? "b" : "a");
        for (unsigned j = 0; j <= i; j++) {
            for (unsigned m = 0; m < c->feeds[j].nlines; m++) {
                const cfg_line_t *y = &c->feeds[j].line[m];
                if ((j == i && m >= l) || y->group_be != x->group_be || y->port != x->port)
                    continue;
                snprintf(other, sizeof(other), "feeds[%u].%s", j, m ? "b" : "a");
                fail(ld, path, "flow %s:%u is also %s (line %u)", x->group, x->port, other,
                     line_of(ld, other));
            }
        }
    }
}

/* Apply the arbiter keys present in @p r (under @p base, "" or "feeds[i]") onto @p a. */
static void conv_arb(loader_t *ld, const char *base, const struct raw_arb *r, cfg_arb_t *a)
{
    char path[64];
    const char *dot = base[0] ? "." : "";
    if (r == NULL)
        return;
    if (r->gap_wait_us) {
        snprintf(path, sizeof(path), "%s%sgap_wait_us", base, dot);
        if (*r->gap_wait_us < 1 || *r->gap_wait_us > 10u * 1000 * 1000)
            fail(ld, path, "%u: expected 1 to 10000000 microseconds", *r->gap_wait_us);
        a->gap_wait_ns = (uint64_t)*r->gap_wait_us * 1000;
    }
    if (r->window) {
        snprintf(path, sizeof(path), "%s%swindow", base, dot);
        if (*r->window < 1 || *r->window > CFG_MAX_WINDOW)
            fail(ld, path, "%u: expected 1 to %u packets", *r->window, CFG_MAX_WINDOW);
        a->window = *r->window;
    }
    if (r->line_timeout_ms) {
        snprintf(path, sizeof(path), "%s%sline_timeout_ms", base, dot);
        if (*r->line_timeout_ms < 1 || *r->line_timeout_ms > 3600u * 1000)
            fail(ld, path, "%u: expected 1 to 3600000 milliseconds", *r->line_timeout_ms);
        a->line_timeout_ns = (uint64_t)*r->line_timeout_ms * 1000 * 1000;
    }
    if (r->sync_first)
        a->sync_first = *r->sync_first;
}

/* Parse "A.B.C.D:PORT" into @p ip_be / @p port; -1 if it is not one. */
static int parse_endpoint(const char *s, uint32_t *ip_be, uint16_t *port)
{
    char host[32];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1 || end == colon + 1 || *end || p < 1 || p > 65535)
        return -1;
    *ip_be = a.s_addr;
    *port = (uint16_t)p;
    return 0;
}

int cfg_parse_listen(const char *s, uint32_t *addr_be, uint16_t *port)
{
    char buf[64];
    if (s == NULL || strlen(s) >= sizeof(buf) - 16)
        return -1;
    /* a bare port (or ":PORT") binds to loopback: exposure is opt-in */
    if (strchr(s, ':') == NULL)
        snprintf(buf, sizeof(buf), "127.0.0.1:%s", s);
    else if (s[0] == ':')
        snprintf(buf, sizeof(buf), "127.0.0.1%s", s);
    else
        snprintf(buf, sizeof(buf), "%s", s);
    return parse_endpoint(buf, addr_be, port);
}

/* metrics: {listen: ...} and telemetry: */
static void conv_metrics(loader_t *ld, const struct raw_cfg *r, cfg_t *c)
{
    c->telemetry = r->telemetry && *r->telemetry;
    if (r->metrics == NULL)
        return;
    const char *l = r->metrics->listen ? r->metrics->listen : "127.0.0.1:9101";
    if (cfg_parse_listen(l, &c->metrics.addr_be, &c->metrics.port) < 0)
        fail(ld, "metrics.listen", "'%s': expected ADDR:PORT (IPv4), :PORT or PORT", l);
    c->metrics.listen = dup_or_fail(ld, l);
}

/* outputs.shm.group: a gid (digits) or a group name, which cfg_check_host() resolves
   on the host the ring is made on. */
static void conv_shm_group(loader_t *ld, const char *g, cfg_shm_t *s)
{
    size_t n = strlen(g), digits = strspn(g, "0123456789");
    s->group = dup_or_fail(ld, g);
    if (n > 0 && digits == n) {
        errno = 0;
        unsigned long v = strtoul(g, NULL, 10);
        if (errno || v >= 0xffffffffu || n > 10)
            fail(ld, "outputs.shm.group", "%s: not a valid gid", g);
        s->has_gid = true;
        s->gid = (uint32_t)v;
        return;
    }
    /* the portable user and group names of POSIX (and shadow-utils' trailing '$') */
    bool ok = n > 0 && n <= 32 && g[0] != '-';
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char ch = (unsigned char)g[i];
        ok = isalnum(ch) || ch == '_' || ch == '-' || ch == '.' || (ch == '$' && i == n - 1);
    }
    if (!ok)
        fail(ld, "outputs.shm.group",
             "'%s': expected a group name (letters, digits, '_', '-', '.') or a numeric gid", g);
}

static void conv_shm(loader_t *ld, const struct raw_shm *r, cfg_shm_t *s)
{
    s->slots = 65536;
    s->mode = 0640;
    if (r == NULL)
        return;
    s->set = true;
    s->enabled = r->enabled ? *r->enabled : true;
    if (r->path)
        s->path = dup_or_fail(ld, r->path);
    if (r->path && r->path[0] == '\0')
        fail(ld, "outputs.shm.path", "empty path");
    if (r->slots) {
        s->slots = *r->slots;
        if (s->slots < 64 || s->slots > (1u << 26) || (s->slots & (s->slots - 1)))
            fail(ld, "outputs.shm.slots", "%u: expected a power of two from 64 to 67108864",
                 *r->slots);
    }
    if (r->mode) {
        char *end;
        unsigned long m = strtoul(r->mode, &end, 8);
        if (end == r->mode || *end || m > 0777 || (m & 0600) != 0600)
            fail(ld, "outputs.shm.mode",
                 "'%s': expected an octal file mode such as \"0640\" with owner read/write",
                 r->mode);
        s->mode = (unsigned)m;
    }
    if (r->group)
        conv_shm_group(ld, r->group, s);
}

static void conv_mcast(loader_t *ld, const struct raw_mcast *r, cfg_mcast_t *m)
{
    m->mtu = 1500;
    m->ttl = 16;
    if (r == NULL)
        return;
    m->enabled = true;
    m->device = dup_or_fail(ld, r->device);
    if (r->device[0] == '\0')
        fail(ld, "outputs.multicast.device", "empty device");
    snprintf(m->group_text, sizeof(m->group_text), "%s", r->group);
    if (parse_endpoint(r->group, &m->group_be, &m->port) < 0 || (ntohl(m->group_be) >> 28) != 0xe)
        fail(ld, "outputs.multicast.group",
             "'%s': expected a multicast group:port such as "
             "239.255.0.1:5000",
             r->group);
    m->src_be = htonl(0x0a000002); /* 10.0.0.2 */
    m->src_port = m->port;
    if (r->source && parse_endpoint(r->source, &m->src_be, &m->src_port) < 0)
        fail(ld, "outputs.multicast.source", "'%s': expected address:port", r->source);
    if (r->mtu) {
        m->mtu = *r->mtu;
        if (m->mtu < 576 || m->mtu > 9000)
            fail(ld, "outputs.multicast.mtu", "%u: expected 576 to 9000", m->mtu);
    }
    if (r->ttl) {
        m->ttl = *r->ttl;
        if (m->ttl < 1 || m->ttl > 255)
            fail(ld, "outputs.multicast.ttl", "%u: expected 1 to 255", m->ttl);
    }
}

/* One bounded numeric rereq key: default @p def when absent. */
static unsigned rereq_num(loader_t *ld, const char *key, const uint32_t *v, unsigned def,
                          unsigned lo, unsigned hi)
{
    char path[48];
    if (v == NULL)
        return def;
    snprintf(path, sizeof(path), "rereq.%s", key);
    if (*v < lo || *v > hi)
        fail(ld, path, "%u: expected %u to %u", *v, lo, hi);
    return *v;
}

static void parse_mac(loader_t *ld, const char *s, uint8_t *mac)
{
    unsigned b[6];
    char end;
    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6) {
        fail(ld, "rereq.server_mac", "'%s': expected a MAC address such as 02:00:00:00:00:64", s);
        return;
    }
    for (unsigned i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
}

static void conv_rereq(loader_t *ld, const struct raw_rereq *r, cfg_rereq_t *q)
{
    if (r == NULL)
        return;
    q->enabled = true;
    q->device = dup_or_fail(ld, r->device);
    if (parse_endpoint(r->server, &q->server_be, &q->server_port) < 0)
        fail(ld, "rereq.server", "'%s': expected address:port", r->server);
    if (parse_endpoint(r->source, &q->source_be, &q->source_port) < 0)
        fail(ld, "rereq.source", "'%s': expected address:port (feed i sends from port + i)",
             r->source);
    memset(q->server_mac, 0xff, 6);
    if (r->server_mac)
        parse_mac(ld, r->server_mac, q->server_mac);
    q->max_outstanding = rereq_num(ld, "max_outstanding", r->max_outstanding, 8, 1, 64);
    q->retry_ns = (uint64_t)rereq_num(ld, "retry_us", r->retry_us, 5000, 10, 10000000) * 1000;
    q->max_retries = rereq_num(ld, "max_retries", r->max_retries, 3, 0, 100);
    q->rate_per_s = rereq_num(ld, "rate_per_s", r->rate_per_s, 1000, 1, 1000000);
    q->max_msgs = rereq_num(ld, "max_msgs", r->max_msgs, 1024, 1, 65535);
}

/* Re-requests leave on one TX queue, used by one lcore: every feed that re-requests must
   share a handler lcore, and the source ports must fit. */
static void check_rereq(loader_t *ld, const cfg_t *c)
{
    const cfg_rereq_t *q = &c->rereq;
    int lcore = -1;
    if (!q->enabled)
        return;
    if ((unsigned)q->source_port + c->nfeeds > 65536)
        fail(ld, "rereq.source", "port %u + %u feeds is beyond 65535", q->source_port, c->nfeeds);
    for (unsigned i = 0; i < c->nfeeds; i++) {
        if (!c->feeds[i].rereq)
            continue;
        if (lcore >= 0 && (unsigned)lcore != c->feeds[i].handler) {
            char path[40];
            snprintf(path, sizeof(path), "feeds[%u].handler", i);
            fail(ld, path,
                 "feeds that re-request must share one handler lcore (the TX queue's), "
                 "here %d and %u",
                 lcore, c->feeds[i].handler);
            return;
        }
        lcore = (int)c->feeds[i].handler;
    }
}

static void conv_outputs(loader_t *ld, const struct raw_outputs *r, cfg_t *c)
{
    conv_shm(ld, r ? r->shm : NULL, &c->outputs.shm);
    conv_mcast(ld, r ? r->multicast : NULL, &c->outputs.mcast);
    if (r && r->dump)
        c->outputs.dump = dup_or_fail(ld, r->dump);
    if (r && r->pcap)
        c->outputs.pcap = dup_or_fail(ld, r->pcap);
}

/* Feed @p i's re-request settings: the global server, its own, or none. */
static void conv_feed_rereq(loader_t *ld, unsigned i, const struct raw_feed *rf, const cfg_t *c,
                            cfg_feed_t *f)
{
    char path[48];
    f->rereq = c->rereq.enabled && (rf->rereq == NULL || *rf->rereq);
    f->rr_server_be = c->rereq.server_be;
    f->rr_server_port = c->rereq.server_port;
    if (rf->rereq_server == NULL)
        return;
    snprintf(path, sizeof(path), "feeds[%u].rereq_server", i);
    if (!c->rereq.enabled)
        fail(ld, path, "needs a rereq: section (the device the requests leave on)");
    else if (parse_endpoint(rf->rereq_server, &f->rr_server_be, &f->rr_server_port) < 0)
        fail(ld, path, "'%s': expected address:port", rf->rereq_server);
}

static void conv_feeds(loader_t *ld, const struct raw_cfg *r, cfg_t *c)
{
    if (r->feeds_count > CFG_MAX_MUX_FEEDS)
        fail(ld, "feeds", "%u feeds: one mux merges at most %d", r->feeds_count, CFG_MAX_MUX_FEEDS);
    c->feeds = calloc(r->feeds_count, sizeof(*c->feeds));
    if (c->feeds == NULL) {
        fail(ld, "feeds", "out of memory");
        return;
    }
    for (unsigned i = 0; i < r->feeds_count; i++) {
        const struct raw_feed *rf = &r->feeds[i];
        cfg_feed_t *f = &c->feeds[c->nfeeds++];
        char path[40];
        snprintf(path, sizeof(path), "feeds[%u].name", i);
        copy_name(ld, path, rf->name, f->name);
        snprintf(path, sizeof(path), "feeds[%u]", i);
        conv_line(ld, path, CFG_LINE_A, rf->a, &f->line[CFG_LINE_A]);
        f->nlines = rf->b ? 2 : 1;
        if (rf->b)
            conv_line(ld, path, CFG_LINE_B, rf->b, &f->line[CFG_LINE_B]);
        struct raw_arb over = {rf->gap_wait_us, rf->window, rf->line_timeout_ms, rf->sync_first,
                               NULL};
        f->arb = c->feed_defaults;
        conv_arb(ld, path, &over, &f->arb);
        conv_feed_rereq(ld, i, rf, c, f);
        /* default: spread the feeds over the handler lcores in turn */
        f->handler = rf->handler ? *rf->handler : c->handlers[i % c->nhandlers];
        snprintf(path, sizeof(path), "feeds[%u].handler", i);
        if (!is_handler(c, f->handler))
            fail(ld, path, "lcore %u is not in cores.handlers (line %u)", f->handler,
                 line_of(ld, "cores.handlers"));
        check_feed_dups(ld, c, i);
    }
}

/* One bounded millisecond key of feed_defaults.restart, in ns; @p def ms when absent. */
static uint64_t restart_ms(loader_t *ld, const char *key, const uint32_t *v, uint32_t def,
                           uint32_t lo, uint32_t hi)
{
    char path[64];
    if (v == NULL)
        return (uint64_t)def * 1000000;
    snprintf(path, sizeof(path), "feed_defaults.restart.%s", key);
    if (*v < lo || *v > hi)
        fail(ld, path, "%u: expected %u to %u milliseconds", *v, lo, hi);
    return (uint64_t)*v * 1000000;
}

/* feed_defaults.restart: the supervisor's backoff and budget. */
static void conv_restart(loader_t *ld, const struct raw_arb *a, cfg_restart_t *x)
{
    const struct raw_restart *r = a ? a->restart : NULL;
    x->backoff_ns = restart_ms(ld, "backoff_ms", r ? r->backoff_ms : NULL, 1, 1, 60000);
    x->backoff_max_ns =
        restart_ms(ld, "backoff_max_ms", r ? r->backoff_max_ms : NULL, 1000, 1, 3600000);
    x->window_ns = restart_ms(ld, "window_ms", r ? r->window_ms : NULL, 10000, 1, 86400000);
    x->max_restarts = 10;
    if (r && r->max_restarts) {
        x->max_restarts = *r->max_restarts;
        if (x->max_restarts < 1 || x->max_restarts > CFG_MAX_RESTARTS)
            fail(ld, "feed_defaults.restart.max_restarts", "%u: expected 1 to %d", *r->max_restarts,
                 CFG_MAX_RESTARTS);
    }
    if (x->backoff_max_ns < x->backoff_ns)
        fail(ld,
             r && r->backoff_max_ms ? "feed_defaults.restart.backoff_max_ms"
                                    : "feed_defaults.restart.backoff_ms",
             "backoff_max_ms %llu is below backoff_ms %llu",
             (unsigned long long)(x->backoff_max_ns / 1000000),
             (unsigned long long)(x->backoff_ns / 1000000));
}

const char *cfg_fault_kind_name(cfg_fault_kind_t k)
{
    return k == CFG_FAULT_PANIC ? "panic" : k == CFG_FAULT_STALL ? "stall" : "slow";
}

/* "panic", "stall", "slow" -> kind; 0 otherwise. */
static cfg_fault_kind_t fault_kind(const char *s)
{
    return strcmp(s, "panic") == 0   ? CFG_FAULT_PANIC
           : strcmp(s, "stall") == 0 ? CFG_FAULT_STALL
           : strcmp(s, "slow") == 0  ? CFG_FAULT_SLOW
                                     : (cfg_fault_kind_t)0;
}

/* Index of the feed named @p name, or -1. */
static int feed_index(const cfg_t *c, const char *name)
{
    for (unsigned i = 0; i < c->nfeeds; i++)
        if (strcmp(c->feeds[i].name, name) == 0)
            return (int)i;
    return -1;
}

/*
 * The checks a fault's fields need, shared by faults: and --fault: @p why gets the
 * reason and @p key the offending key. Returns 0 or -1.
 */
static int fault_check(const cfg_fault_t *f, bool has_ms, bool has_ns, bool has_count,
                       const char **key, const char **why)
{
    if (has_ms && f->kind != CFG_FAULT_STALL) {
        *key = "stall_ms";
        *why = "applies to kind stall only";
        return -1;
    }
    if (has_ns && f->kind != CFG_FAULT_SLOW) {
        *key = "slow_ns";
        *why = "applies to kind slow only";
        return -1;
    }
    if (has_count && f->kind == CFG_FAULT_SLOW) {
        *key = "count";
        *why = "applies to kinds panic and stall (slow slows every packet)";
        return -1;
    }
    if (f->count < 1 || (has_ms && (f->stall_ns < 1000000 || f->stall_ns > 3600000000000ull)) ||
        (has_ns && (f->slow_ns < 1 || f->slow_ns > 1000000000))) {
        *key = f->count < 1 ? "count" : has_ms ? "stall_ms" : "slow_ns";
        *why = f->count < 1 ? "expected at least 1"
               : has_ms     ? "expected 1 to 3600000 milliseconds"
                            : "expected 1 to 1000000000 nanoseconds";
        return -1;
    }
    return 0;
}

/* Put @p f in c->faults, replacing one of the same feed. Returns 0 or -1 (ENOMEM). */
static int fault_put(cfg_t *c, const cfg_fault_t *f)
{
    for (unsigned i = 0; i < c->nfaults; i++) {
        if (c->faults[i].feed == f->feed) {
            c->faults[i] = *f;
            return 0;
        }
    }
    cfg_fault_t *v = realloc(c->faults, (c->nfaults + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    c->faults = v;
    c->faults[c->nfaults++] = *f;
    return 0;
}

/* faults: one per feed, each naming a configured feed and a kind. */
static void conv_faults(loader_t *ld, const struct raw_cfg *r, cfg_t *c)
{
    for (unsigned i = 0; i < r->faults_count; i++) {
        const struct raw_fault *rf = &r->faults[i];
        char path[64], base[32];
        snprintf(base, sizeof(base), "faults[%u]", i);
        cfg_fault_t f = {.count = 1, .stall_ns = 1000000000ull, .slow_ns = 10000};
        int fi = feed_index(c, rf->feed);
        snprintf(path, sizeof(path), "%s.feed", base);
        if (fi < 0) {
            fail(ld, path, "'%s': no such feed in feeds (line %u)", rf->feed, line_of(ld, "feeds"));
            continue;
        }
        f.feed = (unsigned)fi;
        for (unsigned j = 0; j < i; j++) {
            if (strcmp(r->faults[j].feed, rf->feed) == 0) {
                char other[40];
                snprintf(other, sizeof(other), "faults[%u]", j);
                fail(ld, path, "'%s' already has a fault (%s, line %u): one per feed", rf->feed,
                     other, line_of(ld, other));
                fi = -1;
                break;
            }
        }
        if (fi < 0)
            continue;
        snprintf(path, sizeof(path), "%s.kind", base);
        f.kind = fault_kind(rf->kind);
        if (f.kind == 0) {
            fail(ld, path, "'%s': expected panic, stall or slow", rf->kind);
            continue;
        }
        f.after_packets = rf->after_packets ? *rf->after_packets : 0;
        if (rf->count)
            f.count = *rf->count;
        if (rf->stall_ms)
            f.stall_ns = (uint64_t)*rf->stall_ms * 1000000;
        if (rf->slow_ns)
            f.slow_ns = *rf->slow_ns;
        const char *key, *why;
        if (fault_check(&f, rf->stall_ms != NULL, rf->slow_ns != NULL, rf->count != NULL, &key,
                        &why) < 0) {
            snprintf(path, sizeof(path), "%s.%s", base, key);
            fail(ld, path, "%s", why);
            continue;
        }
        if (fault_put(c, &f) < 0)
            fail(ld, base, "out of memory");
    }
}

int cfg_add_fault(cfg_t *c, const char *spec, char *err, size_t errlen)
{
    char buf[256], *save = NULL;
    cfg_fault_t f = {.count = 1, .stall_ns = 1000000000ull, .slow_ns = 10000};
    bool has_ms = false, has_ns = false, has_count = false, has_feed = false;
    int fi = -1;
    const char *key = NULL, *why = NULL;
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "--fault '%.40s...': too long", spec);
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "--fault '%s': '%s': expected KEY=VALUE", spec, kv);
            return -1;
        }
        *eq = '\0';
        const char *k = kv, *v = eq + 1;
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        bool num = *v && *end == '\0' && errno == 0 && isdigit((unsigned char)*v);
        if (strcmp(k, "feed") == 0) {
            fi = feed_index(c, v);
            has_feed = true;
            if (fi < 0) {
                snprintf(err, errlen, "--fault '%s': no feed named '%s'", spec, v);
                return -1;
            }
        } else if (strcmp(k, "kind") == 0) {
            if ((f.kind = fault_kind(v)) == 0) {
                snprintf(err, errlen, "--fault '%s': kind '%s': expected panic, stall or slow",
                         spec, v);
                return -1;
            }
        } else if ((strcmp(k, "after") == 0 || strcmp(k, "count") == 0 || strcmp(k, "ms") == 0 ||
                    strcmp(k, "ns") == 0) &&
                   (!num || n > UINT32_MAX)) {
            snprintf(err, errlen, "--fault '%s': %s '%s': expected a whole number", spec, k, v);
            return -1;
        } else if (strcmp(k, "after") == 0) {
            f.after_packets = n;
        } else if (strcmp(k, "count") == 0) {
            f.count = (unsigned)n;
            has_count = true;
        } else if (strcmp(k, "ms") == 0) {
            f.stall_ns = n * 1000000;
            has_ms = true;
        } else if (strcmp(k, "ns") == 0) {
            f.slow_ns = n;
            has_ns = true;
        } else {
            snprintf(err, errlen,
                     "--fault '%s': unknown key '%s' (feed, kind, after, count, ms, ns)", spec, k);
            return -1;
        }
    }
    if (!has_feed || f.kind == 0) {
        snprintf(err, errlen, "--fault '%s': needs feed=NAME and kind=panic|stall|slow", spec);
        return -1;
    }
    f.feed = (unsigned)fi;
    if (fault_check(&f, has_ms, has_ns, has_count, &key, &why) < 0) {
        static const char *const cli[][2] = {
            {"stall_ms", "ms"}, {"slow_ns", "ns"}, {"count", "count"}};
        for (unsigned i = 0; i < 3; i++)
            if (strcmp(key, cli[i][0]) == 0)
                key = cli[i][1];
        snprintf(err, errlen, "--fault '%s': %s: %s", spec, key, why);
        return -1;
    }
    if (fault_put(c, &f) < 0) {
        snprintf(err, errlen, "--fault '%s': out of memory", spec);
        return -1;
    }
    return 0;
}

static void convert(loader_t *ld, const struct raw_cfg *r, cfg_t *c)
{
    if (r->version != 1)
        fail(ld, "version", "version %u is not supported (this mdmux reads version 1)", r->version);
    conv_eal(ld, r->eal, c);
    conv_cores(ld, r->cores, c);
    conv_ports(ld, r, c);
    conv_rx(ld, r, c);
    c->channel_slots = r->channels && r->channels->slots ? *r->channels->slots : 1024;
    if (c->channel_slots < 2 || c->channel_slots > (1u << 24) ||
        (c->channel_slots & (c->channel_slots - 1)))
        fail(ld, "channels.slots", "%u: expected a power of two from 2 to 16777216",
             c->channel_slots);
    conv_replay(ld, r->replay, c);
    c->feed_defaults = (cfg_arb_t){
        .gap_wait_ns = 1000 * 1000, .window = 64, .line_timeout_ns = 2000ull * 1000 * 1000};
    conv_arb(ld, "feed_defaults", r->feed_defaults, &c->feed_defaults);
    conv_restart(ld, r->feed_defaults, &c->restart);
    const bool *copies = r->feed_defaults ? r->feed_defaults->copies_on_rx : NULL;
    c->copies_on_rx = copies == NULL || *copies; /* on unless the file turns it off ... */
    c->copies_on_rx_set = copies != NULL;        /* ... or, unset, several RX lcores do */
    conv_outputs(ld, r->outputs, c);
    conv_rereq(ld, r->rereq, &c->rereq);
    conv_feeds(ld, r, c);
    conv_steer(ld, r, c);
    conv_faults(ld, r, c);
    check_rereq(ld, c);
    conv_metrics(ld, r, c);
    c->shutdown.drain_timeout_ms = CFG_DRAIN_TIMEOUT_MS_DEFAULT;
    if (r->shutdown && r->shutdown->drain_timeout_ms) {
        c->shutdown.drain_timeout_ms = *r->shutdown->drain_timeout_ms;
        if (c->shutdown.drain_timeout_ms > CFG_DRAIN_TIMEOUT_MS_MAX)
            fail(ld, "shutdown.drain_timeout_ms", "%u: expected 0 to %u ms",
                 c->shutdown.drain_timeout_ms, CFG_DRAIN_TIMEOUT_MS_MAX);
    }
    c->latency.interval_ms = CFG_LATENCY_INTERVAL_MS_DEFAULT;
    c->latency.series_points = CFG_LATENCY_POINTS_DEFAULT;
    if (r->latency && r->latency->interval_ms) {
        c->latency.interval_ms = *r->latency->interval_ms;
        if (c->latency.interval_ms < CFG_LATENCY_INTERVAL_MS_MIN ||
            c->latency.interval_ms > CFG_LATENCY_INTERVAL_MS_MAX)
            fail(ld, "latency.interval_ms", "%u: expected %u to %u ms", c->latency.interval_ms,
                 CFG_LATENCY_INTERVAL_MS_MIN, CFG_LATENCY_INTERVAL_MS_MAX);
    }
    if (r->latency && r->latency->series_points) {
        c->latency.series_points = *r->latency->series_points;
        if (c->latency.series_points < CFG_LATENCY_POINTS_MIN ||
            c->latency.series_points > CFG_LATENCY_POINTS_MAX || c->latency.series_points % 2)
            fail(ld, "latency.series_points", "%u: expected an even number from %u to %u",
                 c->latency.series_points, CFG_LATENCY_POINTS_MIN, CFG_LATENCY_POINTS_MAX);
    }
    c->latency.recorder = CFG_RECORDER_AUTO;
    if (r->latency && r->latency->recorder)
        load_recorder(ld, c, r->latency->recorder);
    const cfg_pos_ent_t *p = cfg_pos_find(&ld->pos, "eal.lcores");
    if (p)
        c->at_lcores = (cfg_at_t){p->line, p->col};
    if ((p = cfg_pos_find(&ld->pos, "outputs.shm.group")) != NULL)
        c->at_shm_group = (cfg_at_t){p->line, p->col};
}

/* ------------------------------------------------------------------------------ */
/* Entry points                                                                   */
/* ------------------------------------------------------------------------------ */

cfg_t *cfg_parse(const char *data, size_t len, const char *name, char *err, size_t errlen)
{
    loader_t ld = {.name = name, .err = err, .errlen = errlen};
    struct raw_cfg *raw = NULL;
    cfg_t *c = NULL;
    char perr[256];
    cyaml_config_t cy = {
        .log_fn = cy_log,
        .log_ctx = &ld,
        .mem_fn = cyaml_mem,
        .log_level = CYAML_LOG_ERROR,
        .flags = CYAML_CFG_NO_ALIAS,
    };

    if (errlen)
        err[0] = '\0';
    if (cfg_pos_build(&ld.pos, data, len, perr, sizeof(perr)) < 0) {
        append(&ld, "%s:%s\n", name, perr);
        goto out;
    }
    cyaml_err_t e =
        cyaml_load_data((const uint8_t *)data, len, &cy, &top_value, (cyaml_data_t **)&raw, NULL);
    if (e != CYAML_OK || raw == NULL) {
        if (e == CYAML_OK)
            snprintf(ld.cy_msg, sizeof(ld.cy_msg), "empty configuration");
        cy_report(&ld, e);
        goto out;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || (c->path = strdup(name)) == NULL) {
        append(&ld, "%s: out of memory\n", name);
        goto out;
    }
    convert(&ld, raw, c);
out:
    flush(&ld);
    if (raw)
        cyaml_free(&cy, &top_value, raw, 0);
    cfg_pos_free(&ld.pos);
    if ((ld.nerrors || ld.used) && c) {
        cfg_free(c);
        c = NULL;
    }
    return c;
}

cfg_t *cfg_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(CFG_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, CFG_MAX_FILE + 1, f) : 0;
    bool bad = buf == NULL || ferror(f);
    fclose(f);
    if (bad || n > CFG_MAX_FILE) {
        snprintf(err, errlen, "%s: %s\n", path,
                 buf == NULL        ? "out of memory"
                 : n > CFG_MAX_FILE ? "larger than 4 MiB: not a configuration file"
                                    : "read error");
        free(buf);
        return NULL;
    }
    cfg_t *c = cfg_parse(buf, n, path, err, errlen);
    free(buf);
    return c;
}

void cfg_free(cfg_t *c)
{
    if (c == NULL)
        return;
    free(c->path);
    free(c->eal.lcores);
    for (unsigned i = 0; i < c->eal.nargs; i++)
        free(c->eal.args[i]);
    free(c->eal.args);
    for (unsigned i = 0; i < c->nports; i++) {
        free(c->ports[i].device);
        free(c->ports[i].line_queue);
    }
    free(c->ports);
    free(c->rx);
    free(c->feeds);
    free(c->faults);
    free(c->outputs.shm.path);
    free(c->outputs.shm.group);
    free(c->outputs.dump);
    free(c->outputs.pcap);
    free(c->outputs.mcast.device);
    free(c->rereq.device);
    free(c->metrics.listen);
    free(c);
}

int cfg_parse_cpus(const char *s, bool *set)
{
    char why[96];
    size_t n = strlen(s);
    memset(set, 0, CFG_MAX_LCORES * sizeof(*set));
    if (n > 0 && strspn(s, "0123456789") == n) {
        unsigned long v = strtoul(s, NULL, 10);
        if (v == 0 || n > 7)
            return -1;
        for (unsigned long i = 0; i < v && i < CFG_MAX_LCORES; i++)
            set[i] = true;
        return 0;
    }
    return parse_cpulist(s, set, false, why, sizeof(why));
}

/* "0-3,6" for the flags of @p set. */
static void fmt_cpus(const bool *set, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < CFG_MAX_LCORES; i++) {
        if (!set[i])
            continue;
        unsigned j = i;
        while (j + 1 < CFG_MAX_LCORES && set[j + 1])
            j++;
        int k = j > i ? snprintf(buf + used, len - used, "%s%u-%u", used ? "," : "", i, j)
                      : snprintf(buf + used, len - used, "%s%u", used ? "," : "", i);
        if (k < 0 || (size_t)k >= len - used)
            return;
        used += (size_t)k;
        i = j;
    }
}

bool cfg_read_cpu_file(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    bool ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

/* The online CPUs of this machine (/sys/devices/system/cpu/online); false if unknown. */
static bool host_online(bool *set)
{
    char buf[4096], why[96];
    if (!cfg_read_cpu_file("/sys/devices/system/cpu/online", buf, sizeof(buf)))
        return false;
    buf[strcspn(buf, " ")] = '\0';
    memset(set, 0, CFG_MAX_LCORES * sizeof(*set));
    return parse_cpulist(buf, set, false, why, sizeof(why)) == 0;
}

/* May this thread be pinned to @p cpu? sched_setaffinity is the kernel's own answer
   (offline CPUs and a cpuset cgroup's limit say no; isolcpus= does not). */
static bool may_pin(unsigned cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof(one), &one) == 0;
}

/* Append to @p buf (@p len bytes, @p used so far); never beyond its end. */
static void addf(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void addf(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    if (len == 0 || *used >= len - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used += (size_t)n < len - *used ? (size_t)n : len - *used - 1;
}

/* "s" when @p set has more than one CPU. */
static const char *plural(const bool *set)
{
    unsigned n = 0;
    for (unsigned i = 0; i < CFG_MAX_LCORES; i++)
        n += set[i];
    return n > 1 ? "s" : "";
}

/* "FILE:LINE:COL: FIELD: " for a key recorded at load (line 1 when it was absent). */
static int host_prefix(const cfg_t *c, cfg_at_t at, const char *field, char *buf, size_t n)
{
    return snprintf(buf, n, "%s:%u:%u: %s: ", c->path, at.line ? at.line : 1, at.line ? at.col : 1,
                    field);
}

int cfg_check_host(cfg_t *c, const bool *target, char *err, size_t errlen)
{
    bool online[CFG_MAX_LCORES], missing[CFG_MAX_LCORES] = {0}, denied[CFG_MAX_LCORES] = {0};
    bool nmissing = false, ndenied = false, nogroup = false;
    bool have_online = target == NULL && host_online(online);
    char list[256], cpus[256], pre[320];
    size_t used = 0;
    cpu_set_t saved;
    bool restore = target == NULL && sched_getaffinity(0, sizeof(saved), &saved) == 0;

    if (errlen)
        err[0] = '\0';
    for (unsigned i = 0; i < CFG_MAX_LCORES; i++) {
        if (!c->lcore_set[i])
            continue;
        if (target ? !target[i] : have_online && !online[i])
            nmissing = missing[i] = true;
        else if (target == NULL && !may_pin(i))
            ndenied = denied[i] = true;
    }
    if (restore)
        sched_setaffinity(0, sizeof(saved), &saved);

    const char *lfield = c->at_lcores.line ? "eal.lcores" : "eal.lcores (default)";
    if (nmissing) {
        fmt_cpus(missing, list, sizeof(list));
        fmt_cpus(target ? target : online, cpus, sizeof(cpus));
        host_prefix(c, c->at_lcores, lfield, pre, sizeof(pre));
        if (target)
            addf(err, errlen, &used,
                 "%slcore%s %s: not a CPU of the target host (--target-cpus: "
                 "%s)\n",
                 pre, plural(missing), list, cpus);
        else
            addf(err, errlen, &used,
                 "%slcore%s %s: no such CPU on this host (online CPUs: %s); "
                 "for a file meant for another host, check-config "
                 "--target-cpus N\n",
                 pre, plural(missing), list, cpus);
    }
    if (ndenied) {
        fmt_cpus(denied, list, sizeof(list));
        host_prefix(c, c->at_lcores, lfield, pre, sizeof(pre));
        addf(err, errlen, &used,
             "%slcore%s %s: this process may not run on that CPU (offline, "
             "or outside its cpuset cgroup: systemd AllowedCPUs=, "
             "docker --cpuset-cpus)\n",
             pre, plural(denied), list);
    }
    cfg_shm_t *s = &c->outputs.shm;
    if (target == NULL && s->group && !s->has_gid) {
        errno = 0;
        const struct group *g = getgrnam(s->group);
        if (g != NULL) {
            s->has_gid = true;
            s->gid = (uint32_t)g->gr_gid;
        } else {
            host_prefix(c, c->at_shm_group, "outputs.shm.group", pre, sizeof(pre));
            addf(err, errlen, &used, "%sno group '%s' on this host%s%s\n", pre, s->group,
                 errno ? ": " : "", errno ? strerror(errno) : "");
            nogroup = true;
        }
    }
    return nmissing || ndenied || nogroup ? -1 : 0;
}

/* The lcore that polls a port no rx entry names. */
static unsigned default_rx_lcore(const cfg_t *c)
{
    for (unsigned i = 0; i < CFG_MAX_LCORES; i++)
        if (c->lcore_set[i] && i != c->control)
            return i;
    return c->control;
}

static bool rx_has(const cfg_t *c, const char *port, unsigned queue)
{
    for (unsigned i = 0; i < c->nrx; i++)
        if (strcmp(c->rx[i].port, port) == 0 && c->rx[i].queue == queue)
            return true;
    return false;
}

int cfg_default_rx(cfg_t *c, const cfg_port_t *ports, unsigned nports)
{
    for (unsigned p = 0; p < nports; p++) {
        for (unsigned q = 0; q < ports[p].rx_queues; q++) {
            if (rx_has(c, ports[p].name, q))
                continue;
            cfg_rx_t *v = realloc(c->rx, (c->nrx + 1) * sizeof(*v));
            if (v == NULL) {
                errno = ENOMEM;
                return -1;
            }
            c->rx = v;
            cfg_rx_t *x = &c->rx[c->nrx++];
            memset(x, 0, sizeof(*x));
            x->lcore = default_rx_lcore(c);
            snprintf(x->port, sizeof(x->port), "%s", ports[p].name);
            x->queue = q;
        }
    }
    return 0;
}

const char *cfg_steering_name(cfg_steering_t s)
{
    return s == CFG_STEER_FLOW ? "flow" : s == CFG_STEER_RSS ? "rss" : "none";
}
