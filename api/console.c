/* SPDX-License-Identifier: MIT
 *
 * console: serves the web console under /console/. The pages hold no secret (the portal
 * session's token stays in the browser), so they are public routes; what they show comes
 * from the /v1 routes, authorised by the token. Every answer carries a strict
 * Content-Security-Policy: scripts and styles from this origin only, no inline script, no
 * framing. Files are revalidated on every load (no-cache with an ETag): they change with the
 * binary, and a 304 costs one round trip.
 */
#include "console.h"

#include <string.h>

#include "routes.h"

#define CSP                                                                               \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "    \
	"frame-ancestors 'none'"

static const struct console_asset *find(const char *name)
{
	for (size_t i = 0; i < console_asset_count; i++) {
		if (strcmp(console_assets[i].name, name) == 0)
			return &console_assets[i];
	}
	return NULL;
}

static void security_headers(struct evkeyvalq *h)
{
	evhttp_add_header(h, "Content-Security-Policy", CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
}

void console_serve(struct req *r)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(r->ev));
	/* /console without its slash: the pages' relative links need the folder. */
	if (!r->params[0] && path && strcmp(path, "/console") == 0) {
		struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
		evhttp_add_header(h, "Location", "/console/");
		reply_file(r, 301, NULL, NULL, 0);
		return;
	}
	const struct console_asset *a = find(r->params[0] ? r->params[0] : "index.html");
	if (!a) {
		reply_error(r, 404, "not_found", "no such console file");
		return;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
	security_headers(h);
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "ETag", a->etag);
	const char *seen = req_header(r, "If-None-Match");
	if (seen && strcmp(seen, a->etag) == 0)
		reply_file(r, 304, NULL, NULL, 0);
	else
		reply_file(r, 200, a->content_type, a->data, a->len);
}
