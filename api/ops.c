/* SPDX-License-Identifier: MIT
 *
 * ops: the routes operators and orchestrators call, without tenant authentication.
 */
#include <event2/buffer.h>
#include <event2/http.h>

#include "committer.h"
#include "migrate.h"
#include "prom.h"
#include "router.h"
#include "routes.h"
#include "server.h"

extern const char openapi_json[];
extern const size_t openapi_json_len;

void ops_healthz(struct req *r)
{
	static const char ok[] = "{\"status\":\"ok\"}";
	reply_raw(r, 200, ok, sizeof(ok) - 1);
}

void ops_readyz(struct req *r)
{
	if (server_draining(r->ctx->srv)) {
		reply_error(r, 503, "draining", "shutting down");
		return;
	}
	if (!ph_migrate_is_current(&r->ctx->db)) {
		reply_error(r, 503, "not_ready", "database unreachable or migrations not applied");
		return;
	}
	static const char ok[] = "{\"status\":\"ready\"}";
	reply_raw(r, 200, ok, sizeof(ok) - 1);
}

void ops_metrics(struct req *r)
{
	struct evbuffer *buf = evbuffer_new();
	router_metrics_write(buf);
	struct committer_stats c = committer_stats(r->ctx->committer);
	ph_prom_gauge(buf, "pghook_ingest_queued",
		"Single-event ingests waiting for their tenant's next group.", (double)c.queued);
	ph_prom_counter(buf, "pghook_ingest_groups_total",
		"Groups of single-event ingests stored, one statement and commit each.", c.groups);
	ph_prom_counter(buf, "pghook_ingest_grouped_events_total",
		"Single-event ingests stored in those groups.", c.jobs);
	evhttp_add_header(
		evhttp_request_get_output_headers(r->ev), "Content-Type", PH_PROM_CONTENT_TYPE);
	if (server_draining(r->ctx->srv))
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Connection", "close");
	evhttp_send_reply(r->ev, 200, "OK", buf);
	evbuffer_free(buf);
	r->status = 200;
}

void ops_openapi(struct req *r)
{
	reply_raw(r, 200, openapi_json, openapi_json_len);
}
