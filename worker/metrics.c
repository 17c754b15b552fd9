/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "prom.h"
#include "util.h"
#include "worker.h"

static const double latency_bounds_s[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	30 };
static const double batch_bounds[] = { 0, 1, 5, 10, 25, 50, 100, 250 };

#define LATENCY_BUCKETS PH_ARRAY_LEN(latency_bounds_s)
#define BATCH_BUCKETS	PH_ARRAY_LEN(batch_bounds)

struct metrics {
	uint64_t recorded[PH_DELIVERY_STATUS_COUNT];
	uint64_t stale; /* outcomes whose claim token no longer matched */
	uint64_t latency_count, latency_sum_ms;
	uint64_t latency[LATENCY_BUCKETS]; /* per bucket, not cumulative */
	uint64_t claims, claimed;
	uint64_t batch[BATCH_BUCKETS];
	uint64_t emails_sent, emails_failed;
	uint64_t db_errors;
	double claim_ms, complete_ms; /* time spent in those statements */
	uint64_t completes;
};

/* The outcomes pghook_deliveries_total counts, in the order it has always listed them. */
static const enum ph_delivery_status outcomes[] = { PH_DELIVERY_DELIVERED,
	PH_DELIVERY_RETRY_SCHEDULED, PH_DELIVERY_FAILED };

void metrics_init(struct worker *w)
{
	w->metrics = ph_xcalloc(1, sizeof(*w->metrics));
}

void metrics_finish(struct worker *w)
{
	free(w->metrics);
	w->metrics = NULL;
}

void metrics_claim(struct worker *w, double ms, int rows)
{
	struct metrics *m = w->metrics;
	m->claim_ms += ms;
	if (rows < 0) {
		m->db_errors++;
		return;
	}
	m->claims++;
	m->claimed += (uint64_t)rows;
	size_t b = ph_prom_bucket(batch_bounds, BATCH_BUCKETS, rows);
	if (b < BATCH_BUCKETS)
		m->batch[b]++;
}

void metrics_completion(struct worker *w, double ms, bool ok)
{
	struct metrics *m = w->metrics;
	m->complete_ms += ms;
	m->completes++;
	if (!ok)
		m->db_errors++;
}

void metrics_attempt(struct worker *w, int ms)
{
	struct metrics *m = w->metrics;
	m->latency_count++;
	m->latency_sum_ms += (uint64_t)(ms > 0 ? ms : 0);
	size_t b = ph_prom_bucket(latency_bounds_s, LATENCY_BUCKETS, ms / 1000.0);
	if (b < LATENCY_BUCKETS)
		m->latency[b]++;
}

void metrics_recorded(struct worker *w, enum ph_delivery_status status)
{
	w->metrics->recorded[status]++;
}

void metrics_stale(struct worker *w, int n)
{
	w->metrics->stale += (uint64_t)n;
}

void metrics_email(struct worker *w, bool sent)
{
	if (sent)
		w->metrics->emails_sent++;
	else
		w->metrics->emails_failed++;
}

static void write_outcomes(const struct metrics *m, struct evbuffer *out)
{
	const char *name = "pghook_deliveries_total";
	char label[48];
	ph_prom_family(out, name, PH_PROM_COUNTER, "Recorded delivery attempts by outcome.");
	for (size_t i = 0; i < PH_ARRAY_LEN(outcomes); i++) {
		snprintf(label, sizeof(label), "outcome=\"%s\"",
			ph_delivery_status_name(outcomes[i]));
		ph_prom_uint(out, name, label, m->recorded[outcomes[i]]);
	}
	ph_prom_uint(out, name, "outcome=\"stale\"", m->stale);
}

static void write_histograms(const struct metrics *m, struct evbuffer *out)
{
	const struct ph_prom_histogram latency = { latency_bounds_s, m->latency, LATENCY_BUCKETS,
		m->latency_count, (double)m->latency_sum_ms / 1000.0 };
	const struct ph_prom_histogram batch = { batch_bounds, m->batch, BATCH_BUCKETS, m->claims,
		(double)m->claimed };
	ph_prom_family(out, "pghook_attempt_duration_seconds", PH_PROM_HISTOGRAM,
		"Delivery attempt latency.");
	ph_prom_histogram(out, "pghook_attempt_duration_seconds", NULL, &latency);
	ph_prom_family(
		out, "pghook_claim_batch_size", PH_PROM_HISTOGRAM, "Deliveries taken per claim.");
	ph_prom_histogram(out, "pghook_claim_batch_size", NULL, &batch);
}

static void write_db_seconds(const struct metrics *m, struct evbuffer *out)
{
	const char *name = "pghook_db_seconds_total";
	ph_prom_family(
		out, name, PH_PROM_COUNTER, "Time spent in claim and completion statements.");
	ph_prom_double(out, name, "statement=\"claim\"", m->claim_ms / 1000.0);
	ph_prom_double(out, name, "statement=\"complete\"", m->complete_ms / 1000.0);
}

void metrics_write(const struct worker *w, const struct metrics_gauges *g, struct evbuffer *out)
{
	const struct metrics *m = w->metrics;
	write_outcomes(m, out);
	write_histograms(m, out);
	ph_prom_gauge(out, "pghook_inflight", "Delivery attempts in flight.", g->inflight);
	ph_prom_gauge(
		out, "pghook_outcomes_pending", "Outcomes not yet recorded.", g->outcomes_pending);
	ph_prom_gauge(
		out, "pghook_queue_lag_seconds", "Age of the oldest due delivery.", g->queue_lag_s);
	ph_prom_gauge(out, "pghook_circuits_open",
		"Webhooks whose circuit breaker is open or half open (fleet-wide).",
		g->circuits_open);
	ph_prom_counter(out, "pghook_circuit_opens_total",
		"Circuit breakers opened, by every worker (fleet-wide).", g->circuit_opens);
	ph_prom_counter(
		out, "pghook_emails_sent_total", "Notification emails sent.", m->emails_sent);
	ph_prom_counter(out, "pghook_emails_failed_total", "Notification email send failures.",
		m->emails_failed);
	ph_prom_counter(out, "pghook_db_errors_total", "Failed worker statements.", m->db_errors);
	ph_prom_counter(out, "pghook_completions_total", "Outcome batches written.", m->completes);
	write_db_seconds(m, out);
}
