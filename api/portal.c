/* SPDX-License-Identifier: MIT
 *
 * portal: console links. The operator's service (API key) asks for a link for one of its
 * tenants and hands it to that tenant's people; the link opens the web console (console.c)
 * with a portal session's token in the URL's fragment, which browsers never send to a server,
 * so the token stays out of access logs. The token is "phs_<tenant id>.<32 random bytes,
 * base64url>", stored only as its SHA-256 (like API keys), and works until it expires (at most
 * 24 hours) or is revoked. auth.c checks it; what it may reach is the router's ROUTE_TENANT.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "base64.h"
#include "duration.h"
#include "hash.h"
#include "routes.h"

#define PORTAL_DEFAULT_MS (60LL * 60 * 1000)
#define PORTAL_MAX_MS	  (24LL * 60 * 60 * 1000)
#define PORTAL_MIN_MS	  (60LL * 1000)
#define PORTAL_TOKEN_MAX  (sizeof(AUTH_PORTAL_PREFIX) + PH_ID_MAX + 48)

/* Read {expiresIn, readOnly} (both optional; an empty body takes the defaults). False after
 * answering 422. */
static bool read_options(struct req *r, int64_t *ms, bool *read_only)
{
	*ms = PORTAL_DEFAULT_MS;
	*read_only = false;
	if (evbuffer_get_length(evhttp_request_get_input_buffer(r->ev)) == 0)
		return true;
	json_object *body = req_body_object(r);
	if (!body)
		return false;
	json_object *exp = ph_json_get(body, "expiresIn"), *ro = ph_json_get(body, "readOnly");
	bool ok = false;
	if (exp &&
		(!json_object_is_type(exp, json_type_string) ||
			!ph_duration_parse(json_object_get_string(exp), ms) ||
			*ms < PORTAL_MIN_MS || *ms > PORTAL_MAX_MS))
		reply_invalid(r, "body", "expiresIn", "value_error",
			"expiresIn must be a duration from 1m to 24h, such as \"30m\" or \"1h\"");
	else if (ro && !json_object_is_type(ro, json_type_boolean))
		reply_invalid(r, "body", "readOnly", "bool_type", "readOnly must be true or false");
	else
		ok = true;
	if (ok && ro)
		*read_only = json_object_get_boolean(ro);
	json_object_put(body);
	return ok;
}

/* Where links point: PGHOOK_PUBLIC_URL, else the Host the request came to. */
static void link_of(struct req *r, const char *token, char *out, size_t len)
{
	const char *base = r->ctx->cfg->public_url;
	const char *host = req_header(r, "Host");
	if (base)
		snprintf(out, len, "%s/console/#token=%s", base, token);
	else if (host && !strpbrk(host, "/#?@ \t"))
		snprintf(out, len, "http://%s/console/#token=%s", host, token);
	else
		snprintf(out, len, "/console/#token=%s", token);
}

void portal_sessions_create(struct req *r)
{
	int64_t ms;
	bool read_only;
	if (!read_options(r, &ms, &read_only))
		return;
	char id[PH_ID_MAX], token[PORTAL_TOKEN_MAX], hash[PH_SHA256_HEX_LEN], msbuf[24];
	unsigned char raw[32];
	ph_id_new(id, "phs");
	ph_random_bytes(raw, sizeof(raw));
	int n = snprintf(token, sizeof(token), AUTH_PORTAL_PREFIX "%s.", r->tenant_id);
	ph_base64url_encode(raw, sizeof(raw), token + n);
	OPENSSL_cleanse(raw, sizeof(raw));
	ph_sha256_hex(token, strlen(token), hash);
	snprintf(msbuf, sizeof(msbuf), "%lld", (long long)ms);
	const char *params[] = { id, r->tenant_id, hash, read_only ? "t" : "f", msbuf };
	PGresult *res = ph_db_exec(&r->ctx->db,
		"insert into portal_sessions (id, tenant_id, token_hash, read_only, expires_at)"
		" values ($1, $2, $3, $4::bool, now() + $5::bigint * interval '1 millisecond')"
		" returning pghook_ts(expires_at), pghook_ts(created_at)",
		5, params);
	if (!res) {
		OPENSSL_cleanse(token, sizeof(token));
		reply_db_error(r);
		return;
	}
	char url[1024];
	link_of(r, token, url, sizeof(url));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "url", json_object_new_string(url));
	json_object_object_add(o, "token", json_object_new_string(token));
	json_object_object_add(o, "readOnly", json_object_new_boolean(read_only));
	json_object_object_add(o, "expiresAt", json_object_new_string(PQgetvalue(res, 0, 0)));
	json_object_object_add(o, "createdAt", json_object_new_string(PQgetvalue(res, 0, 1)));
	PQclear(res);
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(url, sizeof(url));
	reply_json(r, 201, o);
}

void portal_sessions_current(struct req *r)
{
	if (!r->portal_session[0]) {
		reply_error(r, 404, "not_found", "this request was not made with a console link");
		return;
	}
	const char *params[] = { r->tenant_id, r->portal_session };
	reply_query(r, 200, "portal session",
		"select json_build_object('id', p.id, 'tenantId', p.tenant_id, 'tenantName', t.name,"
		" 'readOnly', p.read_only, 'expiresAt', pghook_ts(p.expires_at),"
		" 'createdAt', pghook_ts(p.created_at))"
		" from portal_sessions p join tenants t on t.id = p.tenant_id"
		" where p.tenant_id = $1 and p.id = $2",
		2, params);
}

void portal_sessions_delete(struct req *r)
{
	const char *params[] = { r->tenant_id, r->params[0] };
	/* Revoking twice is not an error: the first revocation's time stays. */
	PGresult *res = ph_db_exec(&r->ctx->db,
		"update portal_sessions set revoked_at = coalesce(revoked_at, now())"
		" where tenant_id = $1 and id = $2 returning id",
		2, params);
	if (!res) {
		reply_db_error(r);
		return;
	}
	bool found = PQntuples(res) == 1;
	PQclear(res);
	if (found)
		reply_no_content(r);
	else
		reply_error(r, 404, "not_found", "no such portal session");
}
