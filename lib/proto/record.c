/* SPDX-License-Identifier: BSD-3-Clause */
/* record.c: md_rec_t helpers: names, events, re-encoding a record to ITCH bytes. */
#include "proto.h"
#include "proto_internal.h"

static const char *const event_names[MD_EV_COUNT] = {
    [MD_EV_GAP] = "gap",
    [MD_EV_GAP_FILLED] = "gap_filled",
    [MD_EV_GAP_FINAL] = "gap_final",
    [MD_EV_LINE_UP] = "line_up",
    [MD_EV_LINE_DOWN] = "line_down",
    [MD_EV_FEED_UP] = "feed_up",
    [MD_EV_FEED_DOWN] = "feed_down",
    [MD_EV_SESSION_CHANGE] = "session_change",
    [MD_EV_END_OF_SESSION] = "end_of_session",
    [MD_EV_HANDLER_RESTART] = "handler_restart",
};

const char *md_event_name(unsigned ev)
{
    return ev > 0 && ev < MD_EV_COUNT ? event_names[ev] : "unknown";
}

const char *md_line_name(unsigned line)
{
    static const char *const names[] = {"A", "B", "R"};
    return line < 3 ? names[line] : "-";
}

void md_rec_event(md_rec_t *r, md_event_t ev, uint16_t feed, uint8_t line, uint64_t from,
                  uint64_t to, uint64_t value)
{
    /* Everything between seq and the stamps: feed_seq .. stock. */
    memset(&r->feed_seq, 0, offsetof(md_rec_t, tsc) - offsetof(md_rec_t, feed_seq));
    r->feed = feed;
    r->line = line;
    r->kind = MD_KIND_EVENT;
    r->type = (uint8_t)ev;
    r->ev.from = from;
    r->ev.to = to;
    r->ev.value = value;
}

/* The record's value for a field of role @p role (integer roles only). */
static uint64_t rec_value(const md_rec_t *r, unsigned role)
{
    switch (role) {
    case ITCH_R_TYPE:
        return r->type;
    case ITCH_R_LOCATE:
        return r->locate;
    case ITCH_R_TRACKING:
        return r->tracking;
    case ITCH_R_TS:
        return r->ts;
    case ITCH_R_REF:
        return r->ref;
    case ITCH_R_NEW_REF:
        return r->new_ref;
    case ITCH_R_SIDE:
        return (uint8_t)r->side;
    case ITCH_R_SHARES:
        return r->shares;
    case ITCH_R_PRICE:
        return (uint64_t)r->price;
    case ITCH_R_MATCH:
        return r->match;
    case ITCH_R_PRINTABLE:
        return (uint8_t)r->printable;
    case ITCH_R_CROSS_TYPE:
        return (uint8_t)r->cross_type;
    default:
        return 0;
    }
}

/* Write one field from the record; body-view fields come from the body copy. */
static void put_field(const md_rec_t *r, const itch_field_t *f, uint8_t *out)
{
    if (f->role == ITCH_R_STOCK)
        memcpy(out + f->off, r->stock, 8);
    else if (f->role == ITCH_R_MPID)
        memcpy(out + f->off, r->mpid, 4);
    else if (f->role != ITCH_R_NONE)
        proto_put_uint(out + f->off, f->width, rec_value(r, f->role));
}

size_t md_rec_to_itch(const md_rec_t *r, uint8_t *out)
{
    const itch_desc_t *d = r->kind == MD_KIND_MSG ? itch_desc(r->type) : NULL;

    if (!d)
        return 0;
    if (d->view == ITCH_VIEW_BODY)
        memcpy(out + ITCH_HDR_LEN, r->body, d->len - ITCH_HDR_LEN);
    for (unsigned i = 0; i < d->nfields; i++)
        put_field(r, &d->fields[i], out);
    return d->len;
}
