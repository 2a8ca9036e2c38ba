/* SPDX-License-Identifier: BSD-3-Clause */
/* proto_internal.h: big-endian loads and stores shared by lib/proto's files. */
#ifndef MDMUX_PROTO_INTERNAL_H
#define MDMUX_PROTO_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "proto.h"

/* Unaligned big-endian loads: memcpy + bswap compiles to one mov + bswap (movbe). */
static inline uint16_t proto_be16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}

static inline uint32_t proto_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

static inline uint64_t proto_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

/*
 * The 6-byte timestamp at offset 5 of every message: load the 8 bytes from offset 3
 * (tracking number + timestamp, always inside the message) and drop the top 16 bits,
 * one load instead of two.
 */
static inline uint64_t proto_ts48_at5(const uint8_t *msg)
{
    return proto_be64(msg + 3) & 0xFFFFFFFFFFFFull;
}

/* Generic 6-byte load (the table-driven path). */
static inline uint64_t proto_be48(const uint8_t *p)
{
    return (uint64_t)proto_be16(p) << 32 | proto_be32(p + 2);
}

static inline void proto_put_be16(uint8_t *p, uint16_t v)
{
    v = __builtin_bswap16(v);
    memcpy(p, &v, 2);
}

static inline void proto_put_be32(uint8_t *p, uint32_t v)
{
    v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
}

static inline void proto_put_be64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

static inline void proto_put_be48(uint8_t *p, uint64_t v)
{
    proto_put_be16(p, (uint16_t)(v >> 32));
    proto_put_be32(p + 2, (uint32_t)v);
}

/* Write an unsigned integer field of @p width bytes (2, 4, 6 or 8). */
void proto_put_uint(uint8_t *p, unsigned width, uint64_t v);

#endif /* MDMUX_PROTO_INTERNAL_H */
