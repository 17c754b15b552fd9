/* SPDX-License-Identifier: MIT
 *
 * cli: the admin subcommands of pghook-api (migrate, tenant create, key create, stats, prune).
 * Each prints one JSON line on stdout, which scripts rely on, and returns the exit status.
 */
#ifndef PGHOOK_API_CLI_H
#define PGHOOK_API_CLI_H

#include <stdio.h>

#include "config.h"

/* Run the subcommand argv[0] with its arguments; returns the process exit status, or -1 when
 * argv[0] is not a known subcommand. */
int cli_run(const struct ph_config *cfg, int argc, char **argv);
/* The usage text, to stdout for --help and to stderr after a usage error. */
void cli_usage(FILE *out);

#endif
