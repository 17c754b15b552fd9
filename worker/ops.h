/* SPDX-License-Identifier: MIT
 *
 * ops: the worker's operations endpoint on PGHOOK_METRICS_LISTEN, served by evhttp on the
 * worker's own loop. /healthz answers while the process runs; /readyz while the worker is
 * running (not draining), its database connections work, its outcomes are being written and
 * the schema has every migration it was built with; /metrics in the Prometheus text format.
 * The schema check also keeps the daily partitions of attempts created ahead, hourly.
 */
#ifndef PGHOOK_WORKER_OPS_H
#define PGHOOK_WORKER_OPS_H

#include <stdbool.h>

#include "util.h"

struct worker;

/* Bind the endpoint and check the schema once. False (logged) when it cannot listen. */
bool ops_init(struct worker *w) PH_MUSTCHECK;
void ops_finish(struct worker *w);

#endif
