/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/io internals shared between its files (not installed, not for other modules).
 */
#ifndef MDMUX_IO_INTERNAL_H
#define MDMUX_IO_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

/* Zeroed control-path memory on NUMA node @node (-1: any); io_free() releases it. */
void *io_alloc(size_t size, int node);
void io_free(void *p);

/* snprintf into err (NULL or errlen 0: nothing). Returns -e, for `return io_err(...)`. */
int io_err(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Single-writer counter bump: a relaxed load and store, no lock prefix. */
static inline void io_bump(uint64_t *c, uint64_t n)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Reader side of io_bump(). */
static inline uint64_t io_load(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* What lib/io remembers of an open port (indexed by port id). */
typedef struct io_port_state {
    struct rte_mempool *pool;
    bool open;
    bool is_vdev;
    bool hw_ts;       /* RX timestamp offload on: read the dynfield */
    int ts_off;       /* rte_mbuf timestamp dynfield offset */
    uint64_t ts_flag; /* its ol_flags bit */
    uint64_t nic0;    /* NIC clock at calibration */
    uint64_t tsc0;    /* TSC at calibration */
    uint64_t mul32;   /* TSC ticks per NIC tick, 32.32 fixed point */
    char name[64];    /* device name (for hotplug remove) */
    unsigned n_flows; /* rte_flow rules created (flushed at close) */
} io_port_state_t;

extern io_port_state_t io_ports[RTE_MAX_ETHPORTS];

/* NIC hardware timestamp of @m on port @ps, converted to TSC. */
static inline uint64_t io_port_hw_to_tsc(const io_port_state_t *ps, uint64_t nic)
{
    uint64_t d = nic - ps->nic0;
    return ps->tsc0 + (uint64_t)(((unsigned __int128)d * ps->mul32) >> 32);
}

/* flow.c, for port.c: create c->rules on started @port (ps->n_flows counts them); the
   hash types of IO_STEER_RSS the device offers (warns about the rest); flush the rules. */
int io_flow_install(uint16_t port, const io_port_conf_t *c, const char *driver, char *err,
                    size_t errlen);
uint64_t io_rss_hf(const io_port_conf_t *c, uint64_t offered);
void io_flow_flush(uint16_t port);

/* Replay internals used by rx.c. */
unsigned io_replay_poll(io_replay_t *r, struct rte_mbuf **out, unsigned max);
bool io_replay_finished(const io_replay_t *r);

#endif /* MDMUX_IO_INTERNAL_H */
