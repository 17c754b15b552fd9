/* SPDX-License-Identifier: MIT */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "log.h"
#include "quota.h"
#include "validate.h"

static const char *bearer(struct req *r)
{
	return ph_bearer_token(req_header(r, "Authorization"));
}

/* Keys checked in the last AUTH_CACHE_US are not looked up again: that saves a round trip on
 * every request. The price is that a key removed from the database keeps working on a loop
 * that saw it for up to that long. Only successes are cached, so a new key works at once. */
#define AUTH_CACHE_US (10LL * 1000 * 1000)

static struct auth_cache_entry *cache_slot(struct req *r, const char *hash)
{
	unsigned idx =
		(unsigned)strtoul((char[]){ hash[0], hash[1], hash[2], hash[3], 0 }, NULL, 16);
	return &r->ctx->auth_cache[idx % AUTH_CACHE_SLOTS];
}

static bool cached(struct req *r, const char *hash, const char *tenant)
{
	const struct auth_cache_entry *e = cache_slot(r, hash);
	return e->expires_us > ph_now_us() && ph_ct_streq(e->key_hash, hash) &&
		ph_ct_streq(e->tenant_id, tenant);
}

static void remember(struct req *r, const char *hash, const char *tenant)
{
	struct auth_cache_entry *e = cache_slot(r, hash);
	memcpy(e->key_hash, hash, PH_SHA256_HEX_LEN);
	snprintf(e->tenant_id, sizeof(e->tenant_id), "%s", tenant);
	e->expires_us = ph_now_us() + AUTH_CACHE_US;
}

static bool unauthorized(struct req *r)
{
	quota_login_failed(r);
	reply_error(r, 401, "unauthorized", "missing or invalid tenant credentials");
	return false;
}

static bool portal_refused(struct req *r, const char *why)
{
	reply_error(r, 401, "unauthorized", "%s", why);
	if (!ph_db_set_tenant(&r->ctx->db, NULL))
		log_warn("cannot clear the tenant scope");
	return false;
}

/* The tenant id a portal token names, copied into tenant; false when it names none. */
static bool portal_tenant(const char *token, char tenant[PH_ID_MAX])
{
	const char *start = token + strlen(AUTH_PORTAL_PREFIX);
	const char *dot = strchr(start, '.');
	size_t len = dot ? (size_t)(dot - start) : 0;
	if (!dot || len == 0 || len >= PH_ID_MAX || dot[1] == '\0' || strlen(token) > 256)
		return false;
	memcpy(tenant, start, len);
	tenant[len] = '\0';
	return true;
}

static bool auth_portal(struct req *r, const char *token)
{
	char tenant[PH_ID_MAX], hash[PH_SHA256_HEX_LEN];
	const char *named = req_header(r, "x-organization-id");
	if (!portal_tenant(token, tenant) || (named && strcmp(named, tenant) != 0))
		return portal_refused(r, "this console link is not valid");
	ph_sha256_hex(token, strlen(token), hash);
	if (!ph_db_set_tenant(&r->ctx->db, tenant))
		return portal_refused(r, "this console link is not valid");
	const char *params[] = { hash };
	PGresult *res = ph_db_exec_prepared(&r->ctx->db, "auth_portal",
		"select id, read_only, revoked_at is not null, expires_at <= now(), tenant_id"
		" from portal_sessions where token_hash = $1",
		1, params);
	if (!res) {
		reply_db_error(r);
		return false;
	}
	const char *why = NULL;
	if (PQntuples(res) != 1 || !ph_ct_streq(PQgetvalue(res, 0, 4), tenant))
		why = "this console link is not valid";
	else if (strcmp(PQgetvalue(res, 0, 2), "t") == 0)
		why = "this console link was revoked";
	else if (strcmp(PQgetvalue(res, 0, 3), "t") == 0)
		why = "this console link has expired";
	bool read_only = !why && strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	if (!why)
		snprintf(r->portal_session, sizeof(r->portal_session), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (why)
		return portal_refused(r, why);
	enum evhttp_cmd_type m = evhttp_request_get_command(r->ev);
	if (read_only && m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		reply_error(r, 403, "read_only", "this console link is read-only");
		return false;
	}
	memcpy(r->tenant_id, tenant, strlen(tenant) + 1);
	return true;
}

bool auth_tenant(struct req *r, bool portal_ok)
{
	const char *tenant = req_header(r, "TENANT");
	const char *key = req_header(r, "API-KEY");
	const char *token = bearer(r);
	if ((!tenant || !key) && token &&
		strncmp(token, AUTH_PORTAL_PREFIX, strlen(AUTH_PORTAL_PREFIX)) == 0) {
		if (portal_ok)
			return auth_portal(r, token);
		reply_error(r, 403, "forbidden",
			"a console link cannot use this route: it needs an API key");
		return false;
	}
	if (!tenant || !key) {
		tenant = req_header(r, "x-organization-id");
		key = bearer(r);
	}
	if (!tenant || !key || strlen(tenant) >= sizeof(r->tenant_id) || strlen(key) > 256)
		return unauthorized(r);

	char hash[PH_SHA256_HEX_LEN];
	ph_sha256_hex(key, strlen(key), hash);
	/* From here on every statement of the request runs in this tenant's scope (row-level
	 * security, common/db.h); the router ends the scope with the request. */
	if (!ph_db_set_tenant(&r->ctx->db, tenant))
		return unauthorized(r);
	if (cached(r, hash, tenant)) {
		memcpy(r->tenant_id, tenant, strlen(tenant) + 1);
		return true;
	}
	/* A client that failed too often waits before its next key costs a lookup. */
	if (!quota_login_allowed(r)) {
		if (!ph_db_set_tenant(&r->ctx->db, NULL))
			log_warn("cannot clear the tenant scope");
		return false;
	}
	/* The key is looked up inside the tenant it claims: row-level security shows only that
	 * tenant's keys, so a key of another tenant finds nothing, and no definer-rights function
	 * or cross-tenant policy on api_keys is needed. The tenant comparison stays as a second
	 * check. */
	const char *params[] = { hash };
	PGresult *res = ph_db_exec_prepared(&r->ctx->db, "auth_key",
		"select tenant_id from api_keys where key_hash = $1 and revoked_at is null", 1,
		params);
	if (!res) {
		reply_db_error(r);
		return false;
	}
	bool ok = PQntuples(res) == 1 && ph_ct_streq(PQgetvalue(res, 0, 0), tenant);
	PQclear(res);
	if (!ok) {
		if (!ph_db_set_tenant(&r->ctx->db, NULL))
			log_warn("cannot clear the tenant scope");
		return unauthorized(r);
	}
	memcpy(r->tenant_id, tenant, strlen(tenant) + 1);
	remember(r, hash, tenant);
	return true;
}

bool auth_admin(struct req *r)
{
	const char *want = r->ctx->cfg->admin_key;
	if (!want) {
		reply_error(
			r, 404, "not_found", "admin routes are disabled (PGHOOK_ADMIN_KEY unset)");
		return false;
	}
	const char *got = bearer(r);
	char a[PH_SHA256_HEX_LEN], b[PH_SHA256_HEX_LEN];
	/* Compare hashes so the comparison's time does not depend on the key's length either. */
	ph_sha256_hex(want, strlen(want), a);
	ph_sha256_hex(got ? got : "", got ? strlen(got) : 0, b);
	if (!got || !ph_ct_streq(a, b)) {
		reply_error(r, 401, "unauthorized", "missing or invalid admin key");
		return false;
	}
	return true;
}
