/* SPDX-License-Identifier: MIT
 *
 * metrics: the worker's counters and histograms, kept by the modules that see the events
 * through these functions and written in the Prometheus text format (common/prom.h) by ops.
 * The names are documented in docs/operations.md; dashboards and alerts depend on them.
 */
#ifndef PGHOOK_WORKER_METRICS_H
#define PGHOOK_WORKER_METRICS_H

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdint.h>

#include "delivery.h"

struct worker;

/* What other modules know at scrape time. */
struct metrics_gauges {
	int inflight; /* delivery attempts running */
	int outcomes_pending; /* outcomes not yet recorded */
	double queue_lag_s; /* age of the oldest due delivery, -1 when unknown */
	int circuits_open; /* webhooks whose circuit is open or half open, -1 when unknown */
	uint64_t circuit_opens; /* circuits opened so far, by the whole fleet */
};

void metrics_init(struct worker *w);
void metrics_finish(struct worker *w);
/* A claim statement ended after ms with rows claimed; rows < 0: the statement failed. */
void metrics_claim(struct worker *w, double ms, int rows);
/* A completion statement ended after ms; ok false: it failed. */
void metrics_completion(struct worker *w, double ms, bool ok);
/* One attempt's request took ms. */
void metrics_attempt(struct worker *w, int ms);
/* One outcome was recorded as status (delivered, retry_scheduled or failed). */
void metrics_recorded(struct worker *w, enum ph_delivery_status status);
/* n outcomes were not recorded: another worker's claim had taken their rows over. */
void metrics_stale(struct worker *w, int n);
/* A notification email was sent, or failed. */
void metrics_email(struct worker *w, bool sent);
/* Every metric, in the Prometheus text format. */
void metrics_write(const struct worker *w, const struct metrics_gauges *g, struct evbuffer *out);

#endif
