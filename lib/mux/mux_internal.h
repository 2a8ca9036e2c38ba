/* SPDX-License-Identifier: BSD-3-Clause */
/* lib/mux internals shared between the mux and its writers (not a public header). */
#ifndef MDMUX_MUX_INTERNAL_H
#define MDMUX_MUX_INTERNAL_H

#include "mux.h"

/* A single-writer counter that other threads may read (relaxed): no RMW needed. */
#define MUX_INC(x)    __atomic_store_n(&(x), (x) + 1, __ATOMIC_RELAXED)
#define MUX_ADD(x, n) __atomic_store_n(&(x), (x) + (n), __ATOMIC_RELAXED)
#define MUX_LOAD(x)   __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* Producer side of a writer (the mux's thread). Under MUX_POLICY_BLOCK a full ring
   parks the caller (counted); under MUX_POLICY_DROP the item is dropped (counted).
   Returns 0, or the chs_send() error (EPIPE, ECANCELED, ETIMEDOUT). */
int mux_writer_put_rec(mux_writer_t *w, const md_rec_t *r, co_ctx_t *ctx);
int mux_writer_put_frame(mux_writer_t *w, const uint8_t *frame, uint32_t len, co_ctx_t *ctx);

/* What the writer was made for (the mux checks it is given the right one). */
mux_writer_kind_t mux_writer_kind(const mux_writer_t *w);

/* Largest frame a PCAP writer takes. */
uint32_t mux_writer_snaplen(const mux_writer_t *w);

#endif /* MDMUX_MUX_INTERNAL_H */
