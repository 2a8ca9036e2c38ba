/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the configuration loader on YAML bytes (cfg_parse(), the buffer entry
 * point under cfg_load()). Whatever the bytes:
 *  - no crash, no leak, no read outside them;
 *  - rejected: the message is non-empty, NUL-terminated inside the buffer, and every
 *    line of it is "fuzz.yaml:LINE:COL: ..." (or the loader's "fuzz.yaml: ... and N
 *    more errors" / "fuzz.yaml: out of memory");
 *  - accepted: no message, and the result survives cfg_default_rx() and cfg_free().
 * The input is also loaded with a small error buffer, which must truncate cleanly.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

#define NAME "fuzz.yaml"

/* A message line: NAME:LINE:COL: TEXT, LINE and COL >= 1. */
static bool good_line(const char *s, size_t n)
{
    size_t k = strlen(NAME);
    if (n < k + 1 || memcmp(s, NAME, k) != 0 || s[k] != ':')
        return false;
    const char *p = s + k + 1, *end = s + n;
    if (p < end && *p == ' ') /* the counted-errors and out-of-memory lines */
        return (end - p >= 6 && memcmp(p, " ... a", 6) == 0) ||
               (end - p >= 14 && memcmp(p, " out of memory", 14) == 0);
    for (int field = 0; field < 2; field++) {
        unsigned long v = 0;
        const char *q = p;
        while (p < end && isdigit((unsigned char)*p))
            v = v * 10 + (unsigned long)(*p++ - '0');
        if (p == q || v == 0 || p == end || *p++ != ':')
            return false;
    }
    return p < end && *p == ' ';
}

int fz_config(const uint8_t *data, size_t size)
{
    if (size > CFG_MAX_FILE)
        return 0;
    /* an exact-size heap copy: ASan sees any read past the end */
    char *buf = malloc(size ? size : 1);
    FZ_CHECK(buf != NULL, "malloc");
    memcpy(buf, data, size);
    static char err[8192];
    memset(err, 0x5a, sizeof(err));
    cfg_t *c = cfg_parse(buf, size, NAME, err, sizeof(err));
    size_t elen = strnlen(err, sizeof(err));
    FZ_CHECK(elen < sizeof(err), "error message not NUL-terminated");
    if (c == NULL) {
        FZ_CHECK(elen > 0, "rejected without a message");
        for (const char *s = err; *s;) {
            const char *nl = strchr(s, '\n');
            size_t n = nl ? (size_t)(nl - s) : strlen(s);
            /* a last line cut by the buffer's end is not checked for its ending */
            FZ_CHECK(good_line(s, n) || (!nl && elen >= sizeof(err) - 1),
                     "message line without FILE:LINE:COL: '%.*s'", (int)n, s);
            s += n + (nl != NULL);
        }
    } else {
        FZ_CHECK(elen == 0, "accepted with a message: %s", err);
        FZ_CHECK(c->nfeeds <= CFG_MAX_FEEDS, "feeds %u", c->nfeeds);
        FZ_CHECK(cfg_default_rx(c, c->ports, c->nports) == 0, "cfg_default_rx");
        cfg_free(c);
    }
    /* a small buffer: truncated, terminated, and the same verdict */
    char small[24];
    memset(small, 0x5a, sizeof(small));
    cfg_t *c2 = cfg_parse(buf, size, NAME, small, sizeof(small));
    FZ_CHECK(memchr(small, 0, sizeof(small)) != NULL, "small message not NUL-terminated");
    FZ_CHECK((c2 == NULL) == (c == NULL), "verdict depends on the message buffer");
    cfg_free(c2);
    free(buf);
    return 0;
}
