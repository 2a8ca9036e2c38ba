/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file cfg_pos.h
 * Internal to app/config.c: where each field of a YAML document is, by path
 * ("feeds[2].a.group"), found by a plain libyaml pass. libcyaml's backtraces point
 * at the last value it read rather than the key it means, and a semantic check has
 * no position at all; this index gives both the exact line and column.
 */
#ifndef MDMUX_APP_CFG_POS_H
#define MDMUX_APP_CFG_POS_H

#include <stddef.h>

/** Longest path kept; deeper paths are truncated (the schema is four levels deep). */
#define CFG_POS_PATH_MAX 96

/** One field or sequence entry. */
typedef struct cfg_pos_ent {
    char path[CFG_POS_PATH_MAX];
    unsigned line, col; /**< 1-based, of the key (mappings) or the entry (sequences) */
} cfg_pos_ent_t;

/** The index of one document. */
typedef struct cfg_pos {
    cfg_pos_ent_t *v;
    size_t n, cap;
} cfg_pos_t;

/**
 * Index @p len bytes of YAML at @p data into @p idx (zeroed by the caller). Returns 0,
 * or -1 on a YAML syntax error with "LINE:COL: message" in @p err.
 */
int cfg_pos_build(cfg_pos_t *idx, const char *data, size_t len, char *err, size_t errlen);

/**
 * Position of @p path, or of its nearest indexed ancestor ("feeds[2].a.x" falls back
 * to "feeds[2].a", then "feeds[2]"...). Returns NULL when not even the first component
 * is indexed.
 */
const cfg_pos_ent_t *cfg_pos_find(const cfg_pos_t *idx, const char *path);

/** Free the index's entries. */
void cfg_pos_free(cfg_pos_t *idx);

#endif /* MDMUX_APP_CFG_POS_H */
