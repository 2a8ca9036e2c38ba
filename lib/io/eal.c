/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * EAL initialisation from mdmux's own options. The defaults are DESIGN.md's flags,
 * which need no host set-up and are safe in parallel: no hugepages (or --in-memory
 * with them), no shared config, no PCI scan unless a PCI device is configured, no
 * telemetry socket unless asked, and a per-process file prefix.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "io_internal.h"

/* Append to argv; formatted values are stored in buf. */
typedef struct argb {
    const char **argv;
    int argc;
    char *buf;
    size_t left;
    bool overflow;
} argb_t;

static void arg(argb_t *a, const char *s)
{
    if (a->argc >= IO_EAL_ARGS_MAX - 1) {
        a->overflow = true;
        return;
    }
    a->argv[a->argc++] = s;
}

__attribute__((format(printf, 2, 3))) static void argf(argb_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(a->buf, a->left, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= a->left) {
        a->overflow = true;
        return;
    }
    arg(a, a->buf);
    a->buf += n + 1;
    a->left -= (size_t)n + 1;
}

int io_eal_args(const io_eal_opts_t *o, const char **argv, char *buf, size_t buflen)
{
    argb_t a = {.argv = argv, .buf = buf, .left = buflen};
    arg(&a, o->prog ? o->prog : "mdmux");
    arg(&a, "-l");
    if (o->lcores)
        arg(&a, o->lcores);
    else
        arg(&a, sysconf(_SC_NPROCESSORS_ONLN) > 1 ? "0-1" : "0");
    if (o->hugepages) {
        arg(&a, "--in-memory"); /* implies --no-shconf */
    } else {
        arg(&a, "--no-huge");
        arg(&a, "--no-shconf");
    }
    argf(&a, "-m%u", o->memory_mb ? o->memory_mb : 256u);
    if (!o->pci && o->n_allow == 0)
        arg(&a, "--no-pci");
    for (unsigned i = 0; i < o->n_allow; i++)
        argf(&a, "-a%s", o->allow[i]);
    if (!o->telemetry)
        arg(&a, "--no-telemetry");
    if (o->file_prefix)
        argf(&a, "--file-prefix=%s", o->file_prefix);
    else
        argf(&a, "--file-prefix=mdmux%ld", (long)getpid());
    if (o->log_level)
        argf(&a, "--log-level=%s", o->log_level);
    for (unsigned i = 0; i < o->n_vdevs; i++)
        argf(&a, "--vdev=%s", o->vdevs[i]);
    for (unsigned i = 0; i < o->n_extra; i++)
        arg(&a, o->extra[i]);
    if (a.overflow)
        return -E2BIG;
    argv[a.argc] = NULL;
    return a.argc;
}

int io_eal_init(const io_eal_opts_t *o, char *err, size_t errlen)
{
    const char *argv[IO_EAL_ARGS_MAX];
    char buf[4096];
    int argc = io_eal_args(o, argv, buf, sizeof(buf));
    if (argc < 0)
        return io_err(err, errlen, E2BIG, "EAL: too many arguments");
    /* rte_eal_init may permute its argv: give it a copy of the pointers */
    char *copy[IO_EAL_ARGS_MAX];
    for (int i = 0; i <= argc; i++)
        copy[i] = (char *)argv[i];
    if (rte_eal_init(argc, copy) < 0) {
        int e = rte_errno;
        char cmd[512];
        size_t at = 0;
        for (int i = 0; i < argc && at < sizeof(cmd); i++)
            at += (size_t)snprintf(cmd + at, sizeof(cmd) - at, "%s%s", i ? " " : "", argv[i]);
        return io_err(err, errlen, e ? e : EINVAL, "EAL init failed: %s (args: %s)",
                      rte_strerror(e), cmd);
    }
    int rc = io_mbuf_register();
    if (rc < 0)
        return io_err(err, errlen, -rc, "cannot register the mbuf metadata field: %s",
                      rte_strerror(-rc));
    return 0;
}

void io_eal_cleanup(void)
{
    rte_eal_cleanup();
}
