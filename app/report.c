/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * End-of-run report (report.h): a table for people, JSON (jansson) for tests and
 * tools.
 */
#include "report.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Merge one unknown flow into @p t's list (kept busiest first, IO_TOPK long). */
static void merge_flow(io_rx_stats_t *t, const io_flow_count_t *f)
{
    unsigned i;
    for (i = 0; i < t->n_top; i++) {
        if (t->top[i].dst_ip_be == f->dst_ip_be && t->top[i].dst_port_be == f->dst_port_be) {
            t->top[i].frames += f->frames;
            t->top[i].error += f->error;
            break;
        }
    }
    if (i == t->n_top) {
        if (t->n_top < IO_TOPK)
            t->top[t->n_top++] = *f;
        else if (t->top[IO_TOPK - 1].frames < f->frames)
            t->top[i = IO_TOPK - 1] = *f;
        else
            return;
    }
    /* bubble the entry up to its place */
    while (i > 0 && t->top[i - 1].frames < t->top[i].frames) {
        io_flow_count_t x = t->top[i - 1];
        t->top[i - 1] = t->top[i];
        t->top[i] = x;
        i--;
    }
}

void rep_add_rx(io_rx_stats_t *total, const io_rx_stats_t *s)
{
    total->frames += s->frames;
    total->bursts += s->bursts;
    total->accepted += s->accepted;
    total->other += s->other;
    total->unknown += s->unknown;
    total->malformed_total += s->malformed_total;
    for (unsigned i = 0; i < IO_BAD_COUNT; i++)
        total->malformed[i] += s->malformed[i];
    for (unsigned i = 0; i < s->n_top; i++)
        merge_flow(total, &s->top[i]);
}

static void print_rx(FILE *f, const rep_t *r)
{
    const io_rx_stats_t *x = &r->rx;
    double pps = r->elapsed_s > 0 ? (double)x->frames / r->elapsed_s : 0;
    fprintf(f,
            "rx: %lu frames in %.3f s (%.0f/s): %lu accepted, %lu other, %lu unknown flow, "
            "%lu malformed\n",
            (unsigned long)x->frames, r->elapsed_s, pps, (unsigned long)x->accepted,
            (unsigned long)x->other, (unsigned long)x->unknown, (unsigned long)x->malformed_total);
    for (unsigned i = 0; i < IO_BAD_COUNT; i++)
        if (x->malformed[i])
            fprintf(f, "  malformed %-12s %lu\n", io_bad_name((io_bad_t)i),
                    (unsigned long)x->malformed[i]);
    for (unsigned i = 0; i < x->n_top && i < 5; i++) {
        struct in_addr a = {.s_addr = x->top[i].dst_ip_be};
        fprintf(f, "  unknown flow %s:%u  %lu frames\n", inet_ntoa(a), ntohs(x->top[i].dst_port_be),
                (unsigned long)x->top[i].frames);
    }
    for (unsigned i = 0; i < r->nports; i++) {
        const rep_port_t *p = &r->ports[i];
        fprintf(f, "port %s: %lu received, %lu missed (RX too slow), %lu errors, %lu no mbuf\n",
                p->name, (unsigned long)p->ipackets, (unsigned long)p->imissed,
                (unsigned long)p->ierrors, (unsigned long)p->rx_nombuf);
    }
    if (r->pacing)
        fprintf(f, "pacing: %s, error p50 %lu ns, p99 %lu ns, max %lu ns, %lu early\n",
                r->pace_mode, (unsigned long)r->err_p50, (unsigned long)r->err_p99,
                (unsigned long)r->err_max, (unsigned long)r->early);
}

void rep_print(FILE *f, const rep_t *r)
{
    print_rx(f, r);
    fprintf(f, "%-16s %-4s %12s %14s %12s %12s\n", "feed", "line", "packets", "bytes", "handled",
            "channel_full");
    for (unsigned i = 0; i < r->cfg->nfeeds; i++) {
        for (unsigned l = 0; l < CFG_LINES; l++) {
            const rep_line_t *x = &r->lines[i][l];
            fprintf(f, "%-16s %-4s %12lu %14lu %12lu %12lu\n", r->cfg->feeds[i].name,
                    cfg_line_name(l), (unsigned long)x->packets, (unsigned long)x->bytes,
                    (unsigned long)x->handled, (unsigned long)x->channel_full);
        }
    }
}

unsigned rep_check(FILE *f, const rep_t *r)
{
    unsigned bad = 0;
    for (unsigned i = 0; i < r->cfg->nfeeds; i++) {
        for (unsigned l = 0; l < CFG_LINES; l++) {
            const rep_line_t *x = &r->lines[i][l];
            if (x->packets == x->handled + x->channel_full)
                continue;
            fprintf(f,
                    "mdmux: accounting: %s line %s: %lu classified != %lu handled + %lu "
                    "channel_full\n",
                    r->cfg->feeds[i].name, cfg_line_name(l), (unsigned long)x->packets,
                    (unsigned long)x->handled, (unsigned long)x->channel_full);
            bad++;
        }
    }
    return bad;
}

static json_t *rx_json(const io_rx_stats_t *x)
{
    json_t *mal = json_object(), *top = json_array();
    for (unsigned i = 0; i < IO_BAD_COUNT; i++)
        json_object_set_new(mal, io_bad_name((io_bad_t)i),
                            json_integer((json_int_t)x->malformed[i]));
    for (unsigned i = 0; i < x->n_top; i++) {
        struct in_addr a = {.s_addr = x->top[i].dst_ip_be};
        json_array_append_new(top, json_pack("{s:s, s:i, s:I}", "group", inet_ntoa(a), "port",
                                             (int)ntohs(x->top[i].dst_port_be), "frames",
                                             (json_int_t)x->top[i].frames));
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:I, s:o}", "frames", (json_int_t)x->frames,
                     "accepted", (json_int_t)x->accepted, "other", (json_int_t)x->other,
                     "unknown_flow", (json_int_t)x->unknown, "unknown_top", top, "malformed_total",
                     (json_int_t)x->malformed_total, "malformed", mal);
}

static json_t *feeds_json(const rep_t *r)
{
    json_t *feeds = json_array();
    for (unsigned i = 0; i < r->cfg->nfeeds; i++) {
        json_t *lines = json_object();
        for (unsigned l = 0; l < CFG_LINES; l++) {
            const rep_line_t *x = &r->lines[i][l];
            json_object_set_new(lines, cfg_line_name(l),
                                json_pack("{s:I, s:I, s:I, s:I}", "packets", (json_int_t)x->packets,
                                          "bytes", (json_int_t)x->bytes, "channel_full",
                                          (json_int_t)x->channel_full, "handled",
                                          (json_int_t)x->handled));
        }
        json_array_append_new(feeds, json_pack("{s:s, s:i, s:o}", "name", r->cfg->feeds[i].name,
                                               "id", (int)i, "lines", lines));
    }
    return feeds;
}

static json_t *ports_json(const rep_t *r)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < r->nports; i++) {
        const rep_port_t *p = &r->ports[i];
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:I, s:I, s:I}", "name", p->name, "ipackets",
                         (json_int_t)p->ipackets, "imissed", (json_int_t)p->imissed, "ierrors",
                         (json_int_t)p->ierrors, "rx_nombuf", (json_int_t)p->rx_nombuf));
    }
    return a;
}

int rep_write_json(const char *path, const rep_t *r)
{
    json_t *pacing =
        json_pack("{s:s, s:{s:I, s:I, s:I}, s:I}", "mode", r->pacing ? r->pace_mode : "none",
                  "error_ns", "p50", (json_int_t)r->err_p50, "p99", (json_int_t)r->err_p99, "max",
                  (json_int_t)r->err_max, "early", (json_int_t)r->early);
    json_t *root = json_pack(
        "{s:s, s:s?, s:s?, s:b, s:f, s:o, s:o, s:o, s:o}", "mode", r->mode, "capture", r->capture,
        "capture_error", r->capture_error, "interrupted", r->interrupted, "elapsed_s", r->elapsed_s,
        "ports", ports_json(r), "rx", rx_json(&r->rx), "pacing", pacing, "feeds", feeds_json(r));
    int rc = -1;
    if (root == NULL)
        fprintf(stderr, "mdmux: --stats-json %s: cannot build the JSON report\n", path);
    else if (json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0)
        fprintf(stderr, "mdmux: --stats-json %s: cannot write it\n", path);
    else
        rc = 0;
    json_decref(root);
    return rc;
}
