/* SPDX-License-Identifier: BSD-3-Clause */
/* json.c: JSON writers for ITCH messages and records, into caller buffers. */
#include "proto.h"
#include "proto_internal.h"

/* A bounded output cursor: writes past the end set full and are dropped. */
struct out {
    char *p;
    char *end; /* one before the last byte: room for the NUL */
    bool full;
};

static void out_mem(struct out *o, const char *s, size_t n)
{
    if ((size_t)(o->end - o->p) < n) {
        o->full = true;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}

static void out_str0(struct out *o, const char *s)
{
    out_mem(o, s, strlen(s));
}

static void out_u64(struct out *o, uint64_t v)
{
    char b[20];
    int i = sizeof(b);

    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_mem(o, b + i, sizeof(b) - (size_t)i);
}

/* A JSON string of @p n bytes, trailing spaces trimmed when @p trim. */
static void out_str(struct out *o, const uint8_t *s, size_t n, bool trim)
{
    static const char hex[] = "0123456789abcdef";

    while (trim && n > 0 && s[n - 1] == ' ')
        n--;
    out_mem(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') {
            out_mem(o, (const char *)&s[i], 1);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[s[i] >> 4], hex[s[i] & 15]};
            out_mem(o, e, sizeof(e));
        }
    }
    out_mem(o, "\"", 1);
}

/* "key": */
static void out_key(struct out *o, const char *key, bool first)
{
    out_mem(o, first ? "\"" : ",\"", first ? 1 : 2);
    out_str0(o, key);
    out_mem(o, "\":", 2);
}

static void out_field(struct out *o, const uint8_t *msg, const itch_field_t *f, const char *key,
                      bool first)
{
    out_key(o, key, first);
    if (f->kind == ITCH_K_CHAR || f->kind == ITCH_K_ALPHA)
        out_str(o, msg + f->off, f->width, f->kind == ITCH_K_ALPHA);
    else
        out_u64(o, itch_field_u64(msg, f));
}

/* Every field of a checked message; the header always by its short key. */
static void out_itch(struct out *o, const itch_desc_t *d, const uint8_t *msg, unsigned flags,
                     bool first)
{
    for (unsigned i = 0; i < d->nfields; i++) {
        const itch_field_t *f = &d->fields[i];
        bool short_key = i < 4 || ((flags & ITCH_JSON_KEYS) && f->key);
        out_field(o, msg, f, short_key ? f->key : f->name, first && i == 0);
    }
}

/* Finish: NUL-terminate and return the length, or -1 if anything was dropped. */
static int out_end(struct out *o, char *buf)
{
    if (o->full)
        return -1;
    *o->p = 0;
    return (int)(o->p - buf);
}

int itch_json(const uint8_t *msg, size_t len, unsigned flags, char *buf, size_t cap)
{
    const itch_desc_t *d = len > 0 ? itch_desc(msg[0]) : NULL;
    struct out o = {buf, buf + cap - 1, false};
    bool braces = !(flags & ITCH_JSON_MEMBERS);

    if (cap == 0 || !d || d->len != len)
        return -1;
    if (braces)
        out_mem(&o, "{", 1);
    out_itch(&o, d, msg, flags, true);
    if (braces)
        out_mem(&o, "}", 1);
    return out_end(&o, buf);
}

static void out_feed(struct out *o, const md_rec_t *r, const char *feed_name)
{
    out_key(o, "feed", false);
    if (feed_name)
        out_str(o, (const uint8_t *)feed_name, strlen(feed_name), false);
    else
        out_u64(o, r->feed);
}

static void out_u64_member(struct out *o, const char *key, uint64_t v)
{
    out_key(o, key, false);
    out_u64(o, v);
}

/* Members of an event record, by event (docs/record.md). */
static void out_event(struct out *o, const md_rec_t *r)
{
    switch (r->type) {
    case MD_EV_GAP:
    case MD_EV_GAP_FILLED:
    case MD_EV_GAP_FINAL:
        out_u64_member(o, "from", r->ev.from);
        out_u64_member(o, "to", r->ev.to);
        break;
    case MD_EV_LINE_UP:
    case MD_EV_LINE_DOWN:
        out_key(o, "line", false);
        out_str0(o, "\"");
        out_str0(o, md_line_name(r->line));
        out_str0(o, "\"");
        break;
    case MD_EV_SESSION_CHANGE:
    case MD_EV_END_OF_SESSION:
        out_key(o, "session", false);
        out_str(o, (const uint8_t *)r->ev.session, MOLD_SESSION_LEN, false);
        out_u64_member(o, "from", r->ev.from);
        break;
    case MD_EV_HANDLER_RESTART:
        out_u64_member(o, "restarts", r->ev.value);
        break;
    default:
        break;
    }
}

int md_rec_json(const md_rec_t *r, const char *feed_name, char *buf, size_t cap)
{
    struct out o = {buf, buf + cap - 1, false};
    uint8_t msg[ITCH_MAX_LEN];
    size_t len = 0;

    if (cap == 0)
        return -1;
    if (r->kind == MD_KIND_MSG && (len = md_rec_to_itch(r, msg)) == 0)
        return -1;
    if (r->kind == MD_KIND_EVENT && (r->type == 0 || r->type >= MD_EV_COUNT))
        return -1;
    if (r->kind != MD_KIND_MSG && r->kind != MD_KIND_EVENT)
        return -1;
    out_str0(&o, "{\"seq\":");
    out_u64(&o, r->seq);
    if (r->kind == MD_KIND_EVENT) {
        out_str0(&o, ",\"event\":\"");
        out_str0(&o, md_event_name(r->type));
        out_str0(&o, "\"");
        out_feed(&o, r, feed_name);
        out_event(&o, r);
    } else {
        out_feed(&o, r, feed_name);
        out_u64_member(&o, "feed_seq", r->feed_seq);
        out_str0(&o, ",\"line\":\"");
        out_str0(&o, md_line_name(r->line));
        out_str0(&o, "\"");
        out_itch(&o, itch_desc(r->type), msg, ITCH_JSON_KEYS, false);
    }
    out_str0(&o, "}");
    return out_end(&o, buf);
}
