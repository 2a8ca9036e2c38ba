/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_latency: latency at a paced rate, the whole pipeline beside a bare SPSC hop, in
 * one run (so both see the same machine).
 *
 *   bench_latency [options] [spsc] [pipeline]          (default: both)
 *
 *   spsc      latency.spsc_hop.p50, .p999: one md_rec_t (128 bytes, a record) at a
 *             time through a lib/chan SPSC channel (chs_t) from a producer thread on
 *             CPU -P to a consumer thread on CPU -C, paced at -R items/s. Latency =
 *             the consumer's TSC right after the receive - the producer's TSC stamp
 *             right before the send, into a lib/stats histogram (ns). No coordinated
 *             omission: each item also carries its intended send time from the pacing
 *             schedule (start + i / rate, never from the previous send), and
 *             latency.spsc_hop.intended.p50, .p999 are measured from it, so a stalled
 *             producer shows up as latency instead of as fewer samples.
 *   pipeline  latency.rx_to_publish.p50, .p999 (and latency.intended_to_publish.*):
 *             `mdmux replay` of a generated 50-feed capture (mdmux-gen -m/-g) at a
 *             fixed -R packets/s on two lcores (RX on one; feed handlers, mux and
 *             ring on the other: mdmux's default), read back from the report's
 *             latency JSON (DIR/latency.json, else the stats JSON).
 *
 *   -n N      items of the spsc test (2M)      -w N   of which warm-up, not recorded (10k)
 *   -R RATE   items or packets per second (1000000)
 *   -P cpu, -C cpu   producer, consumer of the spsc test (0, 1)
 *   -m PATH   the mdmux binary                 -g PATH  the mdmux-gen binary
 *   -d MS     trading time of the generated capture (500; the replay lasts about
 *             its packet count / RATE)
 *   -x        the pipeline with feed_defaults.copies_on_rx: false (the feed handlers
 *             drop the A/B copies, not the RX lcore as by default): its figures are
 *             named latency.*.copies_in_handler
 *
 * Figures are "BENCH <name> <value> <unit>" lines on stdout; commentary goes to stderr.
 */
#include "bench.h"
#include "chan.h"
#include "proto.h"
#include "stats.h"

#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

static uint64_t g_items = 2000000, g_warm = 10000;
static double g_rate = 1e6;
static int g_prod_cpu = 0, g_cons_cpu = 1;
static const char *g_mdmux, *g_gen;
static unsigned g_duration_ms = 500;
static bool g_copies; /* -x */

/* Highest latency the histograms track: 60 s (beyond: clamped, max stays exact). */
#define LAT_HIGHEST_NS 60000000000ull

static stats_hist_t *hist_or_die(void)
{
    stats_hist_t *h = stats_hist_create(1, LAT_HIGHEST_NS, STATS_HIST_SIGFIGS_DEFAULT);
    if (h == NULL)
        bench_die("stats_hist_create: %s", strerror(errno));
    return h;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != 0)
        bench_die("pthread_setaffinity_np(CPU %d): %s", cpu, strerror(rc));
}

static void print_row(const char *name, const stats_hist_t *h)
{
    char buf[256];
    stats_hist_format_row(h, name, buf, sizeof(buf));
    fprintf(stderr, "%s\n", buf);
}

/* ---- spsc: the bare hop ------------------------------------------------------------ */

struct hop {
    chs_t *c;
    uint64_t n, warm, hz;
    double rate;
    stats_hist_t *hop, *intended;
    uint64_t full, behind, negative;
    atomic_int ready, go;
};

static void *hop_producer(void *arg)
{
    struct hop *x = arg;
    md_rec_t rec;
    memset(&rec, 0, sizeof(rec));
    uint64_t full = 0, behind = 0;

    pin(g_prod_cpu);
    atomic_store_explicit(&x->ready, 1, memory_order_release);
    while (!atomic_load_explicit(&x->go, memory_order_acquire))
        __builtin_ia32_pause();
    /* The schedule: item i is due at start + i * hz / rate, computed from i (not from
     * the previous send), so a late send does not push the later ones back. */
    const uint64_t start = stats_tsc() + x->hz / 1000; /* 1 ms to settle */
    const uint64_t per_s = (uint64_t)x->rate;
    for (uint64_t i = 0; i < x->n; i++) {
        uint64_t due = start + (uint64_t)((unsigned __int128)i * x->hz / per_s);
        uint64_t now = stats_tsc();
        if (now > due)
            behind++;
        while (now < due) {
            __builtin_ia32_pause();
            now = stats_tsc();
        }
        rec.seq = i;
        rec.tsc_intended = due;
        /* The stamp right before the send that succeeds: time spent on a full ring
         * (a stalled consumer) is not the hop's; the intended latency shows it. */
        for (;;) {
            rec.tsc_rx = stats_tsc();
            if (chs_send_burst(x->c, &rec, 1) == 1)
                break;
            full++;
            __builtin_ia32_pause();
        }
    }
    x->full = full;
    x->behind = behind;
    return NULL;
}

static void *hop_consumer(void *arg)
{
    struct hop *x = arg;
    md_rec_t rec;
    uint64_t negative = 0;

    pin(g_cons_cpu);
    while (!atomic_load_explicit(&x->ready, memory_order_acquire))
        __builtin_ia32_pause();
    atomic_store_explicit(&x->go, 1, memory_order_release);
    for (uint64_t got = 0; got < x->n;) {
        if (chs_recv_burst(x->c, &rec, 1) == 0) {
            __builtin_ia32_pause(); /* as a poll loop does on an empty ring */
            continue;
        }
        uint64_t now = stats_tsc();
        if (rec.seq != got)
            bench_die("spsc hop: item %" PRIu64 " arrived as %" PRIu64, got, rec.seq);
        if (got++ < x->warm)
            continue;
        /* Cross-core TSC stamps: invariant TSCs agree to a few ticks; a receive stamp
         * that reads before the send stamp is counted and recorded as 0. */
        if (now < rec.tsc_rx) {
            negative++;
            stats_hist_record(x->hop, 0);
        } else {
            stats_hist_record(x->hop, stats_tsc_to_ns(now - rec.tsc_rx));
        }
        stats_hist_record(x->intended,
                          now > rec.tsc_intended ? stats_tsc_to_ns(now - rec.tsc_intended) : 0);
    }
    x->negative = negative;
    return NULL;
}

static void bench_spsc(void)
{
    struct hop x = {.n = g_items + g_warm, .warm = g_warm, .hz = co_tsc_hz(), .rate = g_rate};
    x.c = chs_new(sizeof(md_rec_t), 1024, -1);
    if (x.c == NULL)
        bench_die("chs_new: %s", strerror(errno));
    x.hop = hist_or_die();
    x.intended = hist_or_die();
    pthread_t tp, tc;
    if (pthread_create(&tc, NULL, hop_consumer, &x) != 0 ||
        pthread_create(&tp, NULL, hop_producer, &x) != 0)
        bench_die("pthread_create failed");
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);

    char hdr[256];
    stats_hist_format_header(hdr, sizeof(hdr));
    fprintf(stderr,
            "spsc hop: %" PRIu64 " records of %zu bytes at %.0f/s, CPU %d -> CPU %d, ns "
            "(send late %" PRIu64 ", ring full %" PRIu64 ", negative %" PRIu64 "):\n%s\n",
            g_items, sizeof(md_rec_t), g_rate, g_prod_cpu, g_cons_cpu, x.behind, x.full, x.negative,
            hdr);
    print_row("spsc_hop", x.hop);
    print_row("spsc_hop.intended", x.intended);
    bench_report("latency.spsc_hop.p50", (double)stats_hist_percentile(x.hop, 50), "ns");
    bench_report("latency.spsc_hop.p999", (double)stats_hist_percentile(x.hop, 99.9), "ns");
    bench_report("latency.spsc_hop.intended.p50", (double)stats_hist_percentile(x.intended, 50),
                 "ns");
    bench_report("latency.spsc_hop.intended.p999", (double)stats_hist_percentile(x.intended, 99.9),
                 "ns");
    stats_hist_free(x.hop);
    stats_hist_free(x.intended);
    chs_free(x.c);
}

/* ---- pipeline: mdmux replay at a fixed rate -------------------------------------- */

/* Run @p argv with stdout and stderr appended to @p log; its exit status (-1: none). */
static int run_cmd(char *const argv[], const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "bench_latency: %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void show_log(const char *log)
{
    FILE *f = fopen(log, "r");
    char line[512];
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f))
        fputs(line, stderr);
    fclose(f);
}

/*
 * The figures of @p stage: the latency JSON of the plan (latency.overall.<stage>, in
 * DIR/latency.json or under "latency" of the stats JSON), or, from an mdmux that
 * predates it, the latency tap's "latency_ns".<stage>. @p src names where it came from.
 */
static json_t *find_stage(json_t *lat_file, json_t *stats, const char *stage, const char **src)
{
    json_t *o;
    o = json_object_get(json_object_get(json_object_get(lat_file, "latency"), "overall"), stage);
    if (json_is_object(o)) {
        *src = "latency.json";
        return o;
    }
    o = json_object_get(json_object_get(json_object_get(stats, "latency"), "overall"), stage);
    if (json_is_object(o)) {
        *src = "stats.json latency";
        return o;
    }
    /* the tap's names: "rx->publish" for "rx_to_publish" */
    char tap[64];
    const char *to = strstr(stage, "_to_");
    if (to == NULL)
        return NULL;
    snprintf(tap, sizeof(tap), "%.*s->%s", (int)(to - stage), stage, to + 4);
    o = json_object_get(json_object_get(stats, "latency_ns"), tap);
    if (json_is_object(o)) {
        *src = "stats.json latency_ns (the interim latency tap)";
        return o;
    }
    return NULL;
}

static double jnum(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : -1;
}

/* -x: the generated configuration (no feed_defaults of its own) with the feed
   handlers dropping the A/B copies. */
static int append_copies_in_handler(const char *yaml)
{
    FILE *f = fopen(yaml, "a");
    if (f == NULL)
        return -1;
    fputs("feed_defaults: {copies_on_rx: false}\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

/* A figure of the pipeline: @p name, with -x's suffix. */
static void report_pl(const char *name, double v)
{
    char n[96];
    snprintf(n, sizeof(n), "%s%s", name, g_copies ? ".copies_in_handler" : "");
    bench_report(n, v, "ns");
}

static void bench_pipeline(void)
{
    if (g_mdmux == NULL || g_gen == NULL)
        bench_die("pipeline: needs -m MDMUX and -g MDMUX-GEN");
    char dir[] = "/tmp/mdmux-benchlat.XXXXXX";
    if (mkdtemp(dir) == NULL)
        bench_die("mkdtemp: %s", strerror(errno));
    char pcap[64], log[64], rep[64], latp[80], statp[80], dur[16], rate[32];
    snprintf(pcap, sizeof(pcap), "%s/lat.pcap", dir);
    snprintf(log, sizeof(log), "%s/out.txt", dir);
    snprintf(rep, sizeof(rep), "%s/report", dir);
    snprintf(latp, sizeof(latp), "%s/latency.json", rep);
    snprintf(statp, sizeof(statp), "%s/stats.json", rep);
    snprintf(dur, sizeof(dur), "%u", g_duration_ms);
    snprintf(rate, sizeof(rate), "%.0f", g_rate);
    mkdir(rep, 0755);

    char yaml[64];
    snprintf(yaml, sizeof(yaml), "%s/lat.yaml", dir);
    char *gen[] = {(char *)g_gen, "-o", pcap, "-q", "--duration-ms", dur, NULL};
    char *rep_argv[] = {
        (char *)g_mdmux, "replay", pcap, "--config", yaml, "--rate", rate, "--report", rep,
        "--no-progress", NULL};
    if (run_cmd(gen, log) != 0 || (g_copies && append_copies_in_handler(yaml) != 0) ||
        run_cmd(rep_argv, log) != 0) {
        show_log(log);
        bench_die("pipeline: a command failed (output above; files in %s)", dir);
    }

    json_t *stats = json_load_file(statp, 0, NULL);
    json_t *latf = json_load_file(latp, 0, NULL);
    if (stats == NULL)
        bench_die("pipeline: %s: not readable JSON", statp);
    const char *src = "?";
    json_t *rx = find_stage(latf, stats, "rx_to_publish", &src);
    if (rx == NULL) {
        show_log(log);
        bench_die("pipeline: no rx_to_publish latency in %s or %s", latp, statp);
    }
    json_t *pe = json_object_get(json_object_get(stats, "pacing"), "error_ns");
    fprintf(stderr,
            "pipeline: %s replayed at %s pps on two lcores, latency from %s: rx_to_publish "
            "count %.0f p50 %.0f p99 %.0f p99.9 %.0f max %.0f ns; pacing error p50 %.0f p99 "
            "%.0f ns\n",
            pcap, rate, src, jnum(rx, "count"), jnum(rx, "p50"), jnum(rx, "p99"), jnum(rx, "p999"),
            jnum(rx, "max"), jnum(pe, "p50"), jnum(pe, "p99"));
    report_pl("latency.rx_to_publish.p50", jnum(rx, "p50"));
    report_pl("latency.rx_to_publish.p999", jnum(rx, "p999"));
    json_t *in = find_stage(latf, stats, "intended_to_publish", &src);
    if (in != NULL && jnum(in, "count") != 0) {
        report_pl("latency.intended_to_publish.p50", jnum(in, "p50"));
        report_pl("latency.intended_to_publish.p999", jnum(in, "p999"));
    } else {
        fprintf(stderr, "pipeline: no intended_to_publish latency in the report (yet)\n");
    }
    json_decref(stats);
    json_decref(latf);
    unlink(pcap);
    char rm[128];
    snprintf(rm, sizeof(rm), "rm -rf '%s'", dir); /* mkdtemp's name: no quote inside */
    if (system(rm) != 0)
        fprintf(stderr, "bench_latency: could not remove %s\n", dir);
}

__attribute__((noreturn)) static void usage_exit(int status)
{
    fprintf(stderr,
            "usage: bench_latency [-n items] [-w warm] [-R rate] [-P cpu] [-C cpu]\n"
            "                     [-m mdmux] [-g mdmux-gen] [-d ms] [-x] [spsc] [pipeline]\n");
    exit(status);
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "n:w:R:P:C:m:g:d:xh")) != -1) {
        switch (c) {
        case 'n':
            g_items = bench_count(optarg);
            break;
        case 'w':
            g_warm = strcmp(optarg, "0") == 0 ? 0 : bench_count(optarg);
            break;
        case 'R':
            g_rate = (double)bench_count(optarg);
            break;
        case 'P':
            g_prod_cpu = atoi(optarg);
            break;
        case 'C':
            g_cons_cpu = atoi(optarg);
            break;
        case 'm':
            g_mdmux = optarg;
            break;
        case 'g':
            g_gen = optarg;
            break;
        case 'd':
            g_duration_ms = (unsigned)bench_count(optarg);
            break;
        case 'x':
            g_copies = true;
            break;
        case 'h':
            usage_exit(0);
        default:
            usage_exit(2);
        }
    }
    /* One calibration for the stamps and the conversions. */
    stats_clock_set_hz(co_tsc_hz());
    bool spsc = optind == argc, pipeline = optind == argc;
    for (int i = optind; i < argc; i++) {
        if (strcmp(argv[i], "spsc") == 0)
            spsc = true;
        else if (strcmp(argv[i], "pipeline") == 0)
            pipeline = true;
        else
            usage_exit(2);
    }
    /* The hop first, then the pipeline: the bare figure is taken on a machine the
     * replay has not yet warmed or disturbed. */
    if (spsc)
        bench_spsc();
    if (pipeline)
        bench_pipeline();
    return 0;
}
