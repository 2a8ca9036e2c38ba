/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_stats: lib/stats.
 *
 *   stats.record_ns       ns per stats_hist_record() (3 significant digits, 1 ns .. 1 h),
 *                         over pseudo-random latencies spread across ten powers of two
 *                         (64 ns .. ~2 ms), so the bucket index changes every record.
 *   stats.clock_rdtsc_ns  median back-to-back rdtsc pair (stats_clock_cost()): the
 *   stats.clock_rdtscp_ns cost of one stamp, which reports show and stages do not pay.
 *
 * Usage: bench_stats [-r reps] [-n values] [-p passes]
 *   -r N  repetitions, best taken (5)   -n N  distinct values, a power of two (4k)
 *   -p N  passes over the values per repetition (2000)
 * Under callgrind, run with -r 1 -p 1 and divide Ir of bench_record_pass by -n.
 */
#include <getopt.h>

#include "bench.h"
#include "stats.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* One pass of records; out of line so callgrind can attribute it. */
__attribute__((noinline)) static void bench_record_pass(stats_hist_t *h, const uint32_t *v,
                                                        uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        stats_hist_record(h, v[i]);
}

static double bench_record(stats_hist_t *h, const uint32_t *v, uint64_t n, unsigned passes)
{
    bench_record_pass(h, v, n); /* warm the counters and the branch predictor */
    uint64_t t0 = co_tsc();
    for (unsigned p = 0; p < passes; p++)
        bench_record_pass(h, v, n);
    uint64_t t1 = co_tsc();
    return bench_ticks_ns((double)(t1 - t0)) / ((double)passes * (double)n);
}

static void usage_exit(int status)
{
    fprintf(stderr, "usage: bench_stats [-r reps] [-n values] [-p passes]\n");
    exit(status);
}

int main(int argc, char **argv)
{
    unsigned reps = 5, passes = 2000;
    uint64_t n = 4096;
    int c;
    while ((c = getopt(argc, argv, "r:n:p:h")) != -1) {
        if (c == 'r')
            reps = (unsigned)bench_count(optarg);
        else if (c == 'n')
            n = bench_count(optarg);
        else if (c == 'p')
            passes = (unsigned)bench_count(optarg);
        else
            usage_exit(c == 'h' ? 0 : 2);
    }
    stats_hist_t *h = stats_hist_create(1, 3600000000000ull, STATS_HIST_SIGFIGS_DEFAULT);
    uint32_t *v = malloc(n * sizeof(*v));
    if (!h || !v)
        bench_die("out of memory");
    for (uint64_t i = 0; i < n; i++)
        v[i] = (uint32_t)(64 + ((rnd() & 0xfff) << (rnd() % 10)));
    stats_clock_set_hz(co_tsc_hz()); /* one calibration for the process */
    printf("bench_stats: %llu values, %u passes, best of %u; histogram %zu bytes\n",
           (unsigned long long)n, passes, reps, stats_hist_size(1, 3600000000000ull, 3));

    double best = 1e30;
    for (unsigned r = 0; r < reps; r++) {
        double ns = bench_record(h, v, n, passes);
        best = ns < best ? ns : best;
    }
    char line[256];
    stats_hist_format(h, line, sizeof(line));
    printf("recorded: %s\n", line);
    stats_clock_cost_t cost;
    stats_clock_cost(&cost, 0);
    printf("clock: rdtsc pair %llu ticks (min %llu), rdtscp pair %llu ticks (min %llu)\n",
           (unsigned long long)cost.rdtsc_ticks, (unsigned long long)cost.rdtsc_min,
           (unsigned long long)cost.rdtscp_ticks, (unsigned long long)cost.rdtscp_min);
    printf("stats.record: %.2f ns/record (goal <= 3)\n", best);
    bench_report("stats.record_ns", best, "ns");
    bench_report("stats.clock_rdtsc_ns", cost.rdtsc_ns, "ns");
    bench_report("stats.clock_rdtscp_ns", cost.rdtscp_ns, "ns");
    stats_hist_free(h);
    free(v);
    return 0;
}
