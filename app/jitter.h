/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file jitter.h
 * `mdmux jitter`: how much the OS interrupts a pinned core, measured as sysjitter does
 * (a tight TSC loop whose gaps go into a histogram). Needs no configuration and no EAL.
 */
#ifndef MDMUX_APP_JITTER_H
#define MDMUX_APP_JITTER_H

/**
 * Run `mdmux jitter` with its own arguments: @p argv[0] is "jitter", then
 * [--cpu LIST] [--seconds S] [--threshold-ns T] [--list N] [--json FILE].
 *
 * @return an exit status: 0 ok, 1 a run error (CPU not usable, JSON not written),
 *         2 a usage error.
 */
int app_jitter(int argc, char **argv);

#endif /* MDMUX_APP_JITTER_H */
