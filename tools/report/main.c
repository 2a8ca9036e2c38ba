/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mdmux-report: the HTML latency report of a stats JSON (html.h).
 *
 *   mdmux-report STATS.json [-o OUT.html]
 *
 * Exit status: 0 written; 1 a write error; 2 a usage error or unreadable input.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "html.h"

static int usage(FILE *f, int rc)
{
    fputs("usage: mdmux-report STATS.json [-o OUT.html]\n"
          "  Writes a self-contained HTML report (inline SVG plots) of an mdmux stats or\n"
          "  latency JSON to OUT.html, or to stdout.\n",
          f);
    return rc;
}

int main(int argc, char **argv)
{
    const char *in = NULL, *outp = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return usage(stdout, 0);
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            outp = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return usage(stderr, 2);
        else if (in == NULL)
            in = argv[i];
        else
            return usage(stderr, 2);
    }
    if (in == NULL)
        return usage(stderr, 2);
    json_error_t e;
    json_t *root = json_load_file(in, 0, &e);
    if (root == NULL || !json_is_object(root)) {
        fprintf(stderr, "mdmux-report: %s:%d:%d: %s\n", in, e.line, e.column,
                root == NULL ? e.text : "not a JSON object");
        json_decref(root);
        return 2;
    }
    int rc = outp != NULL ? report_html_write_file(root, outp) : report_html_write(root, stdout);
    json_decref(root);
    if (outp == NULL && fflush(stdout) != 0)
        rc = -1;
    return rc == 0 ? 0 : 1;
}
