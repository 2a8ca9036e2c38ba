/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The wiring and lifecycle of `mdmux replay` and `mdmux run` (app.h):
 *
 *   EAL from the configuration -> ports (or the replay's net_pcap port) -> flow table
 *   -> one RX context per RX lcore -> one SPSC channel per (RX lcore, feed line), on
 *   the handler lcore's NUMA node -> one coroutine scheduler per used lcore.
 *
 * Each lcore runs, as coroutines on its own scheduler, whatever roles it has: an RX
 * poller, the handlers of the feeds it handles, the mux (first handler lcore), and
 * (main lcore) the control coroutine that watches signals and prints progress, the
 * output writers (pipeline.c), and the latency series and reports (latency.c). Any mix on one lcore works, since
 * each role yields or parks.
 *
 * Stopping is by closing, as in Go: an RX poller that is done (capture fully
 * released, or a stop was requested) closes its channels; a feed handler ends when
 * all of its channels are closed and drained and closes its output; the mux, then the
 * writers, follow; the control coroutine ends when every RX poller and the pipeline
 * have. Nothing is dropped on the way out.
 *
 * A stop (SIGINT/SIGTERM, a stalled replay) is the two-phase shutdown: (1) RX stops
 * and closes its channels, accepting nothing new; (2) the pipeline drains under
 * shutdown.drain_timeout_ms, the control coroutine printing the queue depths every
 * 500 ms while they are not empty; when the timeout fires (or a second signal comes)
 * the pipeline's context is cancelled (pipe_cancel) and whatever it still held is
 * counted as unfinished; (3) every scheduler runs until its last coroutine has
 * returned, its registry's leak report is taken, what is left in the channels is
 * collected (pipe_collect), and the report checks the accounting identity (report.h)
 * and writes the final stats and latency reports. The end of the input starts phase
 * (2) the same way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "app.h"
#include "co.h"
#include "feed.h"
#include "io.h"
#include "metrics.h"
#include "report.h"
#include "pipeline.h"

/* Stack of the RX and control coroutines: PMDs and stdio want more than 64 KiB. */
#define BIG_STACK (256u * 1024u)
/* Control loop period, and how often progress is printed. */
#define CONTROL_TICK_NS  (20ull * 1000 * 1000)
#define PROGRESS_TTY_NS  (250ull * 1000 * 1000)
#define PROGRESS_LINE_NS (5ull * 1000 * 1000 * 1000)
/* mbufs of the replay port's pool (about 75 MiB of the EAL's memory). */
#define REPLAY_MBUFS 32767u
/* A replay whose RX has released nothing for this long is stuck: stop it. */
#define REPLAY_STALL_NS (10ull * 1000 * 1000 * 1000)
/* While draining: queue depths on stderr this often (when not empty). */
#define DRAIN_PRINT_NS (500ull * 1000 * 1000)
/* After a cancellation, every coroutine must have returned within this. */
#define JOIN_TIMEOUT_NS (5ull * 1000 * 1000 * 1000)
/* Leak list of one lcore kept for the report (the registry prints it all on stderr). */
#define LEAKS_TEXT 1024

typedef struct app app_t;

/* What one lcore does. */
typedef struct lcore {
    app_t *app;
    unsigned id;
    bool used;       /* has a role: launched */
    io_rx_t *rx;     /* RX poller, or NULL */
    feed_rxf_t *rxf; /* its A/B copy filter (feed_defaults.copies_on_rx), or NULL */
    bool replay_rx;  /* its context has the replay attached */
    bool feeds_self; /* RX poller: some of its lines' handlers are on this lcore */
    unsigned nout;   /* channels it produces: [nout] */
    chs_t **out;
    chs_bell_t *bell;       /* handler lcore: the doorbell its RX channels ring, or NULL */
    bool ran;               /* its scheduler ran: usage is set */
    co_sched_usage_t usage; /* ... busy and idle time, at its end */
    /* RX poller: TSC in polls that found packets, and since the start gate opened
       (its scheduler's usage is 100 % busy: the poller never parks) */
    uint64_t rx_busy_tsc, rx_run_tsc;
    int rc;                 /* scheduler result */
    size_t leaked;          /* coroutines still alive when its scheduler was freed */
    char leaks[LEAKS_TEXT]; /* ... the first of them, for the report */
} lcore_t;

struct app {
    const app_opts_t *o;
    cfg_t *cfg;
    io_replay_t *replay;
    int *port_ids; /* [cfg->nports] (run) */
    unsigned nports_open;
    io_flow_table_t *flows;
    lcore_t lc[CFG_MAX_LCORES];
    unsigned nrx; /* RX lcores */
    pipe_t pipe;  /* feed handlers, mux, outputs */
    atomic_uint rx_done;
    atomic_uint armed; /* lcores whose coroutines are spawned (the start gate) */
    unsigned nused;    /* lcores launched, main included */
    atomic_bool stop;
    uint64_t t_start_ns, t_end_ns;
    _Atomic uint64_t t_gate_ns; /* when RX first found every lcore armed (0: never) */
    unsigned arm_delay_ms;      /* tests: every other lcore's set-up is this much late */
    bool no_doorbell;           /* benchmarks: MDMUX_BENCH_NO_DOORBELL */
    bool copies_on_rx;          /* the RX lcores have copy filters (build_filters) */
    bool interrupted;
    const char *stop_reason; /* "signal", "replay stalled", "end of input" (the drain's cause) */
    uint64_t t_drain_ns;     /* when the drain began (0: not yet) */
    bool timed_out;          /* the drain timed out (or a second signal): cancelled */
    metrics_view_t mv;       /* what the endpoint and telemetry read (metrics.h) */
    metrics_t *metrics;      /* the Prometheus endpoint, or NULL */
    bool telemetry;          /* DPDK telemetry on: the /mdmux/ commands are attached */
};

/* Set by the signal handler, polled by the control coroutine. */
static volatile sig_atomic_t g_signals;
/* SIGUSR1: write the latency reports now, without stopping. */
static volatile sig_atomic_t g_report;

static void on_usr1(int sig)
{
    (void)sig;
    g_report = 1;
}

static void on_signal(int sig)
{
    (void)sig;
    if (++g_signals >= 3) {
        static const char msg[] = "mdmux: third signal: exiting at once\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        _exit(130);
    }
}

static void install_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct sigaction su = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigemptyset(&su.sa_mask);
    sigaction(SIGUSR1, &su, NULL);
    /* A SIGUSR1 sent before the handler existed may be pending (blocked by whoever
       started us): take it now. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* SIGUSR1: the current latency reports into the --report directory (latency.json,
   latency.txt, report.html; or the tables on stderr), on the control lcore, while the
   run goes on. POST /report on the metrics endpoint does the same (metrics.c). */
static void report_on_demand(app_t *a)
{
    lat_t *l = a->pipe.latency;
    const char *dir = a->o->report_dir;
    char err[4200];
    if (l == NULL)
        return;
    lat_sync(l, false);
    if (dir == NULL) {
        fprintf(stderr, "mdmux: SIGUSR1: latency report (on demand)\n");
        lat_print(stderr, l, true);
        return;
    }
    if (lat_write_report(l, dir, a->replay ? "replay" : "run", err, sizeof(err)) < 0)
        fprintf(stderr, "mdmux: SIGUSR1: %s\n", err);
    else
        fprintf(stderr, "mdmux: SIGUSR1: latency report (on demand) in %s/latency.json\n", dir);
}

/* ------------------------------------------------------------------------------ */
/* Coroutines                                                                     */
/* ------------------------------------------------------------------------------ */

/* The start gate: RX takes no packet before every lcore has spawned its coroutines.
   Launching is asynchronous, and a handler lcore still creating its scheduler, stacks
   and pools (tens of milliseconds under a sanitizer or on a loaded machine) would
   otherwise let its channels fill and drop (channel_full): a replay's time 0 is the
   first burst, and a live port's packets wait in the NIC's own ring meanwhile. */
static void rx_wait_gate(app_t *a)
{
    while (atomic_load_explicit(&a->armed, memory_order_acquire) < a->nused &&
           !atomic_load_explicit(&a->stop, memory_order_relaxed))
        co_yield(); /* the lcore's own handlers and control still run */
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&a->t_gate_ns, &zero, co_now_ns());
}

/* RX poller: poll until the replay is done or a stop is asked, then close. */
static void rx_main(void *arg)
{
    lcore_t *lc = arg;
    app_t *a = lc->app;
    rx_wait_gate(a);
    /* How much of its time the poller spends on packets: the time of every poll that
       found some. One clock read a poll, a second one when it found packets. */
    uint64_t t_begin = co_tsc(), busy = 0;
    while (!atomic_load_explicit(&a->stop, memory_order_relaxed)) {
        if (lc->replay_rx && io_rx_done(lc->rx))
            break;
        uint64_t t0 = co_tsc();
        if (io_rx_poll(lc->rx) > 0) {
            busy += co_tsc() - t0;
            __atomic_store_n(&lc->rx_busy_tsc, busy, __ATOMIC_RELAXED);
            /* handlers of this lcore wake on their doorbell, which only a scheduler
               pass reads: without one, the poller would poll up to `batch` (64)
               times, microseconds at a paced rate, before they saw their packets */
            if (lc->feeds_self) {
                co_yield_pass();
                continue;
            }
        }
        co_yield(); /* let handlers (or control) on this lcore run */
    }
    __atomic_store_n(&lc->rx_run_tsc, co_tsc() - t_begin, __ATOMIC_RELAXED);
    pipe_mark_end(&a->pipe);
    io_rx_release_held(lc->rx); /* a stop: replay.lossless's held packets, channel_full */
    for (unsigned i = 0; i < lc->nout; i++)
        chs_close(lc->out[i]);
    atomic_fetch_add_explicit(&a->rx_done, 1, memory_order_release);
}

/* One progress line: percent, packets/s, ETA (replay) or frames/s (run). */
static void progress_line(app_t *a, bool tty)
{
    char line[160];
    if (a->replay) {
        io_replay_progress_t p;
        io_replay_progress(a->replay, &p);
        snprintf(line, sizeof(line),
                 "replay: %5.1f%%  %" PRIu64 "/%" PRIu64 " packets  %.0f pkt/s  ETA %.1f s",
                 p.percent, p.packets, p.total, p.pps, p.eta_s);
    } else {
        uint64_t frames = 0;
        io_rx_stats_t s;
        for (unsigned i = 0; i < CFG_MAX_LCORES; i++) {
            if (a->lc[i].rx) {
                io_rx_stats(a->lc[i].rx, &s);
                frames += s.frames;
            }
        }
        double t = (double)(co_now_ns() - a->t_start_ns) / 1e9;
        snprintf(line, sizeof(line), "run: %" PRIu64 " frames  %.0f frames/s  %.0f s", frames,
                 t > 0 ? (double)frames / t : 0, t);
    }
    if (tty)
        fprintf(stderr, "\r%-78s", line);
    else
        fprintf(stderr, "%s\n", line);
}

/* Watch for a stalled replay; true when it should be stopped. */
static bool replay_stalled(app_t *a, uint64_t now, uint64_t *last_pkts, uint64_t *last_move)
{
    io_replay_progress_t p;
    io_replay_progress(a->replay, &p);
    if (p.packets != *last_pkts || p.done) {
        *last_pkts = p.packets;
        *last_move = now;
        return false;
    }
    return now - *last_move > REPLAY_STALL_NS;
}

/* Phase 1 of a stop: RX accepts nothing more (each poller closes its channels). */
static void begin_stop(app_t *a, const char *why, bool newline)
{
    if (atomic_load(&a->stop))
        return;
    fprintf(stderr, "%smdmux: %s: stopping RX, draining channels (timeout %u ms)\n",
            newline ? "\n" : "", why, a->cfg->shutdown.drain_timeout_ms);
    a->stop_reason = why;
    atomic_store(&a->stop, true);
}

/* The drain's progress: what is still queued, when anything is. */
static void print_depth(app_t *a, uint64_t now)
{
    pipe_depth_t d;
    pipe_depth(&a->pipe, rte_lcore_id() == a->pipe.mux_lcore, &d);
    if (d.packets == 0 && d.records == 0 && d.writers == 0)
        return;
    fprintf(stderr,
            "mdmux: draining: %" PRIu64 " packets for the feed handlers, %" PRIu64
            " records for the mux, %" PRIu64 " for the writers (%.1f s of %.1f s)\n",
            d.packets, d.records, d.writers, (double)(now - a->t_drain_ns) / 1e9,
            a->cfg->shutdown.drain_timeout_ms / 1e3);
}

/* Phase 2's end when it does not finish: cancel what is still running. */
static void cancel_drain(app_t *a, const char *why)
{
    pipe_depth_t d;
    pipe_depth(&a->pipe, rte_lcore_id() == a->pipe.mux_lcore, &d);
    fprintf(stderr,
            "mdmux: %s: cancelling what is still running (%" PRIu64 " packets, %" PRIu64
            " records and %" PRIu64 " writer items queued)\n",
            why, d.packets, d.records, d.writers);
    a->timed_out = true;
    pipe_cancel(&a->pipe);
}

/* Cancelled coroutines that do not return would hang the process: name their kinds
   (the registry's counters are readable from any thread) and exit. */
static void join_failed(app_t *a)
{
    co_kind_stats_t k[64];
    size_t n = co_registry_snapshot(k, 64);
    fprintf(stderr, "mdmux: shutdown: still running %llu s after the cancellation:",
            JOIN_TIMEOUT_NS / 1000000000ull);
    for (size_t i = 0; i < n && i < 64; i++)
        if (k[i].live > (strcmp(k[i].kind, "control") == 0 ? 1u : 0u))
            fprintf(stderr, " %s x%" PRIu64, k[i].kind, k[i].live);
    fprintf(stderr, "\nmdmux: exiting without the final report\n");
    (void)a;
    _exit(APP_EXIT_FAIL);
}

/* Control: signals, progress, the drain and its timeout, and the end of the run. */
static void control_main(void *arg)
{
    app_t *a = arg;
    bool tty = isatty(STDERR_FILENO);
    int progress = a->o->progress < 0 ? 1 : a->o->progress;
    uint64_t period = tty ? PROGRESS_TTY_NS : PROGRESS_LINE_NS;
    uint64_t next = co_now_ns() + period, last_pkts = 0, last_move = co_now_ns();
    uint64_t timeout = (uint64_t)a->cfg->shutdown.drain_timeout_ms * 1000000ull, next_depth = 0;
    uint64_t t_cancel = 0;
    bool printed = false;

    while (atomic_load_explicit(&a->rx_done, memory_order_acquire) < a->nrx ||
           !pipe_done(&a->pipe)) {
        uint64_t now = co_now_ns();
        if (g_signals && !atomic_load(&a->stop)) {
            a->interrupted = true;
            begin_stop(a, "signal", printed && tty);
        }
        if (a->replay && !atomic_load(&a->stop) && replay_stalled(a, now, &last_pkts, &last_move)) {
            fprintf(stderr, "mdmux: replay: no packet released for %llu s\n",
                    REPLAY_STALL_NS / 1000000000ull);
            begin_stop(a, "replay stalled", false);
        }
        /* phase 2 begins with a stop, or when every RX poller has seen its input end */
        if (a->t_drain_ns == 0 &&
            (atomic_load(&a->stop) ||
             atomic_load_explicit(&a->rx_done, memory_order_acquire) >= a->nrx)) {
            a->t_drain_ns = now;
            next_depth = now + DRAIN_PRINT_NS;
            if (a->stop_reason == NULL)
                a->stop_reason = "end of input";
        }
        if (a->t_drain_ns && !a->timed_out) {
            if (g_signals >= 2)
                cancel_drain(a, "second signal");
            else if (now - a->t_drain_ns >= timeout)
                cancel_drain(a, "drain timeout");
            else if (now >= next_depth) {
                print_depth(a, now);
                next_depth = now + DRAIN_PRINT_NS;
            }
            if (a->timed_out)
                t_cancel = now;
        }
        if (a->timed_out && now - t_cancel > JOIN_TIMEOUT_NS)
            join_failed(a);
        if (a->pipe.latency)
            lat_tick(a->pipe.latency);
        if (g_report) {
            g_report = 0;
            report_on_demand(a);
        }
        metrics_control(a->metrics); /* POST /report, GET /latency, scrapes */
        lat_serve(a->pipe.latency);  /* telemetry's /mdmux/latency,FEED */
        if (progress && now >= next) {
            progress_line(a, tty);
            printed = true;
            next = now + period;
        }
        co_sleep(a->pipe.latency ? lat_sleep_ns(a->pipe.latency, CONTROL_TICK_NS) : CONTROL_TICK_NS,
                 CO_BACKGROUND);
    }
    a->t_end_ns = co_now_ns();
    /* the data path's own end rather than this loop's next tick (up to 20 ms later) */
    uint64_t end = pipe_end_ns(&a->pipe);
    if (end > a->t_start_ns && end < a->t_end_ns && !a->timed_out)
        a->t_end_ns = end;
    metrics_control_end(a->metrics);
    lat_serve_end(a->pipe.latency);
    if (a->t_drain_ns == 0 || a->t_drain_ns > a->t_end_ns)
        a->t_drain_ns = a->t_end_ns; /* ended within the tick that saw the input end */
    if (printed && tty) {
        progress_line(a, tty);
        fputc('\n', stderr);
    }
}

/* An lcore that cannot run its roles: stop everything, and account for its roles as
 * finished (its channels closed) so that the others can still drain and end. */
static void fail_lcore(lcore_t *lc)
{
    app_t *a = lc->app;
    fprintf(stderr, "mdmux: lcore %u: cannot create its scheduler\n", lc->id);
    atomic_store(&a->stop, true);
    if (lc->rx) {
        for (unsigned i = 0; i < lc->nout; i++)
            chs_close(lc->out[i]);
        atomic_fetch_add(&a->rx_done, 1);
    }
    pipe_fail_lcore(&a->pipe, lc->id);
}

/* Before lcore @p id empties the channels it consumes: their producers (every RX
   poller; for the mux's lcore, every feed handler) must have stopped. A cancelled
   handler can finish before RX has closed its channels. Bounded: a producer that
   never stops shows as a broken identity instead of a hang. */
static bool producers_done(app_t *a, unsigned id)
{
    uint64_t until = co_now_ns() + JOIN_TIMEOUT_NS;
    while (atomic_load_explicit(&a->rx_done, memory_order_acquire) < a->nrx ||
           (id == a->pipe.mux_lcore &&
            atomic_load_explicit(&a->pipe.feeds_done, memory_order_acquire) < a->cfg->nfeeds)) {
        if (co_now_ns() > until) {
            fprintf(stderr, "mdmux: lcore %u: its channels' producers did not stop\n", id);
            return false;
        }
        rte_pause();
    }
    return true;
}

/* One coroutine still alive when its scheduler stopped: into the lcore's leak list. */
static void note_leak(const co_info_t *ci, void *arg)
{
    lcore_t *lc = arg;
    size_t n = strlen(lc->leaks);
    if (n + 1 < sizeof(lc->leaks))
        snprintf(lc->leaks + n, sizeof(lc->leaks) - n, "%slcore%u: %s (%s, %s%s%s)", n ? "; " : "",
                 lc->id, ci->name, ci->kind, ci->state, ci->wait ? " on " : "",
                 ci->wait ? ci->wait : "");
}

/* Body of every used lcore, main included: a scheduler running its roles. */
static int lcore_main(void *arg)
{
    lcore_t *lc = arg;
    app_t *a = lc->app;
    bool is_main = lc->id == rte_get_main_lcore();
    char name[24];
    snprintf(name, sizeof(name), "lcore%u", lc->id);
    if (!is_main && a->arm_delay_ms)
        usleep(a->arm_delay_ms * 1000u);
    co_sched_opts_t so = {.name = name, .idle = CO_IDLE_BUSY};
    co_sched_t *s = co_sched_new(&so);
    if (s == NULL) {
        fail_lcore(lc);
        atomic_fetch_add_explicit(&a->armed, 1, memory_order_release);
        return lc->rc = -1;
    }
    co_opts_t big = {.stack_size = BIG_STACK};
    if (lc->rx) {
        big.name = big.kind = "rx";
        co_spawn(rx_main, lc, &big);
    }
    if (!pipe_spawn(&a->pipe, lc->id, is_main))
        atomic_store(&a->stop, true); /* what did start drains and ends */
    if (is_main) {
        big.name = big.kind = "control";
        co_spawn(control_main, a, &big);
    }
    atomic_fetch_add_explicit(&a->armed, 1, memory_order_release);
    lc->rc = co_sched_run(s);
    co_sched_usage(s, &lc->usage);
    lc->ran = true;
    /* phase 3: every coroutine has returned (rc 0), or the registry lists the rest */
    if (co_sched_live(s) > 0)
        co_registry_foreach(s, note_leak, lc);
    else if (producers_done(a, lc->id))
        pipe_collect(&a->pipe, lc->id); /* what a cancellation left in its channels */
    lc->leaked = co_sched_free(s, stderr);
    return lc->rc;
}

/* ------------------------------------------------------------------------------ */
/* Set-up                                                                         */
/* ------------------------------------------------------------------------------ */

/* A device string names a vdev when it starts with a PMD prefix, else a PCI address. */
static bool is_vdev(const char *dev)
{
    return strncmp(dev, "net_", 4) == 0 || strncmp(dev, "eth_", 4) == 0;
}

static int eal_init(app_t *a)
{
    const cfg_t *c = a->cfg;
    const char *allow[64], *extra[IO_EAL_ARGS_MAX];
    unsigned nallow = 0, nextra = 0;
    char main_lcore[32], err[1024];

    for (unsigned i = 0; i < c->nports && a->o->cmd == APP_RUN; i++)
        if (!is_vdev(c->ports[i].device) && nallow < 64)
            allow[nallow++] = c->ports[i].device;
    /* the output and re-request devices are opened in replay too */
    const char *more[] = {c->outputs.mcast.enabled ? c->outputs.mcast.device : NULL,
                          c->rereq.enabled ? c->rereq.device : NULL};
    for (unsigned i = 0; i < 2; i++)
        if (more[i] && !is_vdev(more[i]) && nallow < 64)
            allow[nallow++] = more[i];
    snprintf(main_lcore, sizeof(main_lcore), "--main-lcore=%u", c->control);
    extra[nextra++] = main_lcore;
    for (unsigned i = 0; i < c->eal.nargs && nextra < IO_EAL_ARGS_MAX - 32; i++)
        extra[nextra++] = c->eal.args[i];
    for (int i = 0; i < a->o->neal_args && nextra < IO_EAL_ARGS_MAX - 32; i++)
        extra[nextra++] = a->o->eal_args[i];
    io_eal_opts_t eo = {
        .prog = "mdmux",
        .lcores = c->eal.lcores,
        .memory_mb = c->eal.memory_mb,
        .hugepages = c->eal.hugepages,
        .pci = nallow > 0,
        .allow = allow,
        .n_allow = nallow,
        .extra = extra,
        .n_extra = nextra,
        .log_level = "lib.eal:notice", /* not the INFO banner; `-- --log-level=..` wins */
        .telemetry = a->telemetry,
    };
    /* before the EAL starts the telemetry thread: no client sees a partial list */
    if (a->telemetry && telemetry_register() < 0)
        fprintf(stderr, "mdmux: telemetry: cannot register the /mdmux/ commands\n");
    if (io_eal_init(&eo, err, sizeof(err)) < 0) {
        fprintf(stderr, "mdmux: %s\n", err);
        return -1;
    }
    if (a->telemetry)
        fprintf(stderr, "mdmux: telemetry: %s/dpdk_telemetry.v2\n", rte_eal_get_runtime_dir());
    return 0;
}

static unsigned socket_of(unsigned lcore)
{
    int s = (int)rte_lcore_to_socket_id(lcore);
    return s < 0 ? 0 : (unsigned)s;
}

/* The lcore that polls queue 0 of port @p name (for the port's memory). */
static int rx_socket_of(const cfg_t *c, const char *name)
{
    for (unsigned i = 0; i < c->nrx; i++)
        if (strcmp(c->rx[i].port, name) == 0 && c->rx[i].queue == 0)
            return (int)socket_of(c->rx[i].lcore);
    return -1;
}

static int open_replay(app_t *a)
{
    const cfg_t *c = a->cfg;
    char err[512];
    /* The handlers hold mbufs (reorder windows, channels) while RX reads ahead: a pool
       deeper than the port's default keeps the replay from waiting on them. */
    io_replay_conf_t rc = {.path = a->o->capture,
                           .rx_socket = rx_socket_of(c, CFG_REPLAY_PORT),
                           .pool_mbufs = REPLAY_MBUFS};
    if (c->replay.pace == CFG_PACE_RATE) {
        rc.pace.mode = IO_PACE_RATE;
        rc.pace.rate_pps = c->replay.rate < 1 ? 1 : (uint64_t)c->replay.rate;
    } else if (io_pacer_parse_speed(c->replay.speed_text, &rc.pace) < 0) {
        fprintf(stderr, "mdmux: replay speed '%s' is not valid\n", c->replay.speed_text);
        return -1;
    }
    rc.pace.loops = c->replay.loop;
    rc.pace.fwd_jump_ns = c->replay.max_gap_ns;
    a->replay = io_replay_open(&rc, err, sizeof(err));
    if (a->replay == NULL) {
        fprintf(stderr, "mdmux: %s\n", err);
        return -1;
    }
    return 0;
}

static int open_ports(app_t *a)
{
    const cfg_t *c = a->cfg;
    char err[512];
    a->port_ids = calloc(c->nports ? c->nports : 1, sizeof(int));
    if (a->port_ids == NULL)
        return -1;
    for (unsigned i = 0; i < c->nports; i++) {
        const cfg_port_t *p = &c->ports[i];
        io_port_conf_t pc = {
            .name = p->name,
            .device = p->device,
            .rx_queues = p->rx_queues,
            .rx_desc = p->rx_desc,
            .pool_mbufs = p->mbufs,
            .rx_socket = rx_socket_of(c, p->name),
            .steering = p->steering == CFG_STEER_FLOW  ? IO_STEER_FLOW
                        : p->steering == CFG_STEER_RSS ? IO_STEER_RSS
                                                       : IO_STEER_NONE,
        };
        io_steer_rule_t *rules = NULL;
        char(*labels)[CFG_NAME_MAX + 16] = NULL;
        if (p->steering == CFG_STEER_FLOW && p->line_queue && c->nfeeds) {
            rules = calloc((size_t)c->nfeeds * CFG_LINES, sizeof(*rules));
            labels = calloc((size_t)c->nfeeds * CFG_LINES, sizeof(*labels));
            if (rules == NULL || labels == NULL) {
                free(rules);
                free(labels);
                return -1;
            }
            for (unsigned f = 0; f < c->nfeeds; f++)
                for (unsigned l = 0; l < c->feeds[f].nlines; l++) {
                    const cfg_line_t *x = &c->feeds[f].line[l];
                    snprintf(labels[pc.n_rules], sizeof(labels[0]), "feed %s line %s",
                             c->feeds[f].name, cfg_line_name(l));
                    rules[pc.n_rules] = (io_steer_rule_t){.dst_ip_be = x->group_be,
                                                          .dst_port_be = htons(x->port),
                                                          .queue = p->line_queue[f][l],
                                                          .label = labels[pc.n_rules]};
                    pc.n_rules++;
                }
            pc.rules = rules;
        }
        int id = io_port_open(&pc, err, sizeof(err));
        if (id >= 0 && pc.steering != IO_STEER_NONE) {
            /* what steers where: one line per queue (the rules, in short) */
            printf("mdmux: port %s: steering %s", p->name, io_steering_name(pc.steering));
            if (pc.steering == IO_STEER_FLOW) {
                printf(", %u rte_flow rules:", io_port_flow_count((uint16_t)id));
                for (unsigned q = 0; q < p->rx_queues; q++) {
                    unsigned n = 0;
                    for (unsigned k = 0; k < pc.n_rules; k++)
                        n += rules[k].queue == q;
                    printf(" queue %u <- %u lines;", q, n);
                }
            }
            printf("\n");
            if (a->o->verbose)
                for (unsigned k = 0; k < pc.n_rules; k++) {
                    struct in_addr ia = {.s_addr = rules[k].dst_ip_be};
                    printf("mdmux: port %s: flow %u: eth / ipv4 dst is %s / udp dst is %u -> "
                           "queue %u (%s)\n",
                           p->name, k, inet_ntoa(ia), ntohs(rules[k].dst_port_be), rules[k].queue,
                           rules[k].label);
                }
            fflush(stdout);
        }
        free(rules);
        free(labels);
        if (id < 0) {
            fprintf(stderr, "mdmux: port %s (%s): %s\n", p->name, p->device, err);
            if (pc.steering == IO_STEER_FLOW && strstr(err, "steering: flow rule"))
                fprintf(stderr,
                        "mdmux: port %s: the PMD does not take mdmux's flow rules; "
                        "ports[].steering: rss or none runs without them "
                        "(docs/operations.md, \"Steering feeds to queues\")\n",
                        p->name);
            return -1;
        }
        a->port_ids[a->nports_open++] = id;
    }
    return 0;
}

static int build_flows(app_t *a)
{
    const cfg_t *c = a->cfg;
    a->flows = io_flow_table_new(c->nfeeds * CFG_LINES, (int)socket_of(c->control));
    if (a->flows == NULL) {
        fprintf(stderr, "mdmux: cannot create the flow table: %s\n", strerror(errno));
        return -1;
    }
    for (unsigned i = 0; i < c->nfeeds; i++) {
        for (unsigned l = 0; l < c->feeds[i].nlines; l++) {
            const cfg_line_t *x = &c->feeds[i].line[l];
            int rc =
                io_flow_table_add(a->flows, x->group_be, htons(x->port), (uint16_t)i, (uint8_t)l);
            if (rc < 0) {
                /* config validation rejects duplicates; this is a safety net */
                fprintf(stderr, "mdmux: flow %s:%u of %s: %s\n", x->group, x->port,
                        c->feeds[i].name, strerror(-rc));
                return -1;
            }
        }
    }
    return 0;
}

/* The DPDK port id of rx entry port @p name; -1 if it is not open in this mode. */
static int port_id_of(const app_t *a, const char *name)
{
    if (strcmp(name, CFG_REPLAY_PORT) == 0)
        return a->replay ? (int)io_replay_port(a->replay) : -1;
    for (unsigned i = 0; i < a->nports_open; i++)
        if (strcmp(a->cfg->ports[i].name, name) == 0)
            return a->port_ids[i];
    return -1;
}

/* RX context of lcore @p id, created on first use. */
static lcore_t *rx_lcore(app_t *a, unsigned id)
{
    lcore_t *lc = &a->lc[id];
    if (lc->rx)
        return lc;
    io_rx_conf_t rc = {.flows = a->flows,
                       .n_feeds = a->cfg->nfeeds,
                       .socket = (int)socket_of(id),
                       .hold_when_full = a->o->cmd == APP_REPLAY && a->cfg->replay.lossless};
    lc->rx = io_rx_new(&rc);
    if (lc->rx == NULL) {
        fprintf(stderr, "mdmux: lcore %u: cannot create its RX context: %s\n", id, strerror(errno));
        return NULL;
    }
    lc->used = true;
    a->nrx++;
    return lc;
}

static int build_rx(app_t *a)
{
    const cfg_t *c = a->cfg;
    for (unsigned i = 0; i < c->nrx; i++) {
        const cfg_rx_t *x = &c->rx[i];
        int port = port_id_of(a, x->port);
        if (port < 0) {
            if (a->replay)
                continue; /* replay polls its own port only */
            fprintf(stderr, "mdmux: %s: rx[%u]: port '%s' exists only in mdmux replay\n", c->path,
                    i, x->port);
            return -1;
        }
        lcore_t *lc = rx_lcore(a, x->lcore);
        if (lc == NULL)
            return -1;
        if (a->replay && strcmp(x->port, CFG_REPLAY_PORT) == 0) {
            io_rx_attach_replay(lc->rx, a->replay);
            lc->replay_rx = true;
        } else if (io_rx_add_queue(lc->rx, (uint16_t)port, (uint16_t)x->queue) < 0) {
            fprintf(stderr, "mdmux: lcore %u polls more than %d queues\n", x->lcore,
                    IO_RX_QUEUES_MAX);
            return -1;
        }
    }
    if (a->nrx == 0) {
        fprintf(stderr, "mdmux: %s: no port to poll (run needs ports:)\n", c->path);
        return -1;
    }
    return 0;
}

/*
 * Give @p ch, consumed on handler lcore @p id, that lcore's doorbell (lib/chan): its
 * parked feed handlers are then woken by RX's rings instead of the scheduler reading
 * every line's tail on every pass. Past CHS_BELL_MAX lines a channel stays polled.
 */
static int ring_on_handler(app_t *a, unsigned id, chs_t *ch)
{
    lcore_t *lc = &a->lc[id];
    if (a->no_doorbell)
        return 0;
    if (lc->bell == NULL && (lc->bell = chs_bell_new((int)socket_of(id))) == NULL) {
        fprintf(stderr, "mdmux: cannot create lcore %u's doorbell: %s\n", id, strerror(errno));
        return -1;
    }
    int rc = chs_bell_add(lc->bell, ch);
    return rc == 0 || rc == -ENOSPC ? 0 : -1;
}

/* The re-requesting feeds' RETX inputs on their handler lcores' doorbells too (the
   retransmission poller's chs_send_burst() rings); before the lcores start. */
static int ring_retx(app_t *a)
{
    for (unsigned f = 0; a->pipe.retx.on && f < a->cfg->nfeeds; f++)
        if (a->pipe.retx.ch[f] != NULL &&
            ring_on_handler(a, a->cfg->feeds[f].handler, a->pipe.retx.ch[f]) < 0)
            return -1;
    return 0;
}

/* One SPSC channel per (RX lcore, feed line), on the handler's node. */
static int build_channels(app_t *a)
{
    const cfg_t *c = a->cfg;
    for (unsigned f = 0; f < c->nfeeds; f++)
        a->lc[c->feeds[f].handler].used = true;
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++) {
        lcore_t *lc = &a->lc[id];
        if (lc->rx == NULL)
            continue;
        lc->out = calloc((size_t)c->nfeeds * CFG_LINES, sizeof(chs_t *));
        if (lc->out == NULL)
            return -1;
        for (unsigned f = 0; f < c->nfeeds; f++) {
            for (unsigned l = 0; l < c->feeds[f].nlines; l++) {
                chs_t *ch = chs_new(sizeof(struct rte_mbuf *), c->channel_slots,
                                    (int)socket_of(c->feeds[f].handler));
                if (ch == NULL) {
                    fprintf(stderr, "mdmux: cannot create a channel of %u slots: %s\n",
                            c->channel_slots, strerror(errno));
                    return -1;
                }
                lc->out[lc->nout++] = ch;
                lc->feeds_self |= c->feeds[f].handler == id;
                if (ring_on_handler(a, c->feeds[f].handler, ch) < 0 ||
                    pipe_feed_in(&a->pipe, f, l, ch) < 0)
                    return -1;
                io_rx_set_channel(lc->rx, (uint16_t)f, (uint8_t)l, ch);
            }
        }
    }
    return 0;
}

static bool rxf_keep(void *arg, uint16_t feed, uint8_t line, const uint8_t *payload, uint32_t len,
                     uint64_t rx_tsc)
{
    return feed_rxf_keep(arg, feed, line, payload, len, rx_tsc);
}

static void rxf_unsent(void *arg, uint16_t feed, uint8_t line, const uint8_t *payload, uint32_t len)
{
    (void)line;
    feed_rxf_unsent(arg, feed, payload, len);
}

static bool rxf_again(void *arg, uint16_t feed, uint8_t line, const uint8_t *payload, uint32_t len,
                      uint64_t rx_tsc)
{
    return feed_rxf_again(arg, feed, line, payload, len, rx_tsc);
}

/*
 * Each RX lcore's A/B copy filter (lib/feed, feed_rxf_t), once the feeds exist: the
 * copies of what an RX lcore forwarded are dropped there, counted in their feed's
 * statistics, instead of crossing to the handlers. One copy per line is still
 * forwarded every quarter of the feed's line timeout, for its line health.
 */
static int build_filters(app_t *a)
{
    const cfg_t *c = a->cfg;
    /* Unset, it is on only where one RX lcore polls every line. With several, a feed's
       A and B may reach different ones (one port a line, as configs/bare-metal.yaml),
       whose filters would each see one line: they would drop nothing but parse every
       packet, and their feeds' handlers would merge by RX stamps (~30 % dearer). */
    a->copies_on_rx = c->copies_on_rx && (c->copies_on_rx_set || a->nrx <= 1);
    if (!a->copies_on_rx)
        return 0;
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++) {
        lcore_t *lc = &a->lc[id];
        if (lc->rx == NULL)
            continue;
        if ((lc->rxf = feed_rxf_new(c->nfeeds)) == NULL) {
            fprintf(stderr, "mdmux: lcore %u: cannot create its copy filter: %s\n", id,
                    strerror(errno));
            return -1;
        }
        for (unsigned f = 0; f < c->nfeeds; f++) {
            feed_rxf_set_keepalive(lc->rxf, f, c->feeds[f].arb.line_timeout_ns / 4);
            if (feed_attach_rxf(a->pipe.feeds[f].feed, lc->rxf) != 0) {
                fprintf(stderr, "mdmux: feed %s: more than %d RX lcores\n", c->feeds[f].name,
                        FEED_RXF_MAX);
                return -1;
            }
        }
        io_rx_set_filter(lc->rx, &(io_rx_filter_t){.keep = rxf_keep,
                                                   .unsent = rxf_unsent,
                                                   .again = rxf_again,
                                                   .arg = lc->rxf});
    }
    return 0;
}

/* The main lcore always runs (control); check the EAL made it the configured one. */
static int check_main(app_t *a)
{
    if (rte_get_main_lcore() != a->cfg->control) {
        fprintf(stderr, "mdmux: EAL main lcore is %u, cores.control is %u\n", rte_get_main_lcore(),
                a->cfg->control);
        return -1;
    }
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++) {
        if (a->lc[id].used && id != a->cfg->control && !rte_lcore_is_enabled(id)) {
            fprintf(stderr, "mdmux: lcore %u has a role but is not enabled in the EAL\n", id);
            return -1;
        }
    }
    a->lc[a->cfg->control].used = true;
    return 0;
}

/*
 * Where the latency recorder runs (latency.recorder; docs/latency.md, "Where the
 * recorder runs"). Its histogram updates, ten a message, were a fifth of the mux's
 * lcore: "auto" moves them to an lcore that runs no feed handler, the control lcore
 * if it is such, else the first RX lcore, and leaves them on the mux's lcore when
 * every lcore runs handlers. A replay at top speed keeps them off its RX lcore: that
 * lcore, reading the file, is what bounds the run there (measured: ~20 % fewer
 * packets/s with the recorder beside it), and latency at top speed is queueing by
 * construction. A named lcore is launched for it if it has no other role.
 */
static int place_recorder(app_t *a)
{
    const cfg_t *c = a->cfg;
    int want = c->latency.recorder, mux = (int)c->handlers[0];
    bool handler[CFG_MAX_LCORES] = {false};
    for (unsigned f = 0; f < c->nfeeds; f++)
        handler[c->feeds[f].handler] = true;
    handler[mux] = true;
    a->pipe.rec_lcore = -1;
    if (want == CFG_RECORDER_MUX)
        return 0;
    if (want >= 0) {
        if (want != mux) {
            if (!rte_lcore_is_enabled((unsigned)want)) {
                fprintf(stderr, "mdmux: latency.recorder: lcore %d is not enabled in the EAL\n",
                        want);
                return -1;
            }
            a->lc[want].used = true;
            a->pipe.rec_lcore = want;
        }
        return 0;
    }
    if (!handler[c->control]) {
        a->pipe.rec_lcore = (int)c->control;
        return 0;
    }
    if (a->o->cmd == APP_REPLAY && c->replay.pace == CFG_PACE_MAX)
        return 0; /* the mux records inline */
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++) {
        if (a->lc[id].rx != NULL && !handler[id]) {
            a->pipe.rec_lcore = (int)id;
            return 0;
        }
    }
    return 0; /* every lcore runs handlers: the mux records inline */
}

static int launch_and_wait(app_t *a)
{
    unsigned main_id = rte_get_main_lcore();
    int rc = 0;
    a->t_start_ns = co_now_ns();
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++)
        a->nused += a->lc[id].used;
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++) {
        if (!a->lc[id].used || id == main_id)
            continue;
        if (rte_eal_remote_launch(lcore_main, &a->lc[id], id) != 0) {
            fprintf(stderr, "mdmux: cannot launch lcore %u\n", id);
            atomic_store(&a->stop, true);
            rc = -1;
        }
    }
    if (lcore_main(&a->lc[main_id]) != 0)
        rc = -1;
    rte_eal_mp_wait_lcore();
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++)
        if (a->lc[id].used && a->lc[id].rc != 0)
            rc = -1;
    return rc;
}

/* ------------------------------------------------------------------------------ */
/* Report and tear-down                                                           */
/* ------------------------------------------------------------------------------ */

/* The ports' own counters: what was lost before RX saw it. */
static int port_stats(const app_t *a, rep_t *r)
{
    unsigned n = a->replay ? 1 : a->nports_open;
    r->ports = calloc(n ? n : 1, sizeof(*r->ports));
    if (r->ports == NULL)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        struct rte_eth_stats st;
        uint16_t id = a->replay ? io_replay_port(a->replay) : (uint16_t)a->port_ids[i];
        rep_port_t *p = &r->ports[r->nports++];
        p->name = a->replay ? CFG_REPLAY_PORT : a->cfg->ports[i].name;
        if (rte_eth_stats_get(id, &st) != 0)
            continue;
        p->ipackets = st.ipackets;
        p->imissed = st.imissed;
        p->ierrors = st.ierrors;
        p->rx_nombuf = st.rx_nombuf;
    }
    return 0;
}

/* The pipeline's counters into @p r: feeds (their packets are the lines' handled),
   the merged stream, outputs and latency. */
static int pipe_report(app_t *a, rep_t *r)
{
    const pipe_t *p = &a->pipe;
    const cfg_t *c = a->cfg;
    r->fs = calloc(c->nfeeds, sizeof(*r->fs));
    if (r->fs == NULL)
        return -1;
    for (unsigned f = 0; f < c->nfeeds; f++) {
        feed_stats(p->feeds[f].feed, &r->fs[f]);
        for (unsigned l = 0; l < c->feeds[f].nlines; l++) {
            r->lines[f][l].handled = r->fs[f].line[l].packets + p->feeds[f].after_giveup[l];
            r->lines[f][l].queued = p->feeds[f].queued[l];
        }
    }
    mux_stats(p->mux, &r->mux);
    if ((r->has_dump = p->dump != NULL))
        mux_writer_stats(p->dump, &r->dump);
    if ((r->has_pcap = p->pcap != NULL))
        mux_writer_stats(p->pcap, &r->pcap);
    if ((r->has_tx = p->tx != NULL)) {
        mux_tx_stats(p->tx, &r->tx);
        r->mcast = c->outputs.mcast.group_text;
    }
    /* the lcores have returned: the mux's last records happen-before this */
    lat_sync(p->latency, true);
    r->lat = p->latency;
    r->lat_feeds = c->nfeeds <= 10 || a->o->verbose;
    r->retx = p->retx.on ? &p->retx : NULL;
    r->pipe = p;
    r->dump_path = p->dump_path;
    r->pcap_path = p->pcap_path;
    r->shm_path = p->shm ? mux_shm_path(p->shm) : NULL;
    return 0;
}

/* Writer or TX errors are run errors: the output the user asked for is incomplete. */
static int output_errors(const rep_t *r)
{
    int bad = 0;
    if (r->has_dump && r->dump.errors) {
        fprintf(stderr, "mdmux: dump %s: %lu write errors\n", r->dump_path,
                (unsigned long)r->dump.errors);
        bad = -1;
    }
    if (r->has_pcap && r->pcap.errors) {
        fprintf(stderr, "mdmux: pcap %s: %lu write errors\n", r->pcap_path,
                (unsigned long)r->pcap.errors);
        bad = -1;
    }
    return bad;
}

/* Capture clock steps (lib/io pacer): warnings naming the first packet and its byte
   offset. Not errors: the replay went on (backward: sent at once; forward: the gap
   clamped to the limit), and the stats JSON has the counts (pacing.clock_steps). */
static void clock_step_warnings(const app_t *a, const rep_t *r)
{
    if (r->ts_back)
        fprintf(stderr,
                "mdmux: warning: %s: capture timestamps went back %lu time(s), %lu ns in all "
                "(first at packet %lu, byte offset %lu): sent at once, later gaps kept\n",
                a->o->capture, (unsigned long)r->ts_back, (unsigned long)r->ts_back_ns,
                (unsigned long)r->ts_back_pkt, (unsigned long)r->ts_back_off);
    if (r->ts_fwd)
        fprintf(stderr,
                "mdmux: warning: %s: %lu capture gap(s) longer than %.3f s (first at packet "
                "%lu, byte offset %lu): clamped to %.3f s, %.3f s of capture time skipped\n",
                a->o->capture, (unsigned long)r->ts_fwd, (double)r->ts_fwd_limit_ns / 1e9,
                (unsigned long)r->ts_fwd_pkt, (unsigned long)r->ts_fwd_off,
                (double)r->ts_fwd_limit_ns / 1e9, (double)r->ts_clamped_ns / 1e9);
}

/* The files written: stats JSON and the --report directory. */
static int write_reports(app_t *a, const rep_t *r)
{
    int rc = 0;
    if (a->o->stats_json && rep_write_json(a->o->stats_json, r) < 0)
        rc = -1;
    if (a->o->report_dir && rep_write_dir(a->o->report_dir, r) < 0)
        rc = -1;
    if (a->o->stats_json || a->o->report_dir || r->has_dump || r->has_pcap)
        printf("\nreports:\n");
    if (a->o->stats_json)
        printf("  %s\n", a->o->stats_json);
    if (a->o->report_dir) {
        static const char *const files[] = {"stats.json", "summary.txt", "latency.json",
                                            "latency.txt", "report.html (open in a browser)"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
            printf("  %s/%s\n", a->o->report_dir, files[i]);
    }
    if (r->has_dump)
        printf("  %s (merged stream, JSON Lines)\n", r->dump_path);
    if (r->has_pcap)
        printf("  %s (multicast datagrams, pcap)\n", r->pcap_path);
    return rc;
}

/* Lcore @p id's roles and usage, for the report. */
static void lcore_usage(const app_t *a, unsigned id, rep_lcore_t *out)
{
    const cfg_t *c = a->cfg;
    bool handlers = false;
    for (unsigned f = 0; f < c->nfeeds && !handlers; f++)
        handlers = c->feeds[f].handler == id;
    *out = (rep_lcore_t){.lcore = id,
                         .usage = a->lc[id].usage,
                         .rx_busy_tsc = a->lc[id].rx_busy_tsc,
                         .rx_run_tsc = a->lc[id].rx_run_tsc};
    size_t n = 0;
    const char *role[] = {a->lc[id].rx ? "rx" : NULL, handlers ? "handlers" : NULL,
                          a->pipe.mux_lcore == id ? "mux" : NULL,
                          a->pipe.rec_lcore == (int)id ? "latency recorder" : NULL,
                          id == rte_get_main_lcore() ? "control" : NULL};
    for (unsigned i = 0; i < sizeof(role) / sizeof(role[0]); i++)
        if (role[i] && n + strlen(role[i]) + 2 < sizeof(out->roles))
            n += (size_t)snprintf(out->roles + n, sizeof(out->roles) - n, "%s%s", n ? ", " : "",
                                  role[i]);
}

static int report(app_t *a)
{
    const cfg_t *c = a->cfg;
    rep_t r = {.cfg = c,
               .mode = a->replay ? "replay" : "run",
               .capture = a->o->capture,
               .interrupted = a->interrupted,
               .stop = a->stop_reason,
               .drain_timeout_ms = c->shutdown.drain_timeout_ms,
               .drain_s = (double)(a->t_end_ns - a->t_drain_ns) / 1e9,
               .timed_out = a->timed_out,
               .copies_on_rx = a->copies_on_rx};
    static char leaks[CFG_MAX_LCORES * 64];
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++) {
        const lcore_t *lc = &a->lc[id];
        r.leaked += lc->leaked;
        size_t n = strlen(leaks);
        if (lc->leaked && n + 1 < sizeof(leaks))
            snprintf(leaks + n, sizeof(leaks) - n, "%s%s", n ? "; " : "",
                     lc->leaks[0] ? lc->leaks : "(not listed)");
    }
    r.leaks = leaks;
    r.lines = calloc(c->nfeeds, sizeof(*r.lines));
    if (r.lines == NULL || port_stats(a, &r) < 0 || pipe_report(a, &r) < 0) {
        free(r.lines);
        free(r.ports);
        return -1;
    }
    static rep_lcore_t lcs[CFG_MAX_LCORES];
    r.lcores = lcs;
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++)
        if (a->lc[id].ran)
            lcore_usage(a, id, &lcs[r.nlcores++]);
    static rep_rx_lcore_t rxl[CFG_MAX_LCORES];
    r.rxl = rxl;
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++) {
        io_rx_t *rx = a->lc[id].rx;
        if (rx == NULL)
            continue;
        io_rx_stats_t s;
        io_rx_stats(rx, &s);
        rep_add_rx(&r.rx, &s);
        rep_rx_lcore_t *xl = &rxl[r.nrxl++];
        *xl = (rep_rx_lcore_t){.lcore = id,
                               .st = s,
                               .packets = calloc(c->nfeeds ? c->nfeeds : 1, sizeof(*xl->packets))};
        for (unsigned f = 0; f < c->nfeeds; f++) {
            for (unsigned l = 0; l < c->feeds[f].nlines; l++) {
                io_line_stats_t ls;
                io_rx_line_stats(rx, (uint16_t)f, (uint8_t)l, &ls);
                if (xl->packets)
                    xl->packets[f][l] = ls.packets;
                r.lines[f][l].packets += ls.packets;
                r.lines[f][l].bytes += ls.bytes;
                r.lines[f][l].channel_full += ls.channel_full;
            }
        }
    }
    r.elapsed_s = (double)(a->t_end_ns - a->t_start_ns) / 1e9;
    uint64_t gate = atomic_load(&a->t_gate_ns);
    r.start_ms = gate ? (double)(gate - a->t_start_ns) / 1e6 : -1;
    if (a->replay) {
        const io_pacer_t *p = io_replay_pacer(a->replay);
        const io_capture_info_t *ci = io_replay_info(a->replay);
        r.pacing = true;
        r.pace_mode = cfg_pace_name(c->replay.pace);
        r.err_p50 = io_hist_quantile(&p->err, 0.5);
        r.err_p99 = io_hist_quantile(&p->err, 0.99);
        r.err_max = io_hist_quantile(&p->err, 1.0);
        r.early = p->early;
        io_replay_progress_t pr;
        io_replay_progress(a->replay, &pr);
        r.undelivered = pr.mismatches;
        r.capture_error = ci->error ? ci->errmsg : NULL;
        r.ts_back = p->backward_jumps;
        r.ts_back_ns = p->back_ns;
        r.ts_back_pkt = p->first_back;
        r.ts_back_off = p->back_off;
        r.ts_fwd = p->forward_jumps;
        r.ts_clamped_ns = p->clamped_ns;
        r.ts_fwd_pkt = p->first_fwd;
        r.ts_fwd_off = p->fwd_off;
        r.ts_fwd_limit_ns = p->o.fwd_jump_ns;
    }
    rep_account(&r);
    rep_print(stdout, &r);
    int rc = rep_check(stderr, &r) ? -1 : 0;
    if (output_errors(&r) < 0 || write_reports(a, &r) < 0)
        rc = -1;
    fflush(stdout);
    clock_step_warnings(a, &r);
    if (r.capture_error) {
        fprintf(stderr, "mdmux: %s (the valid prefix was replayed)\n", r.capture_error);
        rc = -1;
    }
    free(r.lines);
    free(r.ports);
    free(r.fs);
    for (unsigned i = 0; i < r.nrxl; i++)
        free(r.rxl[i].packets);
    return rc;
}

/* Start the endpoint and attach the telemetry commands once every object they read
   exists (after pipe_build, before the lcores start). A failed listen is a run error:
   the user asked for it, and a monitored run without its metrics is not what they
   want. */
static int obs_start(app_t *a)
{
    metrics_view_t *v = &a->mv;
    v->cfg = a->cfg;
    v->pipe = &a->pipe;
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++) {
        v->rx[id] = a->lc[id].rx;
        v->rx_busy_tsc[id] = &a->lc[id].rx_busy_tsc;
    }
    v->nrx = a->nrx;
    v->report_dir = a->o->report_dir;
    v->mode = a->replay ? "replay" : "run";
    v->port_ids = a->replay ? NULL : a->port_ids;
    for (unsigned i = 0; i < a->cfg->nhandlers; i++)
        v->nhandlers += a->lc[a->cfg->handlers[i]].used;
    if (a->telemetry)
        telemetry_attach(v);
    const char *listen = a->o->metrics ? a->o->metrics : a->cfg->metrics.listen;
    if (listen == NULL)
        return 0;
    uint32_t addr = a->cfg->metrics.addr_be;
    uint16_t port = a->cfg->metrics.port;
    char err[256];
    if (a->o->metrics)
        cfg_parse_listen(a->o->metrics, &addr, &port); /* checked by main.c */
    a->metrics = metrics_start(v, addr, port, err, sizeof(err));
    if (a->metrics == NULL) {
        fprintf(stderr, "mdmux: metrics: %s\n", err);
        return -1;
    }
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr, host, sizeof(host));
    fprintf(stderr, "mdmux: metrics: http://%s:%u/metrics\n", host, port);
    return 0;
}

/* Before anything the view points at is freed. */
static void obs_stop(app_t *a)
{
    metrics_stop(a->metrics);
    a->metrics = NULL;
    if (a->telemetry)
        telemetry_detach();
}

static void teardown(app_t *a)
{
    /* handlers first: they may still hold mbufs and point at the RX channels */
    pipe_free(&a->pipe);
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++) {
        lcore_t *lc = &a->lc[id];
        io_rx_free(lc->rx);
        feed_rxf_free(lc->rxf); /* after the feeds, which count its copies */
        for (unsigned i = 0; i < lc->nout; i++)
            chs_free(lc->out[i]);
        free(lc->out);
    }
    for (unsigned id = 0; id < CFG_MAX_LCORES; id++)
        chs_bell_free(a->lc[id].bell); /* after every channel that rings it */
    if (a->replay)
        io_replay_close(a->replay);
    for (unsigned i = 0; i < a->nports_open; i++)
        io_port_close((uint16_t)a->port_ids[i]);
    free(a->port_ids);
    io_flow_table_free(a->flows);
    io_eal_cleanup();
}

/* The rx entries of this run: the replay port, or the configured ports. */
static int default_rx(app_t *a)
{
    cfg_port_t replay = {.name = CFG_REPLAY_PORT, .rx_queues = 1};
    if (a->o->cmd == APP_REPLAY)
        return cfg_default_rx(a->cfg, &replay, 1);
    return cfg_default_rx(a->cfg, a->cfg->ports, a->cfg->nports);
}

int app_run(const app_opts_t *o, cfg_t *cfg)
{
    app_t *a = calloc(1, sizeof(*a));
    int rc = APP_EXIT_FAIL;
    if (a == NULL)
        return APP_EXIT_FAIL;
    a->o = o;
    a->cfg = cfg;
    a->telemetry = cfg->telemetry || o->telemetry;
    const char *delay = getenv("MDMUX_TEST_ARM_DELAY_MS"); /* tests of the start gate */
    a->arm_delay_ms = delay ? (unsigned)strtoul(delay, NULL, 10) : 0;
    /* benchmarks: the handler lcores' lines polled by the watch list, as before the
       doorbells, to compare the two in one binary (docs/benchmarks.md) */
    a->no_doorbell = getenv("MDMUX_BENCH_NO_DOORBELL") != NULL;
    for (unsigned i = 0; i < CFG_MAX_LCORES; i++) {
        a->lc[i].app = a;
        a->lc[i].id = i;
    }
    if (default_rx(a) < 0 || pipe_init(&a->pipe, cfg, o) < 0 || eal_init(a) < 0) {
        free(a->pipe.feeds);
        free(a);
        return APP_EXIT_FAIL;
    }
    install_signals();
    bool ok = (o->cmd == APP_REPLAY ? open_replay(a) : open_ports(a)) == 0 && build_flows(a) == 0 &&
              build_rx(a) == 0 && build_channels(a) == 0 && check_main(a) == 0 &&
              place_recorder(a) == 0;
    a->pipe.rx_done = &a->rx_done;
    a->pipe.nrx = a->nrx;
    ok = ok && pipe_build(&a->pipe) == 0 && build_filters(a) == 0 && ring_retx(a) == 0 &&
         obs_start(a) == 0;
    if (ok) {
        if (o->cmd == APP_RUN)
            printf("mdmux: running: %u ports, %u RX lcores, %u feeds\n", a->nports_open, a->nrx,
                   cfg->nfeeds);
        fflush(stdout);
        ok = launch_and_wait(a) == 0;
        /* phase 3's cancel: a no-op after a complete drain (the lcores took what was
           left in their channels, pipe_collect) */
        pipe_cancel(&a->pipe);
        rc = report(a) == 0 && ok ? APP_EXIT_OK : APP_EXIT_FAIL;
    }
    obs_stop(a);
    teardown(a);
    free(a);
    return rc;
}
