/* SPDX-License-Identifier: MIT
 *
 * router: matches method and path against the route table, authenticates as the route asks,
 * runs the handler, and counts the request for /metrics. Unknown paths answer 404, a known
 * path with another method 405.
 */
#ifndef PGHOOK_API_ROUTER_H
#define PGHOOK_API_ROUTER_H

#include <event2/http.h>

#include "http.h"

enum route_auth {
	ROUTE_PUBLIC, /* operations routes */
	ROUTE_TENANT, /* /v1 the console uses: tenant id + API key, or a portal session's token */
	ROUTE_KEY, /* /v1 for services only: tenant id + API key (portal links get 403) */
	ROUTE_ADMIN, /* /admin/v1: the operator's admin key */
};

typedef void (*route_fn)(struct req *r);

struct route {
	enum evhttp_cmd_type method;
	const char *pattern; /* "/v1/webhooks/{id}": {x} matches one path segment */
	route_fn handler;
	enum route_auth auth;
};

/* evhttp's generic callback; arg is the thread's struct api_ctx. */
void router_dispatch(struct evhttp_request *ev, void *arg);
/* Count a request answered by a deferred handler (r->deferred), once it answered. */
void router_record(const struct req *r);
/* Write the request counters and latency histograms in Prometheus text format. */
void router_metrics_write(struct evbuffer *out);
/* Request handlers still running across all threads (for shutdown). */
long router_in_flight(void);

#endif
