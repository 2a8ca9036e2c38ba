/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mdmux: the command line. Parses the subcommand and its options, loads the
 * configuration (or finds the generator's sibling .yaml for a capture), applies the
 * command line's overrides and hands over to app_run().
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "jitter.h"

#ifndef MDMUX_VERSION
#define MDMUX_VERSION "unknown"
#endif

static const char usage_text[] =
    "usage:\n"
    "  mdmux replay CAPTURE [--config FILE] [--speed max|1|N] [--rate PPS] [--loop N]\n"
    "                    [--max-gap-ms N] [--lossless] [--dump FILE] [--report DIR] [--shm PATH] "
    "[--stats-json "
    "FILE]\n"
    "                    [--progress|--no-progress] [--drain-timeout MS] [--fault SPEC]...\n"
    "                    [-- EAL ARGS]\n"
    "  mdmux run --config FILE [--dump FILE] [--report DIR] [--shm PATH]\n"
    "                    [--stats-json FILE] [--drain-timeout MS] [--fault SPEC]...\n"
    "                    [-- EAL ARGS]\n"
    "  mdmux check-config CONFIG [--target-cpus N|LIST]\n"
    "  mdmux jitter [--cpu LIST] [--seconds S] [--threshold-ns T] [--json FILE]\n"
    "  mdmux --help | --version\n"
    "\n"
    "replay  plays a pcap capture (ns or us) through a net_pcap port into the feed\n"
    "        handlers and the mux, then prints per-feed counts and latencies. Without\n"
    "        -c it reads the capture's sibling configuration (x.pcap -> x.yaml, as\n"
    "        tools/gen writes it); without that, every UDP destination in the capture\n"
    "        becomes a single-line MoldUDP64/ITCH feed named address:port.\n"
    "run     opens the configured ports and runs until SIGINT or SIGTERM.\n"
    "check-config  validates a configuration without starting anything, for this host\n"
    "        (its CPUs, the shm group) or, with --target-cpus, for a host with those CPUs.\n"
    "jitter  measures how much the OS interrupts pinned cores (mdmux jitter --help).\n"
    "\n"
    "options:\n"
    "  -c, --config FILE    configuration (YAML, docs/configuration.md)\n"
    "  --speed N|max        replay pace: capture timestamps times N, or top speed\n"
    "  --rate PPS           replay at a fixed rate of PPS packets/s\n"
    "  --loop N             play the capture N times (default 1)\n"
    "  --max-gap-ms N       replay a capture gap above N ms as N ms (default 1000; 0: as\n"
    "                       recorded)\n"
    "  --lossless           a full channel makes the replay wait instead of dropping\n"
    "  --dump FILE          write the merged stream as JSON Lines (lossless)\n"
    "  --report DIR         write DIR/stats.json, summary.txt, latency.json, latency.txt\n"
    "                       and report.html (plots)\n"
    "                       at the end (latency.*: also on SIGUSR1, without stopping)\n"
    "  --latency-interval MS  latency time-series interval (default 100 ms;\n"
    "                       latency.interval_ms)\n"
    "  --latency-points N   points kept per latency series, then downsampled\n"
    "                       (default 4096; latency.series_points)\n"
    "  --verbose            per-feed latency table on stdout too (always with <= 10 feeds)\n"
    "  --shm PATH           publish the merged stream on a shared-memory ring at PATH\n"
    "                       (run: default /dev/shm/mdmux; replay: none unless asked)\n"
    "  --stats-json FILE    write the final counters as JSON\n"
    "  --metrics ADDR:PORT  serve Prometheus metrics on http://ADDR:PORT/metrics\n"
    "                       (PORT alone: 127.0.0.1)\n"
    "  --telemetry          keep DPDK telemetry on, with the /mdmux/... commands\n"
    "  --progress           progress line even when stderr is not a terminal\n"
    "  --no-progress        no progress output\n"
    "  --drain-timeout MS   on SIGINT/SIGTERM, drain for at most MS ms, then cancel what\n"
    "                       is left (default 10000; shutdown.drain_timeout_ms)\n"
    "  --stall-dump-after N (tests) the dump writer stops after N records until the\n"
    "                       drain timeout cancels it\n"
    "  --fault SPEC         inject a fault into one feed's handler (tests; repeatable):\n"
    "                       feed=NAME,kind=panic|stall|slow[,after=N][,count=K][,ms=M][,ns=S]\n"
    "                       (docs/feed.md, \"Fault injection\"; replaces the file's faults:\n"
    "                       entry for that feed)\n"
    "  --target-cpus N|LIST check-config: the lcores must be CPUs of a target host with\n"
    "                       CPUs 0..N-1 or LIST (its /sys/devices/system/cpu/online)\n"
    "                       instead of this host's; the shm group is not looked up\n"
    "  -- EAL ARGS          extra DPDK EAL arguments (after the configured ones)\n"
    "\n"
    "exit status: 0 ok, 1 run error (capture, port, EAL), 2 usage or configuration error\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "mdmux: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(mdmux --help for usage)\n");
    return APP_EXIT_USAGE;
}

/* Parse a non-negative number option; -1 if @p s is not one. */
static int parse_number(const char *s, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v >= 0) || v > max)
        return -1;
    *out = v;
    return 0;
}

enum {
    OPT_SPEED = 256,
    OPT_RATE,
    OPT_LOOP,
    OPT_MAX_GAP,
    OPT_LOSSLESS,
    OPT_STATS,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
    OPT_DUMP,
    OPT_REPORT,
    OPT_SHM,
    OPT_METRICS,
    OPT_TELEMETRY,
    OPT_LAT_INTERVAL,
    OPT_LAT_POINTS,
    OPT_VERBOSE,
    OPT_DRAIN_TIMEOUT,
    OPT_STALL_DUMP,
    OPT_FAULT,
    OPT_TARGET_CPUS
};

/* check-config --target-cpus: the target host's CPUs (NULL: this host). */
static const char *target_cpus;

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"speed", required_argument, NULL, OPT_SPEED},
    {"rate", required_argument, NULL, OPT_RATE},
    {"loop", required_argument, NULL, OPT_LOOP},
    {"max-gap-ms", required_argument, NULL, OPT_MAX_GAP},
    {"lossless", no_argument, NULL, OPT_LOSSLESS},
    {"stats-json", required_argument, NULL, OPT_STATS},
    {"dump", required_argument, NULL, OPT_DUMP},
    {"report", required_argument, NULL, OPT_REPORT},
    {"shm", required_argument, NULL, OPT_SHM},
    {"metrics", required_argument, NULL, OPT_METRICS},
    {"telemetry", no_argument, NULL, OPT_TELEMETRY},
    {"latency-interval", required_argument, NULL, OPT_LAT_INTERVAL},
    {"latency-points", required_argument, NULL, OPT_LAT_POINTS},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"target-cpus", required_argument, NULL, OPT_TARGET_CPUS},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
    {"stall-dump-after", required_argument, NULL, OPT_STALL_DUMP},
    {"fault", required_argument, NULL, OPT_FAULT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option of a subcommand; returns 0 or an exit status. */
static int take_option(app_opts_t *o, int ch, const char *arg)
{
    double v;
    cfg_pace_t pace;
    switch (ch) {
    case 'c':
        o->config = arg;
        return 0;
    case OPT_SPEED:
        if (cfg_parse_speed(arg, &pace, &v) < 0)
            return usage_error("--speed '%s': expected max or a positive multiplier", arg);
        o->speed = arg;
        return 0;
    case OPT_RATE:
        if (parse_number(arg, 1e9, &v) < 0 || v <= 0)
            return usage_error("--rate '%s': expected packets/s, > 0", arg);
        o->rate = v;
        o->has_rate = true;
        return 0;
    case OPT_LOOP:
        if (parse_number(arg, 1e9, &v) < 0 || v != (unsigned)v || v < 1)
            return usage_error("--loop '%s': expected a whole number >= 1", arg);
        o->loop = (unsigned)v;
        o->has_loop = true;
        return 0;
    case OPT_MAX_GAP:
        if (parse_number(arg, 4e9, &v) < 0 || v != (unsigned)v)
            return usage_error("--max-gap-ms '%s': expected a whole number of ms (0: no limit)",
                               arg);
        o->max_gap_ms = (unsigned)v;
        o->has_max_gap = true;
        return 0;
    case OPT_LOSSLESS:
        o->lossless = true;
        return 0;
    case OPT_STATS:
        o->stats_json = arg;
        return 0;
    case OPT_DUMP:
        o->dump = arg;
        return 0;
    case OPT_REPORT:
        o->report_dir = arg;
        return 0;
    case OPT_SHM:
        o->shm = arg;
        return 0;
    case OPT_METRICS: {
        uint32_t a;
        uint16_t port;
        if (cfg_parse_listen(arg, &a, &port) < 0)
            return usage_error("--metrics '%s': expected ADDR:PORT (IPv4) or PORT", arg);
        o->metrics = arg;
        return 0;
    }
    case OPT_TELEMETRY:
        o->telemetry = true;
        return 0;
    case OPT_LAT_INTERVAL:
        /* each interval costs the control lcore (often the mux's) a pass over every
           overall counter: a floor of 20 ms keeps that well under 1 % */
        if (parse_number(arg, 3600000, &v) < 0 || v != (unsigned)v || v < 20)
            return usage_error("--latency-interval '%s': expected whole ms, 20 .. 3600000", arg);
        o->latency_interval_ms = (unsigned)v;
        return 0;
    case OPT_LAT_POINTS:
        if (parse_number(arg, CFG_LATENCY_POINTS_MAX, &v) < 0 || v != (unsigned)v ||
            v < CFG_LATENCY_POINTS_MIN || (unsigned)v % 2)
            return usage_error("--latency-points '%s': expected an even number, 4 .. 1048576", arg);
        o->latency_points = (unsigned)v;
        return 0;
    case OPT_VERBOSE:
        o->verbose = true;
        return 0;
    case OPT_TARGET_CPUS: {
        bool set[CFG_MAX_LCORES];
        if (cfg_parse_cpus(arg, set) < 0)
            return usage_error("--target-cpus '%s': expected a CPU count N or a list such as "
                               "0-15,32-47",
                               arg);
        target_cpus = arg;
        return 0;
    }
    case OPT_PROGRESS:
        o->progress = 1;
        return 0;
    case OPT_NO_PROGRESS:
        o->progress = 0;
        return 0;
    case OPT_DRAIN_TIMEOUT:
        if (parse_number(arg, CFG_DRAIN_TIMEOUT_MS_MAX, &v) < 0 || v != (unsigned)v)
            return usage_error("--drain-timeout '%s': expected whole ms, 0 .. 3600000", arg);
        o->drain_timeout_ms = (unsigned)v;
        o->has_drain_timeout = true;
        return 0;
    case OPT_STALL_DUMP:
        if (parse_number(arg, 1e15, &v) < 0 || v != (uint64_t)v)
            return usage_error("--stall-dump-after '%s': expected a whole number of records", arg);
        o->stall_dump_after = (uint64_t)v;
        o->has_stall_dump = true;
        return 0;
    case OPT_FAULT:
        /* checked against the feeds once the configuration is loaded */
        if (o->nfaults == APP_FAULTS_MAX)
            return usage_error("--fault '%s': too many --fault options", arg);
        o->faults[o->nfaults++] = arg;
        return 0;
    case 'h':
        fputs(usage_text, stdout);
        exit(APP_EXIT_OK);
    default:
        return usage_error("%s", "bad option");
    }
}

/* Options of the subcommand in argv[0..argc); everything after `--` goes to the EAL. */
static int parse_args(app_opts_t *o, int argc, char **argv)
{
    int ch, rc, end = 1;
    while (end < argc && strcmp(argv[end], "--") != 0)
        end++;
    if (end < argc) {
        o->eal_args = &argv[end + 1];
        o->neal_args = argc - end - 1;
    }
    optind = 1;
    /* GNU getopt permutes, so options may follow the capture file */
    while ((ch = getopt_long(end, argv, "c:h", long_opts, NULL)) != -1)
        if ((rc = take_option(o, ch, optarg)) != 0)
            return rc;
    for (int i = optind; i < end; i++) {
        if (o->capture != NULL)
            return usage_error("unexpected argument '%s'", argv[i]);
        o->capture = argv[i];
    }
    return 0;
}

/* The generator's sibling configuration of @p capture: "x.pcap" -> "x.yaml". */
static char *sibling_config(const char *capture)
{
    size_t n = strlen(capture);
    char *p = malloc(n + 6);
    if (p == NULL)
        return NULL;
    memcpy(p, capture, n + 1);
    char *dot = strrchr(p, '.');
    if (dot != NULL && strchr(dot, '/') == NULL && strcmp(dot, ".pcap") == 0)
        *dot = '\0';
    strcat(p, ".yaml");
    return p;
}

/* Apply the command line's overrides to @p c; an exit status (a bad --fault: usage). */
static int override(const app_opts_t *o, cfg_t *c, char *err, size_t errlen)
{
    for (unsigned i = 0; i < o->nfaults; i++)
        if (cfg_add_fault(c, o->faults[i], err, errlen) < 0)
            return APP_EXIT_USAGE;
    if (o->speed) {
        cfg_parse_speed(o->speed, &c->replay.pace, &c->replay.speed);
        snprintf(c->replay.speed_text, sizeof(c->replay.speed_text), "%s", o->speed);
    }
    if (o->has_rate) {
        c->replay.pace = CFG_PACE_RATE;
        c->replay.rate = o->rate;
    }
    if (o->has_loop)
        c->replay.loop = o->loop;
    if (o->has_max_gap)
        c->replay.max_gap_ns = cfg_max_gap_ns(o->max_gap_ms);
    if (o->lossless)
        c->replay.lossless = true;
    if (o->has_drain_timeout)
        c->shutdown.drain_timeout_ms = o->drain_timeout_ms;
    if (o->latency_interval_ms)
        c->latency.interval_ms = o->latency_interval_ms;
    if (o->latency_points)
        c->latency.series_points = o->latency_points;
    return APP_EXIT_OK;
}

static int check_config(const app_opts_t *o)
{
    char err[8192];
    bool target[CFG_MAX_LCORES];
    cfg_t *c = cfg_load(o->config, err, sizeof(err));
    if (c == NULL) {
        fputs(err, stderr);
        return APP_EXIT_USAGE;
    }
    if (target_cpus)
        cfg_parse_cpus(target_cpus, target);
    if (cfg_check_host(c, target_cpus ? target : NULL, err, sizeof(err)) < 0) {
        fputs(err, stderr);
        cfg_free(c);
        return APP_EXIT_USAGE;
    }
    printf("%s: ok: %u feeds, %u ports, %u rx entries, lcores %s (control %u, %u handler "
           "lcores), %u channel slots; %s\n",
           c->path, c->nfeeds, c->nports, c->nrx, c->eal.lcores, c->control, c->nhandlers,
           c->channel_slots,
           target_cpus ? "checked for a host with --target-cpus (shm group not looked up)"
                       : "checked for this host");
    cfg_free(c);
    return APP_EXIT_OK;
}

/* No configuration: feeds from the capture's UDP destinations (app_autofeed_yaml). */
static cfg_t *auto_config(app_opts_t *o, char *err, size_t errlen)
{
    unsigned n;
    char *yaml = app_autofeed_yaml(o->capture, &n, err, errlen);
    if (yaml == NULL)
        return NULL;
    char name[64];
    snprintf(name, sizeof(name), "(feeds of the capture)");
    cfg_t *c = cfg_parse(yaml, strlen(yaml), name, err, errlen);
    free(yaml);
    if (c != NULL) {
        o->auto_feeds = true;
        fprintf(stderr, "mdmux: no configuration: %u single-line feeds, one per UDP destination\n",
                n);
    }
    return c;
}

/* The configuration of this run: -c, the capture's sibling, or the capture's feeds. */
static cfg_t *find_config(app_opts_t *o, char **sibling, char *err, size_t errlen)
{
    if (o->cmd == APP_REPLAY && o->config == NULL) {
        *sibling = sibling_config(o->capture);
        if (*sibling == NULL || access(*sibling, R_OK) != 0) {
            if (access(o->capture, R_OK) != 0) {
                snprintf(err, errlen, "mdmux: replay %s: %s\n", o->capture, strerror(errno));
                return NULL;
            }
            return auto_config(o, err, errlen);
        }
        o->config = *sibling;
    }
    return cfg_load(o->config, err, errlen);
}

/* Find the configuration, load it and run. */
static int load_and_run(app_opts_t *o)
{
    char *sibling = NULL;
    char err[8192];
    int rc;

    cfg_t *c = find_config(o, &sibling, err, sizeof(err));
    if (c == NULL) {
        fputs(err, stderr);
        if (err[0] && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        free(sibling);
        /* no configuration came from a file: the capture itself is what failed */
        return o->config == NULL ? APP_EXIT_FAIL : APP_EXIT_USAGE;
    }
    if (cfg_check_host(c, NULL, err, sizeof(err)) < 0) {
        fputs(err, stderr);
        rc = APP_EXIT_USAGE;
    } else {
        rc = override(o, c, err, sizeof(err));
        if (rc != APP_EXIT_OK)
            fprintf(stderr, "mdmux: %s\n", err);
        else
            rc = app_run(o, c);
    }
    cfg_free(c);
    free(sibling);
    return rc;
}

int main(int argc, char **argv)
{
    app_opts_t o = {.progress = -1};
    int rc;

    if (argc < 2)
        return usage_error("%s", "missing command");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return APP_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("mdmux %s\n", MDMUX_VERSION);
        return APP_EXIT_OK;
    }
    if (strcmp(cmd, "jitter") == 0)
        return app_jitter(argc - 1, argv + 1); /* its own options; no configuration, no EAL */
    if (strcmp(cmd, "replay") == 0)
        o.cmd = APP_REPLAY;
    else if (strcmp(cmd, "run") == 0)
        o.cmd = APP_RUN;
    else if (strcmp(cmd, "check-config") == 0)
        o.cmd = APP_CHECK;
    else
        return usage_error("unknown command '%s'", cmd);

    if ((rc = parse_args(&o, argc - 1, argv + 1)) != 0)
        return rc;
    if (o.speed && o.has_rate)
        return usage_error("%s", "--speed and --rate exclude each other");
    if (o.cmd != APP_REPLAY && (o.speed || o.has_rate || o.has_loop || o.has_max_gap || o.lossless))
        return usage_error(
            "%s", "--speed, --rate, --loop, --max-gap-ms and --lossless are replay options");
    if (o.cmd != APP_CHECK && target_cpus)
        return usage_error("%s", "--target-cpus is a check-config option");
    switch (o.cmd) {
    case APP_CHECK:
        if (o.config == NULL)
            o.config = o.capture; /* check-config takes the file as its argument */
        else if (o.capture != NULL)
            return usage_error("unexpected argument '%s'", o.capture);
        if (o.config == NULL)
            return usage_error("%s", "check-config needs a CONFIG file");
        return check_config(&o);
    case APP_RUN:
        if (o.config == NULL)
            return usage_error("%s", "run needs -c CONFIG");
        if (o.capture != NULL)
            return usage_error("unexpected argument '%s' (run takes no capture)", o.capture);
        break;
    case APP_REPLAY:
        if (o.capture == NULL)
            return usage_error("%s", "replay needs a capture FILE");
        break;
    }
    return load_and_run(&o);
}
