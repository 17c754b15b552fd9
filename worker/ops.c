/* SPDX-License-Identifier: MIT
 *
 * ops: see ops.h. Two answers need the database, and both are round trips on the worker's
 * blocking connection, which holds up the delivery loop while they run:
 *   - the schema version (ph_migrate_is_current) is checked at start and then on a timer,
 *     every SCHEMA_RECHECK_MS while it is current and every SCHEMA_RETRY_MS while it is not
 *     (a rollout migrates while new workers start: they become ready soon after), and
 *     /readyz answers from the last check. A probe per second from each of several
 *     orchestrators would otherwise put as many queries on the loop; a cache refreshed on
 *     demand would still make some probes wait for the database. The check is skipped, and
 *     readiness fails, while the claim connection is down, so an unreachable database never
 *     blocks the loop for a connect timeout here.
 *   - the daily partitions of attempts ahead (ph_migrate_ensure_partitions) are created once
 *     an hour, with the schema check that finds the schema current: a query that finds them
 *     there and returns, once a day one that attaches a new one. Off the delivery path: a
 *     failure is logged and tried again at the next check.
 *   - queue lag (the age of the oldest due delivery) and the circuits are read at scrape time, at
 * most once per LAG_CACHE_MS: scrapes are rare (every 15 s or more) and the figure is only useful
 * fresh, but whoever reaches the port could otherwise send scrapes in a loop and hold the delivery
 * loop in that query (issue 18). PGHOOK_STATEMENT_TIMEOUT bounds one query. The server also bounds
 * what a client may send (headers, body) and how long it may take.
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
#include "migrate.h"
#include "pq.h"
#include "prom.h"
#include "record.h"
#include "worker.h"

#define SCHEMA_RECHECK_MS   30000
#define SCHEMA_RETRY_MS	    2000
#define LAG_CACHE_MS	    5000
#define PARTITIONS_EVERY_US (3600LL * 1000000)
/* Probes and scrapes send a request line and a few headers, never a body. */
#define OPS_MAX_HEADERS_BYTES 8192
#define OPS_MAX_BODY_BYTES    1024
#define OPS_TIMEOUT_S	      10

struct ops {
	struct evhttp *http;
	struct event *schema_timer;
	bool schema_checked; /* once, at least */
	bool schema_current; /* as of the last check */
	struct metrics_gauges db; /* the database's gauges as last read */
	long long db_read_us; /* when; 0: never */
	long long partitions_us; /* when the partitions ahead were last ensured; 0: never */
};

/* Hourly, on the blocking connection, once the schema (and so the function) is there. */
static void ensure_partitions(struct worker *w)
{
	struct ops *o = w->ops;
	long long now = ph_now_us();
	if (o->partitions_us && now - o->partitions_us < PARTITIONS_EVERY_US)
		return;
	if (ph_migrate_ensure_partitions(&w->db))
		o->partitions_us = now;
	else
		log_warn("could not create the partitions of attempts ahead; trying again later");
}

/* Check the schema when the database is reachable, else count it as not current; either way
 * look again later. Logs when the answer changes. */
static void check_schema(struct worker *w, bool reachable)
{
	struct ops *o = w->ops;
	bool current = reachable && ph_migrate_is_current(&w->db);

	if (!current && (o->schema_current || !o->schema_checked))
		log_warn("not ready: the database is unreachable or lacks this version's "
			 "migrations (pghook-api migrate)");
	else if (current && !o->schema_current)
		log_info("the database schema is current");
	o->schema_checked = true;
	o->schema_current = current;
	if (current)
		ensure_partitions(w);
	worker_timer_add(o->schema_timer, current ? SCHEMA_RECHECK_MS : SCHEMA_RETRY_MS);
}

static void on_schema_timer(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	/* The claim connection is up: the server answers, so neither the check nor a reconnect
	 * of the blocking connection waits for a connect timeout. */
	if (lifecycle_state(w) == WORKER_RUNNING)
		check_schema(w, pq_ready(w));
}

static bool ready(const struct worker *w)
{
	return lifecycle_state(w) == WORKER_RUNNING && w->ops->schema_current && pq_ready(w) &&
		!record_backing_off(w);
}

static void reply(struct evhttp_request *req, int code, const char *type, const char *text)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, text, strlen(text));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Service Unavailable", b);
	evbuffer_free(b);
}

static void read_db_gauges(struct worker *w, struct metrics_gauges *g)
{
	PGresult *res = ph_db_exec(&w->db,
		"select coalesce(extract(epoch from now() - min(next_retry_at)), 0)::float8 "
		"from deliveries where status in ('pending', 'retry_scheduled') "
		"and next_retry_at <= now()",
		0, NULL);
	g->queue_lag_s = res ? atof(PQgetvalue(res, 0, 0)) : -1;
	PQclear(res);
	res = ph_db_exec(&w->db,
		"select count(*) filter (where circuit <> 'closed'), coalesce(sum(opens), 0) "
		"from webhook_sched",
		0, NULL);
	g->circuits_open = res ? atoi(PQgetvalue(res, 0, 0)) : -1;
	g->circuit_opens = res ? strtoull(PQgetvalue(res, 0, 1), NULL, 10) : 0;
	PQclear(res);
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

/* The gauges read from the database: the queue's lag and the circuits (fleet-wide: every
 * worker shows the same open circuits and opens). Read at most once per LAG_CACHE_MS. */
static void db_gauges(struct worker *w, struct metrics_gauges *g)
{
	struct ops *o = w->ops;
	long long now = ph_now_us();
	if (!o->db_read_us || now - o->db_read_us >= LAG_CACHE_MS * 1000LL) {
		o->db_read_us = now;
		read_db_gauges(w, &o->db);
	}
	g->queue_lag_s = o->db.queue_lag_s;
	g->circuits_open = o->db.circuits_open;
	g->circuit_opens = o->db.circuit_opens;
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct worker *w = arg;
	struct metrics_gauges g = { .inflight = deliver_inflight(w),
		.outcomes_pending = record_pending(w) };
	db_gauges(w, &g);
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
	evhttp_set_max_headers_size(o->http, OPS_MAX_HEADERS_BYTES);
	evhttp_set_max_body_size(o->http, OPS_MAX_BODY_BYTES);
	evhttp_set_timeout(o->http, OPS_TIMEOUT_S);
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
	if (!bind_http(w, o))
		return false;
	o->schema_timer = evtimer_new(w->base, on_schema_timer, w);
	/* At start the blocking connection was just opened (main.c): checking is one query. */
	check_schema(w, w->db.conn != NULL);
	return true;
}

void ops_finish(struct worker *w)
{
	struct ops *o = w->ops;
	if (!o)
		return;
	if (o->http)
		evhttp_free(o->http);
	worker_event_free(&o->schema_timer);
	free(o);
	w->ops = NULL;
}
