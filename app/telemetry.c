/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK telemetry commands (metrics.h) on the EAL's standard socket
 * (<runtime dir>/dpdk_telemetry.v2; `dpdk-telemetry.py -f PREFIX`). DPDK runs the
 * callbacks in its telemetry thread, one per client connection, so the view they read
 * is guarded by a mutex: commands cannot be unregistered, and a command must never
 * see the run's objects once run.c starts freeing them (telemetry_detach()).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <rte_telemetry.h>

#include "co.h"
#include "feed.h"
#include "latency.h"
#include "metrics.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static const metrics_view_t *g_view;

/* An error answer: a dict {"error": msg}, so a client sees why (not just null). */
static int tel_error(struct rte_tel_data *d, const char *msg)
{
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "error", msg);
    return 0;
}

/* Add container @p c under @p name; DPDK frees it with the parent (keep 0), or we
 * do when it refuses it (a full dict, or a name it does not accept). */
static void add_container(struct rte_tel_data *d, const char *name, struct rte_tel_data *c)
{
    /* DPDK 22.11 accepts only [A-Za-z0-9_/] in dict keys: a coroutine kind such as
       "feed-runner" or an automatic feed's "239.1.1.1:30000" would be refused, so map
       the rest to '_' (the exact name stays in a "name" value where it matters) */
    char key[RTE_TEL_MAX_STRING_LEN];
    size_t i = 0;
    for (; name[i] && i < sizeof(key) - 1; i++) {
        char ch = name[i];
        bool ok = (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= 'a' && ch <= 'z') || ch == '_' || ch == '/';
        key[i] = ok ? ch : '_';
    }
    key[i] = '\0';
    if (rte_tel_data_add_dict_container(d, key, c, 0) != 0)
        rte_tel_data_free(c);
}

/* Key counters of feed @p f into dict @p d (started by the caller). */
static void feed_dict(const metrics_view_t *v, unsigned f, struct rte_tel_data *d, bool detail)
{
    feed_stats_t s = {0};
    if (v->pipe->feeds[f].feed)
        feed_stats(v->pipe->feeds[f].feed, &s);
    rte_tel_data_add_dict_string(d, "state", s.feed_state == FEED_UP ? "up" : "down");
    rte_tel_data_add_dict_u64(d, "messages", s.messages);
    rte_tel_data_add_dict_u64(d, "gaps", s.gaps);
    rte_tel_data_add_dict_u64(d, "recovered", s.recovered);
    rte_tel_data_add_dict_u64(d, "lost", s.final_lost);
    for (unsigned l = 0; l < v->cfg->feeds[f].nlines; l++) {
        const feed_line_stats_t *ls = &s.line[l];
        char k[32];
        if (!detail) {
            snprintf(k, sizeof(k), "packets_%s", cfg_line_name(l));
            rte_tel_data_add_dict_u64(d, k, ls->packets);
            continue;
        }
        struct rte_tel_data *c = rte_tel_data_alloc();
        if (c == NULL)
            continue;
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_string(c, "state", ls->state == FEED_UP ? "up" : "down");
        rte_tel_data_add_dict_u64(c, "packets", ls->packets);
        rte_tel_data_add_dict_u64(c, "bytes", ls->bytes);
        rte_tel_data_add_dict_u64(c, "wins", ls->wins);
        rte_tel_data_add_dict_u64(c, "duplicates", ls->duplicates);
        rte_tel_data_add_dict_u64(c, "copies_on_rx", ls->rx_copies);
        rte_tel_data_add_dict_u64(c, "recovered", ls->fills);
        rte_tel_data_add_dict_u64(c, "late", ls->late);
        rte_tel_data_add_dict_u64(c, "heartbeats", ls->heartbeats);
        rte_tel_data_add_dict_u64(c, "malformed", ls->malformed);
        uint64_t full = 0, rxp = 0;
        for (unsigned id = 0; id < CFG_MAX_LCORES; id++) {
            if (v->rx[id] == NULL)
                continue;
            io_line_stats_t rs;
            io_rx_line_stats(v->rx[id], (uint16_t)f, (uint8_t)l, &rs);
            full += rs.channel_full;
            rxp += rs.packets;
        }
        rte_tel_data_add_dict_u64(c, "rx_packets", rxp);
        rte_tel_data_add_dict_u64(c, "channel_full", full);
        add_container(d, cfg_line_name(l), c);
    }
    if (detail) {
        rte_tel_data_add_dict_u64(d, "gap_messages", s.gap_msgs);
        rte_tel_data_add_dict_u64(d, "itch_errors", s.itch_errors);
        rte_tel_data_add_dict_u64(d, "session_changes", s.session_changes);
        rte_tel_data_add_dict_u64(d, "requests", s.requests);
        rte_tel_data_add_dict_u64(d, "skew_p50_ns", s.skew_p50_ns);
        rte_tel_data_add_dict_u64(d, "skew_p99_ns", s.skew_p99_ns);
    }
}

/* /mdmux/feeds: every feed (up to the dict's 256 entries) with its key counters. */
static int cmd_feeds(const char *cmd, const char *params, struct rte_tel_data *d)
{
    (void)cmd, (void)params;
    pthread_mutex_lock(&g_lock);
    const metrics_view_t *v = g_view;
    if (v == NULL) {
        pthread_mutex_unlock(&g_lock);
        return tel_error(d, "mdmux is not running");
    }
    rte_tel_data_start_dict(d);
    for (unsigned f = 0; f < v->cfg->nfeeds && f < RTE_TEL_MAX_DICT_ENTRIES; f++) {
        struct rte_tel_data *c = rte_tel_data_alloc();
        if (c == NULL)
            break;
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_string(c, "name", v->cfg->feeds[f].name);
        feed_dict(v, f, c, false);
        add_container(d, v->cfg->feeds[f].name, c);
    }
    pthread_mutex_unlock(&g_lock);
    return 0;
}

/* /mdmux/feed,NAME: one feed in detail; an unknown name is an error dict. */
static int cmd_feed(const char *cmd, const char *params, struct rte_tel_data *d)
{
    (void)cmd;
    if (params == NULL || *params == '\0')
        return tel_error(d, "usage: /mdmux/feed,NAME");
    pthread_mutex_lock(&g_lock);
    const metrics_view_t *v = g_view;
    int rc = 0;
    if (v == NULL) {
        rc = tel_error(d, "mdmux is not running");
    } else {
        unsigned f = 0;
        while (f < v->cfg->nfeeds && strcmp(v->cfg->feeds[f].name, params) != 0)
            f++;
        if (f == v->cfg->nfeeds) {
            char msg[RTE_TEL_MAX_STRING_LEN];
            snprintf(msg, sizeof(msg), "unknown feed '%.64s'", params);
            rc = tel_error(d, msg);
        } else {
            rte_tel_data_start_dict(d);
            rte_tel_data_add_dict_string(d, "name", v->cfg->feeds[f].name);
            feed_dict(v, f, d, true);
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* One stage's figures, ns, as a dict under @p name of @p d. */
static void stage_dict(struct rte_tel_data *d, const char *name, const stats_summary_t *s)
{
    struct rte_tel_data *c = rte_tel_data_alloc();
    if (c == NULL)
        return;
    rte_tel_data_start_dict(c);
    rte_tel_data_add_dict_u64(c, "count", s->count);
    rte_tel_data_add_dict_u64(c, "min", s->min);
    rte_tel_data_add_dict_u64(c, "p50", s->p50);
    rte_tel_data_add_dict_u64(c, "p90", s->p90);
    rte_tel_data_add_dict_u64(c, "p99", s->p99);
    rte_tel_data_add_dict_u64(c, "p999", s->p999);
    rte_tel_data_add_dict_u64(c, "p9999", s->p9999);
    rte_tel_data_add_dict_u64(c, "max", s->max);
    add_container(d, name, c);
}

/* How long /mdmux/latency,FEED waits for the control lcore (it polls every 20 ms at
   most, then waits up to ~100 ms for the mux to hand the feeds' histograms over). */
#define TEL_FEED_LATENCY_WAIT_MS 2000u

/* /mdmux/latency,FEED: that feed's stages, brought up to date by the control lcore. */
static int feed_latency(const metrics_view_t *v, const char *name, struct rte_tel_data *d)
{
    unsigned f = 0;
    while (f < v->cfg->nfeeds && strcmp(v->cfg->feeds[f].name, name) != 0)
        f++;
    char msg[RTE_TEL_MAX_STRING_LEN];
    if (f == v->cfg->nfeeds) {
        snprintf(msg, sizeof(msg), "unknown feed '%.64s'", name);
        return tel_error(d, msg);
    }
    stats_summary_t s[LAT_NSTAGES];
    int n = lat_feed_summary(v->pipe->latency, f, TEL_FEED_LATENCY_WAIT_MS, s);
    if (n < 0)
        return tel_error(d, n == -ETIMEDOUT   ? "the control lcore did not answer in time"
                            : n == -ESHUTDOWN ? "mdmux is stopping"
                                              : "latency is not measured");
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "name", v->cfg->feeds[f].name);
    rte_tel_data_add_dict_string(d, "unit", "ns");
    rte_tel_data_add_dict_int(d, "precision_digits", lat_feed_sigfigs(v->pipe->latency));
    for (int st = 0; st < n; st++)
        stage_dict(d, metrics_stage_name((unsigned)st), &s[st]);
    return 0;
}

/* /mdmux/latency: per stage count and percentiles, ns, over all feeds (as of the last
   interval); /mdmux/latency,FEED: one feed's (as of now). */
static int cmd_latency(const char *cmd, const char *params, struct rte_tel_data *d)
{
    (void)cmd;
    pthread_mutex_lock(&g_lock);
    const metrics_view_t *v = g_view;
    if (v == NULL) {
        pthread_mutex_unlock(&g_lock);
        return tel_error(d, "mdmux is not running");
    }
    if (params != NULL && *params != '\0') {
        int rc = feed_latency(v, params, d);
        pthread_mutex_unlock(&g_lock);
        return rc;
    }
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "unit", "ns");
    for (unsigned st = 0; st < LAT_NSTAGES; st++) {
        stats_hist_t *h = metrics_stage_snapshot(v->pipe, st);
        if (h == NULL)
            continue;
        stats_summary_t s;
        stats_hist_summary(h, &s);
        stage_dict(d, metrics_stage_name(st), &s);
        stats_hist_free(h);
    }
    pthread_mutex_unlock(&g_lock);
    return 0;
}

/* /mdmux/coroutines: per kind, live now and created/finished/panicked so far. */
static int cmd_coroutines(const char *cmd, const char *params, struct rte_tel_data *d)
{
    (void)cmd, (void)params;
    co_kind_stats_t k[64];
    size_t n = co_registry_snapshot(k, 64);
    rte_tel_data_start_dict(d);
    for (size_t i = 0; i < n && i < 64; i++) {
        struct rte_tel_data *c = rte_tel_data_alloc();
        if (c == NULL)
            break;
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_u64(c, "live", k[i].live);
        rte_tel_data_add_dict_u64(c, "created", k[i].created);
        rte_tel_data_add_dict_u64(c, "finished", k[i].finished);
        rte_tel_data_add_dict_u64(c, "panicked", k[i].panicked);
        add_container(d, k[i].kind ? k[i].kind : "?", c);
    }
    return 0;
}

/* Every lcore's scheduler: busy and run time (us), passes, and the busy share. */
static int cmd_lcores(const char *cmd, const char *params, struct rte_tel_data *d)
{
    (void)cmd, (void)params;
    co_sched_usage_of_t u[CFG_MAX_LCORES];
    size_t n = co_sched_usage_snapshot(u, CFG_MAX_LCORES);
    rte_tel_data_start_dict(d);
    for (size_t i = 0; i < n && i < CFG_MAX_LCORES; i++) {
        struct rte_tel_data *c = rte_tel_data_alloc();
        if (c == NULL)
            break;
        const co_sched_usage_t *x = &u[i].usage;
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_u64(c, "busy_us", co_tsc_to_ns(x->busy_tsc) / 1000);
        rte_tel_data_add_dict_u64(c, "run_us", co_tsc_to_ns(x->run_tsc) / 1000);
        rte_tel_data_add_dict_u64(c, "passes", x->passes);
        rte_tel_data_add_dict_u64(c, "idle_passes", x->idle_passes);
        /* per mille: telemetry dicts hold integers and strings */
        rte_tel_data_add_dict_u64(c, "busy_permille",
                                  x->run_tsc ? x->busy_tsc * 1000 / x->run_tsc : 0);
        add_container(d, u[i].name, c);
    }
    return 0;
}

/* rte_tel_data_add_dict_u64 under @p name with the characters DPDK refuses as '_'. */
static void add_u64(struct rte_tel_data *d, const char *name, uint64_t v)
{
    char key[RTE_TEL_MAX_STRING_LEN];
    size_t i = 0;
    for (; name[i] && i < sizeof(key) - 1; i++) {
        char ch = name[i];
        bool ok = (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= 'a' && ch <= 'z') || ch == '_' || ch == '/';
        key[i] = ok ? ch : '_';
    }
    key[i] = '\0';
    rte_tel_data_add_dict_u64(d, key, v);
}

/* /mdmux/flows: per port its steering and the rte_flow rules created; with a port
   name, that port's feed lines and the queue each is steered to (up to the dict limit). */
static int cmd_flows(const char *cmd, const char *params, struct rte_tel_data *d)
{
    (void)cmd;
    pthread_mutex_lock(&g_lock);
    const metrics_view_t *v = g_view;
    if (v == NULL || v->port_ids == NULL) {
        pthread_mutex_unlock(&g_lock);
        return tel_error(d, "no ports (not running, or replay)");
    }
    const cfg_t *c = v->cfg;
    rte_tel_data_start_dict(d);
    bool found = false;
    for (unsigned i = 0; i < c->nports; i++) {
        const cfg_port_t *p = &c->ports[i];
        if (params && *params && strcmp(params, p->name) != 0)
            continue;
        found = true;
        struct rte_tel_data *x = rte_tel_data_alloc();
        if (x == NULL)
            break;
        rte_tel_data_start_dict(x);
        rte_tel_data_add_dict_string(x, "steering", cfg_steering_name(p->steering));
        rte_tel_data_add_dict_u64(x, "rx_queues", p->rx_queues);
        rte_tel_data_add_dict_u64(x, "mbufs", io_port_mbufs((uint16_t)v->port_ids[i]));
        rte_tel_data_add_dict_u64(x, "rules", io_port_flow_count((uint16_t)v->port_ids[i]));
        if (params && *params && p->line_queue) {
            struct rte_tel_data *l = rte_tel_data_alloc();
            if (l) {
                rte_tel_data_start_dict(l);
                for (unsigned f = 0; f < c->nfeeds; f++)
                    for (unsigned k = 0; k < c->feeds[f].nlines; k++) {
                        char key[CFG_NAME_MAX + 4];
                        snprintf(key, sizeof(key), "%s/%s", c->feeds[f].name, cfg_line_name(k));
                        add_u64(l, key, p->line_queue[f][k]);
                    }
                add_container(x, "queue_of", l);
            }
        }
        add_container(d, p->name, x);
    }
    pthread_mutex_unlock(&g_lock);
    if (!found)
        return tel_error(d, "unknown port");
    return 0;
}

int telemetry_register(void)
{
    static bool done;
    if (done)
        return 0;
    done = true;
    int rc = rte_telemetry_register_cmd("/mdmux/feeds", cmd_feeds,
                                        "Feeds with key counters. No parameters");
    rc |= rte_telemetry_register_cmd("/mdmux/feed", cmd_feed,
                                     "One feed in detail. Parameters: feed name");
    rc |= rte_telemetry_register_cmd("/mdmux/latency", cmd_latency,
                                     "Per-stage latency percentiles (ns), over all feeds. "
                                     "Parameters: none, or a feed name for that feed's");
    rc |= rte_telemetry_register_cmd("/mdmux/flows", cmd_flows,
                                     "Steering per port: mode, rte_flow rules created. "
                                     "Parameters: none, or a port name for its lines' queues");
    rc |= rte_telemetry_register_cmd("/mdmux/coroutines", cmd_coroutines,
                                     "Coroutines by kind: live, created. No parameters");
    rc |= rte_telemetry_register_cmd("/mdmux/lcores", cmd_lcores,
                                     "Each lcore's scheduler: busy and run time, passes. "
                                     "No parameters");
    return rc ? -1 : 0;
}

void telemetry_attach(const metrics_view_t *v)
{
    pthread_mutex_lock(&g_lock);
    g_view = v;
    pthread_mutex_unlock(&g_lock);
}

void telemetry_detach(void)
{
    pthread_mutex_lock(&g_lock);
    g_view = NULL;
    pthread_mutex_unlock(&g_lock);
}
