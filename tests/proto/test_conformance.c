/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/proto conformance: decode every MoldUDP64/ITCH 5.0 message of the real captures in
 * ../shared/conformance/nasdaq-itch50/ and compare every field with expected.jsonl (as
 * decoded by Wireshark with the Open Markets Initiative ITCH 5.0 dissector). Skipped,
 * with a message, where that folder is absent.
 *
 * The folder is MDMUX_CONFORMANCE_DIR (environment, else the build's -D define). Frames
 * are parsed here (Ethernet, 802.1Q/QinQ tags, IPv4, UDP) so the test needs no lib/io.
 * Wireshark's field names are the spec's without separators ("orderreferencenumber"):
 * each maps onto the field of our table whose snake_case name, underscores removed, is
 * the same; every key of every expected line must map, so no field goes unchecked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto.h"

#ifndef MDMUX_CONFORMANCE_DIR
#define MDMUX_CONFORMANCE_DIR ""
#endif

#define MAX_EXPECTED 4096
#define MAX_FILES    256

struct expected {
    json_t *obj;
    const char *file;
    long frame;
    long index;
    int matched;
};

static struct expected exp_tab[MAX_EXPECTED];
static size_t n_exp;
static char itch_dir[4096];
static size_t n_fields_compared;

/* Keys of an expected line that describe the packet, not the message's fields. */
static const char *const meta_keys[] = {"file",  "frame",        "session",      "seq",
                                        "count", "messageindex", "messagelength"};

static bool is_meta(const char *key)
{
    for (size_t i = 0; i < sizeof(meta_keys) / sizeof(meta_keys[0]); i++)
        if (strcmp(key, meta_keys[i]) == 0)
            return true;
    return false;
}

static long json_long(json_t *v)
{
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    if (json_is_string(v))
        return strtol(json_string_value(v), NULL, 10);
    fail_msg("expected a number");
    return -1;
}

static int setup(void **state)
{
    (void)state;
    const char *root = getenv("MDMUX_CONFORMANCE_DIR");
    if (!root || !*root)
        root = MDMUX_CONFORMANCE_DIR;
    snprintf(itch_dir, sizeof(itch_dir), "%s/nasdaq-itch50", root);

    char path[4200];
    snprintf(path, sizeof(path), "%s/expected.jsonl", itch_dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        n_exp = 0;
        return 0; /* the test skips */
    }
    char line[8192];
    while (fgets(line, sizeof(line), f)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        if (!o || n_exp == MAX_EXPECTED) {
            fprintf(stderr, "%s: line %zu: %s\n", path, n_exp + 1, o ? "too many" : jerr.text);
            fclose(f);
            return -1;
        }
        struct expected *e = &exp_tab[n_exp++];
        e->obj = o;
        e->file = json_string_value(json_object_get(o, "file"));
        e->frame = json_long(json_object_get(o, "frame"));
        e->index = json_long(json_object_get(o, "messageindex"));
    }
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_exp; i++)
        json_decref(exp_tab[i].obj);
    return 0;
}

static struct expected *find_expected(const char *file, long frame, long index)
{
    for (size_t i = 0; i < n_exp; i++) {
        struct expected *e = &exp_tab[i];
        if (e->frame == frame && e->index == index && e->file && strcmp(e->file, file) == 0)
            return e;
    }
    return NULL;
}

/* Our field for Wireshark's key: spec name without underscores (Y calls it locatecode). */
static const itch_field_t *map_key(const itch_desc_t *d, const char *key)
{
    if (strcmp(key, "locatecode") == 0)
        key = "stocklocate";
    for (unsigned i = 0; i < d->nfields; i++) {
        char flat[64];
        size_t n = 0;
        for (const char *s = d->fields[i].name; *s && n + 1 < sizeof(flat); s++)
            if (*s != '_')
                flat[n++] = *s;
        flat[n] = 0;
        if (strcmp(flat, key) == 0)
            return &d->fields[i];
    }
    return NULL;
}

/* "87.39" -> 873900 at @p decimals implied decimals; exact, no floating point. */
static uint64_t parse_price(const char *s, unsigned decimals)
{
    uint64_t v = 0;
    unsigned frac = 0;
    bool dot = false;

    for (; *s; s++) {
        if (*s == '.') {
            assert_false(dot);
            dot = true;
            continue;
        }
        assert_true(*s >= '0' && *s <= '9');
        if (dot && ++frac > decimals)
            fail_msg("price with more than %u decimals", decimals);
        v = v * 10 + (uint64_t)(*s - '0');
    }
    for (; frac < decimals; frac++)
        v *= 10;
    return v;
}

static size_t trimmed_len(const uint8_t *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == 0))
        n--;
    return n;
}

/* One field: ours against Wireshark's string. */
static void compare_field(const char *where, const uint8_t *msg, const itch_field_t *f,
                          const char *want)
{
    const uint8_t *p = msg + f->off;
    uint64_t got = itch_field_u64(msg, f);
    bool ok;

    switch (f->kind) {
    case ITCH_K_CHAR:
        ok = strlen(want) == 1 && (uint8_t)want[0] == p[0];
        break;
    case ITCH_K_ALPHA: {
        size_t n = trimmed_len(p, f->width);
        ok = trimmed_len((const uint8_t *)want, strlen(want)) == n && memcmp(want, p, n) == 0;
        break;
    }
    case ITCH_K_PRICE4:
        ok = got == parse_price(want, 4);
        break;
    case ITCH_K_PRICE8:
        ok = got == parse_price(want, 8);
        break;
    default:
        ok = got == strtoull(want, NULL, 10);
        break;
    }
    if (!ok)
        fail_msg("%s: %s is %llu / '%.*s', expected '%s'", where, f->name, (unsigned long long)got,
                 (int)f->width, (const char *)p, want);
    n_fields_compared++;
}

/* The record's copy of a field with a role, against the message bytes. */
static void compare_record(const char *where, const md_rec_t *r, const uint8_t *msg,
                           const itch_field_t *f)
{
    uint64_t want = itch_field_u64(msg, f), got;

    switch (f->role) {
    case ITCH_R_LOCATE:
        got = r->locate;
        break;
    case ITCH_R_TRACKING:
        got = r->tracking;
        break;
    case ITCH_R_TS:
        got = r->ts;
        break;
    case ITCH_R_REF:
        got = r->ref;
        break;
    case ITCH_R_NEW_REF:
        got = r->new_ref;
        break;
    case ITCH_R_SIDE:
        got = (uint8_t)r->side;
        break;
    case ITCH_R_SHARES:
        got = r->shares;
        break;
    case ITCH_R_PRICE:
        got = (uint64_t)r->price;
        break;
    case ITCH_R_MATCH:
        got = r->match;
        break;
    case ITCH_R_PRINTABLE:
        got = (uint8_t)r->printable;
        break;
    case ITCH_R_CROSS_TYPE:
        got = (uint8_t)r->cross_type;
        break;
    case ITCH_R_STOCK:
        if (memcmp(r->stock, msg + f->off, 8) != 0)
            fail_msg("%s: record stock differs", where);
        return;
    case ITCH_R_MPID:
        if (memcmp(r->mpid, msg + f->off, 4) != 0)
            fail_msg("%s: record mpid differs", where);
        return;
    default:
        return;
    }
    if (got != want)
        fail_msg("%s: record %s is %llu, message has %llu", where, f->name, (unsigned long long)got,
                 (unsigned long long)want);
}

/* Decode one message both ways and check it against its expected line. */
static void check_message(const char *where, const struct expected *e, const mold_pkt_t *pkt,
                          const mold_msg_t *m)
{
    json_t *o = e->obj;
    md_rec_t r, t;

    /* The MoldUDP64 header as Wireshark saw it (a NUL-filled session shows as ""). */
    const char *sess = json_string_value(json_object_get(o, "session"));
    size_t sl = trimmed_len(pkt->session, MOLD_SESSION_LEN);
    if (!sess || strlen(sess) != sl || memcmp(sess, pkt->session, sl) != 0)
        fail_msg("%s: session differs", where);
    assert_int_equal(json_long(json_object_get(o, "seq")), (long)pkt->seq);
    assert_int_equal(json_long(json_object_get(o, "count")), pkt->count);
    assert_int_equal(json_long(json_object_get(o, "messagelength")), m->len);

    memset(&r, 0, sizeof(r));
    memset(&t, 0, sizeof(t));
    int err = itch_decode(m->data, m->len, &r);
    if (err)
        fail_msg("%s: itch_decode: %s", where, itch_err_name((unsigned)err));
    assert_int_equal(itch_decode_table(m->data, m->len, &t), ITCH_OK);
    assert_memory_equal(&r, &t, sizeof(r));
    uint8_t back[ITCH_MAX_LEN];
    assert_int_equal(md_rec_to_itch(&r, back), m->len);
    assert_memory_equal(back, m->data, m->len);

    const itch_desc_t *d = itch_desc(m->data[0]);
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (is_meta(key))
            continue;
        const itch_field_t *f = map_key(d, key);
        if (!f)
            fail_msg("%s: expected key '%s' has no field in our %c table", where, key, d->type);
        if (!json_is_string(v))
            fail_msg("%s: %s is not a string", where, key);
        compare_field(where, m->data, f, json_string_value(v));
    }
    for (unsigned i = 0; i < d->nfields; i++)
        compare_record(where, &r, m->data, &d->fields[i]);

    char buf[MD_JSON_MAX];
    assert_true(itch_json(m->data, m->len, 0, buf, sizeof(buf)) > 0);
    assert_true(md_rec_json(&r, NULL, buf, sizeof(buf)) > 0);
}

/* UDP payload of an Ethernet frame (802.1Q / QinQ tags skipped), or NULL. */
static const uint8_t *udp_payload(const uint8_t *f, size_t caplen, size_t *len)
{
    size_t off = 12;

    if (caplen < 14)
        return NULL;
    uint16_t et = (uint16_t)(f[off] << 8 | f[off + 1]);
    while ((et == 0x8100 || et == 0x88a8) && caplen >= off + 6) {
        off += 4;
        et = (uint16_t)(f[off] << 8 | f[off + 1]);
    }
    off += 2;
    if (et != 0x0800 || caplen < off + 20 || (f[off] >> 4) != 4 || f[off + 9] != 17)
        return NULL;
    off += (size_t)(f[off] & 15) * 4;
    if (caplen < off + 8)
        return NULL;
    size_t ulen = (size_t)(f[off + 4] << 8 | f[off + 5]);
    if (ulen < 8 || caplen < off + ulen)
        return NULL;
    *len = ulen - 8;
    return f + off + 8;
}

/* Every frame of one capture; returns the number of messages. */
static size_t check_capture(const char *name, size_t *packets)
{
    char path[4400], errbuf[PCAP_ERRBUF_SIZE];
    snprintf(path, sizeof(path), "%s/%s", itch_dir, name);
    pcap_t *p = pcap_open_offline(path, errbuf);
    if (!p)
        fail_msg("%s: %s", path, errbuf);

    struct pcap_pkthdr *h;
    const uint8_t *data;
    long frame = 0;
    size_t msgs = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        frame++;
        size_t len = 0;
        const uint8_t *pl = udp_payload(data, h->caplen, &len);
        if (!pl)
            fail_msg("%s frame %ld: not an IPv4/UDP frame", name, frame);
        mold_pkt_t pkt;
        mold_err_t err = mold_parse(pl, len, &pkt);
        if (err != MOLD_OK)
            fail_msg("%s frame %ld: mold_parse: %s", name, frame, mold_err_name(err));
        (*packets)++;
        mold_iter_t it;
        mold_msg_t m;
        long index = 0;
        mold_iter_init(&it, &pkt);
        while (mold_iter_next(&it, &m)) {
            char where[512];
            index++;
            snprintf(where, sizeof(where), "%s frame %ld message %ld", name, frame, index);
            struct expected *e = find_expected(name, frame, index);
            if (!e)
                fail_msg("%s: not in expected.jsonl", where);
            if (e->matched++)
                fail_msg("%s: matched twice", where);
            check_message(where, e, &pkt, &m);
            msgs++;
        }
    }
    if (rc != PCAP_ERROR_BREAK)
        fail_msg("%s: %s", path, pcap_geterr(p));
    pcap_close(p);
    return msgs;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .pcap files of the folder, sorted; returns how many. */
static size_t list_captures(char **names, size_t max)
{
    DIR *dir = opendir(itch_dir);
    struct dirent *de;
    size_t n = 0;

    assert_non_null(dir);
    while ((de = readdir(dir)) && n < max) {
        size_t l = strlen(de->d_name);
        if (l > 5 && strcmp(de->d_name + l - 5, ".pcap") == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof(names[0]), cmp_str);
    return n;
}

static void test_conformance(void **state)
{
    (void)state;
    if (n_exp == 0) {
        printf("proto_conformance: SKIPPED: no %s/expected.jsonl (set MDMUX_CONFORMANCE_DIR "
               "to the folder holding nasdaq-itch50/)\n",
               itch_dir);
        skip();
    }
    char *names[MAX_FILES];
    size_t nfiles = list_captures(names, MAX_FILES), packets = 0, msgs = 0;
    assert_true(nfiles > 0);
    for (size_t i = 0; i < nfiles; i++) {
        msgs += check_capture(names[i], &packets);
        free(names[i]);
    }
    for (size_t i = 0; i < n_exp; i++)
        if (!exp_tab[i].matched)
            fail_msg("expected.jsonl line %zu (%s frame %ld message %ld) never decoded", i + 1,
                     exp_tab[i].file, exp_tab[i].frame, exp_tab[i].index);
    assert_int_equal(msgs, n_exp);
    printf("proto_conformance: %zu files, %zu packets, %zu messages, %zu fields: all match "
           "expected.jsonl\n",
           nfiles, packets, msgs, n_fields_compared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
