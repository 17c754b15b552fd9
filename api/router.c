/* SPDX-License-Identifier: MIT
 *
 * The table is searched linearly: it is short, and literal segments are listed before the
 * patterns that would also match them. Counters are process-wide atomics indexed by route, so
 * every loop thread updates them without locks and /metrics reads a consistent-enough view.
 */
#include "router.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "compat.h"
#include "log.h"
#include "prom.h"
#include "route.h"
#include "routes.h"

#define GET    EVHTTP_REQ_GET
#define POST   EVHTTP_REQ_POST
#define PATCH  EVHTTP_REQ_PATCH
#define DELETE EVHTTP_REQ_DELETE

static const struct route routes[] = {
	{ GET, "/healthz", ops_healthz, ROUTE_PUBLIC },
	{ GET, "/readyz", ops_readyz, ROUTE_PUBLIC },
	{ GET, "/metrics", ops_metrics, ROUTE_PUBLIC },
	{ GET, "/openapi.json", ops_openapi, ROUTE_PUBLIC },
	{ POST, "/admin/v1/tenants", admin_tenants_create, ROUTE_ADMIN },
	{ POST, "/admin/v1/tenants/{id}/keys", admin_keys_create, ROUTE_ADMIN },
	{ GET, "/admin/v1/tenants/{id}/keys", admin_keys_list, ROUTE_ADMIN },
	{ POST, "/admin/v1/tenants/{id}/keys/{id}/revoke", admin_key_revoke, ROUTE_ADMIN },
	{ DELETE, "/admin/v1/tenants/{id}", admin_tenant_delete, ROUTE_ADMIN },
	{ GET, "/admin/v1/tenants/{id}/limits", admin_limits_get, ROUTE_ADMIN },
	{ PATCH, "/admin/v1/tenants/{id}/limits", admin_limits_set, ROUTE_ADMIN },
	/* ROUTE_KEY: what only the operator's services do (ingest, records of attempts made
	 * elsewhere, the seeds' routes, console links themselves); ROUTE_TENANT: what the console
	 * does with a portal session, and services with a key. */
	{ GET, "/console", console_serve, ROUTE_PUBLIC },
	{ GET, "/console/{file}", console_serve, ROUTE_PUBLIC },
	{ POST, "/v1/webhook/create", compat_decoda_webhook_create, ROUTE_KEY },
	{ POST, "/v1/webhooks/deliveries/{id}/replay", compat_replay_delivery, ROUTE_KEY },
	{ POST, "/v1/webhooks", webhooks_create, ROUTE_TENANT },
	{ GET, "/v1/webhooks", webhooks_list, ROUTE_TENANT },
	{ GET, "/v1/webhooks/{id}", webhooks_get, ROUTE_TENANT },
	{ PATCH, "/v1/webhooks/{id}", webhooks_patch, ROUTE_TENANT },
	{ DELETE, "/v1/webhooks/{id}", webhooks_delete, ROUTE_TENANT },
	{ POST, "/v1/webhooks/{id}/rotate-secret", webhooks_rotate_secret, ROUTE_TENANT },
	{ POST, "/v1/webhooks/{id}/enable", webhooks_enable, ROUTE_TENANT },
	{ POST, "/v1/webhooks/{id}/disable", webhooks_disable, ROUTE_TENANT },
	{ POST, "/v1/webhooks/{id}/recover", webhooks_recover, ROUTE_TENANT },
	{ POST, "/v1/events/batch", events_batch, ROUTE_KEY },
	{ POST, "/v1/events", events_create, ROUTE_KEY },
	{ GET, "/v1/events", events_list, ROUTE_TENANT },
	{ GET, "/v1/events/{id}", events_get, ROUTE_TENANT },
	{ POST, "/v1/event-types", event_types_create, ROUTE_KEY },
	{ GET, "/v1/event-types", event_types_list, ROUTE_TENANT },
	{ GET, "/v1/event-types/{name}", event_types_get, ROUTE_TENANT },
	{ PATCH, "/v1/event-types/{name}", event_types_patch, ROUTE_KEY },
	{ DELETE, "/v1/event-types/{name}", event_types_delete, ROUTE_KEY },
	{ GET, "/v1/deliveries", deliveries_list, ROUTE_TENANT },
	{ GET, "/v1/deliveries/{id}", deliveries_get, ROUTE_TENANT },
	{ GET, "/v1/deliveries/{id}/attempts", deliveries_attempts, ROUTE_TENANT },
	{ POST, "/v1/deliveries/{id}/attempts", deliveries_record_attempt, ROUTE_KEY },
	{ POST, "/v1/deliveries/{id}/replay", deliveries_replay, ROUTE_TENANT },
	{ POST, "/v1/deliveries/{id}/send", deliveries_send, ROUTE_TENANT },
	{ GET, "/v1/stats/deliveries", stats_deliveries, ROUTE_TENANT },
	{ POST, "/v1/portal-sessions", portal_sessions_create, ROUTE_KEY },
	{ GET, "/v1/portal-sessions/current", portal_sessions_current, ROUTE_TENANT },
	{ DELETE, "/v1/portal-sessions/{id}", portal_sessions_delete, ROUTE_KEY },
	{ POST, "/v1/outbound-webhook-deliveries/{id}/attempts", compat_outbound_record_attempt,
		ROUTE_KEY },
	{ GET, "/webhook/decoda/events/{id}/send", compat_decoda_event_send, ROUTE_KEY },
};

#define N_ROUTES PH_ARRAY_LEN(routes)
/* Extra slots: unmatched requests (404) and wrong methods (405). */
#define ROUTE_NONE (N_ROUTES)

static const int status_codes[] = { 200, 201, 202, 204, 400, 401, 403, 404, 405, 413, 422, 500,
	503 };
#define N_STATUS (PH_ARRAY_LEN(status_codes) + 1) /* + "other" */

static const double buckets_ms[] = { 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000 };
#define N_BUCKETS PH_ARRAY_LEN(buckets_ms)

struct route_stats {
	atomic_ulong count[N_STATUS];
	atomic_ulong bucket[N_BUCKETS]; /* non-cumulative; summed when written */
	atomic_ulong total_us;
};

static struct route_stats stats[N_ROUTES + 1];
static atomic_long in_flight;

static size_t status_slot(int status)
{
	for (size_t i = 0; i < PH_ARRAY_LEN(status_codes); i++) {
		if (status_codes[i] == status)
			return i;
	}
	return N_STATUS - 1;
}

static void record(size_t route, int status, long long us)
{
	struct route_stats *s = &stats[route];
	atomic_fetch_add(&s->count[status_slot(status)], 1);
	atomic_fetch_add(&s->total_us, (unsigned long)us);
	double ms = (double)us / 1000.0;
	for (size_t b = 0; b < N_BUCKETS; b++) {
		if (ms <= buckets_ms[b]) {
			atomic_fetch_add(&s->bucket[b], 1);
			break;
		}
	}
}

static size_t find_route(struct req *r, bool *path_known)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(r->ev);
	*path_known = false;
	for (size_t i = 0; i < N_ROUTES; i++) {
		if (!ph_route_match(routes[i].pattern, r->path_buf, r->params, REQ_MAX_PARAMS))
			continue;
		*path_known = true;
		if (routes[i].method == method ||
			(method == EVHTTP_REQ_HEAD && routes[i].method == GET))
			return i;
	}
	return ROUTE_NONE;
}

static bool prepare(struct req *r)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->ev);
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);
	if (!path || strlen(path) >= sizeof(r->path_buf))
		return false;
	/* Trailing slashes are forgiven: /v1/webhooks/ is /v1/webhooks. */
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	memcpy(r->path_buf, path, len);
	r->path_buf[len] = '\0';
	TAILQ_INIT(&r->query);
	return !query || evhttp_parse_query_str(query, &r->query) == 0;
}

static void run(struct req *r, size_t idx, bool path_known)
{
	if (idx == ROUTE_NONE) {
		if (path_known)
			reply_error(
				r, 405, "method_not_allowed", "method not allowed on this path");
		else
			reply_error(r, 404, "not_found", "no such route");
		return;
	}
	r->route = &routes[idx];
	/* Only now that the route is chosen: matching needs the slashes. */
	ph_route_cut(r->path_buf, r->params, REQ_MAX_PARAMS);
	if ((r->route->auth == ROUTE_TENANT || r->route->auth == ROUTE_KEY) &&
		!auth_tenant(r, r->route->auth == ROUTE_TENANT))
		return;
	if (r->route->auth == ROUTE_ADMIN && !auth_admin(r))
		return;
	r->route->handler(r);
}

void router_record(const struct req *r)
{
	r->ctx->last_answer_us = ph_now_us();
	record(r->route_index, r->status, r->ctx->last_answer_us - r->start_us);
	atomic_fetch_sub(&in_flight, 1);
}

void router_dispatch(struct evhttp_request *ev, void *arg)
{
	struct req r = { .ev = ev, .ctx = arg, .start_us = ph_now_us(), .route_index = ROUTE_NONE };
	bool known = false;
	atomic_fetch_add(&in_flight, 1);
	if (!prepare(&r)) {
		TAILQ_INIT(&r.query);
		reply_error(&r, 400, "bad_request", "malformed request target");
	} else {
		r.route_index = find_route(&r, &known);
		run(&r, r.route_index, known);
	}
	if (!r.status && !r.deferred) {
		log_error("handler for %s answered nothing", r.path_buf);
		reply_error(&r, 500, "internal", "internal error");
	}
	evhttp_clear_headers(&r.query);
	/* The tenant scope ends with the handler; a deferred handler scopes its later statements
	 * itself (events.c, send.c). */
	if (!ph_db_set_tenant(&r.ctx->db, NULL))
		log_warn("cannot clear the tenant scope");
	if (!r.deferred)
		router_record(&r);
}

long router_in_flight(void)
{
	return atomic_load(&in_flight);
}

static const char *method_name(enum evhttp_cmd_type m)
{
	return m == GET ? "GET" : m == POST ? "POST" : m == PATCH ? "PATCH" : "DELETE";
}

static void route_labels(size_t i, char *labels, size_t len)
{
	if (i == ROUTE_NONE)
		snprintf(labels, len, "method=\"\",route=\"unmatched\"");
	else
		snprintf(labels, len, "method=\"%s\",route=\"%s\"", method_name(routes[i].method),
			routes[i].pattern);
}

static unsigned long write_counts(struct evbuffer *out, size_t i, const char *labels)
{
	unsigned long total = 0;
	char with_status[200];
	for (size_t s = 0; s < N_STATUS; s++) {
		unsigned long c = atomic_load(&stats[i].count[s]);
		total += c;
		if (c == 0)
			continue;
		if (s < N_STATUS - 1)
			snprintf(with_status, sizeof(with_status), "%s,status=\"%d\"", labels,
				status_codes[s]);
		else
			snprintf(with_status, sizeof(with_status), "%s,status=\"other\"", labels);
		ph_prom_uint(out, "pghook_http_requests_total", with_status, c);
	}
	return total;
}

static void write_histogram(struct evbuffer *out, size_t i, const char *labels, unsigned long total)
{
	double bounds[N_BUCKETS];
	uint64_t counts[N_BUCKETS];
	for (size_t b = 0; b < N_BUCKETS; b++) {
		bounds[b] = buckets_ms[b] / 1000.0;
		counts[b] = atomic_load(&stats[i].bucket[b]);
	}
	const struct ph_prom_histogram h = { bounds, counts, N_BUCKETS, total,
		(double)atomic_load(&stats[i].total_us) / 1e6 };
	ph_prom_histogram(out, "pghook_http_request_duration_seconds", labels, &h);
}

void router_metrics_write(struct evbuffer *out)
{
	/* Prometheus wants each family's samples together: counters first, then histograms. */
	unsigned long totals[N_ROUTES + 1];
	char labels[160];
	ph_prom_family(out, "pghook_http_requests_total", PH_PROM_COUNTER,
		"HTTP requests answered, by route and status.");
	for (size_t i = 0; i <= N_ROUTES; i++) {
		route_labels(i, labels, sizeof(labels));
		totals[i] = write_counts(out, i, labels);
	}
	ph_prom_family(out, "pghook_http_request_duration_seconds", PH_PROM_HISTOGRAM,
		"Time from request to answer.");
	for (size_t i = 0; i <= N_ROUTES; i++) {
		route_labels(i, labels, sizeof(labels));
		if (totals[i])
			write_histogram(out, i, labels, totals[i]);
	}
	ph_prom_gauge(out, "pghook_http_in_flight", "Requests being handled.",
		(double)router_in_flight());
}
