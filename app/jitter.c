/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mdmux jitter: measure how much the OS takes from a pinned core, as sysjitter does.
 *
 * The thread pins itself to each CPU in turn and spins reading the TSC for S seconds.
 * In a quiet core two consecutive reads are a few ns apart; any longer gap is time the
 * core spent elsewhere (an interrupt, a softirq, the scheduler tick, another task, an
 * SMI or a hypervisor steal). Every gap goes into a lib/stats histogram (ns); those
 * over the threshold are also listed (the first JIT_MAX_LISTED, with their offset from
 * the start) and counted. No DPDK: the EAL is never initialised, so this runs on a box
 * before mdmux is configured for it.
 */
#include "jitter.h"

#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <jansson.h>

#include "app.h"
#include "stats.h"

/** Interruptions kept per CPU with their offset; the rest are only counted. */
#define JIT_MAX_LISTED 10000u

/** Highest gap the histogram tracks exactly: 1 h (a longer one is clamped, still max). */
#define JIT_HIST_HIGHEST_NS 3600000000000ull

/** One interruption: when it started (ns after the start of the loop) and how long. */
typedef struct jit_gap {
    uint64_t t_ns;
    uint64_t ns;
} jit_gap_t;

/** What one CPU's run measured. */
typedef struct jit_cpu {
    int cpu;
    bool isolated;  /**< listed in /sys/devices/system/cpu/isolated (isolcpus) */
    bool nohz_full; /**< listed in /sys/devices/system/cpu/nohz_full */
    uint64_t elapsed_ns;
    stats_hist_t *hist; /**< every gap between consecutive reads, ns */
    uint64_t count;     /**< interruptions: gaps over the threshold */
    uint64_t lost_ns;   /**< sum of those gaps */
    unsigned listed;    /**< entries in gaps[] (the first min(count, JIT_MAX_LISTED)) */
    jit_gap_t *gaps;
} jit_cpu_t;

/** The command line. */
typedef struct jit_opts {
    cpu_set_t cpus;
    bool has_cpus;
    double seconds;
    uint64_t threshold_ns;
    unsigned list; /**< interruptions printed per CPU */
    const char *json;
} jit_opts_t;

static const char jitter_usage[] =
    "usage: mdmux jitter [--cpu LIST] [--seconds S] [--threshold-ns T] [--list N]\n"
    "                    [--json FILE]\n"
    "\n"
    "Pins a thread to each CPU of LIST in turn (default: every CPU this process may\n"
    "use), spins reading the TSC for S seconds (default 10) and reports the gaps\n"
    "between consecutive reads: a histogram, and every interruption longer than T ns\n"
    "(default 1000) with its time and duration. Run it on the data-path cores before\n"
    "go-live (docs/latency.md, \"Profiling a deployment\"). No DPDK, no configuration.\n"
    "\n"
    "  --cpu LIST        CPUs to test, e.g. 3 or 2,3 or 2-5\n"
    "  --seconds S       seconds per CPU, > 0 (default 10)\n"
    "  --threshold-ns T  a gap longer than T ns is an interruption (default 1000)\n"
    "  --list N          interruptions printed per CPU (default 20; JSON has up to 10000)\n"
    "  --json FILE       write the figures as JSON\n";

static int jit_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "mdmux jitter: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(mdmux jitter --help for usage)\n");
    return APP_EXIT_USAGE;
}

/* Parse "3", "2,3", "2-5,7" into @p set; -1 when malformed or out of range. */
static int parse_cpu_list(const char *s, cpu_set_t *set)
{
    CPU_ZERO(set);
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        unsigned long lo = strtoul(p, &end, 10), hi = lo;
        if (errno || end == p || *p == '-' || *p == '+')
            return -1;
        p = end;
        if (*p == '-') {
            p++;
            hi = strtoul(p, &end, 10);
            if (errno || end == p || *p == '-' || *p == '+')
                return -1;
            p = end;
        }
        if (lo > hi || hi >= CPU_SETSIZE)
            return -1;
        for (unsigned long c = lo; c <= hi; c++)
            CPU_SET((int)c, set);
        if (*p == '\0')
            return 0;
        if (*p++ != ',')
            return -1;
    }
}

/* A positive number within (0, max]; -1 otherwise. */
static int parse_positive(const char *s, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v > 0) || v > max)
        return -1;
    *out = v;
    return 0;
}

enum { OPT_J_CPU = 300, OPT_J_SECONDS, OPT_J_THRESHOLD, OPT_J_LIST, OPT_J_JSON };

static const struct option jit_long_opts[] = {
    {"cpu", required_argument, NULL, OPT_J_CPU},
    {"seconds", required_argument, NULL, OPT_J_SECONDS},
    {"threshold-ns", required_argument, NULL, OPT_J_THRESHOLD},
    {"list", required_argument, NULL, OPT_J_LIST},
    {"json", required_argument, NULL, OPT_J_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parse the options into @p o; 0, or an exit status (-1: --help was printed). */
static int jit_parse(jit_opts_t *o, int argc, char **argv)
{
    int ch;
    double v;
    optind = 1;
    opterr = 0; /* our own messages, with the exit status of a usage error */
    while ((ch = getopt_long(argc, argv, "h", jit_long_opts, NULL)) != -1) {
        switch (ch) {
        case OPT_J_CPU:
            if (parse_cpu_list(optarg, &o->cpus) < 0)
                return jit_usage_error("--cpu '%s': expected a CPU list like 3, 2,3 or 2-5",
                                       optarg);
            o->has_cpus = true;
            break;
        case OPT_J_SECONDS:
            if (parse_positive(optarg, 86400, &v) < 0)
                return jit_usage_error("--seconds '%s': expected a number of seconds, > 0", optarg);
            o->seconds = v;
            break;
        case OPT_J_THRESHOLD:
            if (parse_positive(optarg, 1e12, &v) < 0 || v != (double)(uint64_t)v)
                return jit_usage_error("--threshold-ns '%s': expected a whole number of ns, "
                                       "> 0",
                                       optarg);
            o->threshold_ns = (uint64_t)v;
            break;
        case OPT_J_LIST:
            if (strcmp(optarg, "0") == 0)
                v = 0;
            else if (parse_positive(optarg, JIT_MAX_LISTED, &v) < 0 || v != (unsigned)v)
                return jit_usage_error("--list '%s': expected a whole number, 0..10000", optarg);
            o->list = (unsigned)v;
            break;
        case OPT_J_JSON:
            o->json = optarg;
            break;
        case 'h':
            fputs(jitter_usage, stdout);
            return -1;
        default:
            if (optopt)
                return jit_usage_error("bad option or missing value (%s)", argv[optind - 1]);
            return jit_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return jit_usage_error("unexpected argument '%s'", argv[optind]);
    return 0;
}

/* True when @p cpu is in the kernel's CPU list file @p path (e.g. "1-3,5"). */
static bool cpu_in_sysfs_list(const char *path, int cpu)
{
    char buf[1024];
    cpu_set_t set;
    if (!cfg_read_cpu_file(path, buf, sizeof(buf)))
        return false;
    return buf[0] != '\0' && parse_cpu_list(buf, &set) == 0 && CPU_ISSET(cpu, &set);
}

/* @p ticks in ns with the 32.32 multiplier @p mul: the one conversion of every figure
 * of a run, so a listed gap, its histogram bucket and the run's length agree. */
static inline uint64_t jit_ns(uint64_t ticks, uint64_t mul)
{
    return (uint64_t)(((unsigned __int128)ticks * mul) >> 32);
}

/*
 * The measurement loop. Kept out of line and free of calls so that the gap between two
 * reads is the loop's own cost (a few ns) unless something takes the core away. The
 * conversion to ns is a fixed-point multiply (no division, no call); an interruption is
 * a gap whose ns value, as recorded, is over the threshold.
 */
__attribute__((noinline)) static void jit_spin(jit_cpu_t *r, uint64_t ticks, uint64_t thr_ns,
                                               uint64_t mul)
{
    stats_hist_t *h = r->hist;
    jit_gap_t *gaps = r->gaps;
    uint64_t count = 0, lost = 0;
    unsigned listed = 0;
    const uint64_t start = stats_tsc(), end = start + ticks;
    uint64_t prev = start;
    for (;;) {
        uint64_t now = stats_tsc();
        uint64_t ns = jit_ns(now - prev, mul);
        stats_hist_record(h, ns);
        if (__builtin_expect(ns > thr_ns, 0)) {
            count++;
            lost += ns;
            if (listed < JIT_MAX_LISTED) {
                gaps[listed].t_ns = prev - start; /* ticks for now: converted below */
                gaps[listed].ns = ns;
                listed++;
            }
        }
        prev = now;
        if (__builtin_expect(now >= end, 0))
            break;
    }
    r->elapsed_ns = jit_ns(prev - start, mul);
    r->count = count;
    r->lost_ns = lost;
    r->listed = listed;
    for (unsigned i = 0; i < listed; i++)
        gaps[i].t_ns = jit_ns(gaps[i].t_ns, mul);
}

/* Pin to @p r->cpu and measure; 0, or -1 with the reason on stderr. */
static int jit_run_cpu(jit_cpu_t *r, const jit_opts_t *o)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(r->cpu, &one);
    if (sched_setaffinity(0, sizeof(one), &one) != 0) {
        fprintf(stderr, "mdmux jitter: cannot pin to CPU %d: %s\n", r->cpu, strerror(errno));
        return -1;
    }
    /* sched_setaffinity() migrates the calling thread before it returns; check anyway,
     * since a measurement on the wrong core would look plausible and be worthless. */
    if (sched_getcpu() != r->cpu) {
        fprintf(stderr, "mdmux jitter: pinned to CPU %d but running on %d\n", r->cpu,
                sched_getcpu());
        return -1;
    }
    r->isolated = cpu_in_sysfs_list("/sys/devices/system/cpu/isolated", r->cpu);
    r->nohz_full = cpu_in_sysfs_list("/sys/devices/system/cpu/nohz_full", r->cpu);

    uint64_t hz = stats_tsc_hz();
    /* ns = ticks * 10^9 / hz as (ticks * mul) >> 32 */
    uint64_t mul = (uint64_t)(((unsigned __int128)1000000000u << 32) / hz);
    uint64_t ticks = (uint64_t)(o->seconds * (double)hz);
    /* Warm up for 50 ms, unrecorded: the core leaves its idle state and reaches its
     * clock, and the loop's code and the histogram's hot counters are in cache, so the
     * first gaps are not charged to the OS. The histogram's memory was zeroed (touched)
     * at creation and the list below is touched now: no page fault inside the loop. */
    memset(r->gaps, 0, JIT_MAX_LISTED * sizeof(*r->gaps));
    jit_spin(r, stats_ns_to_tsc(50000000), o->threshold_ns, mul);
    stats_hist_reset(r->hist);
    jit_spin(r, ticks, o->threshold_ns, mul);
    return 0;
}

/* "1 µs", "2.5 µs" or "800 ns": thresholds and durations in the advisory. */
static const char *fmt_ns(uint64_t ns, char *buf, size_t n)
{
    if (ns >= 1000000)
        snprintf(buf, n, "%.3g ms", (double)ns / 1e6);
    else if (ns >= 1000)
        snprintf(buf, n, "%.3g \u00b5s", (double)ns / 1e3);
    else
        snprintf(buf, n, "%" PRIu64 " ns", ns);
    return buf;
}

/* The text report of one CPU, advisory included. */
static void jit_print(const jit_cpu_t *r, const jit_opts_t *o)
{
    stats_summary_t s;
    char thr[32], lng[32];
    stats_hist_summary(r->hist, &s);
    double secs = (double)r->elapsed_ns / 1e9;
    double pct = r->elapsed_ns ? 100.0 * (double)r->lost_ns / (double)r->elapsed_ns : 0;
    double per_s = secs > 0 ? (double)r->count / secs : 0;

    printf("CPU %d: %.3f s, %" PRIu64 " loop iterations (isolcpus: %s, nohz_full: %s)\n", r->cpu,
           secs, s.count, r->isolated ? "yes" : "no", r->nohz_full ? "yes" : "no");
    printf("  gap ns: min %" PRIu64 "  p50 %" PRIu64 "  p99 %" PRIu64 "  p99.9 %" PRIu64
           "  p99.99 %" PRIu64 "  max %" PRIu64 "  mean %.1f\n",
           s.min, s.p50, s.p99, s.p999, s.p9999, s.max, s.mean);
    printf("  interruptions > %s: %" PRIu64 ", %.3f ms lost (%.3f %% of time), %.1f/s\n",
           fmt_ns(o->threshold_ns, thr, sizeof(thr)), r->count, (double)r->lost_ns / 1e6, pct,
           per_s);
    unsigned show = r->listed < o->list ? r->listed : o->list;
    if (show > 0) {
        printf("  %s %u of %" PRIu64 ":       at ms    duration ns\n",
               show < r->count ? "first" : "all", show, r->count);
        for (unsigned i = 0; i < show; i++)
            printf("    %26.3f %14" PRIu64 "\n", (double)r->gaps[i].t_ns / 1e6, r->gaps[i].ns);
    }

    /* The advisory: what to look at, from the figures and the kernel's own lists. */
    printf("  advisory: CPU %d: ", r->cpu);
    if (r->count == 0) {
        printf("no interruption > %s in %.3g s: quiet enough for a data-path core\n", thr, secs);
        return;
    }
    printf("%" PRIu64 " interruptions > %s in %.3g s (%.2g %% of time)", r->count, thr, secs, pct);
    if (!r->isolated || !r->nohz_full)
        printf(": check isolcpus/nohz_full/irqaffinity");
    else
        printf(": isolated and nohz_full, so check irqaffinity (/proc/irq/*/"
               "smp_affinity_list), rcu_nocbs and tasks pinned there");
    if (s.max >= 100000)
        printf("; the longest (%s) is a preemption, an SMI or a hypervisor steal, not an "
               "interrupt handler",
               fmt_ns(s.max, lng, sizeof(lng)));
    printf("\n");
}

/* The JSON object of one CPU's figures. */
static json_t *jit_json_cpu(const jit_cpu_t *r, const jit_opts_t *o)
{
    stats_summary_t s;
    stats_hist_summary(r->hist, &s);
    double secs = (double)r->elapsed_ns / 1e9;
    json_t *hist = json_array(), *list = json_array();
    stats_iter_t it;
    stats_iter_buckets(&it, r->hist);
    while (stats_iter_next(&it))
        json_array_append_new(hist, json_pack("[I,I]", (json_int_t)it.value, (json_int_t)it.count));
    for (unsigned i = 0; i < r->listed; i++)
        json_array_append_new(list, json_pack("{s:I,s:I}", "t_ns", (json_int_t)r->gaps[i].t_ns,
                                              "ns", (json_int_t)r->gaps[i].ns));
    json_t *ints =
        json_pack("{s:I,s:I,s:I,s:f,s:f,s:o}", "count", (json_int_t)r->count, "listed",
                  (json_int_t)r->listed, "lost_ns", (json_int_t)r->lost_ns, "lost_pct",
                  r->elapsed_ns ? 100.0 * (double)r->lost_ns / (double)r->elapsed_ns : 0.0, "per_s",
                  secs > 0 ? (double)r->count / secs : 0.0, "list", list);
    json_t *c =
        json_pack("{s:i,s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "cpu", r->cpu,
                  "isolated", r->isolated, "nohz_full", r->nohz_full, "elapsed_ns",
                  (json_int_t)r->elapsed_ns, "iterations", (json_int_t)s.count, "threshold_ns",
                  (json_int_t)o->threshold_ns, "min", (json_int_t)s.min, "p50", (json_int_t)s.p50,
                  "p90", (json_int_t)s.p90, "p99", (json_int_t)s.p99, "p999", (json_int_t)s.p999,
                  "p9999", (json_int_t)s.p9999, "max", (json_int_t)s.max, "mean", s.mean);
    json_object_set_new(c, "interruptions", ints);
    json_object_set_new(c, "histogram", hist);
    return c;
}

int app_jitter(int argc, char **argv)
{
    jit_opts_t o = {.seconds = 10, .threshold_ns = 1000, .list = 20};
    int rc = jit_parse(&o, argc, argv);
    if (rc != 0)
        return rc < 0 ? APP_EXIT_OK : rc;

    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
        fprintf(stderr, "mdmux jitter: sched_getaffinity: %s\n", strerror(errno));
        return APP_EXIT_FAIL;
    }
    if (!o.has_cpus)
        o.cpus = allowed;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &o.cpus) && !CPU_ISSET(c, &allowed)) {
            char cs[16];
            snprintf(cs, sizeof(cs), "%d", c);
            return jit_usage_error("--cpu: CPU %s is not one this process may run on", cs);
        }

    /* Best effort: a page-in during the loop would be charged to the OS. Without the
     * privilege (RLIMIT_MEMLOCK) it fails, and the pre-touched memory has to do. */
    (void)mlockall(MCL_CURRENT | MCL_FUTURE);

    uint64_t hz = stats_tsc_hz();
    stats_clock_cost_t cost;
    stats_clock_cost(&cost, 0);
    printf("mdmux jitter: %.3g s per CPU, interruption = gap > %" PRIu64
           " ns, TSC %.3f GHz, rdtsc pair %.1f ns\n",
           o.seconds, o.threshold_ns, (double)hz / 1e9, cost.rdtsc_ns);

    json_t *cpus = json_array();
    rc = APP_EXIT_OK;
    jit_cpu_t r = {0};
    r.hist = stats_hist_create(1, JIT_HIST_HIGHEST_NS, STATS_HIST_SIGFIGS_DEFAULT);
    r.gaps = malloc(JIT_MAX_LISTED * sizeof(*r.gaps));
    if (r.hist == NULL || r.gaps == NULL) {
        fprintf(stderr, "mdmux jitter: out of memory\n");
        rc = APP_EXIT_FAIL;
        goto out;
    }
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &o.cpus))
            continue;
        r.cpu = c;
        stats_hist_reset(r.hist);
        if (jit_run_cpu(&r, &o) < 0) {
            rc = APP_EXIT_FAIL;
            goto out;
        }
        jit_print(&r, &o);
        fflush(stdout);
        json_array_append_new(cpus, jit_json_cpu(&r, &o));
    }
    if (o.json != NULL) {
        json_t *root = json_pack("{s:{s:s,s:f,s:I,s:I,s:f,s:O}}", "jitter", "unit", "ns", "seconds",
                                 o.seconds, "threshold_ns", (json_int_t)o.threshold_ns, "tsc_hz",
                                 (json_int_t)hz, "read_cost_ns", cost.rdtsc_ns, "cpus", cpus);
        if (root == NULL || json_dump_file(root, o.json, JSON_INDENT(1)) != 0) {
            fprintf(stderr, "mdmux jitter: cannot write %s\n", o.json);
            rc = APP_EXIT_FAIL;
        }
        json_decref(root);
    }
out:
    json_decref(cpus);
    stats_hist_free(r.hist);
    free(r.gaps);
    return rc;
}
