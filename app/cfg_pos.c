/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Position index of a YAML document (see cfg_pos.h): one walk over libyaml's events,
 * keeping a stack of open mappings and sequences and the path that leads to each.
 */
#include "cfg_pos.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Nesting deeper than this is not indexed (still parsed); the schema needs 4. */
#define DEPTH_MAX 16

typedef struct frame {
    bool is_map;
    bool want_key;   /* mapping: the next node is a key */
    unsigned index;  /* sequence: entries seen */
    size_t base_len; /* length of the container's own path */
} frame_t;

typedef struct walk {
    cfg_pos_t *idx;
    frame_t stack[DEPTH_MAX];
    int depth;                   /* frames in use */
    int skipped;                 /* containers opened beyond DEPTH_MAX */
    char path[CFG_POS_PATH_MAX]; /* path of the node being read */
    size_t child_len;            /* length of path for the current child */
} walk_t;

static int add(cfg_pos_t *idx, const char *path, const yaml_mark_t *m)
{
    if (idx->n == idx->cap) {
        size_t cap = idx->cap ? idx->cap * 2 : 64;
        cfg_pos_ent_t *v = realloc(idx->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        idx->v = v;
        idx->cap = cap;
    }
    cfg_pos_ent_t *e = &idx->v[idx->n++];
    snprintf(e->path, sizeof(e->path), "%s", path);
    e->line = (unsigned)m->line + 1;
    e->col = (unsigned)m->column + 1;
    return 0;
}

/* Set w->path to the container's path plus @p fmt's component. */
static void child_path(walk_t *w, const frame_t *f, const char *key, unsigned index)
{
    size_t n = f->base_len;
    size_t room = sizeof(w->path) - n;
    int k;
    if (key != NULL)
        k = snprintf(w->path + n, room, "%s%s", n ? "." : "", key);
    else
        k = snprintf(w->path + n, room, "[%u]", index);
    w->child_len = (k < 0 || (size_t)k >= room) ? sizeof(w->path) - 1 : n + (size_t)k;
}

/*
 * A node starts (scalar, alias, mapping or sequence). Returns 1 if it was a mapping
 * key (consumed), 0 if it is a value whose path is now in w->path, -1 on ENOMEM.
 */
static int node(walk_t *w, const yaml_event_t *ev)
{
    if (w->depth == 0 || w->skipped) {
        w->child_len = 0;
        w->path[0] = '\0';
        return 0;
    }
    frame_t *f = &w->stack[w->depth - 1];
    if (f->is_map && f->want_key) {
        const char *key = ev->type == YAML_SCALAR_EVENT ? (const char *)ev->data.scalar.value : "?";
        child_path(w, f, key, 0);
        f->want_key = false;
        return add(w->idx, w->path, &ev->start_mark) < 0 ? -1 : 1;
    }
    if (f->is_map) {
        /* a value: its path is the key's, which child_path() left in w->path */
        f->want_key = true;
        return 0;
    }
    child_path(w, f, NULL, f->index++);
    return add(w->idx, w->path, &ev->start_mark) < 0 ? -1 : 0;
}

static void push(walk_t *w, bool is_map)
{
    if (w->depth == DEPTH_MAX || w->skipped) {
        w->skipped++;
        return;
    }
    frame_t *f = &w->stack[w->depth++];
    f->is_map = is_map;
    f->want_key = true;
    f->index = 0;
    f->base_len = w->child_len;
}

static void pop(walk_t *w)
{
    if (w->skipped) {
        w->skipped--;
        return;
    }
    if (w->depth > 0)
        w->depth--;
}

/* Feed one event to the walk; -1 on ENOMEM. */
static int step(walk_t *w, const yaml_event_t *ev)
{
    int r;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
    case YAML_ALIAS_EVENT:
        return node(w, ev) < 0 ? -1 : 0;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        if ((r = node(w, ev)) < 0)
            return -1;
        push(w, ev->type == YAML_MAPPING_START_EVENT);
        return 0;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        pop(w);
        return 0;
    default:
        return 0;
    }
}

int cfg_pos_build(cfg_pos_t *idx, const char *data, size_t len, char *err, size_t errlen)
{
    yaml_parser_t p;
    walk_t w = {.idx = idx};
    int rc = 0;

    if (!yaml_parser_initialize(&p)) {
        snprintf(err, errlen, "1:1: out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            snprintf(err, errlen, "%zu:%zu: YAML syntax error: %s%s%s", p.problem_mark.line + 1,
                     p.problem_mark.column + 1, p.problem ? p.problem : "invalid YAML",
                     p.context ? " " : "", p.context ? p.context : "");
            rc = -1;
            break;
        }
        bool end = ev.type == YAML_STREAM_END_EVENT;
        int s = step(&w, &ev);
        yaml_event_delete(&ev);
        if (s < 0) {
            snprintf(err, errlen, "1:1: out of memory");
            rc = -1;
            break;
        }
        if (end)
            break;
    }
    yaml_parser_delete(&p);
    return rc;
}

const cfg_pos_ent_t *cfg_pos_find(const cfg_pos_t *idx, const char *path)
{
    char want[CFG_POS_PATH_MAX];
    snprintf(want, sizeof(want), "%s", path);
    for (;;) {
        for (size_t i = 0; i < idx->n; i++)
            if (strcmp(idx->v[i].path, want) == 0)
                return &idx->v[i];
        /* drop the last component: ".key" or "[n]" */
        char *dot = strrchr(want, '.');
        char *br = strrchr(want, '[');
        char *cut = dot > br ? dot : br;
        if (cut == NULL || cut == want)
            return NULL;
        *cut = '\0';
    }
}

void cfg_pos_free(cfg_pos_t *idx)
{
    free(idx->v);
    idx->v = NULL;
    idx->n = idx->cap = 0;
}
