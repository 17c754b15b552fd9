/* SPDX-License-Identifier: MIT
 *
 * ops: the worker's operations endpoint on PGHOOK_METRICS_LISTEN, served by evhttp on the
 * worker's own loop. /healthz answers while the process runs; /readyz while it is not shutting
 * down and its database connection works; /metrics in the Prometheus text format. Queue lag
 * (the age of the oldest due delivery) is read from the database at scrape time.
 */
#include "worker.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const int latency_bounds_ms[LATENCY_BUCKETS] = { 5, 10, 25, 50, 100, 250, 500, 1000, 2500,
	5000, 10000, 30000 };
static const int batch_bounds[BATCH_BUCKETS] = { 0, 1, 5, 10, 25, 50, 100, 250 };

void metrics_latency(struct metrics *m, int ms)
{
	m->latency_count++;
	m->latency_sum_ms += (uint64_t)(ms > 0 ? ms : 0);
	for (int i = 0; i < LATENCY_BUCKETS; i++)
		if (ms <= latency_bounds_ms[i])
			m->latency_le[i]++;
}

void metrics_batch(struct metrics *m, int n)
{
	for (int i = 0; i < BATCH_BUCKETS; i++)
		if (n <= batch_bounds[i])
			m->batch_le[i]++;
}

static void reply(struct evhttp_request *req, int code, const char *type, struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Service Unavailable", body);
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "ok\n");
	reply(req, 200, "text/plain", b);
	evbuffer_free(b);
}

static bool db_ready(struct worker *w)
{
	return !w->stopping && pq_ready(w) && w->flush_backoff_ms == 0;
}

static void on_readyz(struct evhttp_request *req, void *arg)
{
	struct worker *w = arg;
	bool ok = db_ready(w);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, ok ? "ready\n" : "not ready\n");
	reply(req, ok ? 200 : 503, "text/plain", b);
	evbuffer_free(b);
}

static double queue_lag_seconds(struct worker *w)
{
	PGresult *res = ph_db_exec(&w->db,
		"select coalesce(extract(epoch from now() - min(next_retry_at)), 0)::float8 "
		"from deliveries where status in ('pending', 'retry_scheduled') "
		"and next_retry_at <= now()",
		0, NULL);
	if (!res)
		return -1;
	double lag = atof(PQgetvalue(res, 0, 0));
	PQclear(res);
	return lag;
}

static void counter(struct evbuffer *b, const char *name, const char *help, uint64_t v)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
		(unsigned long long)v);
}

static void write_histograms(struct evbuffer *b, const struct metrics *m)
{
	evbuffer_add_printf(b,
		"# HELP pghook_attempt_duration_seconds Delivery attempt latency.\n"
		"# TYPE pghook_attempt_duration_seconds histogram\n");
	for (int i = 0; i < LATENCY_BUCKETS; i++)
		evbuffer_add_printf(b, "pghook_attempt_duration_seconds_bucket{le=\"%g\"} %llu\n",
			latency_bounds_ms[i] / 1000.0, (unsigned long long)m->latency_le[i]);
	evbuffer_add_printf(b,
		"pghook_attempt_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		"pghook_attempt_duration_seconds_sum "
		"%g\npghook_attempt_duration_seconds_count %llu\n",
		(unsigned long long)m->latency_count, m->latency_sum_ms / 1000.0,
		(unsigned long long)m->latency_count);

	evbuffer_add_printf(b,
		"# HELP pghook_claim_batch_size Deliveries taken per claim.\n"
		"# TYPE pghook_claim_batch_size histogram\n");
	for (int i = 0; i < BATCH_BUCKETS; i++)
		evbuffer_add_printf(b, "pghook_claim_batch_size_bucket{le=\"%d\"} %llu\n",
			batch_bounds[i], (unsigned long long)m->batch_le[i]);
	evbuffer_add_printf(b,
		"pghook_claim_batch_size_bucket{le=\"+Inf\"} %llu\n"
		"pghook_claim_batch_size_sum %llu\npghook_claim_batch_size_count %llu\n",
		(unsigned long long)m->claims, (unsigned long long)m->claimed,
		(unsigned long long)m->claims);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct worker *w = arg;
	const struct metrics *m = &w->m;
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b,
		"# HELP pghook_deliveries_total Recorded delivery attempts by "
		"outcome.\n# TYPE pghook_deliveries_total counter\n");
	evbuffer_add_printf(b, "pghook_deliveries_total{outcome=\"delivered\"} %llu\n",
		(unsigned long long)m->delivered);
	evbuffer_add_printf(b, "pghook_deliveries_total{outcome=\"retry_scheduled\"} %llu\n",
		(unsigned long long)m->retried);
	evbuffer_add_printf(b, "pghook_deliveries_total{outcome=\"failed\"} %llu\n",
		(unsigned long long)m->failed);
	evbuffer_add_printf(b, "pghook_deliveries_total{outcome=\"stale\"} %llu\n",
		(unsigned long long)m->stale);
	write_histograms(b, m);
	evbuffer_add_printf(b,
		"# HELP pghook_inflight Delivery attempts in flight.\n"
		"# TYPE pghook_inflight gauge\npghook_inflight %d\n",
		w->inflight);
	evbuffer_add_printf(b,
		"# HELP pghook_outcomes_pending Outcomes not yet recorded.\n"
		"# TYPE pghook_outcomes_pending gauge\npghook_outcomes_pending %d\n",
		w->npending);
	evbuffer_add_printf(b,
		"# HELP pghook_queue_lag_seconds Age of the oldest due delivery.\n"
		"# TYPE pghook_queue_lag_seconds gauge\npghook_queue_lag_seconds %g\n",
		queue_lag_seconds(w));
	counter(b, "pghook_emails_sent_total", "Notification emails sent.", m->emails_sent);
	counter(b, "pghook_emails_failed_total", "Notification email send failures.",
		m->emails_failed);
	counter(b, "pghook_db_errors_total", "Failed worker statements.", m->db_errors);
	counter(b, "pghook_completions_total", "Outcome batches written.", m->completes);
	evbuffer_add_printf(b,
		"# HELP pghook_db_seconds_total Time spent in claim and completion statements.\n"
		"# TYPE pghook_db_seconds_total counter\n"
		"pghook_db_seconds_total{statement=\"claim\"} %.3f\n"
		"pghook_db_seconds_total{statement=\"complete\"} %.3f\n",
		m->claim_ms / 1000.0, m->complete_ms / 1000.0);
	reply(req, 200, "text/plain; version=0.0.4", b);
	evbuffer_free(b);
}

bool ops_init(struct worker *w)
{
	const char *listen = w->cfg->metrics_listen;
	const char *colon = strrchr(listen, ':');

	if (!colon) {
		log_error("PGHOOK_METRICS_LISTEN must be host:port, not %s", listen);
		return false;
	}
	char *host = ph_xasprintf("%.*s", (int)(colon - listen), listen);
	int port = atoi(colon + 1);
	w->http = evhttp_new(w->base);
	bool ok = evhttp_bind_socket(w->http, host[0] ? host : "0.0.0.0", (ev_uint16_t)port) == 0;
	if (!ok)
		log_error("cannot listen on %s for metrics", listen);
	free(host);
	if (!ok)
		return false;
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(w->http, "/healthz", on_healthz, w);
	evhttp_set_cb(w->http, "/readyz", on_readyz, w);
	evhttp_set_cb(w->http, "/metrics", on_metrics, w);
	log_info("metrics on %s", listen);
	return true;
}

void ops_finish(struct worker *w)
{
	if (w->http)
		evhttp_free(w->http);
	w->http = NULL;
}
