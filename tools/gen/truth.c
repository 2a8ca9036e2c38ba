/* SPDX-License-Identifier: BSD-3-Clause */
/* truth.c: the side files: the truth JSON (jansson) and the matching mdmux config. */
#include <jansson.h>
#include <stdio.h>

#include "gen.h"

static void ip_str(uint32_t a, char *s, size_t n)
{
    snprintf(s, n, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
}

static json_t *ranges_json(const struct ranges *r)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < r->n; i++)
        json_array_append_new(a, json_pack("[II]", (json_int_t)r->r[i][0], (json_int_t)r->r[i][1]));
    return a;
}

static json_t *reasons_json(const uint64_t *bad)
{
    json_t *o = json_object();
    for (int i = 0; i < BAD_N; i++)
        json_object_set_new(o, bad_names[i], json_integer((json_int_t)bad[i]));
    return o;
}

static json_t *line_json(const struct line *l)
{
    const struct line_stats *s = &l->st;
    char g[16];

    ip_str(l->group, g, sizeof(g));
    json_t *o = json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "group", g, "port", l->port,
                          "frames", (json_int_t)s->frames, "packets", (json_int_t)s->packets,
                          "bytes", (json_int_t)s->bytes, "malformed", (json_int_t)s->malformed,
                          "duplicates", (json_int_t)s->duplicates, "heartbeats",
                          (json_int_t)s->heartbeats, "end_session", (json_int_t)s->end_session);
    json_t *more = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "lost", (json_int_t)s->lost, "truncated",
                             (json_int_t)s->truncated, "corrupt", (json_int_t)s->corrupt,
                             "corrupt_payload", (json_int_t)s->corrupt_payload, "reordered",
                             (json_int_t)s->reordered, "zero_length", (json_int_t)s->zero_length);
    json_object_update(o, more);
    json_decref(more);
    json_object_set_new(o, "malformed_reasons", reasons_json(s->bad));
    json_object_set_new(o, "silenced", json_integer((json_int_t)s->silenced));
    json_object_set_new(o, "silenced_control", json_integer((json_int_t)s->silenced_control));
    json_t *sil = json_array();
    for (unsigned i = 0; i < l->nsil; i++) {
        const struct silence *x = &l->sil[i];
        json_t *t = json_pack("{s:I,s:I,s:I}", "from_ns", (json_int_t)x->from, "first_ns",
                              (json_int_t)x->first_slot_t, "packets", (json_int_t)x->packets);
        json_object_set_new(t, "to_ns", x->to ? json_integer((json_int_t)x->to) : json_null());
        json_array_append_new(sil, t);
    }
    json_object_set_new(o, "silences", sil);
    return o;
}

static json_t *feed_json(const struct feed *f)
{
    json_t *o = json_pack("{s:s,s:i,s:s,s:I,s:i,s:I}", "name", f->name, "id", (int)f->id, "session",
                          f->session, "messages", (json_int_t)(f->next_seq - 1), "first_seq", 1,
                          "last_seq", (json_int_t)(f->next_seq - 1));
    json_object_set_new(
        o, "lines",
        json_pack("{s:o,s:o}", "A", line_json(&f->line[0]), "B", line_json(&f->line[1])));
    json_object_set_new(o, "lost_a", ranges_json(&f->lost[0]));
    json_object_set_new(o, "lost_b", ranges_json(&f->lost[1]));
    json_object_set_new(o, "lost_both", ranges_json(&f->lost[2]));
    return o;
}

static json_t *options_json(const struct gen_opts *o)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "rate",
                     o->rate, "skew_us", o->skew_us, "jitter_us", o->jitter_us, "loss_a", o->loss_a,
                     "loss_b", o->loss_b, "loss_both", o->loss_both, "reorder", o->reorder, "dup",
                     o->dup, "truncate", o->truncate, "corrupt", o->corrupt, "corrupt_payload",
                     o->corrupt_payload, "zero_udp", o->zero_udp, "unknown", o->unknown, "noise",
                     o->noise, "heartbeat_ms", o->heartbeat_ms);
}

int truth_write(const struct gen_ctx *g, const struct gen_totals *t, const char *path)
{
    const struct gen_opts *o = g->o;
    uint64_t bad[BAD_N] = {0};
    json_t *feeds = json_array();

    for (unsigned i = 0; i < o->feeds; i++) {
        for (int w = 0; w < 2; w++)
            for (int r = 0; r < BAD_N; r++)
                bad[r] += g->feeds[i].line[w].st.bad[r];
        json_array_append_new(feeds, feed_json(&g->feeds[i]));
    }
    json_t *root = json_pack("{s:I,s:s,s:I,s:I,s:I}", "seed", (json_int_t)o->seed, "pcap", o->out,
                             "frames", (json_int_t)t->frames, "messages", (json_int_t)t->messages,
                             "midnight_ns", (json_int_t)g->midnight_ns);
    json_object_set_new(root, "classifier",
                        json_pack("{s:I,s:I,s:o}", "unknown_flow", (json_int_t)t->unknown, "other",
                                  (json_int_t)t->other, "malformed", reasons_json(bad)));
    json_t *opts = options_json(o);
    json_object_set_new(opts, "dead_a", json_boolean(o->dead[0]));
    json_object_set_new(opts, "dead_b", json_boolean(o->dead[1]));
    json_object_set_new(opts, "dead_after_ms", json_real(o->dead_after_ms));
    json_object_set_new(opts, "flap_ms", json_real(o->flap_ms));
    json_object_set_new(opts, "flap_overlap", json_boolean(o->flap_overlap));
    json_object_set_new(root, "options", opts);
    json_object_set_new(root, "ts_jump",
                        g->jumped ? json_pack("{s:I,s:I,s:I}", "frame", (json_int_t)g->jump_frame,
                                              "offset", (json_int_t)g->jump_offset, "delta_ns",
                                              (json_int_t)g->jump_delta_ns)
                                  : json_null());
    json_object_set_new(root, "feeds", feeds);
    int rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return rc;
}

int config_write(const struct gen_ctx *g, const char *path)
{
    FILE *f = fopen(path, "w");
    char a[16], b[16];

    if (!f)
        return -1;
    fprintf(f, "# mdmux config for %s, written by mdmux-gen (seed %llu)\n", g->o->out,
            (unsigned long long)g->o->seed);
    fprintf(f, "version: 1\ncores:\n  control: 0\n  handlers: [0]\nchannels:\n  slots: 1024\n");
    fprintf(f, "replay:\n  speed: max\n  rate: 0\n  loop: 1\nfeeds:\n");
    for (unsigned i = 0; i < g->o->feeds; i++) {
        const struct feed *fd = &g->feeds[i];
        ip_str(fd->line[0].group, a, sizeof(a));
        ip_str(fd->line[1].group, b, sizeof(b));
        fprintf(f, "  - name: %s\n    handler: 0\n", fd->name);
        fprintf(f, "    a: {group: %s, port: %u}\n", a, fd->line[0].port);
        fprintf(f, "    b: {group: %s, port: %u}\n", b, fd->line[1].port);
    }
    return fclose(f) == 0 ? 0 : -1;
}
