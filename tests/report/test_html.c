/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HTML report (tools/report): well-formed XML, one <svg> per plot whose lines
 * have as many points as the data, nothing external; partial and mistyped input;
 * the mdmux-report CLI; and a render in headless Chromium (skipped where it cannot
 * run): a screenshot with enough colours, and every plotted line with a non-empty
 * bounding box in the rendered DOM.
 *
 * MDMUX_REPORT_KEEP=DIR keeps report.html and report.png in DIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <png.h>

#include "html.h"
#include "sample.h"

#define NFEEDS     50
#define NINTERVALS 60

/* The report of @p j as a string (malloc'd). */
static char *render(json_t *j)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(report_html_write(j, f), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* Parse @p html as XML; fails the test on any error. */
static xmlDocPtr parse(const char *html)
{
    xmlDocPtr d = xmlReadMemory(html, (int)strlen(html), "report.html", "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (d == NULL) {
        const xmlError *e = xmlGetLastError();
        fail_msg("report is not well-formed: line %d: %s", e ? e->line : 0, e ? e->message : "?");
    }
    return d;
}

static xmlXPathObjectPtr xpath(xmlDocPtr d, const char *expr)
{
    xmlXPathContextPtr c = xmlXPathNewContext(d);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, c);
    xmlXPathFreeContext(c);
    assert_non_null(o);
    return o;
}

static int node_count(xmlDocPtr d, const char *expr)
{
    xmlXPathObjectPtr o = xpath(d, expr);
    int n = o->nodesetval ? o->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(o);
    return n;
}

/* Points in a polyline's points attribute. */
static size_t point_count(const char *pts)
{
    size_t n = 0;
    for (const char *p = pts; *p; p++)
        n += *p == ',';
    return n;
}

/* Check every polyline under @p svg_id: points = data-n = @p expect (0: skip). */
static void check_lines(xmlDocPtr d, const char *svg_id, int nlines, size_t expect)
{
    char expr[128];
    snprintf(expr, sizeof(expr), "//svg[@id='%s']//polyline", svg_id);
    xmlXPathObjectPtr o = xpath(d, expr);
    assert_non_null(o->nodesetval);
    assert_int_equal(o->nodesetval->nodeNr, nlines);
    for (int i = 0; i < o->nodesetval->nodeNr; i++) {
        xmlChar *pts = xmlGetProp(o->nodesetval->nodeTab[i], (const xmlChar *)"points");
        xmlChar *dn = xmlGetProp(o->nodesetval->nodeTab[i], (const xmlChar *)"data-n");
        assert_non_null(pts);
        assert_non_null(dn);
        size_t n = point_count((const char *)pts);
        assert_true(n > 1);
        assert_int_equal(n, strtoul((const char *)dn, NULL, 10));
        if (expect)
            assert_int_equal(n, expect);
        xmlFree(pts);
        xmlFree(dn);
    }
    xmlXPathFreeObject(o);
}

/* Length of a stage's distribution in the sample. */
static size_t dist_len(json_t *j, const char *stage)
{
    return json_array_size(json_object_get(
        json_object_get(json_object_get(json_object_get(j, "latency"), "overall"), stage),
        "distribution"));
}

static void test_wellformed(void **state)
{
    (void)state;
    json_t *j = sample_stats(NFEEDS, NINTERVALS, 1.0, 1);
    char *html = render(j);
    xmlDocPtr d = parse(html);
    /* all stages, one per stage, stage latency over time per stage, feed rates */
    assert_int_equal(node_count(d, "//svg"), 1 + 2 * SAMPLE_NSTAGES + 2);
    check_lines(d, "dist-all", SAMPLE_NSTAGES, 0);
    const char *stages[] = {"rx_to_dequeue", "dequeue_to_decode", "decode_to_publish",
                            "rx_to_publish", "intended_to_publish"};
    for (unsigned i = 0; i < SAMPLE_NSTAGES; i++) {
        char id[32];
        snprintf(id, sizeof(id), "dist-%u", i);
        check_lines(d, id, 1, dist_len(j, stages[i]));
        snprintf(id, sizeof(id), "time-%u", i);
        check_lines(d, id, 3, NINTERVALS);
    }
    check_lines(d, "rates", 11, NINTERVALS); /* top 10 + the others' median */
    assert_int_equal(node_count(d, "//svg[@id='rates']//polygon[@class='band']"), 1);
    /* the heatmap: a cell per feed and interval, a label per feed */
    assert_int_equal(node_count(d, "//svg[@id='rates-heat']/rect[@class='cell']"),
                     NFEEDS * NINTERVALS);
    assert_int_equal(node_count(d, "//svg[@id='rates-heat']/text[@class='rowlabel']"), NFEEDS);
    /* the x axis ticks of the distribution */
    const char *ticks[] = {"50%", "90%", "99%", "99.9%", "99.99%", "99.999%"};
    for (unsigned i = 0; i < 6; i++) {
        char expr[96];
        snprintf(expr, sizeof(expr), "//svg[@id='dist-all']/text[@class='tick' and .='%s']",
                 ticks[i]);
        assert_int_equal(node_count(d, expr), 1);
    }
    /* tables: stages, counters of every feed + total */
    assert_true(node_count(d, "//table") >= 3);
    assert_int_equal(node_count(d, "//h2[.='Counters']/following-sibling::table[1]/tbody/tr"),
                     NFEEDS + 1);
    /* self-contained */
    assert_null(strstr(html, "http:"));
    assert_null(strstr(html, "https:"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "@import"));
    xmlFreeDoc(d);
    free(html);
    json_decref(j);
}

static void test_partial_input(void **state)
{
    (void)state;
    /* counters only: no latency section */
    json_t *j = sample_stats(3, 10, 1.0, 2);
    json_object_del(j, "latency");
    char *html = render(j);
    xmlDocPtr d = parse(html);
    assert_int_equal(node_count(d, "//svg"), 0);
    assert_non_null(strstr(html, "no latency section"));
    xmlFreeDoc(d);
    free(html);
    json_decref(j);
    /* mistyped values everywhere: still a well-formed page */
    j = json_loads("{\"mode\": 3, \"feeds\": [1, {\"name\": 2, \"lines\": []}],"
                   " \"latency\": {\"stages\": [\"a&b<c>\", 7], \"overall\": {\"a&b<c>\": "
                   "{\"count\": \"x\", \"distribution\": [[1], \"y\", [2, 50, 1], [5, 100, 2]]}},"
                   " \"feeds\": [], \"series\": {\"t_ms\": [1, \"z\"], \"rates\": {\"f\": 3},"
                   " \"stages\": {\"a&b<c>\": {\"p50\": [1, 2, 3]}}}}}",
                   0, NULL);
    assert_non_null(j);
    html = render(j);
    xmlFreeDoc(parse(html));
    free(html);
    json_decref(j);
    /* not an object */
    j = json_array();
    assert_int_equal(report_html_write(j, stdout), -1);
    json_decref(j);
}

/* A numeric attribute of a node. */
static double attr(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    assert_non_null(v);
    double d = strtod((const char *)v, NULL);
    xmlFree(v);
    return d;
}

/* The frame of svg @p id: its plot area's left and right edges, pixels. */
static void frame_of(xmlDocPtr d, const char *id, double *x0, double *x1)
{
    char expr[128];
    snprintf(expr, sizeof(expr), "//svg[@id='%s']/rect[@class='frame']", id);
    xmlXPathObjectPtr o = xpath(d, expr);
    assert_non_null(o->nodesetval);
    assert_int_equal(o->nodesetval->nodeNr, 1);
    *x0 = attr(o->nodesetval->nodeTab[0], "x");
    *x1 = *x0 + attr(o->nodesetval->nodeTab[0], "width");
    xmlXPathFreeObject(o);
}

/* The x range of every polyline point of svg @p id, pixels. */
static void points_of(xmlDocPtr d, const char *id, double *lo, double *hi)
{
    char expr[128];
    snprintf(expr, sizeof(expr), "//svg[@id='%s']//polyline", id);
    xmlXPathObjectPtr o = xpath(d, expr);
    *lo = 1e9;
    *hi = -1e9;
    for (int i = 0; o->nodesetval && i < o->nodesetval->nodeNr; i++) {
        xmlChar *pts = xmlGetProp(o->nodesetval->nodeTab[i], (const xmlChar *)"points");
        for (char *p = (char *)pts; p && *p;) {
            char *end;
            double x = strtod(p, &end);
            if (end == p)
                break;
            *lo = x < *lo ? x : *lo;
            *hi = x > *hi ? x : *hi;
            p = strchr(end, ' ');
            if (p == NULL)
                break;
            p++;
        }
        xmlFree(pts);
    }
    xmlXPathFreeObject(o);
}

/* The values of the time ticks ("2.5 s") of svg @p id: count, min and max. */
static int time_ticks(xmlDocPtr d, const char *id, double *lo, double *hi)
{
    char expr[128];
    snprintf(expr, sizeof(expr), "//svg[@id='%s']/text[@class='tick']", id);
    xmlXPathObjectPtr o = xpath(d, expr);
    int n = 0;
    *lo = 1e9;
    *hi = -1e9;
    for (int i = 0; o->nodesetval && i < o->nodesetval->nodeNr; i++) {
        xmlChar *c = xmlNodeGetContent(o->nodesetval->nodeTab[i]);
        size_t l = strlen((const char *)c);
        if (l > 2 && strcmp((const char *)c + l - 2, " s") == 0) {
            double v = strtod((const char *)c, NULL);
            *lo = v < *lo ? v : *lo;
            *hi = v > *hi ? v : *hi;
            n++;
        }
        xmlFree(c);
    }
    xmlXPathFreeObject(o);
    return n;
}

/* No coordinate or label is a NaN or an infinity. */
static void no_nan(const char *html)
{
    static const char *const bad[] = {
        "\"nan", "\"-nan", "\"inf", "\"-inf", ",nan",  ",-nan", "nan,",  ",inf",  ",-inf", "inf,",
        ">nan",  ">-nan",  ">inf",  ">-inf",  " nan ", " nan,", " -nan", " inf ", " -inf"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strstr(html, bad[i]))
            fail_msg("'%s' in the page: %.200s", bad[i], strstr(html, bad[i]));
}

/*
 * The time axes span the data and no more: a series that ends at 5.7 s ends at the
 * right edge of the frame and no tick lies past its last interval (a 1-2-5 axis
 * rounded up to 6 s would leave a blank strip and a tick beyond the data); the
 * heatmap's cells fill its frame; one interval and empty series draw sane axes.
 */
static void test_time_axis(void **state)
{
    (void)state;
    const unsigned nt = 57; /* 0.1 .. 5.7 s: not a multiple of a 1-2-5 step */
    const double last = nt / 10.0, iv = 0.1;
    json_t *j = sample_stats(12, nt, 1.0, 3);
    char *html = render(j);
    xmlDocPtr d = parse(html);
    static const char *const ids[] = {"time-0", "time-3", "rates"};
    for (unsigned i = 0; i < 3; i++) {
        double f0, f1, p0, p1, t0, t1;
        frame_of(d, ids[i], &f0, &f1);
        points_of(d, ids[i], &p0, &p1);
        if (fabs(p1 - f1) > 0.6 || fabs(p0 - f0) > 0.6)
            fail_msg("%s: data spans x %.1f..%.1f, the frame %.1f..%.1f", ids[i], p0, p1, f0, f1);
        assert_true(time_ticks(d, ids[i], &t0, &t1) >= 3);
        if (t1 > last + iv * 1e-6 || t0 < iv - 1e-6)
            fail_msg("%s: ticks %.2f..%.2f s outside the data's 0.1..%.1f s", ids[i], t0, t1, last);
    }
    /* heatmap: first cell at the frame's left edge, last one ending at its right */
    double f0, f1, c0 = 1e9, c1 = -1e9;
    frame_of(d, "rates-heat", &f0, &f1);
    xmlXPathObjectPtr o = xpath(d, "//svg[@id='rates-heat']/rect[@class='cell']");
    assert_int_equal(o->nodesetval->nodeNr, 12 * (int)nt);
    for (int i = 0; i < o->nodesetval->nodeNr; i++) {
        double x = attr(o->nodesetval->nodeTab[i], "x"),
               w = attr(o->nodesetval->nodeTab[i], "width");
        c0 = x < c0 ? x : c0;
        c1 = x + w > c1 ? x + w : c1;
    }
    xmlXPathFreeObject(o);
    assert_true(fabs(c0 - f0) < 0.6 && fabs(c1 - f1) < 0.6);
    double t0, t1;
    assert_true(time_ticks(d, "rates-heat", &t0, &t1) >= 3);
    assert_true(t0 >= 0 && t1 <= last + 1e-6);
    xmlFreeDoc(d);
    free(html);
    json_decref(j);

    /* one interval: a marker in the middle of a finite axis */
    j = sample_stats(3, 1, 1.0, 4);
    html = render(j);
    d = parse(html);
    no_nan(html);
    assert_true(node_count(d, "//svg[@id='time-0']//circle[@class='marker']") == 3);
    double p0, p1;
    frame_of(d, "time-0", &f0, &f1);
    points_of(d, "time-0", &p0, &p1);
    assert_true(fabs(p0 - (f0 + f1) / 2) < 0.6);
    assert_true(time_ticks(d, "time-0", &t0, &t1) >= 2);
    assert_true(t0 >= 0 && t1 <= 0.2 + 1e-6);
    xmlFreeDoc(d);
    free(html);

    /* a stage with no message in any interval: a note, not an empty plot */
    json_t *st = json_object_get(
        json_object_get(json_object_get(json_object_get(j, "latency"), "series"), "stages"),
        "rx_to_dequeue");
    static const char *const q[] = {"p50", "p99", "max"};
    for (unsigned k = 0; k < 3; k++)
        json_object_set_new(st, q[k], json_pack("[i]", 0));
    html = render(j);
    d = parse(html);
    assert_int_equal(node_count(d, "//svg[@id='time-0']"), 0);
    assert_int_equal(node_count(d, "//svg[@id='time-1']"), 1);
    assert_non_null(strstr(html, "rx_to_dequeue: no message in any interval"));
    xmlFreeDoc(d);
    free(html);
    json_decref(j);
}

/*
 * A downsampled series (docs/latency.md, "Bounded memory"): 9 points of 400 ms (the
 * 100 ms base interval merged in pairs twice) and a partial last one of 150 ms. The
 * heatmap's cells span each point's real start and end (t_start_ms .. t_ms), the time
 * plots keep one point per entry, and the note says what a point is.
 */
static void test_downsampled(void **state)
{
    (void)state;
    const unsigned n = 10;
    json_t *j = sample_stats(3, n, 1.0, 5);
    json_t *ser = json_object_get(json_object_get(j, "latency"), "series");
    json_t *t0 = json_array(), *t1 = json_array();
    for (unsigned i = 0; i < n; i++) {
        json_array_append_new(t0, json_integer(400 * (json_int_t)i));
        json_array_append_new(t1, json_integer(i + 1 < n ? 400 * (json_int_t)(i + 1) : 3750));
    }
    json_object_set_new(ser, "t_start_ms", t0);
    json_object_set_new(ser, "t_ms", t1);
    json_object_set_new(ser, "interval_ms", json_integer(400));
    json_object_set_new(ser, "base_interval_ms", json_integer(100));
    json_object_set_new(ser, "downsampled", json_integer(2));
    json_object_set_new(ser, "points_max", json_integer(16));
    json_object_set_new(ser, "merged_points", json_integer(8));
    char *html = render(j);
    xmlDocPtr d = parse(html);
    no_nan(html);
    check_lines(d, "time-0", 3, n);
    assert_non_null(strstr(html, "merged in pairs 2 times"));
    double f0, f1;
    frame_of(d, "rates-heat", &f0, &f1);
    xmlXPathObjectPtr o = xpath(d, "//svg[@id='rates-heat']/rect[@class='cell']");
    assert_int_equal(o->nodesetval->nodeNr, 3 * (int)n);
    double c0 = 1e9, c1 = -1e9, wmin = 1e9, wmax = 0;
    for (int i = 0; i < o->nodesetval->nodeNr; i++) {
        double x = attr(o->nodesetval->nodeTab[i], "x"),
               w = attr(o->nodesetval->nodeTab[i], "width");
        c0 = x < c0 ? x : c0;
        c1 = x + w > c1 ? x + w : c1;
        wmin = w < wmin ? w : wmin;
        wmax = w > wmax ? w : wmax;
    }
    xmlXPathFreeObject(o);
    /* the first cell starts at 0 s, the frame's left edge; the last one ends at 3.75 s */
    assert_true(fabs(c0 - f0) < 0.6 && fabs(c1 - f1) < 0.6);
    /* the partial point is 150 ms wide against 400 ms (rounded to whole pixels) */
    if (fabs(wmin / wmax - 150.0 / 400.0) > 0.05)
        fail_msg("heatmap cells %.1f .. %.1f px wide: expected a 150/400 ratio", wmin, wmax);
    xmlFreeDoc(d);
    free(html);
    json_decref(j);
}

/* Run a shell command; returns its exit status. */
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* A scratch directory: MDMUX_REPORT_KEEP, or a new one in /tmp. */
static void workdir(char *dir, size_t n)
{
    const char *keep = getenv("MDMUX_REPORT_KEEP");
    if (keep != NULL) {
        snprintf(dir, n, "%s", keep);
        mkdir(dir, 0755);
        return;
    }
    snprintf(dir, n, "/tmp/mdmux-report.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void test_cli(void **state)
{
    (void)state;
    char dir[256];
    workdir(dir, sizeof(dir));
    json_t *j = sample_stats(NFEEDS, NINTERVALS, 1.0, 1);
    char in[512];
    snprintf(in, sizeof(in), "%s/stats.json", dir);
    assert_int_equal(sample_write(j, in), 0);
    assert_int_equal(sh("%s %s -o %s/cli.html", MDMUX_REPORT_BIN, in, dir), 0);
    assert_int_equal(sh("grep -q '<svg' %s/cli.html", dir), 0);
    assert_int_equal(sh("%s %s/missing.json -o %s/x.html 2>/dev/null", MDMUX_REPORT_BIN, dir, dir),
                     2);
    assert_int_equal(sh("echo '{bad' > %s/bad.json && %s %s/bad.json 2>/dev/null >/dev/null", dir,
                        MDMUX_REPORT_BIN, dir),
                     2);
    assert_int_equal(sh("%s 2>/dev/null", MDMUX_REPORT_BIN), 2);
    json_decref(j);
    if (getenv("MDMUX_REPORT_KEEP") == NULL)
        sh("rm -rf %s", dir);
}

/* The chromium binary, or NULL. */
static const char *chromium(void)
{
    static const char *const c[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
                                    "/usr/bin/google-chrome"};
    for (unsigned i = 0; i < 3; i++)
        if (access(c[i], X_OK) == 0)
            return c[i];
    return NULL;
}

#define CHROME_FLAGS                                                                               \
    "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "                         \
    "--disable-background-networking --disable-component-update --disable-sync "                   \
    "--disable-dev-shm-usage --hide-scrollbars --user-data-dir=%s/profile"

/* Distinct colours and the share of non-white pixels of a PNG. */
static int png_stats(const char *path, unsigned *colours, double *inked)
{
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return -1;
    img.format = PNG_FORMAT_RGB;
    size_t sz = PNG_IMAGE_SIZE(img);
    uint8_t *px = malloc(sz);
    uint8_t *seen = calloc(1u << 21, 1); /* 2^24 bits */
    if (px == NULL || seen == NULL || !png_image_finish_read(&img, NULL, px, 0, NULL)) {
        free(px);
        free(seen);
        return -1;
    }
    size_t n = (size_t)img.width * img.height, ink = 0;
    *colours = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = (uint32_t)px[3 * i] << 16 | (uint32_t)px[3 * i + 1] << 8 | px[3 * i + 2];
        ink += c != 0xffffff;
        if (!(seen[c >> 3] & (1u << (c & 7)))) {
            seen[c >> 3] |= (uint8_t)(1u << (c & 7));
            (*colours)++;
        }
    }
    *inked = (double)ink / (double)n;
    free(px);
    free(seen);
    return 0;
}

/*
 * Script appended to a copy of the page: counts lines with a non-empty bounding box,
 * and the time plots whose rendered lines span their frame from edge to edge with no
 * time tick past the data's last interval (%g: that time, seconds, plus one interval).
 */
static const char bbox_js[] =
    "<script>//<![CDATA[\n"
    "var l=document.querySelectorAll('svg polyline'),ok=0;"
    "for(var i=0;i<l.length;i++){var b=l[i].getBBox();if(b.width>0&&b.height>0)ok++;}"
    "document.body.setAttribute('data-lines',l.length+':'+ok);"
    "document.body.setAttribute('data-svgs',document.querySelectorAll('svg').length);"
    "var s=document.querySelectorAll('svg[id^=\"time-\"],svg#rates'),tx=0;"
    "for(var i=0;i<s.length;i++){var f=s[i].querySelector('rect.frame').getBBox(),"
    "p=s[i].querySelectorAll('polyline'),lo=1e9,hi=-1e9,tk=-1;"
    "for(var k=0;k<p.length;k++){var b=p[k].getBBox();lo=Math.min(lo,b.x);"
    "hi=Math.max(hi,b.x+b.width);}"
    "var t=s[i].querySelectorAll('text.tick');"
    "for(var k=0;k<t.length;k++){var c=t[k].textContent;"
    "if(/ s$/.test(c))tk=Math.max(tk,parseFloat(c));}"
    "if(Math.abs(lo-f.x)<1&&Math.abs(hi-f.x-f.width)<1&&tk>0&&tk<=%g)tx++;}"
    "document.body.setAttribute('data-xaxis',s.length+':'+tx);\n"
    "//]]></script>";

static void test_chromium(void **state)
{
    (void)state;
    const char *chrome = chromium();
    if (chrome == NULL) {
        print_message("chromium not installed (Debian package chromium; tools/setup)\n");
        skip();
    }
    char dir[256], path[512];
    workdir(dir, sizeof(dir));
    /* 57 intervals: the data ends at 5.7 s, where a rounded-out axis would run on */
    const unsigned nt = 57;
    json_t *j = sample_stats(NFEEDS, nt, 1.0, 1);
    char *html = render(j);
    snprintf(path, sizeof(path), "%s/report.html", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(html, f);
    fclose(f);
    int rc = sh("cd %s && timeout 120 %s " CHROME_FLAGS " --window-size=1400,3000 "
                "--screenshot=%s/report.png file://%s >%s/chrome.log 2>&1",
                dir, chrome, dir, dir, path, dir);
    if (rc != 0) {
        print_message("chromium cannot run here (status %d, see %s/chrome.log)\n", rc, dir);
        skip();
    }
    unsigned colours = 0;
    double inked = 0;
    snprintf(path, sizeof(path), "%s/report.png", dir);
    assert_int_equal(png_stats(path, &colours, &inked), 0);
    print_message("screenshot %s: %u colours, %.1f%% inked\n", path, colours, 100 * inked);
    assert_true(colours > 100);
    assert_true(inked > 0.03);
    /* the rendered DOM: every polyline has an area */
    char *pos = strstr(html, "</body>");
    assert_non_null(pos);
    snprintf(path, sizeof(path), "%s/bbox.html", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%.*s", (int)(pos - html), html);
    fprintf(f, bbox_js, nt / 10.0 + 0.1 + 1e-9);
    fputs(pos, f);
    fclose(f);
    assert_int_equal(sh("cd %s && timeout 120 %s " CHROME_FLAGS " --virtual-time-budget=3000 "
                        "--run-all-compositor-stages-before-draw --dump-dom file://%s "
                        ">%s/dom.html 2>>%s/chrome.log",
                        dir, chrome, dir, path, dir, dir),
                     0);
    snprintf(path, sizeof(path), "%s/dom.html", dir);
    int nsvg = 1 + 2 * SAMPLE_NSTAGES + 2, nlines = SAMPLE_NSTAGES * 5 + 11;
    assert_int_equal(sh("grep -q 'data-svgs=\"%d\"' %s", nsvg, path), 0);
    assert_int_equal(sh("grep -q 'data-lines=\"%d:%d\"' %s", nlines, nlines, path), 0);
    /* every stage's time plot and the rates plot: domain = the data's time range */
    int ntime = SAMPLE_NSTAGES + 1;
    if (sh("grep -q 'data-xaxis=\"%d:%d\"' %s", ntime, ntime, path) != 0) {
        sh("grep -o 'data-xaxis=\"[0-9:]*\"' %s >&2", path);
        fail_msg("time axes: not every plot spans exactly its data (see above: plots:ok)");
    }
    free(html);
    json_decref(j);
    if (getenv("MDMUX_REPORT_KEEP") == NULL)
        sh("rm -rf %s", dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wellformed), cmocka_unit_test(test_partial_input),
        cmocka_unit_test(test_time_axis),  cmocka_unit_test(test_downsampled),
        cmocka_unit_test(test_cli),        cmocka_unit_test(test_chromium),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
