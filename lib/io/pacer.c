/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Replay pacing. Intended times are computed from the capture's own timestamps in
 * integer nanoseconds: at speed num/den a packet whose (clamped) capture time is t ns
 * after the start is due at t * den / num ns, in 128-bit arithmetic, so 1x is exact
 * and nothing drifts over a long file. A fixed rate puts packet i at i * 1e9 / rate.
 *
 * A timestamp below the previous one (a capture merged from several taps, a clock
 * step) is clamped to the previous one and counted, and the capture's later gaps are
 * kept from there (the jump is folded into a shift), so replay neither stalls nor
 * bursts the rest of the file. A gap above fwd_jump_ns (1 s by default) is clamped to
 * fwd_jump_ns and counted, the same way: a capture whose clock stepped forward an hour
 * (or that was paused overnight) must not stall a 1x replay for that long, and a
 * feed's heartbeats come at least every second, so no real line is silent longer: a
 * longer gap is a clock or capture artefact, not traffic to reproduce. Set it to
 * UINT64_MAX to honour every gap. The first packet of each kind of jump is kept
 * (index, and the replay fills in its byte offset) for the warning.
 */
#include <errno.h>
#include <string.h>

#include "io_internal.h"

#define PACE_NS_PER_S 1000000000ull

void io_pacer_init(io_pacer_t *p, const io_pacer_opts_t *o)
{
    memset(p, 0, sizeof(*p));
    p->o = *o;
    if (p->o.loops == 0)
        p->o.loops = 1;
    if (p->o.fwd_jump_ns == 0)
        p->o.fwd_jump_ns = PACE_NS_PER_S;
    p->first_back = p->first_fwd = UINT64_MAX;
    p->back_off = p->fwd_off = UINT64_MAX;
    if (p->o.mode == IO_PACE_SPEED && (p->o.speed_num == 0 || p->o.speed_den == 0))
        p->o.speed_num = p->o.speed_den = 1;
    if (p->o.mode == IO_PACE_RATE && p->o.rate_pps == 0)
        p->o.mode = IO_PACE_MAX;
    io_hist_init(&p->err);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int io_pacer_parse_speed(const char *s, io_pacer_opts_t *o)
{
    if (s == NULL || *s == '\0')
        return -EINVAL;
    if (strcmp(s, "max") == 0) {
        o->mode = IO_PACE_MAX;
        return 0;
    }
    uint64_t num = 0, den = 1;
    int digits = 0, decimals = -1;
    for (const char *c = s; *c; c++) {
        if (*c == '.' && decimals < 0) {
            decimals = 0;
            continue;
        }
        if (*c < '0' || *c > '9' || digits >= 18 || decimals >= 9)
            return -EINVAL;
        num = num * 10 + (uint64_t)(*c - '0');
        digits++;
        if (decimals >= 0) {
            decimals++;
            den *= 10;
        }
    }
    if (digits == 0 || num == 0)
        return -EINVAL;
    uint64_t g = gcd(num, den);
    o->mode = IO_PACE_SPEED;
    o->speed_num = num / g;
    o->speed_den = den / g;
    return 0;
}

/* Capture time of this packet relative to the first of the replay, clamped. */
static uint64_t clamp_ts(io_pacer_t *p, uint64_t ts)
{
    if (p->loop_pkts++ == 0) {
        p->first_ts = ts;
        p->prev_ts = ts;
        p->shift = 0;
        return p->loop_base;
    }
    /* modular: the shift may be "negative" after forward clamps; e stays near prev */
    uint64_t e = ts + p->shift;
    if (e < p->prev_ts) {
        if (p->backward_jumps++ == 0)
            p->first_back = p->index;
        p->back_ns += p->prev_ts - e;
        p->shift += p->prev_ts - e;
        e = p->prev_ts;
    } else if (e - p->prev_ts > p->o.fwd_jump_ns) {
        uint64_t cut = e - p->prev_ts - p->o.fwd_jump_ns;
        if (p->forward_jumps++ == 0)
            p->first_fwd = p->index;
        p->clamped_ns += cut;
        p->shift -= cut;
        e -= cut;
    }
    p->prev_ts = e;
    return p->loop_base + (e - p->first_ts);
}

uint64_t io_pacer_next(io_pacer_t *p, uint64_t ts_ns)
{
    uint64_t v = 0;
    switch (p->o.mode) {
    case IO_PACE_MAX:
        p->index++;
        return 0;
    case IO_PACE_RATE:
        v = (uint64_t)((unsigned __int128)p->index * PACE_NS_PER_S / p->o.rate_pps);
        break;
    case IO_PACE_SPEED:
        v = (uint64_t)((unsigned __int128)clamp_ts(p, ts_ns) * p->o.speed_den / p->o.speed_num);
        break;
    }
    p->index++;
    if (v < p->last_intended) /* cannot happen; keep the promise anyway */
        v = p->last_intended;
    p->last_intended = v;
    return v;
}

void io_pacer_next_loop(io_pacer_t *p)
{
    if (p->o.mode == IO_PACE_SPEED && p->loop_pkts > 0) {
        uint64_t dur = p->prev_ts - p->first_ts;
        uint64_t gap = p->loop_pkts > 1 ? dur / (p->loop_pkts - 1) : 0;
        p->loop_base += dur + gap;
    }
    p->loop_pkts = 0;
    p->loop++;
}

void io_pacer_record(io_pacer_t *p, uint64_t intended_ns, uint64_t actual_ns)
{
    if (actual_ns < intended_ns) {
        p->early++;
        io_hist_record(&p->err, 0);
        return;
    }
    io_hist_record(&p->err, actual_ns - intended_ns);
}
