/* SPDX-License-Identifier: BSD-3-Clause */
/* The generator's truth against mdmux's dump (truth.h). */
#include "truth.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apptest.h"

/* Call @p fn on every JSON line of @p path. */
static void each_line(const char *path, void (*fn)(tr_t *, json_t *, void *), tr_t *t, void *arg)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    unsigned long no = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        no++;
        if (o == NULL)
            fail_msg("%s:%lu: not JSON: %s", path, no, je.text);
        fn(t, o, arg);
        json_decref(o);
    }
    free(line);
    fclose(f);
}

static unsigned feed_of(const tr_t *t, const char *name)
{
    for (unsigned i = 0; i < t->n; i++)
        if (strcmp(t->f[i].name, name) == 0)
            return i;
    fail_msg("unknown feed '%s'", name);
    return 0;
}

void tr_load_truth(tr_t *t, const char *path)
{
    json_t *j = at_json(path), *f;
    size_t i;
    json_array_foreach(json_object_get(j, "feeds"), i, f)
    {
        assert_true(t->n < TR_MAX_FEEDS);
        tr_feed_t *x = &t->f[t->n++];
        snprintf(x->name, sizeof(x->name), "%s", json_string_value(json_object_get(f, "name")));
        x->last = (uint64_t)at_jint(f, "last_seq");
        x->sent = calloc(x->last + 1, sizeof(json_t *));
        x->seen = calloc(x->last + 1, 1);
        json_t *r;
        size_t k;
        json_array_foreach(json_object_get(f, "lost_both"), k, r)
        {
            uint64_t a = (uint64_t)json_integer_value(json_array_get(r, 0));
            uint64_t b = (uint64_t)json_integer_value(json_array_get(r, 1));
            if (x->nlost && x->lost[x->nlost - 1][1] + 1 == a) {
                x->lost[x->nlost - 1][1] = b;
                continue;
            }
            assert_true(x->nlost < TR_MAX_RANGES);
            x->lost[x->nlost][0] = a;
            x->lost[x->nlost++][1] = b;
        }
    }
    json_decref(j);
}

static void on_sent(tr_t *t, json_t *m, void *arg)
{
    (void)arg;
    tr_feed_t *x = &t->f[feed_of(t, json_string_value(json_object_get(m, "feed")))];
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(m, "seq"));
    assert_true(seq >= 1 && seq <= x->last);
    x->sent[seq] = json_incref(m);
}

void tr_load_sent(tr_t *t, const char *path)
{
    each_line(path, on_sent, t, NULL);
}

bool tr_in_ranges(uint64_t (*r)[2], unsigned n, uint64_t seq)
{
    for (unsigned i = 0; i < n; i++)
        if (seq >= r[i][0] && seq <= r[i][1])
            return true;
    return false;
}

/* The generator's ITCH field names where the record's JSON uses short ones. */
static const char *dump_key(const char *k)
{
    static const char *const alias[][2] = {
        {"order_reference_number", "ref"},
        {"original_order_reference_number", "ref"},
        {"new_order_reference_number", "new_ref"},
        {"buy_sell_indicator", "side"},
        {"match_number", "match"},
        {"executed_shares", "shares"},
        {"canceled_shares", "shares"},
        {"execution_price", "price"},
        {"attribution", "mpid"},
    };
    for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
        if (strcmp(k, alias[i][0]) == 0)
            return alias[i][1];
    return k;
}

static void compare(const tr_feed_t *x, uint64_t seq, json_t *sent, json_t *rec)
{
    const char *k;
    json_t *v;
    json_object_foreach(sent, k, v)
    {
        if (strcmp(k, "feed") == 0 || strcmp(k, "seq") == 0)
            continue;
        json_t *got = json_object_get(rec, k);
        if (got == NULL)
            got = json_object_get(rec, dump_key(k));
        if (got == NULL || !json_equal(got, v)) {
            char *a = json_dumps(sent, JSON_COMPACT), *b = json_dumps(rec, JSON_COMPACT);
            fail_msg("%s seq %lu: field %s differs:\nsent %s\ngot  %s", x->name, (unsigned long)seq,
                     k, a, b);
        }
    }
}

/* tr_read_dump()'s callback and its argument. */
typedef struct dump_cb {
    tr_event_fn *fn;
    void *arg;
} dump_cb_t;

static void on_rec(tr_t *t, json_t *r, void *arg)
{
    const dump_cb_t *cb = arg;
    const char *ev = json_string_value(json_object_get(r, "event"));
    unsigned i = feed_of(t, json_string_value(json_object_get(r, "feed")));
    tr_feed_t *x = &t->f[i];
    t->published++;
    if (ev != NULL) {
        t->events++;
        if (strcmp(ev, "gap") == 0) {
            assert_true(x->ngaps < TR_MAX_RANGES);
            x->gaps[x->ngaps][0] = (uint64_t)json_integer_value(json_object_get(r, "from"));
            x->gaps[x->ngaps++][1] = (uint64_t)json_integer_value(json_object_get(r, "to"));
            if (x->gaps[x->ngaps - 1][1] > x->known)
                x->known = x->gaps[x->ngaps - 1][1];
        }
        if (cb->fn != NULL)
            cb->fn(cb->arg, i, ev, r);
        return;
    }
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(r, "feed_seq"));
    if (seq < 1 || seq > x->last || x->sent[seq] == NULL)
        fail_msg("%s: published seq %lu was never sent", x->name, (unsigned long)seq);
    if (x->seen[seq]++)
        fail_msg("%s: seq %lu published twice", x->name, (unsigned long)seq);
    if (seq > x->known)
        x->known = seq;
    compare(x, seq, x->sent[seq], r);
    /* a message recovered inside a gap already declared comes after its gap event */
    if (!tr_in_ranges(x->gaps, x->ngaps, seq)) {
        if (seq <= x->last_inorder)
            fail_msg("%s: seq %lu after %lu: out of order", x->name, (unsigned long)seq,
                     (unsigned long)x->last_inorder);
        x->last_inorder = seq;
    }
}

void tr_read_dump(tr_t *t, const char *path, tr_event_fn *on_event, void *arg)
{
    dump_cb_t cb = {on_event, arg};
    each_line(path, on_rec, t, &cb);
}

void tr_check_gaps(const tr_feed_t *x)
{
    if (x->ngaps != x->nlost)
        fail_msg("%s: %u gap events, %u lost_both ranges", x->name, x->ngaps, x->nlost);
    for (unsigned i = 0; i < x->ngaps; i++)
        if (x->gaps[i][0] != x->lost[i][0] || x->gaps[i][1] != x->lost[i][1])
            fail_msg("%s: gap %u is %lu-%lu, lost_both %lu-%lu", x->name, i,
                     (unsigned long)x->gaps[i][0], (unsigned long)x->gaps[i][1],
                     (unsigned long)x->lost[i][0], (unsigned long)x->lost[i][1]);
}

void tr_free(tr_t *t)
{
    for (unsigned i = 0; i < t->n; i++) {
        for (uint64_t s = 0; s <= t->f[i].last; s++)
            json_decref(t->f[i].sent[s]);
        free(t->f[i].sent);
        free(t->f[i].seen);
    }
}
