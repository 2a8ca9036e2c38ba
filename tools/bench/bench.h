/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tools/bench: helpers shared by the benchmark programs. Header-only, public API of
 * lib/rt (co.h) only: the TSC, its calibration, nothing internal.
 *
 * Every figure is printed as one line "BENCH <name> <value> <unit>"; anything else a
 * program prints is commentary.
 */
#ifndef MDMUX_BENCH_H
#define MDMUX_BENCH_H

#include "co.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keep the compiler from assuming anything about memory across this point. */
#define BENCH_CLOBBER() __asm__ volatile("" ::: "memory")

__attribute__((noreturn, format(printf, 1, 2))) static inline void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* TSC ticks -> nanoseconds, as a double (sub-ns resolution for per-op figures). */
static inline double bench_ticks_ns(double ticks)
{
    return ticks * 1e9 / (double)co_tsc_hz();
}

/* One figure, in the format tools/bench/run and docs/benchmarks.md rely on. */
static inline void bench_report(const char *name, double value, const char *unit)
{
    if (value >= 100.0 || value == (double)(uint64_t)value)
        printf("BENCH %s %.0f %s\n", name, value, unit);
    else
        printf("BENCH %s %.2f %s\n", name, value, unit);
    fflush(stdout);
}

/* Resident set size of this process in bytes, from /proc/self/statm. */
static inline uint64_t bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (!f)
        bench_die("/proc/self/statm: %s", strerror(errno));
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        bench_die("/proc/self/statm: unexpected format");
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Parse a positive count option value such as "10000000" or "10M" / "1k". */
static inline uint64_t bench_count(const char *s)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        bench_die("bad count '%s'", s);
    if (*end == 'k' || *end == 'K')
        v *= 1000ull, end++;
    else if (*end == 'm' || *end == 'M')
        v *= 1000000ull, end++;
    if (*end || v == 0)
        bench_die("bad count '%s'", s);
    return v;
}

/*
 * For the functions that hold a timed loop around a switch (ours and the anchors'):
 * each starts on its own cache line, so where the loop sits relative to the switch
 * code does not move with unrelated changes elsewhere in the binary. On Zen the same
 * co_yield ping-pong measured 5.8 or 7.5-9 ns depending only on whether the loop
 * functions started at offset 0 or 48 of a line (docs/benchmarks.md).
 */
#define BENCH_LOOP_FN __attribute__((aligned(64), noinline))

#endif /* MDMUX_BENCH_H */
