/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mdmux-compare: two latency reports (stats JSON with a `latency` section, or
 * latency.json) side by side, before (A) and after (B), with B/A ratios.
 *
 *   mdmux-compare A.json B.json [--threshold R] [--fail-on-regression]
 *
 * A latency figure whose B/A ratio is above R (default 1.1) is marked REGRESSION.
 * Exit status: 0; 3 with --fail-on-regression when a regression was found; 2 a
 * usage error or unreadable input.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define MAX_STAGES 32

static const char *const metrics[] = {"min", "p50", "p90", "p99", "p999", "p9999", "max", "mean"};
static const char *const metric_names[] = {"min",   "p50",    "p90", "p99",
                                           "p99.9", "p99.99", "max", "mean"};
#define NMETRICS (sizeof(metrics) / sizeof(metrics[0]))

/** The comparison's settings and findings. */
typedef struct cmp {
    double threshold;
    unsigned regressions;
    const json_t *a, *b; /* the latency sections */
} cmp_t;

static int usage(FILE *f, int rc)
{
    fputs("usage: mdmux-compare A.json B.json [--threshold R] [--fail-on-regression]\n"
          "  Compares the latency sections of two mdmux reports (A before, B after):\n"
          "  every stage's percentiles and each feed's rx_to_publish p50/p99, with B/A.\n"
          "  A latency whose B/A exceeds R (default 1.1) is a REGRESSION; with\n"
          "  --fail-on-regression the exit status is then 3. Bad input: exit 2.\n",
          f);
    return rc;
}

/* Load @p path and return its latency section (with an `overall` object), or NULL. */
static const json_t *load_latency(const char *path, json_t **root)
{
    json_error_t e;
    *root = json_load_file(path, 0, &e);
    if (*root == NULL) {
        fprintf(stderr, "mdmux-compare: %s:%d:%d: %s\n", path, e.line, e.column, e.text);
        return NULL;
    }
    const json_t *lat = json_object_get(*root, "latency");
    if (!json_is_object(json_object_get(lat, "overall"))) {
        fprintf(stderr, "mdmux-compare: %s: no latency section (latency.overall)\n", path);
        return NULL;
    }
    return lat;
}

static double jnum(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* B/A, with 0/0 = 1 and x/0 = inf. */
static double ratio(double a, double b)
{
    if (a == 0)
        return b == 0 ? 1 : INFINITY;
    return b / a;
}

/* Add @p name to @p names unless present. */
static void add_name(const char **names, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(names[i], name) == 0)
            return;
    if (*n < MAX_STAGES)
        names[(*n)++] = name;
}

/* The stages of both reports: A's order first. */
static size_t stages_of(const cmp_t *c, const char **names)
{
    size_t n = 0, i;
    const json_t *lat[2] = {c->a, c->b}, *v;
    for (unsigned k = 0; k < 2; k++) {
        json_array_foreach(json_object_get(lat[k], "stages"), i, v)
        {
            if (json_is_string(v))
                add_name(names, &n, json_string_value(v));
        }
        const char *key;
        json_object_foreach((json_t *)json_object_get(lat[k], "overall"), key, v)
        {
            add_name(names, &n, key);
        }
    }
    return n;
}

/* Print "A B B/A" cells; returns true when a latency regression is marked. */
static bool cells(cmp_t *c, double a, double b, bool latency)
{
    if (!isfinite(a) || !isfinite(b)) {
        printf(" %12s %12s %7s", "-", "-", "-");
        return false;
    }
    double r = ratio(a, b);
    printf(" %12.0f %12.0f %7.2f", a, b, r);
    bool bad = latency && r > c->threshold;
    c->regressions += bad;
    return bad;
}

/* One row per figure of @p stage. */
static void stage_rows(cmp_t *c, const char *stage)
{
    const json_t *sa = json_object_get(json_object_get(c->a, "overall"), stage);
    const json_t *sb = json_object_get(json_object_get(c->b, "overall"), stage);
    if (sa == NULL || sb == NULL) {
        printf("%-22s only in %s\n", stage, sa == NULL ? "B" : "A");
        return;
    }
    printf("%-22s %-7s %12.0f %12.0f %7.2f\n", stage, "count", jnum(sa, "count"), jnum(sb, "count"),
           ratio(jnum(sa, "count"), jnum(sb, "count")));
    for (size_t m = 0; m < NMETRICS; m++) {
        double a = jnum(sa, metrics[m]), b = jnum(sb, metrics[m]);
        if (!isfinite(a) || !isfinite(b))
            continue;
        printf("%-22s %-7s", "", metric_names[m]);
        bool bad = cells(c, a, b, true);
        double r = ratio(a, b);
        puts(bad ? "  << REGRESSION" : r < 1 / c->threshold ? "  improved" : "");
    }
}

/* Each feed of A (and of B) with its rx_to_publish p50 and p99 on both sides. */
static void feed_rows(cmp_t *c)
{
    const json_t *fa = json_object_get(c->a, "feeds"), *fb = json_object_get(c->b, "feeds");
    const char *name;
    const json_t *v;
    if (json_object_size(fa) == 0 && json_object_size(fb) == 0)
        return;
    printf("\nper feed, rx_to_publish (ns)\n%-22s %12s %12s %7s %12s %12s %7s\n", "feed", "A p50",
           "B p50", "B/A", "A p99", "B p99", "B/A");
    json_object_foreach((json_t *)fa, name, v)
    {
        const json_t *a = json_object_get(v, "rx_to_publish");
        const json_t *b = json_object_get(json_object_get(fb, name), "rx_to_publish");
        if (b == NULL) {
            printf("%-22s only in A\n", name);
            continue;
        }
        printf("%-22s", name);
        bool bad = cells(c, jnum(a, "p50"), jnum(b, "p50"), true);
        bad |= cells(c, jnum(a, "p99"), jnum(b, "p99"), true);
        puts(bad ? "  << REGRESSION" : "");
    }
    json_object_foreach((json_t *)fb, name, v)
    {
        if (json_object_get(fa, name) == NULL)
            printf("%-22s only in B\n", name);
    }
}

/* Parse the threshold argument: a finite number > 0. */
static bool parse_threshold(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v <= 0)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    cmp_t c = {.threshold = 1.1};
    const char *path[2] = {NULL, NULL};
    bool fail = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return usage(stdout, 0);
        if (strcmp(argv[i], "--fail-on-regression") == 0) {
            fail = true;
        } else if (strcmp(argv[i], "--threshold") == 0) {
            if (i + 1 >= argc || !parse_threshold(argv[++i], &c.threshold)) {
                fprintf(stderr, "mdmux-compare: --threshold needs a number > 0\n");
                return 2;
            }
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "mdmux-compare: unknown option '%s'\n", argv[i]);
            return usage(stderr, 2);
        } else if (path[1] != NULL) {
            return usage(stderr, 2);
        } else {
            path[path[0] != NULL] = argv[i];
        }
    }
    if (path[1] == NULL)
        return usage(stderr, 2);
    json_t *ra = NULL, *rb = NULL;
    c.a = load_latency(path[0], &ra);
    c.b = c.a != NULL ? load_latency(path[1], &rb) : NULL;
    if (c.b == NULL) {
        json_decref(ra);
        json_decref(rb);
        return 2;
    }
    const char *stages[MAX_STAGES];
    size_t ns = stages_of(&c, stages);
    printf("A: %s\nB: %s\nlatency in ns; B/A above %.2f is a regression\n\n", path[0], path[1],
           c.threshold);
    printf("%-22s %-7s %12s %12s %7s\n", "stage", "figure", "A", "B", "B/A");
    for (size_t i = 0; i < ns; i++)
        stage_rows(&c, stages[i]);
    feed_rows(&c);
    if (c.regressions)
        printf("\n%u regression%s beyond x%.2f\n", c.regressions, c.regressions > 1 ? "s" : "",
               c.threshold);
    else
        printf("\nno regression beyond x%.2f\n", c.threshold);
    json_decref(ra);
    json_decref(rb);
    return fail && c.regressions ? 3 : 0;
}
