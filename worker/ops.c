/* SPDX-License-Identifier: MIT
 *
 * ops: see ops.h. Queue lag (the age of the oldest due delivery) is read from the database at
 * scrape time, on the blocking connection: scrapes are rare (every 15 s or more) and the figure
 * is only useful fresh.
 */
#include "ops.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "pq.h"
#include "prom.h"
#include "record.h"
#include "worker.h"

struct ops {
	struct evhttp *http;
};

static bool ready(const struct worker *w)
{
	return lifecycle_state(w) == WORKER_RUNNING && pq_ready(w) && !record_backing_off(w);
}

static void reply(struct evhttp_request *req, int code, const char *type, const char *text)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, text, strlen(text));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Service Unavailable", b);
	evbuffer_free(b);
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
	reply(req, 200, "text/plain", "ok\n");
}

static void on_readyz(struct evhttp_request *req, void *arg)
{
	bool ok = ready(arg);
	reply(req, ok ? 200 : 503, "text/plain", ok ? "ready\n" : "not ready\n");
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

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct worker *w = arg;
	const struct metrics_gauges g = { .inflight = deliver_inflight(w),
		.outcomes_pending = record_pending(w),
		.queue_lag_s = queue_lag_seconds(w) };
	struct evbuffer *b = evbuffer_new();

	metrics_write(w, &g, b);
	evhttp_add_header(
		evhttp_request_get_output_headers(req), "Content-Type", PH_PROM_CONTENT_TYPE);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static bool bind_http(struct worker *w, struct ops *o)
{
	const struct ph_listen_addr *at = &w->cfg->metrics_addr;

	o->http = evhttp_new(w->base);
	/* An empty host means every interface, as it always has for this variable: IPv4's. */
	if (evhttp_bind_socket(o->http, at->host[0] ? at->host : "0.0.0.0", at->port) != 0) {
		log_error("cannot listen on %s for metrics", w->cfg->metrics_listen);
		return false;
	}
	evhttp_set_allowed_methods(o->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(o->http, "/healthz", on_healthz, w);
	evhttp_set_cb(o->http, "/readyz", on_readyz, w);
	evhttp_set_cb(o->http, "/metrics", on_metrics, w);
	log_info("metrics on %s", w->cfg->metrics_listen);
	return true;
}

bool ops_init(struct worker *w)
{
	struct ops *o = ph_xcalloc(1, sizeof(*o));

	w->ops = o;
	return bind_http(w, o);
}

void ops_finish(struct worker *w)
{
	struct ops *o = w->ops;
	if (!o)
		return;
	if (o->http)
		evhttp_free(o->http);
	free(o);
	w->ops = NULL;
}
