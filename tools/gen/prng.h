/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * prng.h: the generator's random numbers. xoshiro256** seeded by splitmix64, as
 * recommended by its authors. Our own generator rather than rand(): the output of
 * mdmux-gen must be byte-identical for a seed on every libc and every run.
 */
#ifndef GEN_PRNG_H
#define GEN_PRNG_H

#include <math.h>
#include <stdint.h>

struct prng {
    uint64_t s[4];
};

static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Seed from (seed, stream) so every feed has its own independent sequence. */
static inline void prng_seed(struct prng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t prng_u64(struct prng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* Uniform in [0, 1), 53 bits. */
static inline double prng_unit(struct prng *r)
{
    return (double)(prng_u64(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n); n > 0. The tiny modulo bias is irrelevant here. */
static inline uint64_t prng_below(struct prng *r, uint64_t n)
{
    return prng_u64(r) % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t prng_range(struct prng *r, uint64_t lo, uint64_t hi)
{
    return lo + prng_below(r, hi - lo + 1);
}

static inline int prng_chance(struct prng *r, double p)
{
    return p > 0 && prng_unit(r) < p;
}

/* Exponential with the given mean (Poisson arrivals). */
static inline double prng_exp(struct prng *r, double mean)
{
    return -mean * log1p(-prng_unit(r));
}

/* 0, 1, 2, ... with P(k) = (1-p)^k p: message counts per packet. */
static inline unsigned prng_geom(struct prng *r, double p, unsigned cap)
{
    unsigned k = 0;
    while (k < cap && prng_unit(r) >= p)
        k++;
    return k;
}

#endif
